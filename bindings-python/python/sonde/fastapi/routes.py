"""The analytics routes as one entry of an app's route list.

Starlette tries an app's routes in order for every request, and ``instrument(app)`` adds the
twenty analytics routes before the app defines its own: included as a router they cost each
request of the app about 20 µs (in-process, FastAPI 0.165), appended one by one about 10.
Grouped behind one check of the prefix they cost one string comparison. The group still
shows its routes to FastAPI's OpenAPI generation, so ``/docs`` lists them like any route.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

# Where the group leaves the route it matched for `handle` (Starlette copies the child scope
# of the match into the request's scope).
_CHOSEN = "sonde.route"
# Starlette reads the child scope of a route only when it matched, so this one is shared.
_NO_MATCH: tuple[Match, Scope] = (Match.NONE, {})


class RouteGroup(BaseRoute):
    """Routes under ``prefix``, tried only for paths under it."""

    def __init__(self, prefix: str, routes: Sequence[BaseRoute]) -> None:
        self.prefix = prefix.rstrip("/")
        self.routes = list(routes)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # Runs for every request of the app: one check inline, and the answer a constant
        # (an enum member read from its class costs more than the check itself).
        path = scope.get("path", "")
        prefix = self.prefix
        if not path.startswith(prefix) or (len(path) > len(prefix) and path[len(prefix)] != "/"):
            return _NO_MATCH
        partial: tuple[Match, Scope] | None = None
        for route in self.routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                return match, {**child, _CHOSEN: route}
            if match == Match.PARTIAL and partial is None:
                partial = (match, {**child, _CHOSEN: route})
        return partial or (Match.NONE, {})

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[_CHOSEN].handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise NoMatchFound(name, path_params)


def add_route_group(app: FastAPI, group: RouteGroup) -> None:
    """Adds ``group`` to ``app`` and has the app's OpenAPI document its routes."""
    app.router.routes.append(group)
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI documents the routes of its list: the group's stand in for it while the
        # document is made (on the event loop, where requests are routed too).
        routes = app.router.routes
        if group not in routes:
            return generate()
        at = routes.index(group)
        routes[at : at + 1] = group.routes
        try:
            return generate()
        finally:
            routes[at : at + len(group.routes)] = [group]

    app.openapi = openapi  # type: ignore[method-assign]
