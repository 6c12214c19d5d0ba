"""Events leaving the process, between real processes on 127.0.0.1: a Node service and a
Python service send to the example collectors (FastAPI under uvicorn, and the Node
example server) with the HTTP destination, and a real Segment SDK from npm posts to the
collector; every event must be stored exactly once and read back through
/analytics/events."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import sonde

ROOT = Path(__file__).resolve().parents[2]
NODE_BINDING = ROOT / "bindings-node"
KEY = "system-admin-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the collector exited with {process.returncode}"
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not come up")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def fastapi_collector(tmp_path: Path) -> Iterator[str]:
    """The example FastAPI app under uvicorn, its own process and store."""
    port = free_port()
    env = {
        **os.environ,
        "SONDE_STORE": str(tmp_path / "fastapi.db"),
        "SONDE_API_KEY": KEY,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT / "examples" / "fastapi_app",
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/analytics/health", process)
        yield base
    finally:
        stop(process)


@pytest.fixture
def node_collector(tmp_path: Path) -> Iterator[str]:
    """The example node:http server, its own process and store."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "SONDE_STORE": str(tmp_path / "node.db"),
        "SONDE_API_KEY": KEY,
    }
    process = subprocess.Popen(
        ["node", str(ROOT / "examples" / "node_app" / "server.js")],
        cwd=tmp_path,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/analytics/health", process)
        yield base
    finally:
        stop(process)


def api(base: str, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(
        f"{base}{path}", method=method, headers={"X-API-Key": KEY}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def stored(base: str, event: str) -> list[dict[str, Any]]:
    """Every stored event named `event`, all pages, after the collector flushed."""
    api(base, "/analytics/flush", "POST")
    events: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = api(base, f"/analytics/events?event={quote(event)}&limit=500{cursor}")
        events.extend(page["events"])
        if not page.get("next_cursor"):
            return events
        cursor = f"&cursor={quote(page['next_cursor'])}"


def run_node(script: str, **env: str) -> dict[str, Any]:
    """Runs `script` in a fresh Node process with the binding as `Sonde`; its last line of
    output is JSON."""
    prelude = f"const {{ Sonde }} = require({json.dumps(str(NODE_BINDING))});\n"
    done = subprocess.run(
        ["node", "-e", prelude + script],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_each_once(events: list[dict[str, Any]], count: int) -> None:
    seen = sorted(e["properties"]["i"] for e in events)
    assert seen == list(range(count)), (
        f"{len(seen)} stored, expected 0..{count - 1} once each"
    )
    assert len({e["messageId"] for e in events}) == count


def test_a_node_service_sends_to_the_fastapi_collector(fastapi_collector: str) -> None:
    n = 300
    stats = run_node(
        f"""
        const sonde = new Sonde({{ endpoint: process.env.ENDPOINT, batchSize: 50 }});
        for (let i = 0; i < {n}; i++) sonde.track('Node Order', {{ i }}, {{ userId: 'node-7' }});
        sonde.identify('node-7', {{ plan: 'pro' }});
        sonde.flush().then(() => {{
          console.log(JSON.stringify(sonde.stats().counters));
          return sonde.shutdown();
        }});
        """,
        ENDPOINT=f"{fastapi_collector}/analytics/v1/batch",
    )
    assert stats["delivered"] == n + 1
    assert stats["dropped"]["rejected"] == 0
    events = stored(fastapi_collector, "Node Order")
    assert_each_once(events, n)
    assert events[0]["userId"] == "node-7"
    assert events[0]["context"]["library"]["name"] == "sonde-node"


def test_a_python_service_sends_to_the_node_collector(node_collector: str) -> None:
    n = 250
    with sonde.Sonde(
        endpoint=f"{node_collector}/analytics/v1/batch", batch_size=40
    ) as client:
        for i in range(n):
            client.track("Python Order", {"i": i}, user_id="py-7")
        client.flush(timeout=30)
        counters = client.stats()["counters"]
    assert counters["delivered"] == n
    events = stored(node_collector, "Python Order")
    assert_each_once(events, n)
    assert events[0]["context"]["library"]["name"] == "sonde-python"


def test_a_python_service_sends_to_the_fastapi_collector_and_keeps_a_local_store(
    fastapi_collector: str, tmp_path: Path
) -> None:
    n = 120
    local = tmp_path / "local.db"
    client = sonde.Sonde(
        endpoint=f"{fastapi_collector}/analytics/v1/batch", store=str(local)
    )
    for i in range(n):
        client.track("Both Places", {"i": i})
    client.flush(timeout=30)
    assert client.stats()["counters"]["delivered"] == n
    assert len(client.query_events(event="Both Places", limit=500)["events"]) == n
    client.shutdown()
    assert_each_once(stored(fastapi_collector, "Both Places"), n)


def test_items_the_collector_rejects_are_counted_as_rejected(
    fastapi_collector: str,
) -> None:
    """The collector's tracking plan is not the sender's: what it refuses is dropped as
    `rejected`, item by item, and the rest is stored."""
    # The collector refuses messages over its 32 KB limit; this sender allows them.
    client = sonde.Sonde(
        endpoint=f"{fastapi_collector}/analytics/v1/batch",
        limits={"max_message_bytes": 100_000},
        batch_size=10,
    )
    for i in range(6):
        big = "x" * (40_000 if i % 3 == 0 else 10)
        client.track("Mixed Sizes", {"i": i, "blob": big})
    client.flush(timeout=30)
    counters = client.stats()["counters"]
    client.shutdown()
    assert (counters["delivered"], counters["dropped"]["rejected"]) == (4, 2)
    kept = sorted(
        e["properties"]["i"] for e in stored(fastapi_collector, "Mixed Sizes")
    )
    assert kept == [1, 2, 4, 5]


def test_the_segment_node_sdk_posts_to_the_node_collector(node_collector: str) -> None:
    result = run_node(
        """
        const { Analytics } = require(require.resolve('@segment/analytics-node',
          { paths: [process.env.NODE_BINDING] }));
        const analytics = new Analytics({ writeKey: 'any', host: process.env.HOST,
          path: '/analytics/v1/batch', maxEventsInBatch: 25 });
        const errors = [];
        analytics.on('error', (e) => errors.push(String(e.reason || e)));
        for (let i = 0; i < 60; i++) {
          analytics.track({ userId: 'seg-1', event: 'Segment Order', properties: { i } });
        }
        analytics.closeAndFlush({ timeout: 20000 }).then(() => {
          console.log(JSON.stringify({ errors }));
        });
        """,
        HOST=node_collector,
        NODE_BINDING=str(NODE_BINDING),
    )
    assert result["errors"] == []
    events = stored(node_collector, "Segment Order")
    assert_each_once(events, 60)
    assert events[0]["context"]["library"]["name"] == "@segment/analytics-node"
