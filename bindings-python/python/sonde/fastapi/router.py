"""``analytics_router``: the analytics endpoints (same paths and methods as the module Sonde
replaces) plus a Segment-compatible collector, on one FastAPI router."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from .. import Sonde, __version__
from ..errors import ConfigError, SondeError
from . import models
from ._http import (
    HTTPProblem,
    bearer_or_header,
    json_response,
    problem_from,
    read_body,
    same_key,
    write_key_of,
)

SEGMENT_TYPES = ("track", "page", "screen", "identify", "group", "alias")
QUERY_KEYS = (
    "type",
    "event",
    "event_prefix",
    "user_id",
    "anonymous_id",
    "session_id",
    "from",
    "to",
    "order",
    "cursor",
)

Endpoint = Callable[..., Awaitable[Response]]


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A request body for ``openapi_extra``, with nested models inlined (the route reads
    raw bytes, so FastAPI does not register them as components)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    content = {"schema": inline(schema)}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": content, "text/plain": content},
        }
    }


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": models.Problem, "description": "Missing or wrong key"},
    413: {"model": models.Problem, "description": "Body over the size limit"},
    422: {"model": models.Problem, "description": "Every violation, with its stable code"},
}


def _keys(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def analytics_router(
    sonde: Sonde,
    prefix: str = "/analytics",
    *,
    api_key: str | Sequence[str] | None = None,
    write_keys: str | Sequence[str] | None = None,
    protect_reads: bool = True,
    allow_unauthenticated: bool = False,
    cors_origins: Sequence[str] = (),
    max_body_bytes: int | None = None,
    tags: Sequence[str] = ("analytics",),
) -> APIRouter:
    """The analytics endpoints on ``prefix``.

    Management endpoints (``PUT /config``, ``PATCH``/``DELETE /events/...``,
    ``POST /flush``, and event reads unless ``protect_reads=False``) need ``api_key`` (sent as
    ``X-API-Key`` or ``Authorization: Bearer``); without one the router refuses to be built
    unless ``allow_unauthenticated=True`` (development only). Ingestion needs one of
    ``write_keys`` when given (HTTP basic auth as Segment SDKs send it, ``X-Write-Key``, or
    ``?writeKey=``). ``cors_origins`` lets browsers post to the ingestion endpoints.
    Bodies over ``max_body_bytes`` (default: the client's batch limit) get 413.
    """
    admin_keys = _keys(api_key)
    ingest_keys = _keys(write_keys)
    if not admin_keys and not allow_unauthenticated:
        raise ConfigError(
            "analytics_router exposes management endpoints: pass api_key=... "
            "(or allow_unauthenticated=True for local development)",
            code="invalid_config",
            violations=[
                {
                    "path": "/api_key",
                    "code": "invalid_option",
                    "message": "an API key is required for the management endpoints",
                }
            ],
        )
    limit = max_body_bytes or int(sonde.limits["max_batch_bytes"])
    origins = frozenset(cors_origins)
    started = time.monotonic()
    router = APIRouter(prefix=prefix, tags=list(tags))

    def cors(request: Request) -> dict[str, str]:
        origin = request.headers.get("origin")
        if origin and ("*" in origins or origin in origins):
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {}

    def require_admin(request: Request) -> None:
        if not admin_keys:
            return
        if not same_key(bearer_or_header(request, "x-api-key"), admin_keys):
            raise HTTPProblem(
                401,
                "unauthorized",
                "a valid API key is required (X-API-Key or Authorization: Bearer)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def require_write_key(request: Request) -> None:
        if ingest_keys and not same_key(write_key_of(request), ingest_keys):
            raise HTTPProblem(
                401,
                "unauthorized",
                "a valid write key is required (basic auth user, X-Write-Key or ?writeKey=)",
                headers={"WWW-Authenticate": 'Basic realm="sonde"', **cors(request)},
            )

    def handled(fn: Endpoint) -> Endpoint:
        @functools.wraps(fn)
        async def run(*args: Any, **kwargs: Any) -> Response:
            try:
                return await fn(*args, **kwargs)
            except HTTPProblem as p:
                return p.response()
            except SondeError as e:
                return problem_from(e).response()

        return run

    async def ingest(request: Request, default_type: str | None) -> dict[str, Any]:
        require_write_key(request)
        body = await read_body(request, limit)
        if body[:1] == b"[":  # a bare JSON array is a batch
            body = b'{"batch":' + body + b"}"
        try:
            return sonde.ingest(body, default_type=default_type)
        except SondeError as e:
            problem = problem_from(e)
            problem.headers.update(cors(request))
            raise problem from e

    def single(report: dict[str, Any], request: Request) -> Response:
        headers = cors(request)
        items = report["items"]
        if len(items) == 1:
            item = items[0]
            if item["status"] == "rejected":
                violations = [{"index": 0, **v} for v in item["errors"]]
                detail = "the event was rejected: " + "; ".join(
                    f"{v['path'] or '/'}: {v['code']}" for v in item["errors"]
                )
                raise HTTPProblem(422, "invalid_event", detail, violations, headers)
            body = {
                "success": True,
                "status": item["status"],
                "message_id": item["message_id"],
                "warnings": item["warnings"],
            }
            return json_response(body, 200, headers)
        return json_response({"success": report["rejected"] == 0, **report}, 200, headers)

    def batch(report: dict[str, Any], request: Request) -> Response:
        return json_response({"success": report["rejected"] == 0, **report}, 200, cors(request))

    # -- ingestion ---------------------------------------------------------------------------

    @router.post(
        "/track",
        response_model=models.Accepted,
        responses=ERRORS,
        openapi_extra=body_schema(models.EventIn),
        summary="Track one event",
    )
    @handled
    async def track(request: Request) -> Response:
        return single(await ingest(request, "track"), request)

    @router.post(
        "/batch-track",
        response_model=models.IngestResult,
        responses=ERRORS,
        openapi_extra=body_schema(models.BatchIn),
        summary="Track a batch: per-item results, valid items kept",
    )
    @handled
    async def batch_track(request: Request) -> Response:
        return batch(await ingest(request, "track"), request)

    @router.post(
        "/v1/batch",
        response_model=models.IngestResult,
        responses=ERRORS,
        openapi_extra=body_schema(models.BatchIn),
        summary="Segment-compatible batch collector",
    )
    @handled
    async def segment_batch(request: Request) -> Response:
        return batch(await ingest(request, None), request)

    def segment_single(kind: str) -> Endpoint:
        @handled
        async def collect(request: Request) -> Response:
            return single(await ingest(request, kind), request)

        collect.__name__ = f"segment_{kind}"
        return collect

    for kind in SEGMENT_TYPES:
        router.add_api_route(
            f"/v1/{kind}",
            segment_single(kind),
            methods=["POST"],
            response_model=models.Accepted,
            responses=ERRORS,
            openapi_extra=body_schema(models.EventIn),
            summary=f"Segment-compatible {kind}",
        )

    async def preflight(request: Request) -> Response:
        headers = cors(request)
        if not headers:
            return Response(status_code=403)
        headers.update(
            {
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": "authorization, content-type, "
                "content-encoding, x-write-key",
                "Access-Control-Max-Age": "86400",
            }
        )
        return Response(status_code=204, headers=headers)

    if origins:
        for path in ("/track", "/batch-track", "/v1/batch", *(f"/v1/{k}" for k in SEGMENT_TYPES)):
            router.add_api_route(path, preflight, methods=["OPTIONS"], include_in_schema=False)

    # -- reading and managing ---------------------------------------------------------------

    @router.get("/health", response_model=models.Health, summary="Liveness and queue health")
    @handled
    async def health() -> Response:
        stats = sonde.stats()
        counters = stats["counters"]
        dropped = sum(counters["dropped"].values())
        store = None
        if sonde.store_path is not None:
            try:
                sonde.query_events(limit=1)
                store = {"path": sonde.store_path, "ok": True}
            except SondeError as e:
                store = {"path": sonde.store_path, "ok": False, "error": e.message}
        firing = len(sonde.alerts())
        if sonde.is_shut_down:
            status = "shut_down"
        elif (store is not None and not store["ok"]) or firing:
            status = "degraded"
        else:
            status = "ok"
        body = {
            "status": status,
            "version": __version__,
            "uptime_seconds": round(time.monotonic() - started, 3),
            "queued": counters["queued"],
            "delivered": counters["delivered"],
            "dropped": dropped,
            "store": store,
            "alerts_firing": firing,
        }
        return json_response(body, 503 if status == "shut_down" else 200)

    @router.get("/performance", response_model=models.Performance, summary="Latency by route")
    @handled
    async def performance() -> Response:
        stats = sonde.stats()
        try:
            system: dict[str, Any] | None = sonde.system_metrics()
        except SondeError:
            system = None
        body = {
            "routes": stats["routes"],
            "operations": stats["operations"],
            "system": system,
            "alerts": sonde.alerts(),
        }
        return json_response(body)

    @router.get(
        "/statistics",
        response_model=models.Statistics,
        responses=ERRORS,
        summary="Live statistics, and aggregates over stored events",
    )
    @handled
    async def statistics(
        from_: str | None = Query(None, alias="from", description="RFC 3339 start"),
        to: str | None = Query(None, description="RFC 3339 end (exclusive)"),
        bucket: str = Query("hour", description="minute, hour or day"),
    ) -> Response:
        stored = None
        if sonde.store_path is not None:
            try:
                stored = sonde.aggregate(from_=from_, to=to, bucket=bucket)
            except ValueError as e:
                violation = {"index": None, "path": "", "code": "invalid_query", "message": str(e)}
                raise HTTPProblem(422, "invalid_query", str(e), [violation]) from e
        return json_response({"live": sonde.stats(), "stored": stored})

    @router.get("/config", response_model=models.ConfigView, summary="Options in force")
    @handled
    async def get_config() -> Response:
        return json_response(config_view())

    def config_view() -> dict[str, Any]:
        return {"options": sonde.options, "store": sonde.store_path, "limits": sonde.limits}

    @router.put(
        "/config",
        response_model=models.ConfigView,
        responses=ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "description": "Core options to change (sample_rate, "
                            "tracking_plan, batch_size, ...); null removes one.",
                        }
                    }
                },
            }
        },
        summary="Change options at run time (API key)",
    )
    @handled
    async def put_config(request: Request) -> Response:
        require_admin(request)
        try:
            changes = json.loads(await read_body(request, limit))
        except ValueError as e:
            raise HTTPProblem(422, "invalid_config", f"the body is not JSON: {e}") from e
        if not isinstance(changes, dict):
            raise HTTPProblem(422, "invalid_config", "the body must be a JSON object")
        try:
            sonde.reconfigure(**changes)
        except TypeError as e:
            raise HTTPProblem(422, "invalid_config", str(e)) from e
        return json_response(config_view())

    @router.get(
        "/events",
        response_model=models.EventPage,
        responses=ERRORS,
        summary="Stored events: filters and keyset pagination",
    )
    @handled
    async def list_events(
        request: Request,
        type: str | None = Query(None, description="track, page, screen, identify, ..."),
        event: str | None = Query(None, description="Exact event name"),
        event_prefix: str | None = Query(None, description="Event names starting with this"),
        user_id: str | None = None,
        anonymous_id: str | None = None,
        session_id: str | None = None,
        from_: str | None = Query(None, alias="from", description="RFC 3339 start"),
        to: str | None = Query(None, description="RFC 3339 end (exclusive)"),
        order: str = Query("desc", description="asc or desc (by event time)"),
        limit: str = Query("50", description="1 to 1000"),
        cursor: str | None = Query(None, description="`next_cursor` of the previous page"),
        with_total: bool = Query(False, description="Also count every match"),
        properties: str | None = Query(
            None, description='Top-level property equalities as JSON: {"plan":"pro"}'
        ),
    ) -> Response:
        if protect_reads:
            require_admin(request)
        filters: dict[str, Any] = {
            k: v for k, v in request.query_params.items() if k in QUERY_KEYS and v != ""
        }
        filters["limit"] = int(limit) if limit.isdigit() else limit
        filters["with_total"] = with_total
        if properties:
            try:
                filters["properties"] = json.loads(properties)
            except ValueError as e:
                message = f"properties must be a JSON object: {e}"
                violation = {
                    "index": None,
                    "path": "/properties",
                    "code": "invalid_query",
                    "message": message,
                }
                raise HTTPProblem(422, "invalid_query", message, [violation]) from e
        return json_response(sonde.query_events(**filters))

    @router.get(
        "/events/{event_id}",
        responses={**ERRORS, 404: {"model": models.Problem}},
        summary="One stored event",
    )
    @handled
    async def get_event(request: Request, event_id: str) -> Response:
        if protect_reads:
            require_admin(request)
        found = sonde.get_event(event_id)
        if found is None:
            raise HTTPProblem(404, "not_found", f"no event with messageId {event_id!r}")
        return json_response(found)

    @router.patch(
        "/events/{event_id}",
        responses={**ERRORS, 404: {"model": models.Problem}},
        openapi_extra=body_schema(models.EventPatch),
        summary="Change a stored event's properties (validated again; API key)",
    )
    @handled
    async def patch_event(request: Request, event_id: str) -> Response:
        require_admin(request)
        try:
            patch = models.EventPatch.model_validate_json(await read_body(request, limit))
        except ValueError as e:
            message = f"the body must be {{properties, replace}}: {e}"
            raise HTTPProblem(422, "invalid_event", message) from e
        updated = sonde.update_event(event_id, patch.properties, replace=patch.replace)
        if updated is None:
            raise HTTPProblem(404, "not_found", f"no event with messageId {event_id!r}")
        return json_response(updated)

    @router.delete(
        "/events/{event_id}",
        response_model=models.Deleted,
        responses={**ERRORS, 404: {"model": models.Problem}},
        summary="Delete a stored event (API key)",
    )
    @handled
    async def delete_event(request: Request, event_id: str) -> Response:
        require_admin(request)
        if not sonde.delete_event(event_id):
            raise HTTPProblem(404, "not_found", f"no event with messageId {event_id!r}")
        return json_response({"deleted": True, "message_id": event_id})

    @router.post(
        "/flush",
        response_model=models.Flushed,
        responses={**ERRORS, 504: {"model": models.Problem}},
        summary="Deliver everything buffered now (API key)",
    )
    @handled
    async def flush(
        request: Request, timeout: float = Query(5.0, ge=0, le=60, description="Seconds")
    ) -> Response:
        require_admin(request)
        await sonde.aflush(timeout)
        return json_response({"status": "flushed"})

    return router
