"""Shared pieces of the Python benchmarks: the event, a loopback dummy ingest server in its
own process (with TCP_NODELAY, or every reply waits ~40 ms for Nagle + delayed ACK), medians.
Run as a script, it is that server: it prints its port and serves until terminated."""

from __future__ import annotations

import gzip
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def six_properties(i: int) -> dict[str, Any]:
    return {
        "plan": "pro",
        "revenue": 42.5,
        "currency": "EUR",
        "items": i,
        "coupon": None,
        "first_order": True,
    }


class _Sink(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    received = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        parsed = json.loads(body)
        count = len(parsed) if isinstance(parsed, list) else len(parsed.get("batch", [None]))
        with _Sink.lock:
            _Sink.received += count
        self._reply(b'{"status": 1}')

    def do_GET(self) -> None:
        with _Sink.lock:
            received = _Sink.received
        self._reply(json.dumps({"received": received}).encode())

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class DummyServer:
    """A dummy ingest server on 127.0.0.1 in its own process, so that answering requests
    never competes with the measured client for the GIL or its CPU time. It accepts any
    POST (Segment's /v1/batch, PostHog's /batch/, gzip or not) and counts the events."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def received(self) -> int:
        with urllib.request.urlopen(self.url + "/count", timeout=10) as reply:
            return int(json.loads(reply.read())["received"])

    def wait_for(self, target: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while (received := self.received()) < target:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server received {received} of {target} events")
            time.sleep(0.005)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def median(values: list[float]) -> float:
    return statistics.median(values)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    print(server.server_address[1], flush=True)
    server.serve_forever()
