"""Real processes on 127.0.0.1 for the system tests: the example FastAPI collector as a
subprocess that can be stopped and started again, Node scripts run with the binding, and
helpers to read back what a collector stored."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

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


class RecordingServer:
    """A collector stand-in on 127.0.0.1 that takes every POST (gzip or not), answers
    `answer`, and keeps each request's path, headers and JSON body."""

    def __init__(self, answer: str = '{"success": true}') -> None:
        requests: list[dict[str, Any]] = []
        self.requests = requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server spelling)
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.headers.get("content-encoding") == "gzip":
                    raw = gzip.decompress(raw)
                headers = {k.lower(): v for k, v in self.headers.items()}
                requests.append(
                    {
                        "path": self.path,
                        "headers": headers,
                        "body": json.loads(raw),
                    }
                )
                body = answer.encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def batches(self) -> list[dict[str, Any]]:
        return [e for r in self.requests for e in r["body"]["batch"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# Options for the clients and collectors of tests that count events exactly.
QUIET = {"alert_rules": []}


class FastAPICollector:
    """The example FastAPI app under uvicorn on a fixed port and store, that can be stopped
    and started again (an outage)."""

    def __init__(
        self,
        store: Path,
        port: int | None = None,
        app_dir: Path | None = None,
        **env: str,
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.store = store
        self.app_dir = app_dir or ROOT / "examples" / "fastapi_app"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "SONDE_STORE": str(self.store),
            "SONDE_API_KEY": KEY,
            # Counts in these tests are exact: no `$alert` from the host (a full disk, a
            # busy CPU on a loaded machine) may add an event of its own.
            "SHOP_SONDE_OPTIONS": json.dumps(QUIET),
            **self.env,
        }
        command = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            cwd=self.app_dir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_up(f"{self.base}/analytics/health", self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


_databases = iter(range(1_000_000))


def postgres_database() -> str:
    """A new, empty database on the server `make test-system` starts
    (scripts/with-postgres.sh); without one the test fails, it is never skipped."""
    base = os.environ.get("TEST_POSTGRES_URL")
    assert base, "TEST_POSTGRES_URL is not set: run `make test-system`"
    name = f"system{os.getpid()}_{next(_databases)}"
    subprocess.run(
        ["psql", base, "-q", "-c", f"CREATE DATABASE {name}"],
        check=True,
        capture_output=True,
    )
    return f"{base.rsplit('/', 1)[0]}/{name}"
