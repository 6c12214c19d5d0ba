"""Every shared vector (tests/vectors) through the Python API: `ingest`, `track`, the
options, the store query filters, statistics merging and the alert engine."""

from __future__ import annotations

import gzip
import json
import math
from typing import Any

import pytest

import sonde
from sonde._native import HttpApi, RequestRecorder

from conftest import Collector, vector_cases

CASES = vector_cases()


def python_options(options: dict[str, Any]) -> dict[str, Any]:
    """A vector's options (the core's spelling) as Python takes them: durations in seconds."""
    seconds = {
        "flush_interval_ms",
        "block_timeout_ms",
        "retry_initial_backoff_ms",
        "retry_max_backoff_ms",
        "drop_timeout_ms",
        "metrics_interval_ms",
        "otlp_interval_ms",
    }
    return {
        (k[: -len("_ms")] if k in seconds else k): (v / 1000 if k in seconds else v)
        for k, v in options.items()
    }


def pairs(violations: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((v["path"], v["code"]) for v in violations)


def subset(expected: Any, actual: Any, at: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{at}: expected an object, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{at}/{k} missing in {actual!r}"
            subset(v, actual[k], f"{at}/{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (
            f"{at}: expected {expected!r}, got {actual!r}"
        )
        for i, (x, y) in enumerate(zip(expected, actual, strict=True)):
            subset(x, y, f"{at}/{i}")
    elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), (
            f"{at}: expected {expected!r}, got {actual!r}"
        )
        assert math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9), (
            f"{at}: expected {expected}, got {actual}"
        )
    else:
        assert expected == actual, f"{at}: expected {expected!r}, got {actual!r}"


