"""Every error kind in docs/error-codes.md has its own exception class, and the native
mapping raises exactly that class for the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import sonde
from sonde import errors

DOC = Path(__file__).resolve().parents[2] / "docs" / "error-codes.md"
KINDS = re.findall(
    r"^\| `([a-z_]+)` \|", DOC.read_text().split("## Error kinds")[1].split("\n## ")[0], re.M
)


def test_the_documented_kinds_are_read() -> None:
    assert {"invalid_event", "invalid_config", "shut_down", "timeout"} <= set(KINDS)


@pytest.mark.parametrize("code", KINDS)
def test_each_kind_has_its_exception_class(code: str) -> None:
    # The class that declares the code; subclasses (InvalidTypeError) refine it.
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, sonde.SondeError) and vars(c).get("code") == code
    ]
    assert len(classes) == 1, f"{code}: {classes}"
    assert classes[0] is not sonde.SondeError


def test_the_native_mapping_raises_the_class_for_the_code(tmp_path: Path) -> None:
    s = sonde.Sonde(sink=lambda events: None)
    with pytest.raises(errors.ValidationError) as invalid:
        s.track("")
    assert invalid.value.code == "invalid_event"
    with pytest.raises(errors.ConfigError):
        sonde.Sonde(sink=lambda events: None, batch_size=0)
    with pytest.raises(errors.UnsupportedError):
        s.query_events()
    s.shutdown(1.0)
    with pytest.raises(errors.ShutDownError):
        s.track("After")


def test_bad_arguments_raise_the_core_error_with_a_code(store_path: str) -> None:
    import datetime as dt

    s = sonde.Sonde(store=store_path)

    def violation(call: Any, cls: type[sonde.SondeError]) -> tuple[str, str]:
        with pytest.raises(cls) as raised:
            call()
        (only,) = raised.value.violations
        return only["path"], only["code"]

    # Inside an argument, the path names it, as the core's own violations do. (The user id:
    # this server client requires a person, and a missing one would be named too.)
    nan = {"n": float("nan")}
    assert violation(lambda: s.track("x", nan, user_id="u1"), errors.ValidationError) == (
        "/properties/n",
        "invalid_type",
    )
    naive = dt.datetime(2026, 1, 1)
    assert violation(lambda: s.track("x", timestamp=naive), errors.ValidationError) == (
        "/timestamp",
        "timestamp_invalid",
    )
    assert violation(lambda: s.flush(-1.0), errors.ConfigError) == ("/timeout", "invalid_option")
    assert violation(lambda: s.ingest("{}", default_type="nope"), errors.ConfigError) == (
        "/default_type",
        "invalid_option",
    )
    assert violation(lambda: s.aggregate(from_="yesterday"), errors.ConfigError) == (
        "/from",
        "invalid_query",
    )
    s.shutdown(1.0)
