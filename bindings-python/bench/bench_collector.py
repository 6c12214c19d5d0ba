"""Collector ingest: ``POST /analytics/v1/batch`` with 500-event batches into SQLite, one
uvicorn worker, load from a bounded client (4 keep-alive connections) on 127.0.0.1.
Events per second accepted and committed (the clock stops when ``POST /flush`` returns and
the store holds every event).

    .venv/bin/python bindings-python/bench/bench_collector.py
"""

from __future__ import annotations

import http.client
import json
import tempfile
import threading
import time
from pathlib import Path

from common import six_properties
from server import Server

BATCH = 500
BATCHES = 200  # 100,000 events
CONNECTIONS = 4


def body(b: int) -> bytes:
    return json.dumps(
        {
            "batch": [
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": f"user-{(b * BATCH + i) % 1000}",
                    "messageId": f"bench-{b}-{i}",
                    "timestamp": "2026-11-26T10:00:00.000Z",
                    "properties": six_properties(i),
                }
                for i in range(BATCH)
            ],
            "sentAt": "2026-11-26T10:00:00.100Z",
        }
    ).encode()


def post_batches(port: int, path: str, bodies: list[bytes]) -> int:
    """POSTs every body over CONNECTIONS keep-alive connections; the events accepted."""
    accepted = [0] * CONNECTIONS

    def load(worker: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for b in range(worker, len(bodies), CONNECTIONS):
            conn.request("POST", path, bodies[b], {"content-type": "application/json"})
            response = conn.getresponse()
            answer = json.loads(response.read())
            assert response.status == 200, answer
            accepted[worker] += answer["accepted"]
        conn.close()

    threads = [threading.Thread(target=load, args=(w,)) for w in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return sum(accepted)


def main() -> None:
    bodies = [body(b) for b in range(BATCHES)]
    store = Path(tempfile.mkdtemp(prefix="sonde-collector-")) / "collector.db"
    server = Server("collector", {"BENCH_STORE": str(store)})
    try:
        cpu = server.cpu_seconds()
        started = time.perf_counter()
        accepted = post_batches(server.port, "/analytics/v1/batch", bodies)
        posted = time.perf_counter() - started
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        conn.request("POST", "/analytics/flush?timeout=60")
        assert conn.getresponse().read() == b'{"status":"flushed"}'
        committed = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu
        conn.request("GET", "/analytics/events?with_total=true&limit=1")
        total = json.loads(conn.getresponse().read())["total"]
        events = BATCH * BATCHES
        assert accepted == events and total == events, (accepted, total)
        print(
            f"collector, {events} events in {BATCHES} batches of {BATCH}, "
            f"{CONNECTIONS} connections:"
        )
        print(f"  accepted: {events / posted:,.0f} events/s")
        print(f"  accepted and committed to SQLite: {events / committed:,.0f} events/s")
        print(f"  server CPU per event: {cpu / events * 1e6:.1f} µs")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
