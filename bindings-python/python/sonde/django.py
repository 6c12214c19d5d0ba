"""Django integration: ``sonde.django.SondeMiddleware`` in ``settings.MIDDLEWARE`` times
every request with the route Django resolved (``/items/<int:item_id>``), records
exceptions as ``$error`` events and gives a request's events their user::

    MIDDLEWARE = [..., "sonde.django.SondeMiddleware"]  # after authentication
    SONDE = {"store": "sonde.db"}  # the client's options: sonde.django.client() is it
    SONDE_MIDDLEWARE = {"identify": "myapp.analytics.user_of"}  # or a function

``SONDE_MIDDLEWARE`` takes the recorder's options (``exclude_paths``,
``request_sample_rate``, ``trusted_proxies``, ...) and ``identify``: a function of the
request (or its dotted path) returning the user id or ``None``, called once the view ran.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

from . import Sonde
from ._recording import content_length, error_of, header_pairs, recorder_of, user_of

__all__ = ["SondeMiddleware", "client"]

_lock = threading.Lock()
_client: Sonde | None = None


def client() -> Sonde:
    """The process's client, made once from ``settings.SONDE`` (the client's options)."""
    global _client
    with _lock:
        if _client is None:
            _client = Sonde(**getattr(settings, "SONDE", {}))
        return _client


class SondeMiddleware:
    """Times every request and records it with ``client()``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        options: dict[str, Any] = dict(getattr(settings, "SONDE_MIDDLEWARE", {}))
        identify = options.pop("identify", None)
        self.identify: Callable[[HttpRequest], Any] | None = (
            import_string(identify) if isinstance(identify, str) else identify
        )
        self.recorder = recorder_of(**options)
        self.sonde = client()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        method, path = request.method or "GET", request.path_info or "/"
        if self.recorder.excludes(method, path):
            return self.get_response(request)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        except Exception as exc:
            self._record(request, None, started, exc)
            raise
        if self.recorder.process_time_header:
            response["X-Process-Time"] = f"{time.perf_counter() - started:.6f}"
        self._record(request, response, started, getattr(request, "_sonde_error", None))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        # Django turns it into a 500 (or a handler's response); the record carries it.
        request._sonde_error = exception  # type: ignore[attr-defined]

    def _record(
        self,
        request: HttpRequest,
        response: HttpResponseBase | None,
        started: float,
        exc: BaseException | None,
    ) -> None:
        finished = time.perf_counter()
        match = request.resolver_match
        route = f"/{match.route}" if match is not None and match.route else None
        sent = None
        if response is not None and not response.streaming:
            sent = len(response.content)  # type: ignore[attr-defined]
        user = user_of(self.identify, request)
        self.recorder.record(
            self.sonde,
            request.method or "GET",
            request.path_info or "/",
            route,
            response.status_code if response is not None else None,
            (finished - started) * 1000.0,
            (finished - started) * 1000.0,
            request.META.get("REMOTE_ADDR"),
            header_pairs(request.META),
            content_length(request.META),
            sent,
            *error_of(exc),
            False,  # aborted: not reported here
            user or None,
        )
