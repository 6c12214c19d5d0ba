"""The FastAPI integration through real ASGI apps: the middleware, every analytics
endpoint (success, failure, auth on and off), the Segment collector and the OpenAPI
document."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gzip
import json
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import BackgroundTasks, FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

import sonde
from sonde.fastapi import SondeMiddleware, analytics_router, instrument

from conftest import Collector

KEY = "admin-secret"
WRITE_KEY = "write-secret"
# When the shop's /background task began (time.monotonic()), for the test that times it.
background_started: list[float] = []


def shop(s: sonde.Sonde, **middleware: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(SondeMiddleware, sonde=s, **middleware)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise HTTPException(404, "none")
        return {"id": item_id}

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            for _ in range(3):
                await asyncio.sleep(0.05)
                yield b"x" * 100

        return StreamingResponse(chunks())

    @app.get("/background")
    async def background(tasks: BackgroundTasks) -> dict[str, str]:
        def task() -> None:
            background_started.append(time.monotonic())
            time.sleep(0.4)

        tasks.add_task(task)
        return {"status": "ok"}

    @app.get("/boom")
    async def boom() -> None:
        raise LookupError("the thing is missing")

    return app


def requests_of(collector: Collector) -> list[dict[str, Any]]:
    return [e["properties"] for e in collector.events if e["event"] == "$api_request"]


@pytest.fixture
def client_and_events(collector: Collector) -> Iterator[tuple[TestClient, sonde.Sonde]]:
    s = sonde.Sonde(sink=collector, flush_interval=3600)
    with TestClient(shop(s), raise_server_exceptions=False) as http:
        yield http, s


def test_middleware_records_route_templates_sizes_and_timing(
    client_and_events: tuple[TestClient, sonde.Sonde], collector: Collector
) -> None:
    http, s = client_and_events
    assert http.get("/items/7", headers={"user-agent": "pytest-agent"}).status_code == 200
    assert http.get("/items/0").status_code == 404
    assert http.get("/nowhere/at/all").status_code == 404
    assert http.post("/echo", json={"a": 1}).json() == {"a": 1}
    s.flush(5.0)
    found = requests_of(collector)
    assert [(r["http.route"], r["http.response.status_code"]) for r in found] == [
        ("/items/{item_id}", 200),
        ("/items/{item_id}", 404),
        ("__unmatched__", 404),
        ("/echo", 200),
    ]
    first = found[0]
    assert first["url.path"] == "/items/7" and first["http.request.method"] == "GET"
    assert first["user_agent.original"] == "pytest-agent"
    assert first["client.address"] == "testclient"
    assert first["http.response.body.size"] == len(b'{"id":7}')
    assert 0 <= first["ttfb_ms"] <= first["duration_ms"]
    assert found[3]["http.request.body.size"] == len(b'{"a":1}')
    routes = s.stats()["routes"]
    assert routes["GET /items/{item_id}"]["count"] == 2
    assert routes["GET __unmatched__"]["count"] == 1


@pytest.mark.parametrize(
    ("http_version", "headers"),
    [
        ("1.1", [(b"transfer-encoding", b"chunked")]),
        ("2", []),
    ],
)
def test_bodies_without_a_length_are_counted_as_received(
    collector: Collector, http_version: str, headers: list[tuple[bytes, bytes]]
) -> None:
    """Chunked HTTP/1.1 bodies and HTTP/2 bodies declare no length: the bytes the app
    actually reads are what is recorded."""
    s = sonde.Sonde(sink=collector, flush_interval=3600)
    app = shop(s)  # with SondeMiddleware
    chunks = [b'{"a":', b" 1}"]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": http_version,
        "method": "POST",
        "scheme": "http",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
    }
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    s.flush(5.0)
    (recorded,) = requests_of(collector)
    assert recorded["http.request.body.size"] == len(b'{"a": 1}')
    assert recorded["http.route"] == "/echo" and recorded["client.address"] == "127.0.0.1"


def test_send_passes_every_message_on_and_counts_what_it_can_read(collector: Collector) -> None:
    """The middleware's ``send`` (native) hands each message to the server as the app sent
    it, headers given as a tuple get ``X-Process-Time`` added, and a message it cannot
    read (not a dict) still reaches the server rather than failing the response."""
    s = sonde.Sonde(sink=collector, flush_interval=3600)
    odd = types.MappingProxyType({"type": "http.response.debug", "info": 1})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": ((b"x-app", b"1"),)})
        await send(odd)
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"de"})

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    middleware = SondeMiddleware(app, s, process_time_header=True)
    scope = {"type": "http", "method": "GET", "path": "/raw", "headers": [], "client": None}
    asyncio.run(middleware(scope, receive, send))
    assert [m["type"] for m in sent] == [
        "http.response.start",
        "http.response.debug",
        "http.response.body",
        "http.response.body",
    ]
    assert sent[1] is odd
    names = [name for name, _ in sent[0]["headers"]]
    assert names == [b"x-app", b"x-process-time"]
    s.flush(5.0)
    (recorded,) = requests_of(collector)
    assert recorded["http.response.status_code"] == 201
    assert recorded["http.response.body.size"] == 5 and recorded["http.request.body.size"] == 0
    assert recorded["ttfb_ms"] <= recorded["duration_ms"]


def test_streaming_is_timed_to_the_last_chunk_and_background_tasks_are_excluded(
    client_and_events: tuple[TestClient, sonde.Sonde], collector: Collector
) -> None:
    http, s = client_and_events
    assert http.get("/stream").content == b"x" * 300
    background_started.clear()
    sent = time.monotonic()
    assert http.get("/background").status_code == 200
    s.flush(5.0)
    stream, background = requests_of(collector)
    assert stream["http.response.body.size"] == 300
    assert stream["duration_ms"] >= 140 and stream["ttfb_ms"] < stream["duration_ms"]
    # The request, as recorded, ended before its background task began (+1 ms: rounding).
    (task_started,) = background_started
    assert background["duration_ms"] <= (task_started - sent) * 1000 + 1, (
        "the background task is part of the request"
    )


def test_exceptions_become_500_plus_an_error_event_and_are_reraised(
    collector: Collector,
) -> None:
    s = sonde.Sonde(sink=collector, flush_interval=3600)
    with TestClient(shop(s), raise_server_exceptions=False) as http:
        assert http.get("/boom").status_code == 500
    with TestClient(shop(s)) as http, pytest.raises(LookupError):
        http.get("/boom")
    s.flush(5.0)
    errors = [e["properties"] for e in collector.events if e["event"] == "$error"]
    assert len(errors) == 2
    assert errors[0]["error.type"] == "LookupError"
    assert errors[0]["http.route"] == "/boom"
    assert "missing" in errors[0]["error.message"]
    request = requests_of(collector)[0]
    assert request["http.response.status_code"] == 500 and request["error.type"] == "LookupError"


def test_exclusions_sampling_header_and_privacy(collector: Collector) -> None:
    s = sonde.Sonde(sink=collector, flush_interval=3600, ip_policy="anonymize")
    app = shop(
        s,
        exclude_paths=[r"/items/\d+$"],
        exclude_methods=["POST"],
        process_time_header=True,
        trust_forwarded=True,
    )
    with TestClient(app) as http:
        assert "x-process-time" not in http.get("/items/3").headers
        http.post("/echo", json={})
        started = time.perf_counter()
        response = http.get("/stream", headers={"x-forwarded-for": "203.0.113.77, 10.0.0.1"})
        elapsed = time.perf_counter() - started
        # Seconds the app spent on the request: some, and no more than the client waited.
        assert 0 < float(response.headers["x-process-time"]) <= elapsed
    s.flush(5.0)
    (only,) = requests_of(collector)
    assert only["http.route"] == "/stream" and only["client.address"] == "203.0.113.0"

    sampled_out = Collector()
    quiet = sonde.Sonde(sink=sampled_out, flush_interval=3600)
    with TestClient(shop(quiet, request_sample_rate=0.0)) as http:
        for i in range(1, 11):
            http.get(f"/items/{i}")
    quiet.flush(5.0)
    assert sampled_out.events == []
    assert quiet.stats()["routes"]["GET /items/{item_id}"]["count"] == 10
    with pytest.raises(ValueError, match="request_sample_rate"):
        SondeMiddleware(shop(quiet), quiet, request_sample_rate=2.0)
    # instrument's sample_rate is the client's now (every event), no longer the requests'.
    app = FastAPI()
    sampled_client = instrument(app, disabled=True, api_key="k", sample_rate=0.25)
    assert sampled_client.options["sample_rate"] == 0.25


def test_websockets_and_lifespan_pass_through(collector: Collector) -> None:
    s = sonde.Sonde(sink=collector, flush_interval=3600)
    app = shop(s)

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text("hi")
        await socket.close()

    with TestClient(app) as http, http.websocket_connect("/ws") as socket:
        assert socket.receive_text() == "hi"
    s.flush(5.0)
    assert requests_of(collector) == []


# -- the analytics router ---------------------------------------------------------------------


def analytics_app(s: sonde.Sonde, **router: Any) -> FastAPI:
    app = FastAPI()
    router.setdefault("api_key", KEY)
    app.include_router(analytics_router(s, **router))
    return app


ADMIN = {"x-api-key": KEY}


@pytest.fixture
def api(store_path: str) -> Iterator[tuple[TestClient, sonde.Sonde]]:
    s = sonde.Sonde(store=store_path, flush_interval=3600)
    with TestClient(analytics_app(s)) as http:
        yield http, s
    s.shutdown(5.0)


def test_router_refuses_to_start_without_a_key(store_path: str) -> None:
    s = sonde.Sonde(store=store_path)
    with pytest.raises(sonde.ConfigError, match="api_key"):
        analytics_router(s)
    assert analytics_router(s, allow_unauthenticated=True) is not None


def test_track_and_batch_track(api: tuple[TestClient, sonde.Sonde]) -> None:
    http, s = api
    ok = http.post("/analytics/track", json={"event": "Signed Up", "userId": "u1"})
    assert ok.status_code == 200 and ok.json()["status"] == "accepted"
    bad = http.post("/analytics/track", json={"userId": "u1", "properties": []})
    assert bad.status_code == 422
    problem = bad.json()
    assert problem["code"] == "invalid_event"
    assert {(v["index"], v["path"], v["code"]) for v in problem["violations"]} == {
        (0, "/event", "missing_field"),
        (0, "/properties", "invalid_type"),
    }
    batch = http.post(
        "/analytics/batch-track",
        json=[{"event": "A", "userId": "u"}, {"event": "", "userId": "u"}],
    )
    assert batch.status_code == 200
    body = batch.json()
    assert body["success"] is False and body["accepted"] == 1 and body["rejected"] == 1
    assert body["items"][1]["errors"][0]["code"] == "event_name_length"
    assert http.post("/analytics/track", content=b"{nope").status_code == 422
    s.flush(5.0)
    assert {e["event"] for e in s.query_events()["events"]} == {"Signed Up", "A"}


def test_segment_collector_formats(api: tuple[TestClient, sonde.Sonde]) -> None:
    http, s = api
    sent_at = "2026-01-01T00:00:10Z"
    body = {
        "batch": [
            {
                "type": "track",
                "event": "Gzipped",
                "userId": "u",
                "timestamp": "2026-01-01T00:00:00Z",
            }
        ],
        "sentAt": sent_at,
    }
    r = http.post(
        "/analytics/v1/batch",
        content=gzip.compress(json.dumps(body).encode()),
        headers={"content-encoding": "gzip", "content-type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["success"] is True
    beacon = http.post(
        "/analytics/v1/page",
        content=json.dumps({"name": "Home", "anonymousId": "a"}),
        headers={"content-type": "text/plain"},
    )
    assert beacon.status_code == 200
    for kind, payload in [
        ("identify", {"userId": "u", "traits": {"plan": "pro"}}),
        ("screen", {"name": "Settings", "userId": "u"}),
        ("group", {"groupId": "g", "userId": "u"}),
        ("alias", {"userId": "u", "previousId": "a"}),
        ("track", {"event": "Single", "userId": "u"}),
    ]:
        assert http.post(f"/analytics/v1/{kind}", json=payload).status_code == 200, kind
    s.flush(5.0)
    stored = {
        e["type"] + ":" + str(e.get("event") or e.get("name") or ""): e
        for e in s.query_events(limit=100)["events"]
    }
    gz = stored["track:Gzipped"]
    assert "receivedAt" in gz

    # Clock skew: the client sent 10 s after the event, by its own clock; the event is
    # placed 10 s before the server received it.
    def instant(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

    skew = instant(gz["receivedAt"]) - instant(gz["timestamp"])
    assert skew == dt.timedelta(seconds=10), (gz["receivedAt"], gz["timestamp"])
    assert {"page:Home", "identify:", "screen:Settings", "group:", "alias:", "track:Single"} <= set(
        stored
    )


def test_size_limits_and_encodings(store_path: str) -> None:
    s = sonde.Sonde(store=store_path)
    with TestClient(analytics_app(s, max_body_bytes=1000)) as http:
        big = {"batch": [{"type": "track", "event": "x" * 2000, "userId": "u"}]}
        r = http.post("/analytics/v1/batch", json=big)
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: refused while streaming
            for _ in range(20):
                yield b" " * 100

        assert http.post("/analytics/v1/batch", content=chunks()).status_code == 413
        bomb = gzip.compress(b" " * 1_000_000)
        r = http.post("/analytics/v1/batch", content=bomb, headers={"content-encoding": "gzip"})
        assert r.status_code == 413
        r = http.post("/analytics/v1/batch", content=b"xx", headers={"content-encoding": "gzip"})
        assert r.status_code == 400
        r = http.post("/analytics/v1/batch", content=b"{}", headers={"content-encoding": "br"})
        assert r.status_code == 415


def test_write_keys_and_cors(store_path: str) -> None:
    s = sonde.Sonde(store=store_path)
    app = analytics_app(s, write_keys=[WRITE_KEY], cors_origins=["https://shop.example"])
    event = {"event": "Keyed", "userId": "u"}
    basic = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    with TestClient(app) as http:
        assert http.post("/analytics/v1/track", json=event).status_code == 401
        wrong = "Basic " + base64.b64encode(b"nope:").decode()
        assert (
            http.post(
                "/analytics/v1/track", json=event, headers={"authorization": wrong}
            ).status_code
            == 401
        )
        assert (
            http.post(
                "/analytics/v1/track", json=event, headers={"authorization": basic}
            ).status_code
            == 200
        )
        assert (
            http.post(
                "/analytics/track", json=event, headers={"x-write-key": WRITE_KEY}
            ).status_code
            == 200
        )
        r = http.post(
            f"/analytics/v1/track?writeKey={WRITE_KEY}",
            json=event,
            headers={"origin": "https://shop.example"},
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://shop.example"
        pre = http.options(
            "/analytics/v1/batch",
            headers={"origin": "https://shop.example", "access-control-request-method": "POST"},
        )
        assert pre.status_code == 204 and "POST" in pre.headers["access-control-allow-methods"]
        other = http.options("/analytics/v1/batch", headers={"origin": "https://evil.example"})
        assert other.status_code == 403


def test_management_endpoints_need_the_api_key(api: tuple[TestClient, sonde.Sonde]) -> None:
    http, _ = api
    for method, path in [
        ("put", "/analytics/config"),
        ("patch", "/analytics/events/x"),
        ("delete", "/analytics/events/x"),
        ("post", "/analytics/flush"),
        ("get", "/analytics/events"),
        ("get", "/analytics/events/x"),
        ("get", "/analytics/performance"),
        ("get", "/analytics/statistics"),
        ("get", "/analytics/metrics"),
        ("get", "/analytics/alerts"),
        ("get", "/analytics/config"),
    ]:
        r = http.request(method, path, json={})
        assert r.status_code == 401, (method, path)
        assert r.json()["code"] == "unauthorized"
        wrong = http.request(method, path, json={}, headers={"authorization": "Bearer wrong"})
        assert wrong.status_code == 401
    assert (
        http.get("/analytics/events", headers={"authorization": f"Bearer {KEY}"}).status_code == 200
    )
    for path in ("/analytics/performance", "/analytics/statistics", "/analytics/config"):
        assert http.get(path, headers={"x-api-key": KEY}).status_code == 200, path
    # The dashboard page itself is public: it asks for the key before reading anything.
    page = http.get("/analytics/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    alerts = http.get("/analytics/alerts?limit=5", headers={"x-api-key": KEY}).json()
    assert alerts == {"active": [], "history": []} or set(alerts) == {"active", "history"}
    bad = http.get("/analytics/alerts?limit=0", headers={"x-api-key": KEY})
    assert bad.status_code == 422
    # Anyone may ask whether the service is up; the details are for the key holder.
    assert http.get("/analytics/health").json() == {"status": "ok"}
    detailed = http.get("/analytics/health", headers={"x-api-key": KEY}).json()
    assert detailed["status"] == "ok" and "queued" in detailed


def test_open_reads_and_unauthenticated_development(store_path: str) -> None:
    s = sonde.Sonde(store=store_path)
    with TestClient(analytics_app(s, protect_reads=False)) as http:
        assert http.get("/analytics/events").status_code == 200
        assert http.post("/analytics/flush").status_code == 401
    with TestClient(analytics_app(s, api_key=None, allow_unauthenticated=True)) as http:
        assert http.post("/analytics/flush").status_code == 200


def test_events_crud_and_pagination_over_http(api: tuple[TestClient, sonde.Sonde]) -> None:
    http, _ = api
    batch = [
        {
            "type": "track",
            "event": "Viewed",
            "userId": f"u{i % 3}",
            "messageId": f"m-{i:03}",
            "properties": {"i": i, "plan": "pro" if i % 2 else "free"},
            "timestamp": f"2026-01-01T00:{i:02}:00Z",
        }
        for i in range(25)
    ]
    assert http.post("/analytics/v1/batch", json={"batch": batch}).json()["accepted"] == 25
    assert http.post("/analytics/flush", headers=ADMIN).json() == {"status": "flushed"}

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 10, "order": "asc", "with_total": "true"}
        if cursor:
            params["cursor"] = cursor
        page = http.get("/analytics/events", params=params, headers=ADMIN).json()
        assert page["total"] == 25
        seen += [e["messageId"] for e in page["events"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"m-{i:03}" for i in range(25)]

    filtered = http.get(
        "/analytics/events",
        params={"user_id": "u1", "properties": json.dumps({"plan": "pro"}), "limit": 100},
        headers=ADMIN,
    ).json()["events"]
    assert {e["messageId"] for e in filtered} == {
        f"m-{i:03}" for i in range(25) if i % 3 == 1 and i % 2
    }
    window = http.get(
        "/analytics/events",
        params={"from": "2026-01-01T00:05:00Z", "to": "2026-01-01T00:10:00Z"},
        headers=ADMIN,
    ).json()["events"]
    assert len(window) == 5
    bad = http.get("/analytics/events", params={"limit": "5000", "order": "up"}, headers=ADMIN)
    assert bad.status_code == 422
    assert {(v["path"], v["code"]) for v in bad.json()["violations"]} == {
        ("/limit", "invalid_query"),
        ("/order", "invalid_query"),
    }
    assert (
        http.get("/analytics/events", params={"properties": "{"}, headers=ADMIN).status_code == 422
    )

    assert http.get("/analytics/events/m-001", headers=ADMIN).json()["properties"]["i"] == 1
    assert http.get("/analytics/events/nope", headers=ADMIN).status_code == 404
    patched = http.patch(
        "/analytics/events/m-001", json={"properties": {"plan": "team"}}, headers=ADMIN
    )
    assert patched.status_code == 200 and patched.json()["properties"] == {"i": 1, "plan": "team"}
    replaced = http.patch(
        "/analytics/events/m-001", json={"properties": {"x": 1}, "replace": True}, headers=ADMIN
    )
    assert replaced.json()["properties"] == {"x": 1}
    assert http.patch("/analytics/events/m-001", json={"nope": 1}, headers=ADMIN).status_code == 422
    assert (
        http.patch("/analytics/events/zzz", json={"properties": {}}, headers=ADMIN).status_code
        == 404
    )
    assert http.delete("/analytics/events/m-001", headers=ADMIN).json() == {
        "deleted": True,
        "message_id": "m-001",
    }
    assert http.delete("/analytics/events/m-001", headers=ADMIN).status_code == 404


def test_statistics_performance_health_and_config(api: tuple[TestClient, sonde.Sonde]) -> None:
    http, s = api
    s.track_api_request("GET", "/items/{id}", 200, 12.0)
    s.track_performance("db.query", 3.0)
    s.flush(5.0)
    stats = http.get("/analytics/statistics", params={"bucket": "day"}, headers=ADMIN).json()
    assert stats["live"]["counters"]["delivered"] == 2
    assert (
        stats["stored"]["total"] == 2 and stats["stored"]["routes"]["GET /items/{id}"]["count"] == 1
    )
    week = http.get("/analytics/statistics", params={"bucket": "week"}, headers=ADMIN)
    assert week.status_code == 422
    perf = http.get("/analytics/performance", headers=ADMIN).json()
    assert perf["routes"]["GET /items/{id}"]["count"] == 1
    assert perf["operations"]["db.query"]["count"] == 1
    assert perf["system"]["memory_total_bytes"] > 0
    health = http.get("/analytics/health", headers=ADMIN).json()
    assert health["status"] == "ok" and health["store"]["ok"] is True and health["delivered"] == 2

    config = http.get("/analytics/config", headers=ADMIN).json()
    assert config["store"] == s.store_path and config["limits"]["max_batch_bytes"] > 0
    changed = http.put("/analytics/config", json={"sample_rates": {"Noise": 0.0}}, headers=ADMIN)
    assert changed.status_code == 200
    assert changed.json()["options"]["sample_rates"] == {"Noise": 0.0}
    s.track("Noise", user_id="u")
    assert s.stats()["counters"]["dropped"]["sampled"] == 1
    bad = http.put("/analytics/config", json={"batch_size": -1, "what": 1}, headers=ADMIN)
    assert bad.status_code == 422
    assert {v["path"] for v in bad.json()["violations"]} == {"/batch_size", "/what"}
    assert http.put("/analytics/config", json={"store": "x.db"}, headers=ADMIN).status_code == 422
    assert http.put("/analytics/config", json=[1], headers=ADMIN).status_code == 422
    s.shutdown(5.0)
    assert http.get("/analytics/health").status_code == 503


def test_openapi_documents_every_endpoint(api: tuple[TestClient, sonde.Sonde]) -> None:
    http, _ = api
    spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        ("post", "/analytics/track"),
        ("post", "/analytics/batch-track"),
        ("get", "/analytics/performance"),
        ("get", "/analytics/health"),
        ("get", "/analytics/statistics"),
        ("get", "/analytics/metrics"),
        ("get", "/analytics/alerts"),
        ("get", "/analytics/dashboard"),
        ("get", "/analytics/config"),
        ("put", "/analytics/config"),
        ("get", "/analytics/events"),
        ("get", "/analytics/events/{event_id}"),
        ("patch", "/analytics/events/{event_id}"),
        ("delete", "/analytics/events/{event_id}"),
        ("post", "/analytics/flush"),
        ("post", "/analytics/v1/batch"),
        *{
            ("post", f"/analytics/v1/{k}")
            for k in ("track", "page", "screen", "identify", "group", "alias")
        },
    }
    assert {(m, p) for p, ops in paths.items() for m in ops} == expected
    batch = paths["/analytics/v1/batch"]["post"]
    schema = batch["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["batch"]["items"]["properties"]["userId"]
    assert "text/plain" in batch["requestBody"]["content"]
    assert {"413", "422", "401"} <= set(batch["responses"])
    assert "Problem" in spec["components"]["schemas"]
    assert "IngestResult" in spec["components"]["schemas"]
    events = paths["/analytics/events"]["get"]
    assert {p["name"] for p in events["parameters"]} >= {"user_id", "from", "cursor", "limit"}


def test_instrument_adds_everything_in_one_line(store_path: str) -> None:
    app = FastAPI()

    @app.get("/hello/{name}")
    async def hello(name: str) -> dict[str, str]:
        return {"hello": name}

    s = instrument(app, store=store_path, api_key=KEY, retention_days=30)
    with TestClient(app) as http:
        assert http.get("/hello/world").status_code == 200
        assert http.get("/analytics/health").status_code == 200  # not tracked itself
    assert s.is_shut_down, "the lifespan shut the client down"
    with sonde.Sonde(store=store_path) as reader:
        events = reader.query_events()["events"]
    assert [e["properties"]["http.route"] for e in events] == ["/hello/{name}"]
    with pytest.raises(TypeError):
        instrument(FastAPI(), s, batch_size=10)


def test_distinct_routes_are_capped(collector: Collector) -> None:
    s = sonde.Sonde(sink=collector, flush_interval=3600, max_routes=2)
    app = FastAPI()
    app.add_middleware(SondeMiddleware, sonde=s)
    for name in ("a", "b", "c", "d"):
        app.add_api_route(f"/{name}/{{x}}", lambda x: {"x": x}, methods=["GET"])
    with TestClient(app) as http:
        for name in ("a", "b", "c", "d"):
            assert http.get(f"/{name}/1").status_code == 200
    routes = s.stats()["routes"]
    assert set(routes) == {"GET /a/{x}", "GET /b/{x}", "* __other__"}
    assert routes["* __other__"]["count"] == 2


def test_ingestion_leaves_the_event_loop_when_a_full_buffer_can_make_it_wait(
    collector: Collector,
) -> None:
    from sonde._native import HttpApi

    quick = HttpApi(sonde.Sonde(sink=collector), allow_unauthenticated=True)
    waits = HttpApi(sonde.Sonde(sink=collector, overflow="block"), allow_unauthenticated=True)
    assert quick.runs_inline("POST", "/v1/batch") and quick.runs_inline("OPTIONS", "/track")
    assert not waits.runs_inline("POST", "/v1/batch"), "overflow=block can wait: thread pool"
    assert waits.runs_inline("OPTIONS", "/track")
    assert not quick.runs_inline("GET", "/events")


def test_identify_names_the_user_of_each_request_and_the_rest_are_personless(
    collector: Collector,
) -> None:
    app = FastAPI()

    @app.get("/me")
    async def me(request: Request) -> dict[str, str]:
        request.state.user_id = request.headers.get("x-user", "")
        return {"ok": "yes"}

    @app.get("/broken")
    async def broken(request: Request) -> dict[str, str]:
        request.state.user_id = "u-broken"
        raise RuntimeError("boom")

    def identify(request: Request) -> str | None:
        if request.headers.get("x-user") == "explode":
            raise ValueError("bug in identify")
        return getattr(request.state, "user_id", None) or None

    s = sonde.Sonde(sink=collector, flush_interval=3600)
    instrument(app, s, api_key="k", identify=identify)
    with TestClient(app, raise_server_exceptions=False) as http:
        assert http.get("/me", headers={"x-user": "u-42"}).status_code == 200
        assert http.get("/me").status_code == 200
        assert http.get("/me", headers={"x-user": "explode"}).status_code == 200
        assert http.get("/broken").status_code == 500
        # A server requires a person for the app's own events; Sonde's are personless.
        with pytest.raises(sonde.ValidationError) as refused:
            s.track("Checkout")
        assert refused.value.violations[0]["code"] == "missing_identity"
    # The lifespan shut the client down: everything was delivered.
    seen = [(e["event"], e.get("userId"), e.get("anonymousId")) for e in collector.events]
    assert seen == [
        ("$api_request", "u-42", None),
        ("$api_request", None, "$personless"),
        ("$api_request", None, "$personless"),
        ("$error", "u-broken", None),
        ("$api_request", "u-broken", None),
    ]


def test_instrument_adds_one_route_entry_and_leaves_the_apps_paths_alone(tmp_path: Any) -> None:
    app = FastAPI()
    client = instrument(app, store=str(tmp_path / "s.db"), api_key=KEY)

    # Declared after instrument(), as apps do: paths that share the prefix's letters, and
    # one of the app's own under the prefix that no analytics route claims.
    @app.get("/analyticsx")
    async def lookalike() -> dict[str, str]:
        return {"route": "lookalike"}

    @app.get("/analytics/custom/{n}")
    async def custom(n: int) -> dict[str, int]:
        return {"n": n}

    from sonde.fastapi.routes import RouteGroup

    groups = [r for r in app.router.routes if isinstance(r, RouteGroup)]
    assert len(groups) == 1 and len(groups[0].routes) >= 20
    # Requests outside the prefix never consult the analytics routes.
    consulted: list[str] = []
    for route in groups[0].routes:
        original = route.matches

        def counting(scope: Any, original: Any = original, path: str = route.path) -> Any:
            consulted.append(path)
            return original(scope)

        route.matches = counting  # type: ignore[method-assign]
    with TestClient(app) as http:
        assert http.get("/analyticsx").json() == {"route": "lookalike"}
        assert consulted == []
        assert http.get("/analytics/custom/3").json() == {"n": 3}
        assert consulted
        assert http.get("/analytics/health").status_code == 200
        auth = {"X-API-Key": KEY}
        assert http.get("/analytics/events", headers=auth).status_code == 200
        # A path the group knows with a method it does not: 405 with Allow, as before.
        refused = http.delete("/analytics/flush", headers=auth)
        assert refused.status_code == 405 and "POST" in refused.headers["allow"]
        assert http.get("/analytics/nothing-here").status_code == 404
        paths = http.get("/openapi.json").json()["paths"]
        assert {"/analytics/events", "/analyticsx", "/analytics/custom/{n}"} <= set(paths)
        assert str(app.url_path_for("lookalike")) == "/analyticsx"
    client.shutdown(5)
