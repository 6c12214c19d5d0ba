"""``SondeMiddleware``: pure ASGI request instrumentation.

This file holds only the ASGI hooks and clocks: per request it observes the method, the
route template Starlette matched, the status, the time to the last response body chunk
(background tasks run after it and are excluded), the time to first byte, the body bytes
actually received and sent, the peer and forwarding headers and the user agent, then hands
them to the core's ``RequestRecorder``, which decides exclusion, sampling, client address,
the ``__unmatched__`` bucket and the ``$error`` event (``core/src/http/recorder.rs``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from starlette.requests import Request

from .. import Sonde
from .._recording import error_of, recorder_of, user_of

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Who made a request: its user id, or None. Called once the response is sent, with the
# request (Starlette's ``Request``), so what the handler and its dependencies put on
# ``request.state`` (the signed-in user, say) is there.
Identify = Callable[[Request], str | None]


def route_template(scope: Scope) -> str | None:
    """The template of the route the framework matched, or ``None`` (what the middleware
    records; the recorder reads it natively, as ``path_format`` then ``path``)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else None


class SondeMiddleware:
    """Times every HTTP request of the wrapped ASGI app and records it with ``sonde``.

    Options (checked by the core; a bad one raises ``ConfigError`` listing every problem):
    ``exclude_paths`` (regular expressions matched at the start of the raw path),
    ``exclude_methods``, ``request_sample_rate`` for request events (statistics still see
    every request), ``process_time_header`` (adds ``X-Process-Time`` in seconds, measured
    when the response starts), ``trusted_proxies`` (how many proxies in front of the app to
    believe) or ``trust_forwarded`` (believe every hop of ``Forwarded`` /
    ``X-Forwarded-For``), ``identify`` (``request -> user id | None``: the user the
    request's events are about; without one they are personless, never merged into one
    process-wide person; a hook that raises is logged and counts as no user). What is
    recorded of the client's address is the client's ``ip_policy`` (``"keep"``,
    ``"anonymize"`` or ``"drop"``).
    """

    def __init__(
        self,
        app: ASGIApp,
        sonde: Sonde,
        *,
        exclude_paths: Iterable[str] = (),
        exclude_methods: Iterable[str] = ("OPTIONS",),
        request_sample_rate: float = 1.0,
        process_time_header: bool = False,
        trust_forwarded: bool = False,
        trusted_proxies: int = 0,
        identify: Identify | None = None,
    ) -> None:
        self.app = app
        self.sonde = sonde
        self.identify = identify
        self.recorder = recorder_of(
            exclude_paths=exclude_paths,
            exclude_methods=exclude_methods,
            request_sample_rate=request_sample_rate,
            process_time_header=process_time_header,
            trust_forwarded=trust_forwarded,
            trusted_proxies=trusted_proxies,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.recorder.excludes(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(send, receive, self.recorder.process_time_header)
        # A request that declares no body is not wrapped: its receive is the server's own.
        receiving = exchange.receive if _may_have_body(scope) else receive
        try:
            await self.app(scope, receiving, exchange.send)
        except Exception as exc:
            # Starlette's outer error middleware turns the re-raised exception into a 500.
            self._record(scope, exchange, exc)
            raise
        self._record(scope, exchange, None)

    def _record(self, scope: Scope, x: _Exchange, exc: BaseException | None) -> None:
        user = user_of(self.identify, Request(scope)) if self.identify is not None else None
        # One native call reads the rest from the scope; positional, as it runs per request.
        self.recorder.record_asgi(
            self.sonde,
            scope,
            x.status if exc is None else None,
            x.started,
            x.first_byte,
            x.last_chunk or time.perf_counter(),
            x.received,
            x.sent,
            *error_of(exc),
            user or None,
        )


def _may_have_body(scope: Scope) -> bool:
    """Whether the request may have a body: HTTP/1 requests declare one (``Content-Length``
    above 0, or chunked); HTTP/2 and 3 need not, so theirs are always counted."""
    if not scope.get("http_version", "1.1").startswith("1"):
        return True
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


class _Exchange:
    """One request's clocks and byte counts, and the ASGI callables that keep them. ``send``
    is a plain function returning the server's own awaitable: a coroutine of its own per
    message cost more than everything it records."""

    __slots__ = (
        "add_header",
        "first_byte",
        "last_chunk",
        "received",
        "sent",
        "server_receive",
        "server_send",
        "started",
        "status",
    )

    def __init__(self, send: Send, receive: Receive, add_header: bool) -> None:
        self.server_send = send
        self.server_receive = receive
        self.add_header = add_header
        self.started = time.perf_counter()
        self.status: int | None = None
        self.first_byte = 0.0
        self.last_chunk = 0.0
        self.sent = 0
        self.received = 0

    def send(self, message: Message) -> Awaitable[None]:
        kind = message["type"]
        if kind == "http.response.body":
            self.sent += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.last_chunk = time.perf_counter()
        elif kind == "http.response.start":
            self.status = message["status"]
            self.first_byte = time.perf_counter()
            if self.add_header:
                headers = list(message.get("headers", ()))
                elapsed = f"{self.first_byte - self.started:.6f}".encode()
                headers.append((b"x-process-time", elapsed))
                message["headers"] = headers
        return self.server_send(message)

    async def receive(self) -> Message:
        message = await self.server_receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
        return message
