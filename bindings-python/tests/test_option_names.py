"""The same option words everywhere: the FastAPI adapters' keyword options are the core HTTP
layer's (read from the Rust sources), so a renamed or added core option fails here."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from sonde.fastapi import SondeMiddleware, analytics_router, instrument

ROOT = Path(__file__).resolve().parents[2]


def rust_names(file: str, constant: str) -> set[str]:
    text = (ROOT / file).read_text()
    body = re.search(rf"pub const {constant}: &\[&str\] = &\[([^\]]*)\]", text)
    assert body is not None, constant
    return set(re.findall(r'"([a-z_]+)"', body.group(1)))


RECORDER = rust_names("core/src/http/recorder.rs", "RECORDER_OPTION_NAMES")
API = rust_names("core/src/http/api.rs", "API_OPTION_NAMES")


def keyword_options(fn: object) -> set[str]:
    return {
        name
        for name, p in inspect.signature(fn).parameters.items()  # type: ignore[arg-type]
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


# The middleware's own: `identify` is a Python function (the request's user).
MIDDLEWARE_OWN = {"identify"}


def test_middleware_options_are_the_recorders() -> None:
    assert keyword_options(SondeMiddleware.__init__) == RECORDER | MIDDLEWARE_OWN


def test_router_options_are_the_apis() -> None:
    assert keyword_options(analytics_router) == API | {"tags"}


def test_instrument_takes_both() -> None:
    own = {"store", "prefix", "retention_days", "shutdown_timeout"}
    assert keyword_options(instrument) == RECORDER | API | own | MIDDLEWARE_OWN