def same_number_kinds(expected: Any, actual: Any, at: str = "") -> None:
    """With ``expected.exact_numbers``: an integer was delivered as an integer, and a float
    (``1.0``) as a float."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k, v in expected.items():
            if k in actual:
                same_number_kinds(v, actual[k], f"{at}/{k}")
    elif isinstance(expected, list) and isinstance(actual, list):
        for i, (x, y) in enumerate(zip(expected, actual, strict=False)):
            same_number_kinds(x, y, f"{at}/{i}")
    elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
        assert type(actual) is type(expected), f"{at}: {actual!r} delivered for {expected!r}"


def pointer(doc: Any, path: str) -> tuple[bool, Any]:
    node = doc
    for part in path.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def check_delivered(expected: dict[str, Any], message: dict[str, Any]) -> None:
    if "delivered" in expected:
        subset(expected["delivered"], message)
        if expected.get("exact_numbers") is True:
            same_number_kinds(expected["delivered"], message)
    for p in expected.get("present", []):
        found, value = pointer(message, p)
        assert found and value is not None, f"{p} should be present in {message}"
    for p in expected.get("absent", []):
        assert not pointer(message, p)[0], f"{p} should be absent from {message}"
    for p in expected.get("uuid_v7", []):
        value = pointer(message, p)[1] or ""
        assert len(value) == 36 and value[14] == "7", f"{p} is not a UUIDv7: {value!r}"


# The vectors describe the core's defaults: no person required (servers turn it on).
CORE_DEFAULTS = {"require_person": False}


def client(config: dict[str, Any] | None, collector: Collector) -> sonde.Sonde:
    return sonde.Sonde(sink=collector, flush_interval=3600, **{**CORE_DEFAULTS, **(config or {})})


def body(case: dict[str, Any]) -> bytes:
    if case.get("raw"):
        return case["input"].encode()
    return json.dumps(case["input"]).encode()


def rejection(report_or_error: Any) -> list[tuple[str, str]]:
    if isinstance(report_or_error, sonde.SondeError):
        return pairs(report_or_error.violations)
    items = report_or_error["items"]
    assert len(items) == 1 and items[0]["status"] == "rejected", (
        f"expected a rejection, got {report_or_error}"
    )
    return pairs(items[0]["errors"])


def ingest(s: sonde.Sonde, data: bytes, *, dry_run: bool = False) -> Any:
    try:
        return s.ingest(data, dry_run=dry_run)
    except sonde.SondeError as e:
        return e


def delivered_one(s: sonde.Sonde, collector: Collector) -> dict[str, Any]:
    s.flush(5.0)
    assert len(collector.events) == 1, collector.events
    return collector.events[0]


def run_message(case: dict[str, Any], collector: Collector) -> None:
    s = client(case.get("config"), collector)
    if "expected_errors" in case:
        want = pairs(case["expected_errors"])
        assert rejection(ingest(s, body(case), dry_run=True)) == want
        assert s.stats()["counters"]["received"] == 0, "a dry run counted events"
        assert rejection(ingest(s, body(case))) == want
        return
    expected = case["expected"]
    report = s.ingest(body(case))
    item = report["items"][0]
    assert item["status"] == expected.get("status", "accepted"), item
    assert pairs(item["warnings"]) == pairs(expected.get("warnings", []))
    if item["status"] == "accepted":
        check_delivered(expected, delivered_one(s, collector))


def sorted_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"path": p, "code": c} for p, c in pairs(errors)]


def run_batch(case: dict[str, Any], collector: Collector) -> None:
    s = client(case.get("config"), collector)
    result = ingest(s, body(case))
    if "expected_errors" in case:
        assert isinstance(result, sonde.SondeError), f"expected a refusal, got {result}"
        assert pairs(result.violations) == pairs(case["expected_errors"])
        return
    assert not isinstance(result, Exception), result
    for item in result["items"]:
        item["errors"] = sorted_errors(item["errors"])
    expected = json.loads(json.dumps(case["expected"]))
    items = expected.pop("items", None)
    if items is not None:
        if not items:
            assert result["items"] == [], result["items"]
        for want in items:
            if "errors" in want:
                want["errors"] = sorted_errors(want["errors"])
            subset(want, result["items"][want["index"]], f"/items/{want['index']}")
    subset(expected, result)


def run_config(case: dict[str, Any], collector: Collector) -> None:
    if "expected_errors" in case:
        with pytest.raises(sonde.ConfigError) as refused:
            sonde.Sonde(sink=collector, **python_options(case["input"]))
        assert refused.value.code == "invalid_config"
        assert pairs(refused.value.violations) == pairs(case["expected_errors"])
    else:
        sonde.Sonde(sink=collector, **python_options(case["input"])).shutdown(1.0)


def run_track(case: dict[str, Any], collector: Collector) -> None:
    s = client(case.get("config"), collector)
    data = case["input"]
    if "register" in data:
        s.register(data["register"])
    try:
        s.track(data["event"], data.get("properties"), user_id=data.get("user_id"))
    except sonde.ValidationError as e:
        assert "expected_errors" in case, f"refused: {e}"
        assert pairs(e.violations) == pairs(case["expected_errors"])
        return
    assert "expected_errors" not in case, "accepted"
    check_delivered(case["expected"], delivered_one(s, collector))


def snapshot_of(config: dict[str, Any] | None, messages: list[Any]) -> dict[str, Any]:
    s = client(config, Collector())
    s.ingest(json.dumps(messages).encode())
    return s.stats()


def comparable(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k not in ("taken_at", "rates")}


def run_stats_merge(case: dict[str, Any], collector: Collector) -> None:
    a, b = case["input"]["a"], case["input"]["b"]
    merged = sonde.merge_stats(
        snapshot_of(case.get("config"), a), snapshot_of(case.get("config"), b)
    )
    if case.get("exact", True):
        assert comparable(merged) == comparable(snapshot_of(case.get("config"), a + b))
    subset(case["expected"], merged)


def run_alerts(case: dict[str, Any], collector: Collector) -> None:
    try:
        engine = sonde.AlertEngine(case["input"]["rules"])
    except sonde.ConfigError as e:
        assert "expected_errors" in case, f"rules refused: {e}"
        assert pairs(e.violations) == pairs(case["expected_errors"])
        return
    assert "expected_errors" not in case, "rules were accepted"
    got = []
    for point in case["input"]["series"]:
        for t in engine.evaluate(point["t_ms"], point["metrics"]):
            got.append({"t_ms": point["t_ms"], "rule": t["rule"], "state": t["state"]})
    subset(case["expected"], got)


def run_store_query(case: dict[str, Any], collector: Collector, store_path: str) -> None:
    s = sonde.Sonde(store=store_path)
    if "expected_errors" in case:
        with pytest.raises(sonde.SondeError) as refused:
            s.query_events(**case["input"])
        assert pairs(refused.value.violations) == pairs(case["expected_errors"])
    else:
        s.query_events(**case["input"])


def check_events(expected: list[dict[str, Any]] | None, events: list[dict[str, Any]]) -> None:
    if expected is None:
        return
    assert len(events) == len(expected), events
    for want, got in zip(expected, events, strict=True):
        subset(want["properties"], got["properties"])
        for name in want.get("absent", []):
            assert name not in got["properties"], got


def run_http_request(case: dict[str, Any], collector: Collector) -> None:
    if "expected_errors" in case:
        with pytest.raises(sonde.ConfigError) as refused:
            RequestRecorder(**case["recorder"])
        assert pairs(refused.value.violations) == pairs(case["expected_errors"])
        return
    recorder = RequestRecorder(**case["recorder"])
    s = sonde.Sonde(
        sink=collector, flush_interval=3600, **{**CORE_DEFAULTS, **(case.get("config") or {})}
    )
    excluded = []
    for i, facts in enumerate(case["input"]):
        if recorder.excludes(facts["method"], facts["path"]):
            excluded.append(i)
            continue
        error = facts.get("error")
        recorder.record(
            s,
            facts["method"],
            facts["path"],
            facts.get("route"),
            facts.get("statusCode"),
            facts["durationMs"],
            ttfb_ms=facts.get("ttfbMs"),
            peer_address=facts.get("peerAddress"),
            headers=[
                (name, facts[key].encode("latin-1"))
                for name, key in (
                    (b"forwarded", "forwarded"),
                    (b"x-forwarded-for", "xForwardedFor"),
                    (b"user-agent", "userAgent"),
                )
                if facts.get(key) is not None
            ],
            request_body_bytes=facts.get("requestBodyBytes"),
            response_body_bytes=facts.get("responseBodyBytes"),
            error_type=error["type"] if error else None,
            error_message=error.get("message") if error else None,
            error_stack=error.get("stack") if error else None,
            aborted=facts.get("aborted", False),
        )
    expected = case["expected"]
    if "excluded" in expected:
        assert excluded == expected["excluded"]
    if "routes" in expected:
        subset(expected["routes"], s.stats()["routes"])
    s.flush(5.0)
    named = lambda name: [e for e in collector.events if e["event"] == name]  # noqa: E731
    check_events(expected.get("events"), named("$api_request"))
    check_events(expected.get("errors"), named("$error"))


def api_request(step: dict[str, Any]) -> tuple[str, str, str, list[tuple[bytes, bytes]], bytes]:
    """The step's request as an ASGI server hands it over (header names and values as bytes)."""
    request = step["request"]
    headers = [(k.encode(), v.encode("latin-1")) for k, v in request.get("headers", {}).items()]
    if "json" in request:
        body = json.dumps(request["json"]).encode()
    else:
        body = request.get("text", "").encode()
    if request.get("gzip"):
        body = gzip.compress(body)
        headers.append((b"content-encoding", b"gzip"))
    return request["method"], request["path"], request.get("query", ""), headers, body


