"""``SondeMiddleware``: pure ASGI request instrumentation.

Per request: method, route template (``/items/{item_id}``; unmatched paths share one
``__unmatched__`` bucket; the core caps distinct routes), status, duration to the last
response body chunk (background tasks run after it and are excluded), time to first byte,
request and response body sizes, client address (per the privacy option) and user agent.
A sampled request becomes an ``$api_request`` event; every request feeds route statistics.
An exception is recorded as a 500 plus an ``$error`` event and re-raised for the server.
"""

from __future__ import annotations

import ipaddress
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Literal

from .. import Sonde

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNMATCHED = "__unmatched__"
ClientAddress = Literal["full", "anonymize", "omit"]


def route_template(scope: Scope) -> str:
    """The template of the route the framework matched, or ``__unmatched__``."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str) or not template:
        return UNMATCHED
    return template


def anonymize(address: str) -> str:
    """Zeroes the host part: the last octet of IPv4, the last 80 bits of IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


class SondeMiddleware:
    """Times every HTTP request of the wrapped ASGI app and records it with ``sonde``.

    Options: ``exclude_paths`` (regular expressions matched against the raw path),
    ``exclude_methods``, ``sample_rate`` for request events (statistics still see every
    request), ``process_time_header`` (adds ``X-Process-Time`` in seconds, measured when the
    response starts), ``client_address`` (``"full"``, ``"anonymize"`` or ``"omit"``),
    ``trust_forwarded`` (take the client from ``X-Forwarded-For``).
    """

    def __init__(
        self,
        app: ASGIApp,
        sonde: Sonde,
        *,
        exclude_paths: Iterable[str] = (),
        exclude_methods: Iterable[str] = ("OPTIONS",),
        sample_rate: float = 1.0,
        process_time_header: bool = False,
        client_address: ClientAddress = "full",
        trust_forwarded: bool = False,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be between 0 and 1, got {sample_rate}")
        if client_address not in ("full", "anonymize", "omit"):
            raise ValueError(
                f'client_address must be "full", "anonymize" or "omit", got {client_address!r}'
            )
        self.app = app
        self.sonde = sonde
        patterns = list(exclude_paths)
        self._excluded = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        self._excluded_methods = frozenset(m.upper() for m in exclude_methods)
        self.sample_rate = sample_rate
        self.process_time_header = process_time_header
        self.client_address = client_address
        self.trust_forwarded = trust_forwarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        if method in self._excluded_methods or (
            self._excluded is not None and self._excluded.match(path)
        ):
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        # [status, first byte at, last body chunk at, response bytes, request bytes]
        state: list[Any] = [None, 0.0, 0.0, 0, 0]
        add_header = self.process_time_header

        async def receive_counting() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state[4] += len(message.get("body", b""))
            return message

        async def send_timing(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                state[0] = message["status"]
                state[1] = time.perf_counter()
                if add_header:
                    headers = list(message.get("headers", ()))
                    headers.append((b"x-process-time", f"{state[1] - started:.6f}".encode()))
                    message["headers"] = headers
            elif kind == "http.response.body":
                state[3] += len(message.get("body", b""))
                if not message.get("more_body", False):
                    state[2] = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive_counting, send_timing)
        except Exception as exc:
            # Starlette's outer error middleware turns the re-raised exception into a 500.
            self._record(scope, method, path, state, started, exc)
            raise
        self._record(scope, method, path, state, started, None)

    def _record(
        self,
        scope: Scope,
        method: str,
        path: str,
        state: list[Any],
        started: float,
        exc: BaseException | None,
    ) -> None:
        now = time.perf_counter()
        status: int = state[0] or 500
        if exc is not None:
            status = 500
        finished = state[2] or now
        duration_ms = (finished - started) * 1000.0
        route = route_template(scope)
        error_type = type(exc).__name__ if exc is not None else None
        try:
            if exc is not None:
                self.sonde.track_error(error_type or "Exception", str(exc)[:1000], route=route)
            if self.sample_rate >= 1.0 or random.random() < self.sample_rate:
                self.sonde.track_api_request(
                    method,
                    route,
                    status,
                    duration_ms,
                    path=path,
                    client_address=self._client(scope),
                    user_agent=_header(scope, b"user-agent"),
                    request_body_size=state[4],
                    response_body_size=state[3],
                    error_type=error_type,
                    ttfb_ms=(state[1] - started) * 1000.0 if state[1] else None,
                )
            else:
                self.sonde.record_request(method, route, status, duration_ms)
        except Exception:
            self.sonde.record_request(method, route, status, duration_ms)

    def _client(self, scope: Scope) -> str | None:
        if self.client_address == "omit":
            return None
        address = None
        if self.trust_forwarded:
            forwarded = _header(scope, b"x-forwarded-for")
            if forwarded:
                address = forwarded.split(",")[0].strip()
        if address is None:
            client = scope.get("client")
            address = client[0] if client else None
        if address is None:
            return None
        return anonymize(address) if self.client_address == "anonymize" else address


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None
