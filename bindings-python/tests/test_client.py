"""The `Sonde` client through its public Python API: events, options, errors, store access,
statistics, alerts, timing helpers and lifecycle."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

import sonde

from conftest import Collector


def make(collector: Collector, **options: object) -> sonde.Sonde:
    # These tests are about the API, not identity: events without a user take the process's
    # anonymous id (test_habits.py checks that a server requires a person by default).
    return sonde.Sonde(sink=collector, flush_interval=3600, **{"require_person": False, **options})


def test_every_event_method_delivers_segment_json(collector: Collector) -> None:
    s = make(collector)
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    ids = [
        s.track(
            "Order Completed",
            {"total": 12.5, "items": ["a", "b"]},
            user_id="u1",
            session_id="s1",
            timestamp=when,
            context={"ip": "10.0.0.1"},
        ),
        s.page("Home", {"path": "/"}, anonymous_id="anon-1"),
        s.screen("Settings", user_id="u1"),
        s.identify("u1", {"plan": "pro"}),
        s.group("g1", {"name": "ACME"}, user_id="u1"),
        s.alias("anon-1", "u1"),
        s.track_api_request("GET", "/items/{id}", 200, 12.5, path="/items/3", ttfb_ms=3.0),
        s.track_performance("db.query", 4.2, metadata={"table": "users"}),
        s.track_interaction("click", "#buy", path="/cart", value=3),
        s.track_error("KeyError", "'x'", route="/items/{id}"),
    ]
    s.flush(5.0)
    by_id = {e["messageId"]: e for e in collector.events}
    assert list(by_id) == ids
    first = by_id[ids[0]]
    assert first["type"] == "track" and first["event"] == "Order Completed"
    assert first["properties"] == {"total": 12.5, "items": ["a", "b"]}
    assert first["userId"] == "u1" and first["sessionId"] == "s1"
    assert first["timestamp"] == "2026-01-02T03:04:05.678Z"
    assert first["context"]["ip"] == "10.0.0.1"
    assert first["context"]["library"]["name"] == "sonde-python"
    assert by_id[ids[1]]["type"] == "page" and by_id[ids[1]]["name"] == "Home"
    assert by_id[ids[3]]["traits"] == {"plan": "pro"}
    assert by_id[ids[4]]["groupId"] == "g1"
    assert by_id[ids[5]]["previousId"] == "anon-1"
    api = by_id[ids[6]]["properties"]
    assert api["http.route"] == "/items/{id}" and api["http.response.status_code"] == 200
    perf = by_id[ids[7]]["properties"]
    assert perf["operation"] == "db.query" and perf["success"] is True and perf["table"] == "users"
    assert by_id[ids[8]]["event"] == "$interaction"
    assert by_id[ids[9]]["properties"]["error.type"] == "KeyError"


def test_python_values_convert_and_bad_ones_are_named(collector: Collector) -> None:
    s = make(collector)
    u = uuid.uuid4()
    s.track(
        "Converted",
        {
            "when": dt.date(2026, 1, 2),
            "id": u,
            "price": Decimal("1.50"),
            "nested": {"t": (1, 2)},
            "none": None,
            "flag": True,
        },
    )
    s.flush(5.0)
    props = collector.events[0]["properties"]
    assert props == {
        "when": "2026-01-02",
        "id": str(u),
        "price": "1.50",
        "nested": {"t": [1, 2]},
        "none": None,
        "flag": True,
    }
    with pytest.raises(TypeError, match="/bad"):
        s.track("Bad", {"bad": object()})
    with pytest.raises(ValueError, match="NaN"):
        s.track("Bad", {"x": float("nan")})
    with pytest.raises(TypeError, match="keys must be str"):
        s.track("Bad", {1: "x"})
    with pytest.raises(TypeError, match="properties must be a dict"):
        s.track("Bad", ["not", "a", "dict"])
    with pytest.raises(ValueError, match="timezone-aware"):
        s.track("Bad", timestamp=dt.datetime(2026, 1, 1))


def test_every_value_json_cannot_hold_is_named_in_one_error(collector: Collector) -> None:
    """The conversion stops at the first value it refuses; the error still names them all,
    each at its JSON pointer with ``invalid_type``. A type JSON has no form for makes it an
    ``InvalidTypeError`` (a ``ValidationError`` that is also a ``TypeError``)."""
    s = make(collector)
    with pytest.raises(sonde.InvalidTypeError) as raised:
        s.track("Bad", {"a": float("nan"), "b": object(), "c": {"d/e": [1, float("-inf")]}, 1: "x"})
    error = raised.value
    assert isinstance(error, TypeError) and isinstance(error, sonde.ValidationError)
    assert error.code == "invalid_event"
    assert [(v["path"], v["code"]) for v in error.violations] == [
        ("/properties/a", "invalid_type"),
        ("/properties/b", "invalid_type"),
        ("/properties/c/d~1e/1", "invalid_type"),
        ("/properties", "invalid_type"),
    ]
    assert "(and 3 more)" in str(error)
    # Numbers only: a ValidationError (a ValueError), not a TypeError.
    with pytest.raises(sonde.ValidationError) as raised:
        s.identify("u1", {"score": float("inf"), "big": 10**30})
    assert not isinstance(raised.value, TypeError)
    assert [v["path"] for v in raised.value.violations] == ["/traits/score", "/traits/big"]
    # What else is wrong with the event is named in the same error, ahead of the values;
    # a tracking plan's check of the refused properties is not (it would only miss them).
    with pytest.raises(sonde.ValidationError) as raised:
        s.track("", {"a": float("nan")})
    assert [(v["path"], v["code"]) for v in raised.value.violations] == [
        ("/event", "event_name_length"),
        ("/properties/a", "invalid_type"),
    ]
    planned = make(
        collector,
        tracking_plan={
            "mode": "enforce",
            "events": {"Priced": {"type": "object", "required": ["price"]}},
        },
    )
    with pytest.raises(sonde.ValidationError) as raised:
        planned.track("Priced", {"price": float("nan")})
    assert [v["path"] for v in raised.value.violations] == ["/properties/price"]
    planned.shutdown()
    s.shutdown()


def test_properties_written_as_text_keep_every_rule(collector: Collector, tmp_path: Path) -> None:
    """Properties go from the dict straight to JSON text, in the dict's order (sorted only
    when the core must parse them: a redaction, a schema); redaction, key-length and depth
    limits apply as they do to any event."""
    s = make(collector, limits={"max_depth": 3, "max_key_length": 12})
    s.track("Ordered", {"zeta": 1, "alpha": {"ok": [1.5, -2, 2**64 - 1]}, "mid": 'x\n"y'})
    s.track("Redacted", {"zeta": 1, "alpha": {"userPassword": "hunter2", "api-key": "k"}})
    s.flush(5.0)
    ordered, redacted = (e["properties"] for e in collector.events)
    # (A callable sink gets dicts built from parsed JSON; the delivered text keeps the order.)
    lines = tmp_path / "out.jsonl"
    with sonde.Sonde(jsonl=str(lines), require_person=False, flush_interval=3600) as ordering:
        ordering.track("Ordered", {"zeta": 1, "alpha": {"ok": [1.5]}, "mid": "x"})
    assert '"properties":{"zeta":1,"alpha":{"ok":[1.5]},"mid":"x"}' in lines.read_text()
    assert ordered == {"zeta": 1, "alpha": {"ok": [1.5, -2, 2**64 - 1]}, "mid": 'x\n"y'}
    assert redacted == {"zeta": 1, "alpha": {"userPassword": "[REDACTED]", "api-key": "[REDACTED]"}}
    with pytest.raises(sonde.ValidationError) as too_long:
        s.track("Bad", {"a_key_longer_than_twelve": 1})
    assert [v["code"] for v in too_long.value.violations] == ["key_too_long"]
    with pytest.raises(sonde.ValidationError) as too_deep:
        s.track("Bad", {"a": {"b": {"c": {"d": 1}}}})
    assert [v["code"] for v in too_deep.value.violations] == ["depth_exceeded"]
    assert len(collector.events) == 2


def test_validation_error_lists_every_violation(collector: Collector) -> None:
    s = make(
        collector,
        tracking_plan={
            "mode": "enforce",
            "events": {
                "Signed Up": {
                    "type": "object",
                    "required": ["plan"],
                    "properties": {"plan": {"type": "string", "enum": ["free", "pro"]}},
                }
            },
        },
    )
    with pytest.raises(sonde.ValidationError) as refused:
        s.track("Signed Up", {"plan": 3})
    e = refused.value
    assert isinstance(e, ValueError) and isinstance(e, sonde.SondeError)
    assert e.code == "invalid_event"
    assert {(v["path"], v["code"]) for v in e.violations} >= {("/properties/plan", "type_mismatch")}
    assert all(set(v) == {"path", "code", "message"} for v in e.violations)
    assert s.stats()["counters"]["received"] >= 1
    s.flush(5.0)
    assert collector.events == []


def test_options_are_checked_in_one_place(collector: Collector, tmp_path: Path) -> None:
    with pytest.raises(sonde.ConfigError) as refused:
        sonde.Sonde(sink=collector, batch_size=0, nonsense=True, overflow="explode")
    assert {v["path"] for v in refused.value.violations} == {
        "/batch_size",
        "/nonsense",
        "/overflow",
    }
    with pytest.raises(sonde.ConfigError, match="no destination"):
        sonde.Sonde()
    with pytest.raises(TypeError, match="sink must be callable"):
        sonde.Sonde(sink=42)
    with pytest.raises(sonde.ConfigError) as bad_destinations:
        sonde.Sonde(console="loud", store=3, jsonl_max_files=-1, jsonl="x.jsonl")
    assert {v["path"] for v in bad_destinations.value.violations} == {
        "/console",
        "/store",
        "/jsonl_max_files",
    }
    with pytest.raises(sonde.ConfigError) as bad_http:
        sonde.Sonde(endpoint="ftp://x", forward_format="amplitude", http_timeout=0, write_key="")
    assert {v["path"] for v in bad_http.value.violations} == {
        "/endpoint",
        "/forward_format",
        "/http_timeout",
        "/write_key",
    }
    with pytest.raises(sonde.ConfigError, match="pass endpoint too"):
        sonde.Sonde(store=":memory:", write_key="wk")


def test_jsonl_and_console_sinks(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.jsonl"
    s = sonde.Sonde(jsonl=path, console="json")
    s.track("Written", {"n": 1}, user_id="u")
    s.shutdown(5.0)
    lines = path.read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["Written"]
    assert '"event":"Written"' in capfd.readouterr().err


def test_super_properties_and_anonymous_id(collector: Collector) -> None:
    s = make(collector, anonymous_id="fixed-anon", super_properties={"app": "shop"})
    s.register({"version": "1.2"})
    assert s.super_properties == {"app": "shop", "version": "1.2"}
    s.unregister("app")
    s.track("Viewed")
    s.flush(5.0)
    event = collector.events[0]
    assert event["anonymousId"] == "fixed-anon" == s.anonymous_id
    assert event["properties"] == {"version": "1.2"}


def test_ingest_accepts_bytes_str_and_objects(collector: Collector) -> None:
    s = make(collector)
    batch = {
        "batch": [{"type": "track", "event": "A", "userId": "u"}, {"type": "track", "userId": "u"}],
        "sentAt": "2026-01-01T00:00:00Z",
    }
    for form in (json.dumps(batch).encode(), json.dumps(batch), batch):
        report = s.ingest(form)
        assert report["accepted"] == 1 and report["rejected"] == 1
        assert report["items"][1]["errors"][0]["code"] == "missing_field"
    report = s.ingest({"event": "B", "userId": "u"}, default_type="track")
    assert report["accepted"] == 1
    with pytest.raises(sonde.ValidationError):
        s.ingest(b"{not json")
    with pytest.raises(sonde.PayloadTooLargeError):
        s.ingest(b" " * (2 << 20))
    s.flush(5.0)
    assert [e["event"] for e in collector.events] == ["A", "A", "A", "B"]
    assert all("receivedAt" in e for e in collector.events)


def test_store_crud_queries_and_aggregates(store_path: str) -> None:
    s = sonde.Sonde(store=store_path, flush_interval=3600)
    assert s.store_path == store_path
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ids = []
    for i in range(30):
        ids.append(
            s.track(
                "Viewed" if i % 3 else "Bought",
                {"i": i, "plan": "pro" if i % 2 else "free"},
                user_id=f"u{i % 5}",
                session_id=f"s{i % 7}",
                timestamp=base + dt.timedelta(minutes=i),
            )
        )
    s.flush(5.0)
    assert s.get_event(ids[0])["event"] == "Bought"
    assert s.get_event("missing") is None

    walked, cursor = [], None
    while True:
        page = s.query_events(limit=7, order="asc", cursor=cursor, with_total=True)
        assert page["total"] == 30
        walked += [e["messageId"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == ids

    bought = s.query_events(event="Bought", user_id="u0", limit=100)["events"]
    assert {e["properties"]["i"] for e in bought} == {i for i in range(0, 30, 3) if i % 5 == 0}
    pro = s.query_events(properties={"plan": "pro"}, limit=100)["events"]
    assert len(pro) == 15
    window = s.query_events(
        from_=base + dt.timedelta(minutes=10), to=base + dt.timedelta(minutes=20), limit=100
    )
    assert len(window["events"]) == 10
    with pytest.raises(sonde.SondeError) as bad:
        s.query_events(limit=5000, order="sideways")
    assert {v["code"] for v in bad.value.violations} == {"invalid_query"}

    updated = s.update_event(ids[1], {"plan": "enterprise", "extra": 1})
    assert updated["properties"] == {"i": 1, "plan": "enterprise", "extra": 1}
    replaced = s.update_event(ids[1], {"only": True}, replace=True)
    assert replaced["properties"] == {"only": True}
    assert s.update_event("missing", {}) is None

    agg = s.aggregate(from_=base, to=base + dt.timedelta(hours=1), bucket="minute")
    assert agg["total"] == 30 and agg["by_event"] == {"Bought": 10, "Viewed": 20}
    assert agg["unique_users"] == 5 and agg["unique_sessions"] == 7
    assert len(agg["series"]) == 30
    with pytest.raises(ValueError, match="bucket"):
        s.aggregate(bucket="week")

    assert s.delete_event(ids[0]) is True and s.delete_event(ids[0]) is False
    # An erasure with a missing id never wipes the store: refused by name, nothing deleted.
    total = s.query_events(with_total=True, limit=1)["total"]
    for bad, path in [
        ({"user_id": None}, "/user_id"),
        ({}, ""),
        ({"user_id": "u1", "limit": 5}, "/limit"),
    ]:
        with pytest.raises(sonde.ConfigError) as refused:
            s.delete_events(**bad)
        assert [(v["path"], v["code"]) for v in refused.value.violations] == [
            (path, "invalid_query")
        ], bad
    assert s.query_events(with_total=True, limit=1)["total"] == total
    assert s.delete_events(user_id="u1") == 6
    assert s.purge_older_than(base + dt.timedelta(minutes=5)) == 3
    assert s.query_events(with_total=True, limit=1)["total"] == 30 - 1 - 6 - 3
    assert s.delete_events(all=True) == 30 - 1 - 6 - 3
    assert s.query_events(with_total=True, limit=1)["total"] == 0
    s.shutdown(5.0)


def test_store_errors_are_clear(tmp_path: Path, collector: Collector) -> None:
    with pytest.raises(sonde.StoreError, match="cannot be opened"):
        sonde.Sonde(store=tmp_path / "missing-dir" / "x.db")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    with pytest.raises(sonde.StoreError, match="not a SQLite database"):
        sonde.Sonde(store=corrupt)
    with pytest.raises(sonde.UnsupportedError, match="no store"):
        make(collector).query_events()


def test_store_dedupes_by_message_id(store_path: str) -> None:
    s = sonde.Sonde(store=store_path)
    body = {"batch": [{"type": "track", "event": "A", "userId": "u", "messageId": "m-1"}]}
    s.ingest(body)
    s.flush(5.0)
    s.ingest(body)
    s.flush(5.0)
    assert s.query_events(with_total=True)["total"] == 1


def test_stats_counters_and_latencies(collector: Collector) -> None:
    s = make(collector, sample_rates={"Noise": 0.0})
    for i in range(100):
        s.track_api_request("GET", "/items/{id}", 200 if i < 90 else 500, float(i))
    s.track("Noise")
    s.flush(5.0)
    stats = s.stats()
    assert stats["counters"]["received"] == 101
    assert stats["counters"]["delivered"] == 100
    assert stats["counters"]["dropped"]["sampled"] == 1
    route = stats["routes"]["GET /items/{id}"]
    assert route["count"] == 100
    assert route["latency"]["p50"] == pytest.approx(49.5, rel=0.03)
    merged = sonde.merge_stats(stats, stats)
    assert merged["routes"]["GET /items/{id}"]["count"] == 200


def test_system_metrics_and_alerts(collector: Collector) -> None:
    s = make(
        collector,
        host_metrics=True,
        alert_rules=[
            {
                "name": "always",
                "metric": "queue.fill_percent",
                "op": ">=",
                "threshold": 0,
                "for_ms": 0,
            }
        ],
    )
    metrics = s.system_metrics()
    assert metrics["memory_total_bytes"] > 0 and metrics["cpu_count"] >= 1
    assert metrics["process"]["rss_bytes"] > 0
    transitions = s.evaluate_alerts()
    assert [(t["rule"], t["state"]) for t in transitions] == [("always", "fired")]
    assert [a["rule"] for a in s.alerts()] == ["always"]
    assert len(s.alert_history()) == 1
    s.flush(5.0)
    assert any(e["event"] == "$alert" for e in collector.events)


def test_on_alert_callback_runs(collector: Collector) -> None:
    seen: list[dict[str, object]] = []
    s = make(
        collector,
        on_alert=seen.append,
        alert_rules=[{"name": "r", "metric": "queue.fill_percent", "op": ">=", "threshold": 0}],
    )
    s.evaluate_alerts()
    assert [t["rule"] for t in seen] == ["r"]


def test_track_timing_and_timed_operation(collector: Collector) -> None:
    s = make(collector)

    with s.track_timing("block", table="users") as timing:
        timing.metadata["rows"] = 3
    with pytest.raises(KeyError), s.track_timing("failing"):
        raise KeyError("x")

    @s.timed_operation("sync_fn")
    def add(a: int, b: int) -> int:
        return a + b

    @s.timed_operation("async_fn", {"kind": "io"})
    async def slow() -> str:
        await asyncio.sleep(0.01)
        return "done"

    @s.timed_operation("async_fail")
    async def broken() -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        assert await slow() == "done"
        with pytest.raises(RuntimeError):
            await broken()
        async with s.track_timing("async_block"):
            await asyncio.sleep(0)
        await s.aflush(5.0)

    assert add(1, 2) == 3
    asyncio.run(scenario())
    perf = {e["properties"]["operation"]: e["properties"] for e in collector.events}
    assert perf["block"]["table"] == "users" and perf["block"]["rows"] == 3
    assert perf["failing"]["success"] is False and perf["failing"]["error.type"] == "KeyError"
    assert perf["sync_fn"]["success"] is True
    assert perf["async_fn"]["duration_ms"] >= 10 and perf["async_fn"]["kind"] == "io"
    assert perf["async_fail"]["error.type"] == "RuntimeError"
    assert "async_block" in perf
    assert s.stats()["operations"]["async_fn"]["count"] == 1


def test_context_managers_and_async_shutdown(collector: Collector) -> None:
    with make(collector) as s:
        s.track("Inside")
    assert s.is_shut_down
    assert [e["event"] for e in collector.events] == ["Inside"]
    with pytest.raises(sonde.ShutDownError):
        s.track("After")

    async def scenario() -> sonde.Sonde:
        async with make(collector) as a:
            a.track("Async")
        return a

    assert asyncio.run(scenario()).is_shut_down
    assert collector.events[-1]["event"] == "Async"


def test_flush_timeout_is_an_error_not_a_hang(tmp_path: Path) -> None:
    calls = []

    def failing(events: list[dict[str, object]]) -> None:
        calls.append(len(events))
        raise ConnectionError("down")

    s = sonde.Sonde(sink=failing, max_retries=100, retry_initial_backoff=1)
    s.track("Stuck", user_id="u1")
    with pytest.raises(sonde.FlushTimeoutError) as late:
        s.flush(0.3)
    assert isinstance(late.value, TimeoutError)
    with pytest.raises(ValueError, match="timeout"):
        s.flush(-1)
    with pytest.raises(sonde.FlushTimeoutError):
        s.shutdown(0.2)
    assert calls and s.stats()["counters"]["dropped"]["shutdown_timeout"] == 1


def test_reconfigure_changes_options_and_keeps_what_was_queued(collector: Collector) -> None:
    s = make(collector, sample_rate=1.0)
    s.register({"kept": True})
    s.track("Before")
    assert s.options["sample_rate"] == 1.0
    s.reconfigure(sample_rates={"Noise": 0.0}, batch_size=10)
    assert s.options["sample_rates"] == {"Noise": 0.0} and s.options["batch_size"] == 10
    s.track("Noise")
    s.track("After")
    s.flush(5.0)
    assert [e["event"] for e in collector.events] == ["Before", "After"]
    assert collector.events[1]["properties"] == {"kept": True}
    assert collector.events[0]["anonymousId"] == collector.events[1]["anonymousId"]
    with pytest.raises(sonde.ConfigError) as bad:
        s.reconfigure(batch_size=0)
    assert bad.value.violations[0]["path"] == "/batch_size"
    assert s.options["batch_size"] == 10, "a refused change changes nothing"
    with pytest.raises(TypeError, match="cannot change at run time"):
        s.reconfigure(store="other.db")
    s.reconfigure(sample_rates=None)
    assert "sample_rates" not in s.options


def threads_named(name: str) -> int:
    """Native threads of this process with this name (Linux: /proc/self/task/*/comm)."""
    count = 0
    for comm in Path("/proc/self/task").glob("*/comm"):
        try:
            count += comm.read_text().strip() == name
        except OSError:  # the thread ended meanwhile
            pass
    return count


def test_reconfigure_retires_the_old_engine_for_real(tmp_path: Path) -> None:
    """Each change used to leave the old engine running: a worker (and an alert timer,
    repeating every $alert), an outbox sender and two more store connections."""
    gc.collect()  # clients of earlier tests end their workers when collected
    before = threads_named("sonde-worker"), threads_named("sonde-outbox")
    s = sonde.Sonde(
        store=str(tmp_path / "events.db"),
        endpoint="http://127.0.0.1:9/v1/batch",
        outbox=str(tmp_path / "outbox.db"),
    )
    for i in range(5):
        s.track("Kept", {"i": i}, user_id="u1")
        s.reconfigure(batch_size=10 + i)
    s.flush(5.0)
    # This client's own worker and sender at most (each change used to add one of each);
    # a retired worker ends right after its drain.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        gc.collect()
        workers, senders = threads_named("sonde-worker"), threads_named("sonde-outbox")
        if workers <= before[0] + 1 and senders <= before[1] + 1:
            break
        time.sleep(0.05)
    assert workers <= before[0] + 1 and senders <= before[1] + 1, (workers, senders, before)
    assert len(s.query_events(event="Kept")["events"]) == 5
    # The retired engines themselves are freed, and with them their outbox connections: a
    # connection's WAL file closes with it. (SQLite may keep the main file's descriptor of a
    # closed connection while another is open in the process, and reuses it on the next open.)
    deadline = time.monotonic() + 5
    while open_files(tmp_path / "outbox.db-wal") > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_files(tmp_path / "outbox.db-wal") == 1
    s.shutdown(5.0)


def open_files(path: Path) -> int:
    """This process's open descriptors on `path`."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if fd.exists() and fd.resolve() == path)


def test_record_request_and_limits(collector: Collector) -> None:
    s = make(collector, limits={"max_batch_bytes": 100_000, "max_message_bytes": 1000})
    s.record_request("GET", "/health", 200, 1.5)
    assert s.stats()["routes"]["GET /health"]["count"] == 1
    assert s.stats()["counters"]["received"] == 0
    assert s.limits["max_batch_bytes"] == 100_000 and s.limits["max_message_bytes"] == 1000


def test_manual_delivery_is_refused_where_nothing_would_take_batches(
    collector: Collector,
) -> None:
    # Nothing in Python takes batches: events would pile up while flush() said it delivered.
    with pytest.raises(sonde.ConfigError) as refused:
        sonde.Sonde(sink=collector, delivery="manual")
    assert [(v["path"], v["code"]) for v in refused.value.violations] == [
        ("/delivery", "invalid_option")
    ]
    s = sonde.Sonde(sink=collector)
    with pytest.raises(sonde.ConfigError):
        s.reconfigure(delivery="manual")
    s.shutdown(5.0)