def check_response(
    expected: dict[str, Any], status: int, headers: list[tuple[str, str]], body: Any
) -> None:
    assert status == expected["status"], body
    if "code" in expected:
        assert body["code"] == expected["code"], body
    if "body" in expected:
        subset(expected["body"], body)
    for pointer, keys in expected.get("keys", {}).items():
        at = body
        for part in pointer.split("/")[1:]:
            at = at.get(part.replace("~1", "/").replace("~0", "~"), {})
        assert sorted(at) == sorted(keys), (pointer, body)
    got_headers = {k.lower(): v for k, v in reversed(headers)}
    for name, value in expected.get("headers", {}).items():
        assert got_headers.get(name) == value, (name, headers)
    if "violations" in expected:
        with_index = any("index" in v for v in expected["violations"])

        def key(v: dict[str, Any]) -> tuple[Any, ...]:
            return (v["index"] if with_index else None, v["path"], v["code"])

        assert sorted(map(key, body["violations"]), key=str) == sorted(
            map(key, expected["violations"]), key=str
        )


def run_api(case: dict[str, Any], collector: Collector, store_path: str) -> None:
    if "expected_errors" in case:
        s = sonde.Sonde(sink=collector)
        with pytest.raises(sonde.ConfigError) as refused:
            HttpApi(s, **case["api"])
        assert pairs(refused.value.violations) == pairs(case["expected_errors"])
        return
    destination: dict[str, Any] = (
        {"store": store_path} if case.get("store") else {"sink": collector}
    )
    s = sonde.Sonde(
        flush_interval=3600, **destination, **{**CORE_DEFAULTS, **(case.get("config") or {})}
    )
    api = HttpApi(s, **case["api"])
    for i, step in enumerate(case["input"]):
        if step.get("flush"):
            s.flush(5.0)
            continue
        status, headers, body = api.handle(*api_request(step))
        parsed = json.loads(body) if body else None
        try:
            check_response(step["expected"], status, headers, parsed)
        except AssertionError as e:
            raise AssertionError(f"step {i}: {e}") from e
    s.shutdown(5.0)


RUNNERS = {
    "http_request": run_http_request,
    "message": run_message,
    "batch": run_batch,
    "config": run_config,
    "track": run_track,
    "stats_merge": run_stats_merge,
    "alerts": run_alerts,
}


@pytest.mark.parametrize(("kind", "name", "case"), CASES, ids=[c[1] for c in CASES])
def test_vector(
    kind: str, name: str, case: dict[str, Any], collector: Collector, store_path: str
) -> None:
    if kind == "store_query":
        run_store_query(case, collector, store_path)
    elif kind == "api":
        run_api(case, collector, store_path)
    else:
        RUNNERS[kind](case, collector)


def test_every_kind_has_a_runner() -> None:
    assert {kind for kind, _, _ in CASES} <= {*RUNNERS, "store_query", "api"}
    assert len(CASES) >= 160
