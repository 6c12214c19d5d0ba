"""Shared pieces of the Python benchmarks: the event, a loopback dummy ingest server (with
TCP_NODELAY, or every reply waits ~40 ms for Nagle + delayed ACK), medians."""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable
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

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"status": 1}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def dummy_server() -> tuple[str, Callable[[], None]]:
    """An HTTP server on 127.0.0.1 that accepts any POST; returns its URL and a stopper."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}", stop


def median(values: list[float]) -> float:
    return statistics.median(values)
