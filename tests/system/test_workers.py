"""SIGTERM in the middle of a load from eight connections (tracked events, and batches
ingested by the collector), to three servers: gunicorn with four uvicorn workers and
--preload (the client is created in the master, then every worker forks from it), uvicorn
alone, and a Node server. Every event a request acknowledged must be in the store once, and
the request events of the middleware too: nothing lost at the fork or at the signal,
nothing stored twice."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import sonde
from processes import NODE_BINDING, free_port, wait_until_up

APP = """
import os
from fastapi import FastAPI
from sonde.fastapi import instrument

app = FastAPI()
client = instrument(app, store=os.environ["SONDE_STORE"], api_key="k")


@app.post("/order/{i}")
async def order(i: int) -> dict[str, int]:
    client.track("Worker Order", {"i": i, "pid": os.getpid()}, user_id="worker")
    return {"i": i}
"""

NODE_APP = """
const http = require('node:http');
const { Sonde } = require(process.env.NODE_BINDING);

const sonde = new Sonde({ store: process.env.SONDE_STORE });
const analytics = sonde.handler({ apiKey: 'k' });
const route = (req) => (req.url.startsWith('/order/') ? '/order/{i}' : undefined);
const app = sonde.wrap((req, res) => {
  const order = req.url.match(/^\\/order\\/(\\d+)$/);
  if (req.method === 'POST' && order) {
    sonde.track('Worker Order', { i: Number(order[1]), pid: process.pid }, { userId: 'worker' });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  } else {
    res.writeHead(req.url === '/up' ? 200 : 404).end();
  }
}, { route, excludePaths: ['/analytics/'] });
http.createServer((req, res) => {
  if (!analytics(req, res)) app(req, res);
}).listen(Number(process.env.PORT), '127.0.0.1');
"""

CONNECTIONS = 8
BATCH = 10

# name: (command after the port is known, file to write, its text, the path that answers
# 200 once up, whether the load spreads over several processes)
SERVERS = {
    "gunicorn --preload -w 4": (
        lambda port: [sys.executable, "-m", "gunicorn", "--preload", "-w", "4"]
        + ["-k", "uvicorn_worker.UvicornWorker", "-b", f"127.0.0.1:{port}"]
        + ["--graceful-timeout", "30", "--log-level", "warning", "app:app"],
        "app.py",
        APP,
        "/docs",
        True,
    ),
    "uvicorn": (
        lambda port: [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1"]
        + ["--port", str(port), "--log-level", "warning"],
        "app.py",
        APP,
        "/docs",
        False,
    ),
    "node": (lambda port: ["node", "app.js"], "app.js", NODE_APP, "/up", False),
}


@pytest.mark.parametrize("server", list(SERVERS))
def test_every_acknowledged_event_survives_sigterm_under_load(
    server: str, tmp_path: Path
) -> None:
    command, file, text, up_path, several = SERVERS[server]
    (tmp_path / file).write_text(text)
    store = tmp_path / "events.db"
    port = free_port()
    env = {
        "SONDE_STORE": str(store),
        "PORT": str(port),
        "NODE_BINDING": str(NODE_BINDING),
    }
    master = subprocess.Popen(command(port), cwd=tmp_path, env={**os.environ, **env})
    try:
        wait_until_up(f"http://127.0.0.1:{port}{up_path}", master)
        acknowledged: list[int] = []
        lock = threading.Lock()
        counter = iter(range(10_000_000))

        def load(batches: bool) -> None:
            while True:
                with lock:
                    ids = [next(counter) for _ in range(BATCH if batches else 1)]
                if batches:
                    items = [
                        {
                            "type": "track",
                            "event": "Worker Order",
                            "userId": "b",
                            "messageId": f"batch-{i}",
                            "properties": {"i": i, "pid": 0},
                        }
                        for i in ids
                    ]
                    path, body = "/analytics/v1/batch", json.dumps({"batch": items})
                else:
                    path, body = f"/order/{ids[0]}", ""
                # A connection per request, so the workers share the accepts.
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                headers = {"connection": "close", "content-type": "application/json"}
                try:
                    conn.request("POST", path, body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                except OSError:
                    return  # the server is gone: stop
                finally:
                    conn.close()
                if response.status == 200:
                    with lock:
                        acknowledged.extend(ids)

        # Six connections of requests that track, two posting batches to the collector.
        threads = [
            threading.Thread(target=load, args=(n < 2,)) for n in range(CONNECTIONS)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 1500 and time.monotonic() < deadline:
            time.sleep(0.01)
        master.send_signal(signal.SIGTERM)  # mid-load
        # Ended by the signal (uvicorn and Sonde's Node handler re-raise it after their
        # graceful shutdown) or by a clean exit (gunicorn's master).
        assert master.wait(60) in (0, -signal.SIGTERM)
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
    assert any(e.get("userId") == "b" for e in stored), (
        "no ingested batch was acknowledged"
    )
    # The middleware recorded each acknowledged request, and none twice (a request cut off by
    # the exit may have tracked its order without its own event being recorded).
    tracked = [e for e in stored if e.get("userId") != "b"]
    recorded = routes.count("/order/{i}")
    acknowledged_requests = len(
        set(acknowledged) & {e["properties"]["i"] for e in tracked}
    )
    assert acknowledged_requests <= recorded <= len(tracked)
    if several:
        pids = {e["properties"]["pid"] for e in tracked}
        assert len(pids) > 1, "the load reached one worker"


def every_event(client: sonde.Sonde, name: str) -> list[dict]:
    events: list[dict] = []
    cursor = None
    while True:
        page = client.query_events(event=name, limit=1000, cursor=cursor)
        events.extend(page["events"])
        cursor = page["next_cursor"]
        if not cursor:
            return events
