"""gunicorn with four uvicorn workers and --preload (the client is created in the master,
then every worker forks from it), under load from eight connections, then SIGTERM to the
master in the middle of the load. Every event a request acknowledged must be in the store
once, and the request events of the middleware too: nothing lost at the fork or at the
signal, nothing stored twice."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import sonde
from processes import free_port, wait_until_up

APP = """
import os
from fastapi import FastAPI
from sonde.fastapi import instrument

app = FastAPI()
client = instrument(app, store=os.environ["SONDE_STORE"], api_key="k")


@app.post("/order/{i}")
async def order(i: int) -> dict[str, int]:
    client.track("Worker Order", {"i": i, "pid": os.getpid()})
    return {"i": i}
"""

CONNECTIONS = 8


def test_forked_workers_keep_every_acknowledged_event_through_sigterm(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text(APP)
    store = tmp_path / "events.db"
    port = free_port()
    master = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--preload", "-w", "4"]
        + ["-k", "uvicorn_worker.UvicornWorker", "-b", f"127.0.0.1:{port}"]
        + ["--graceful-timeout", "30", "--log-level", "warning", "app:app"],
        cwd=tmp_path,
        env={**os.environ, "SONDE_STORE": str(store)},
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/docs", master)
        acknowledged: list[int] = []
        lock = threading.Lock()
        counter = iter(range(10_000_000))

        def load() -> None:
            while True:
                with lock:
                    i = next(counter)
                # A connection per request, so the workers share the accepts.
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    conn.request("POST", f"/order/{i}", headers={"connection": "close"})
                    response = conn.getresponse()
                    response.read()
                except OSError:
                    return  # the server is gone: stop
                finally:
                    conn.close()
                if response.status == 200:
                    with lock:
                        acknowledged.append(i)

        threads = [threading.Thread(target=load) for _ in range(CONNECTIONS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 1500 and time.monotonic() < deadline:
            time.sleep(0.01)
        master.send_signal(signal.SIGTERM)  # mid-load
        assert master.wait(60) == 0
        for t in threads:
            t.join(60)
    finally:
        if master.poll() is None:
            master.kill()
    assert len(acknowledged) >= 1500

    reader = sonde.Sonde(store=str(store), flush_at_exit=False)
    stored = every_event(reader, "Worker Order")
    routes = [
        e["properties"]["http.route"] for e in every_event(reader, "$api_request")
    ]
    reader.shutdown()
    kept = [e["properties"]["i"] for e in stored]
    assert len(kept) == len(set(kept)), "an event was stored twice"
    missing = set(acknowledged) - set(kept)
    assert not missing, (
        f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    )
    # Every order tracked was also a request the middleware recorded, once.
    assert routes.count("/order/{i}") == len(kept)
    assert len({e["properties"]["pid"] for e in stored}) > 1, (
        "the load reached several workers"
    )


def every_event(client: sonde.Sonde, name: str) -> list[dict]:
    events: list[dict] = []
    cursor = None
    while True:
        page = client.query_events(event=name, limit=1000, cursor=cursor)
        events.extend(page["events"])
        cursor = page["next_cursor"]
        if not cursor:
            return events
