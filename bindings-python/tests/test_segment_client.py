"""A real Segment SDK (segment-analytics-python) as a black box: it posts to the example
app's collector on 127.0.0.1, and the events come back through GET /analytics/events."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import segment.analytics as segment  # requirements-dev.txt: a missing SDK fails, never skips
import uvicorn
from fastapi import FastAPI

import sonde
from sonde.fastapi import instrument

KEY = "admin-key"
WRITE_KEY = "segment-write-key"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    instrument(app, store=str(tmp_path / "collector.db"), api_key=KEY, write_keys=[WRITE_KEY])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(20)
    sock.close()


def get(url: str) -> dict[str, object]:
    request = urllib.request.Request(url, headers={"X-API-Key": KEY})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_segment_sdk_events_land_in_the_store(server: str) -> None:
    errors: list[Exception] = []
    client = segment.Client(
        WRITE_KEY,
        host=f"{server}/analytics",
        on_error=lambda e, batch: errors.append(e),
        gzip=True,
        max_retries=1,
    )
    client.identify("sdk-user", {"plan": "pro"})
    client.track("sdk-user", "Order Completed", {"total": 42.5, "currency": "EUR"})
    client.page("sdk-user", "Docs", "Getting Started", {"path": "/docs"})
    client.group("sdk-user", "acme", {"name": "ACME"})
    client.flush()
    client.shutdown()
    assert errors == []
    urllib.request.urlopen(
        urllib.request.Request(
            f"{server}/analytics/flush", method="POST", headers={"X-API-Key": KEY}
        ),
        timeout=10,
    ).close()
    page = get(f"{server}/analytics/events?user_id=sdk-user&order=asc&limit=10")
    events = page["events"]
    assert isinstance(events, list)
    assert [e["type"] for e in events] == ["identify", "track", "page", "group"]
    track = events[1]
    assert track["event"] == "Order Completed" and track["properties"]["total"] == 42.5
    assert track["context"]["library"]["name"] == "analytics-python"
    assert "receivedAt" in track


def test_wrong_write_key_is_refused(server: str) -> None:
    errors: list[Exception] = []
    client = segment.Client(
        "wrong", host=f"{server}/analytics", on_error=lambda e, b: errors.append(e), max_retries=0
    )
    client.track("u", "Refused")
    client.flush()
    client.shutdown()
    assert errors, "the collector refused the key"
    assert get(f"{server}/analytics/events?event=Refused")["events"] == []


def test_uvicorn_middleware_records_real_requests(server: str) -> None:
    with urllib.request.urlopen(f"{server}/ping", timeout=10) as response:
        assert json.loads(response.read()) == {"pong": "yes"}
    urllib.request.urlopen(
        urllib.request.Request(
            f"{server}/analytics/flush", method="POST", headers={"X-API-Key": KEY}
        ),
        timeout=10,
    ).close()
    events = get(f"{server}/analytics/events?event=%24api_request")["events"]
    assert isinstance(events, list)
    assert [e["properties"]["http.route"] for e in events] == ["/ping"]
    assert isinstance(sonde.__version__, str)
