"""``SondeMiddleware``: pure ASGI request instrumentation.

This file holds only the ASGI hooks: per request the native ``Exchange`` (the app's
``send``) observes the status, the time to first byte, the time to the last response body
chunk (background tasks run after it and are excluded) and the body bytes received and
sent; at the end it reads the method, the route template Starlette matched, the peer and
forwarding headers and the user agent from the scope and hands them to the core's
``RequestRecorder``, which decides exclusion, sampling, client address, the
``__unmatched__`` bucket and the ``$error`` event (``core/src/http/recorder.rs``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from starlette.requests import Request

from .. import Sonde
from .._native import Exchange
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
        # The exchange (native) is the app's `send`: it keeps the status, clocks and sizes.
        exchange = self.recorder.begin(scope, send)
        if exchange is None:  # not HTTP, or excluded
            await self.app(scope, receive, send)
            return
        # A request that declares no body is not wrapped: its receive is the server's own.
        receiving = _counting(receive, exchange) if exchange.may_have_body else receive
        try:
            await self.app(scope, receiving, exchange)
        except Exception as exc:
            # Starlette's outer error middleware turns the re-raised exception into a 500.
            self._finish(scope, exchange, exc)
            raise
        if self.identify is None:
            exchange.finish(self.sonde)
        else:
            self._finish(scope, exchange, None)

    def _finish(self, scope: Scope, exchange: Exchange, exc: BaseException | None) -> None:
        user = user_of(self.identify, Request(scope)) if self.identify is not None else None
        exchange.finish(self.sonde, *error_of(exc), user or None)


def _counting(receive: Receive, exchange: Exchange) -> Receive:
    """The server's ``receive``, with the request body's bytes counted by ``exchange``."""

    async def counting_receive() -> Message:
        message = await receive()
        exchange.received(message)
        return message

    return counting_receive
