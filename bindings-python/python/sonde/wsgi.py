"""``SondeWSGIMiddleware``: request instrumentation for any WSGI app (Flask's ``instrument``
is built on it).

This file holds only the WSGI hooks and clocks: per request it observes the method, the
status, the time to the last body chunk, the time to
first byte (``start_response``), the body bytes received (``CONTENT_LENGTH``) and sent,
the peer and forwarding headers and the user agent, then hands them to the core's
``RequestRecorder``, which decides exclusion, sampling, the client address, the
``__unmatched__`` bucket and the ``$error`` event (``core/src/http/recorder.rs``).
Frameworks put what only they know into the WSGI environ: the route template
(``sonde.route``), the exception a request ended with (``sonde.error``) and its user
(``sonde.user``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import Sonde
from ._recording import content_length, error_of, header_pairs, recorder_of

ROUTE = "sonde.route"
ERROR = "sonde.error"
USER = "sonde.user"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class SondeWSGIMiddleware:
    """Times every request of the wrapped WSGI app and records it with ``sonde``. Options
    are the recorder's (see ``sonde.fastapi.SondeMiddleware``)."""

    def __init__(self, app: WSGIApp, sonde: Sonde, **options: Any) -> None:
        self.app = app
        self.sonde = sonde
        self.recorder = recorder_of(**options)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO") or "/"
        if self.recorder.excludes(method, path):
            return self.app(environ, start_response)
        started = time.perf_counter()
        # [status, first byte at]
        state: list[Any] = [None, 0.0]
        add_header = self.recorder.process_time_header

        def timed_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            state[0] = int(status.split(" ", 1)[0])
            state[1] = time.perf_counter()
            if add_header:
                headers.append(("X-Process-Time", f"{state[1] - started:.6f}"))
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, timed_start)
        except Exception as exc:
            self._record(environ, state, started, 0, exc)
            raise
        return _CountedBody(body, lambda sent: self._record(environ, state, started, sent, None))

    def _record(
        self,
        environ: Environ,
        state: list[Any],
        started: float,
        sent: int,
        raised: BaseException | None,
    ) -> None:
        finished = time.perf_counter()
        exc = raised or environ.get(ERROR)
        user = environ.get(USER)
        self.recorder.record(
            self.sonde,
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("PATH_INFO") or "/",
            environ.get(ROUTE),
            None if raised is not None else state[0],
            (finished - started) * 1000.0,
            (state[1] - started) * 1000.0 if state[1] else None,
            environ.get("REMOTE_ADDR"),
            header_pairs(environ),
            content_length(environ),
            sent,
            *error_of(exc),
            False,  # aborted: not reported here
            str(user) if user else None,
        )


class _CountedBody:
    """The response body as the server iterates it: bytes counted, and the request recorded
    once the last chunk went out, or when the server closes the body early (the client went
    away), whichever comes first."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self.body = body
        self.done = done
        self.sent = 0
        self.recorded = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk
        self._finish()

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()

    def _finish(self) -> None:
        if not self.recorded:
            self.recorded = True
            self.done(self.sent)
