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
    """The template of the route the framework matched, or ``None``."""
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

        started = time.perf_counter()
        # [status, first byte at, last body chunk at, response bytes, request bytes]
        state: list[Any] = [None, 0.0, 0.0, 0, 0]
        add_header = self.recorder.process_time_header

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
            self._record(scope, state, started, exc)
            raise
        self._record(scope, state, started, None)

    def _record(
        self, scope: Scope, state: list[Any], started: float, exc: BaseException | None
    ) -> None:
        finished = state[2] or time.perf_counter()
        client = scope.get("client")
        user = user_of(self.identify, Request(scope)) if self.identify is not None else None
        # Positional: this runs once per request.
        self.recorder.record(
            self.sonde,
            scope["method"],
            scope["path"],
            route_template(scope),
            state[0] if exc is None else None,
            (finished - started) * 1000.0,
            (state[1] - started) * 1000.0 if state[1] else None,
            client[0] if client else None,
            scope["headers"],
            state[4],
            state[3],
            *error_of(exc),
            False,  # aborted: the ASGI middleware does not report it
            user or None,
        )
