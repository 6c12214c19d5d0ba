"""Flask integration: ``instrument(app, sonde)`` times every request with the route
template Flask matched (``/items/<int:item_id>``), records exceptions as ``$error``
events, and gives a request's events their user through ``identify``::

    from flask import Flask, g
    from sonde.flask import instrument

    app = Flask(__name__)
    sonde = instrument(app, store="sonde.db", identify=lambda request: g.get("user_id"))

Built on ``sonde.wsgi.SondeWSGIMiddleware`` (the core's request recorder).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import flask

from . import Sonde
from ._recording import user_of
from .wsgi import ERROR, ROUTE, USER, SondeWSGIMiddleware

__all__ = ["instrument"]


def instrument(
    app: flask.Flask,
    sonde: Sonde | None = None,
    *,
    identify: Callable[[flask.Request], str | None] | None = None,
    exclude_paths: Iterable[str] = (),
    exclude_methods: Iterable[str] = ("OPTIONS",),
    request_sample_rate: float = 1.0,
    process_time_header: bool = False,
    trust_forwarded: bool = False,
    trusted_proxies: int = 0,
    **options: Any,
) -> Sonde:
    """Adds request instrumentation to ``app``; returns the client (created from
    ``options`` unless one is given). ``identify(request)`` runs when the request ends,
    inside its context (``g`` and ``request`` as the view left them); a hook that raises is
    logged and the request is recorded without a user."""
    if sonde is None:
        sonde = Sonde(**options)
    elif options:
        raise TypeError("pass options either to Sonde(...) or to instrument(...), not both")
    app.wsgi_app = SondeWSGIMiddleware(  # type: ignore[method-assign]
        app.wsgi_app,
        sonde,
        exclude_paths=exclude_paths,
        exclude_methods=exclude_methods,
        request_sample_rate=request_sample_rate,
        process_time_header=process_time_header,
        trust_forwarded=trust_forwarded,
        trusted_proxies=trusted_proxies,
    )

    @app.before_request
    def _route() -> None:
        rule = flask.request.url_rule
        flask.request.environ[ROUTE] = rule.rule if rule is not None else None

    def _failed(sender: Any, exception: BaseException, **extra: Any) -> None:
        flask.request.environ[ERROR] = exception

    flask.got_request_exception.connect(_failed, app, weak=False)

    if identify is not None:

        @app.teardown_request
        def _user(exc: BaseException | None) -> None:
            user = user_of(identify, flask.request)
            if user is not None:
                flask.request.environ[USER] = user

    return sonde
