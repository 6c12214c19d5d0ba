"""Statistics across workers: gunicorn with four uvicorn workers (and --preload) on one
store, SQLite or PostgreSQL, under a bounded load of known requests. Whichever worker
answers, /statistics counts every request exactly once and its p95 is within 1% of the exact
p95 of all the requests (read back from the stored request events)."""

from __future__ import annotations

import http.client
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from processes import api, free_port, postgres_database, stop, stored, wait_until_up

APP = """
import asyncio
import os
from fastapi import FastAPI
from sonde.fastapi import instrument

app = FastAPI()
client = instrument(
    app, store=os.environ["SONDE_STORE"], api_key="system-admin-key", metrics_interval=0.2
)


@app.post("/work/{i}")
async def work(i: int) -> dict[str, int]:
    await asyncio.sleep((i % 20) / 1000)
    return {"i": i}
"""

REQUESTS = 400
CONNECTIONS = 8
ROUTE = "POST /work/{i}"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_statistics_merge_every_worker_exactly(backend: str, tmp_path: Path) -> None:
    store = str(tmp_path / "events.db") if backend == "sqlite" else postgres_database()
    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "-w", "4"]
        + ["-k", "uvicorn_worker.UvicornWorker", "-b", f"127.0.0.1:{port}"]
        + ["--log-level", "warning", "app:app"],
        cwd=tmp_path,
        env={**os.environ, "SONDE_STORE": store},
    )
    try:
        wait_until_up(f"{base}/docs", server)
        load(port)
        # Every worker publishes within an interval (200 ms) of its last request.
        deadline = time.monotonic() + 20
        while True:
            statistics = api(base, "/analytics/statistics")
            route = statistics["live"]["routes"].get(ROUTE, {"count": 0})
            if route["count"] >= REQUESTS or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert route["count"] == REQUESTS, "merged count"
        serving = [i for i in statistics["instances"] if i["requests"] > 0]
        assert len(serving) > 1, "the load reached one worker"
        assert len({i["pid"] for i in statistics["instances"]}) == len(
            statistics["instances"]
        ), "one entry per process"
        assert sum(i["requests"] for i in statistics["instances"]) >= REQUESTS

        durations = sorted(durations_stored(base))
        assert len(durations) == REQUESTS
        # The sketch's rank rule: the value at floor(q * (n - 1)).
        exact = durations[math.floor(0.95 * (len(durations) - 1))]
        merged = route["latency"]["p95"]
        assert abs(merged - exact) <= 0.01 * exact, (merged, exact)
        performance = api(base, "/analytics/performance")
        assert performance["routes"][ROUTE]["count"] == REQUESTS
    finally:
        stop(server)


def load(port: int) -> None:
    """REQUESTS posts over CONNECTIONS threads, a connection each, all answered 200."""
    counter = iter(range(REQUESTS))
    lock = threading.Lock()
    failures: list[Any] = []

    def run() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("POST", f"/work/{i}", headers={"connection": "close"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    failures.append(response.status)
            finally:
                conn.close()

    threads = [threading.Thread(target=run) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures


def durations_stored(base: str) -> list[float]:
    """The duration of every request, from the stored $api_request events (each worker
    commits its own within its flush interval)."""
    deadline = time.monotonic() + 20
    while True:
        events = [
            e
            for e in stored(base, "$api_request")
            if e["properties"].get("http.route") == "/work/{i}"
        ]
        if len(events) >= REQUESTS or time.monotonic() > deadline:
            return [e["properties"]["duration_ms"] for e in events]
        time.sleep(0.2)
