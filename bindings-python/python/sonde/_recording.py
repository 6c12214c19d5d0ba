"""What every Python integration (ASGI, WSGI, Django) shares around the core's
``RequestRecorder``: its options, the headers it reads, and how a traceback is kept."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._native import RequestRecorder

_log = logging.getLogger("sonde")


def recorder_of(
    *,
    exclude_paths: Iterable[str] = (),
    exclude_methods: Iterable[str] = ("OPTIONS",),
    request_sample_rate: float = 1.0,
    process_time_header: bool = False,
    trust_forwarded: bool = False,
    trusted_proxies: int = 0,
) -> RequestRecorder:
    """The core's recorder from the middleware options every integration takes."""
    return RequestRecorder(
        exclude_paths=list(exclude_paths),
        exclude_methods=list(exclude_methods),
        request_sample_rate=request_sample_rate,
        process_time_header=process_time_header,
        trust_forwarded=trust_forwarded,
        trusted_proxies=trusted_proxies,
    )


def header_pairs(environ: Mapping[str, Any]) -> list[tuple[bytes, bytes]]:
    """The headers the recorder reads, as ASGI-style pairs (Latin-1, as WSGI decodes them)."""
    pairs = []
    for name, key in (
        (b"user-agent", "HTTP_USER_AGENT"),
        (b"forwarded", "HTTP_FORWARDED"),
        (b"x-forwarded-for", "HTTP_X_FORWARDED_FOR"),
    ):
        value = environ.get(key)
        if value:
            pairs.append((name, value.encode("latin-1", "replace")))
    return pairs


def stack_of(exc: BaseException) -> str:
    """A traceback's end (the frame that raised), within the core's limit."""
    return "".join(traceback.format_exception(exc))[-8000:]


def error_of(exc: BaseException | None) -> tuple[str | None, str | None, str | None]:
    """A request's error as the recorder takes it: type, message and stack (all ``None``
    without one)."""
    if exc is None:
        return None, None, None
    return type(exc).__name__, str(exc), stack_of(exc)


def content_length(environ: Mapping[str, Any]) -> int:
    """The request body's declared size (WSGI's ``CONTENT_LENGTH``; 0 when absent or bad)."""
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def user_of(identify: Callable[[Any], Any] | None, request: Any) -> str | None:
    """The user ``identify`` names for a request, as text; ``None`` without a hook, or when
    the hook raises (logged: instrumentation never breaks the response)."""
    if identify is None:
        return None
    try:
        user = identify(request)
    except Exception:
        _log.exception("identify raised; the request is recorded without a user")
        return None
    return None if user is None else str(user)
