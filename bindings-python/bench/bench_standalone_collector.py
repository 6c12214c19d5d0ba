"""The standalone collector (`target/release/sonde-collector`, `make collector`):
``POST /v1/batch`` with 500-event batches from 4 keep-alive connections on 127.0.0.1, into
SQLite and, when `TEST_POSTGRES_URL` names a server, into PostgreSQL. Events per second
accepted and committed (the clock stops when ``POST /flush`` returns and the store holds
every event), and the collector's CPU per event (the database server's is not counted).

    scripts/with-postgres.sh .venv/bin/python bindings-python/bench/bench_standalone_collector.py
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench_collector import BATCH, BATCHES, CONNECTIONS, body, post_batches

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR = ROOT / "target" / "release" / "sonde-collector"
KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_database() -> str:
    base = os.environ["TEST_POSTGRES_URL"]
    name = f"bench{os.getpid()}_{time.monotonic_ns()}"
    subprocess.run(["psql", base, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    return f"{base.rsplit('/', 1)[0]}/{name}"


def run(backend: str, store: str, bodies: list[bytes]) -> None:
    port = free_port()
    server = subprocess.Popen(
        [str(COLLECTOR), "--listen", f"127.0.0.1:{port}", "--store", store, "--api-key", KEY]
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the collector did not start"
                time.sleep(0.05)
        cpu = cpu_seconds(server.pid)
        started = time.perf_counter()
        accepted = post_batches(port, "/v1/batch", bodies)
        posted = time.perf_counter() - started
        headers = {"x-api-key": KEY}
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.request("POST", "/flush?timeout=60", headers=headers)
        flushed = conn.getresponse().read()
        assert flushed == b'{"status":"flushed"}', flushed
        committed = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - cpu
        conn.request("GET", "/events?with_total=true&limit=1", headers=headers)
        total = json.loads(conn.getresponse().read())["total"]
        events = BATCH * BATCHES
        assert accepted == events and total == events, (accepted, total)
        print(f"sonde-collector on {backend}, {events} events, {CONNECTIONS} connections:")
        print(f"  accepted: {events / posted:,.0f} events/s")
        print(f"  accepted and committed: {events / committed:,.0f} events/s")
        print(f"  collector CPU per event: {cpu / events * 1e6:.1f} µs")
    finally:
        server.terminate()
        server.wait(60)


def main() -> None:
    bodies = [body(b) for b in range(BATCHES)]
    folder = Path(tempfile.mkdtemp(prefix="sonde-standalone-"))
    run("SQLite", str(folder / "collector.db"), bodies)
    if os.environ.get("TEST_POSTGRES_URL"):
        run("PostgreSQL", postgres_database(), bodies)


if __name__ == "__main__":
    main()
