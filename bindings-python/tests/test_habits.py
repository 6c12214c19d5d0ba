"""What users of posthog-python and analytics-python do on day one: a disabled client for
tests, configuration from SONDE_* variables, the `sonde` logger and `on_error`,
`before_send`, the `on_invalid` policy, alias in the anchors' order, durations in seconds."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

import sonde

from conftest import Collector


def test_a_disabled_client_needs_no_destination_validates_and_sends_nothing(
    collector: Collector,
) -> None:
    plan = {
        "events": {"Signed Up": {"required": ["plan"], "properties": {"plan": {"type": "string"}}}}
    }
    with sonde.Sonde(disabled=True, sink=collector, tracking_plan=plan) as s:
        assert s.track("Signed Up", {"plan": "pro"}, user_id="u1") is not None
        with pytest.raises(sonde.ValidationError) as refused:
            s.track("Signed Up", {}, user_id="u1")
        assert refused.value.violations[0]["code"] == "required"
        s.flush(5.0)
    assert collector.events == []
    assert s.stats()["counters"]["delivered"] == 0


def test_without_a_destination_the_error_says_how_to_add_one_or_disable() -> None:
    with pytest.raises(sonde.ConfigError, match="disabled=True"):
        sonde.Sonde()


def test_environment_variables_fill_what_is_not_passed(
    monkeypatch: pytest.MonkeyPatch, collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SONDE_SAMPLE_RATE", "0")
    monkeypatch.setenv("SONDE_DEBUG", "yes")
    monkeypatch.setenv("SONDE_SAMPLERATE", "0.5")  # a typo: warned about, not applied
    with caplog.at_level(logging.WARNING, logger="sonde"):
        s = sonde.Sonde(sink=collector, debug=False)
    assert s.options["sample_rate"] == 0.0
    assert s.options["debug"] is False  # the explicit option wins
    assert any("SONDE_SAMPLERATE is not a Sonde setting" in r.getMessage() for r in caplog.records)
    s.track("Dropped By Sampling", user_id="u1")
    s.shutdown(5.0)
    assert collector.events == []


def test_environment_can_disable_a_client_with_no_destination(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SONDE_DISABLED", "1")
    with sonde.Sonde() as s:
        assert s.options["disabled"] is True


def test_a_bad_environment_value_is_named(
    monkeypatch: pytest.MonkeyPatch, collector: Collector
) -> None:
    monkeypatch.setenv("SONDE_SAMPLE_RATE", "half")
    with pytest.raises(sonde.ConfigError) as refused:
        sonde.Sonde(sink=collector)
    assert [v["path"] for v in refused.value.violations] == ["/SONDE_SAMPLE_RATE"]


def test_warn_logs_tells_on_error_counts_and_returns_none(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[BaseException, list[dict[str, Any]]]] = []
    s = sonde.Sonde(
        sink=collector, on_invalid="warn", on_error=lambda e, events: seen.append((e, events))
    )
    with caplog.at_level(logging.WARNING, logger="sonde"):
        assert s.track("", {"x": 1}, user_id="u1") is None
    ((error, events),) = seen
    assert isinstance(error, sonde.ValidationError)
    assert error.violations[0]["path"] == "/event"
    assert events == [{"type": "track", "event": "", "properties": {"x": 1}}]
    assert any("on_invalid" in r.getMessage() for r in caplog.records)
    assert s.stats()["counters"]["dropped"]["invalid"] == 1
    s.shutdown(5.0)


def test_warn_writes_a_line_a_second_per_code_not_one_per_event(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    told: list[BaseException] = []
    s = sonde.Sonde(sink=collector, on_invalid="warn", on_error=lambda e, events: told.append(e))
    with caplog.at_level(logging.WARNING, logger="sonde"):
        for _ in range(300):
            s.track("", user_id="u1")
        # A different mistake is written at once.
        s.alias("", "u1")
        time.sleep(1.05)
        s.track("", user_id="u1")
    lines = [r.getMessage() for r in caplog.records if "on_invalid" in r.getMessage()]
    assert len(lines) == 3, lines
    assert "more like it" not in lines[0] and "more like it" not in lines[1]
    assert "(299 more like it since the last report)" in lines[2]
    # on_error and the counters still hear about every one.
    assert len(told) == 302
    assert s.stats()["counters"]["dropped"]["invalid"] == 302
    s.shutdown(5.0)


def test_drop_is_silent_and_raise_raises(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Any] = []
    quiet = sonde.Sonde(
        sink=collector, on_invalid="drop", on_error=lambda e, events: seen.append(e)
    )
    with caplog.at_level(logging.DEBUG, logger="sonde"):
        assert quiet.alias("", "u1") is None
    assert seen == [] and caplog.records == []
    quiet.shutdown(5.0)
    loud = sonde.Sonde(sink=collector, on_invalid="raise")
    with pytest.raises(sonde.ValidationError):
        loud.track("", user_id="u1")
    loud.shutdown(5.0)


def test_an_on_error_that_raises_is_logged_not_propagated(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(error: BaseException, events: list[dict[str, Any]]) -> None:
        raise RuntimeError("bug in the handler")

    s = sonde.Sonde(sink=collector, on_invalid="warn", on_error=broken)
    with caplog.at_level(logging.ERROR, logger="sonde"):
        assert s.track("", user_id="u1") is None
    assert any("bug in the handler" in r.getMessage() for r in caplog.records)
    s.shutdown(5.0)


def test_default_policy_is_warn_outside_tests_and_raise_when_disabled(tmp_path: Any) -> None:
    script = textwrap.dedent(
        """
        import sonde
        s = sonde.Sonde(jsonl={path!r}, flush_at_exit=False)
        print(s.options.get("on_invalid"), s.track("", user_id="u1"))
        d = sonde.Sonde(disabled=True)
        try:
            d.track("", user_id="u1")
        except sonde.ValidationError as e:
            print("disabled raises", e.code)
        """
    ).format(path=str(tmp_path / "e.jsonl"))
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["None None", "disabled raises invalid_event"]
    assert "on_invalid" in out.stderr  # the warning reached stderr through logging's last resort


def test_under_pytest_invalid_events_raise_by_default(collector: Collector) -> None:
    s = sonde.Sonde(sink=collector)
    assert s.options["on_invalid"] == "raise"
    with pytest.raises(sonde.ValidationError):
        s.track("")
    s.shutdown(5.0)


def test_lost_events_reach_on_error_with_the_events(caplog: pytest.LogCaptureFixture) -> None:
    def refusing(events: list[dict[str, Any]]) -> None:
        raise ConnectionError("collector down")

    seen: list[tuple[BaseException, list[dict[str, Any]]]] = []
    s = sonde.Sonde(
        sink=refusing,
        max_retries=1,
        retry_initial_backoff=0.001,
        retry_max_backoff=0.002,
        on_error=lambda e, events: seen.append((e, events)),
    )
    with caplog.at_level(logging.ERROR, logger="sonde"):
        s.track("Checkout", {"total": 3}, user_id="u1")
        s.flush(5.0)
        # The worker calls on_error once it has released the buffer's lock, so flush may
        # see the batch settled a moment before the hook has run.
        deadline = time.monotonic() + 5.0
        while not seen and time.monotonic() < deadline:
            time.sleep(0.005)
    ((error, events),) = seen
    assert isinstance(error, sonde.SinkFailedError)
    assert "collector down" in str(error)
    assert [e["event"] for e in events] == ["Checkout"]
    assert events[0]["properties"] == {"total": 3}
    assert any("retry_exhausted" in r.getMessage() for r in caplog.records)
    s.shutdown(5.0)


def test_debug_logs_each_delivered_batch(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="sonde"):
        s = sonde.Sonde(sink=collector, debug=True)
        s.track("A", user_id="u1")
        s.flush(5.0)
    assert any("delivered (1 events)" in r.getMessage() for r in caplog.records)
    s.shutdown(5.0)


def test_before_send_scrubs_drops_and_survives_its_own_bugs(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    def scrub(event: dict[str, Any]) -> dict[str, Any] | None:
        if event.get("event") == "Internal":
            return None
        if event.get("event") == "Crash":
            raise KeyError("oops")
        event["properties"].pop("email", None)
        event["properties"]["scrubbed"] = True
        return event

    s = sonde.Sonde(sink=collector, before_send=scrub)
    s.track("Signed Up", {"email": "a@b.c", "plan": "pro"}, user_id="u1")
    s.track("Internal", user_id="u1")
    with caplog.at_level(logging.ERROR, logger="sonde"):
        s.track("Crash", {"n": 1}, user_id="u1")
    s.flush(5.0)
    assert [e["event"] for e in collector.events] == ["Signed Up", "Crash"]
    assert collector.events[0]["properties"] == {"plan": "pro", "scrubbed": True}
    assert collector.events[1]["properties"] == {"n": 1}  # unchanged: the hook raised
    assert any("before_send raised" in r.getMessage() for r in caplog.records)
    assert s.stats()["counters"]["dropped"]["before_send"] == 1
    s.shutdown(5.0)


def test_alias_takes_previous_id_then_user_id_like_the_python_anchors(collector: Collector) -> None:
    s = sonde.Sonde(sink=collector)
    s.alias("anon-7", "user-7")
    s.alias(previous_id="anon-8", user_id="user-8")
    s.flush(5.0)
    assert [(e["previousId"], e["userId"]) for e in collector.events] == [
        ("anon-7", "user-7"),
        ("anon-8", "user-8"),
    ]
    s.shutdown(5.0)


def test_durations_are_seconds_and_the_millisecond_spelling_says_so(collector: Collector) -> None:
    s = sonde.Sonde(sink=collector, flush_interval=0.25, retry_max_backoff=2)
    assert s.options["flush_interval_ms"] == 250
    assert s.options["retry_max_backoff_ms"] == 2000
    s.reconfigure(flush_interval=1.5)
    assert s.options["flush_interval_ms"] == 1500
    s.shutdown(5.0)
    with pytest.raises(sonde.ConfigError, match="pass flush_interval="):
        sonde.Sonde(sink=collector, flush_interval_ms=250)
