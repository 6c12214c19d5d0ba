"""``analytics_router``: the analytics endpoints (same paths and methods as the module Sonde
replaces) plus a Segment-compatible collector, on one FastAPI router.

Every route is declared here with its models so ``/openapi.json`` is complete, and every
route answers through the core's ``Api`` (``core/src/http/api.rs``): auth, limits,
decompression, CORS, the error shape and the store work are decided there, the same for
every runtime. This file only moves bytes between Starlette and the core, and runs the
store and statistics work on the thread pool so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from .. import Sonde
from .._native import HttpApi
from . import models

SEGMENT_TYPES = ("track", "page", "screen", "identify", "group", "alias")


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


def _keys(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The body, read no further than one byte past ``limit`` (the core answers 413)."""
    chunks = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)


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
    metrics_token: str | Sequence[str] | None = None,
    open_metrics: bool = False,
    tags: Sequence[str] = ("analytics",),
) -> APIRouter:
    """The analytics endpoints on ``prefix``.

    Management endpoints (``GET``/``PUT /config``, ``PATCH``/``DELETE /events/...``,
    ``POST /flush``) and, unless ``protect_reads=False``, reads (events, ``/statistics``,
    ``/performance``, the details of ``/health``, which alone says only the status) need
    ``api_key`` (sent as
    ``X-API-Key`` or ``Authorization: Bearer``); without one the router refuses to be built
    (``ConfigError``) unless ``allow_unauthenticated=True`` (development only). Ingestion
    needs one of ``write_keys`` when given (HTTP basic auth as Segment SDKs send it,
    ``X-Write-Key``, or ``?writeKey=``). ``cors_origins`` lets browsers post to the ingestion
    endpoints. Bodies over ``max_body_bytes`` (default: the client's batch limit) get 413.
    ``GET /metrics`` (Prometheus text, or OpenMetrics when ``Accept`` asks) takes the admin
    key, or one of ``metrics_token`` (a scraper's token that reads nothing else), or nothing
    with ``open_metrics=True``.
    """
    api = HttpApi(
        sonde,
        api_key=_keys(api_key),
        write_keys=_keys(write_keys),
        protect_reads=protect_reads,
        allow_unauthenticated=allow_unauthenticated,
        cors_origins=list(cors_origins),
        max_body_bytes=max_body_bytes,
        metrics_token=_keys(metrics_token),
        open_metrics=open_metrics,
    )
    router = APIRouter(prefix=prefix, tags=list(tags))

    async def dispatch(request: Request, path: str) -> Response:
        scope = request.scope
        method: str = scope["method"]
        body = b""
        if method in ("POST", "PUT", "PATCH"):
            body = await _bounded_body(request, api.body_limit())
        args = (
            method,
            path,
            scope.get("query_string", b"").decode("latin-1"),
            scope["headers"],
            body,
        )
        if api.runs_inline(method, path):
            status, headers, content = api.handle(*args)
        else:
            loop = asyncio.get_running_loop()
            status, headers, content = await loop.run_in_executor(None, api.handle, *args)
        return Response(content, status_code=status, headers=dict(headers))

    # -- ingestion ---------------------------------------------------------------------------

    @router.post(
        "/track",
        response_model=models.Accepted | models.IngestResult,
        responses=ERRORS,
        openapi_extra=body_schema(models.EventIn),
        summary="Track one event",
    )
    async def track(request: Request) -> Response:
        return await dispatch(request, "/track")

    @router.post(
        "/batch-track",
        response_model=models.IngestResult,
        responses=ERRORS,
        openapi_extra=body_schema(models.BatchIn),
        summary="Track a batch: per-item results, valid items kept",
    )
    async def batch_track(request: Request) -> Response:
        return await dispatch(request, "/batch-track")

    @router.post(
        "/v1/batch",
        response_model=models.IngestResult,
        responses=ERRORS,
        openapi_extra=body_schema(models.BatchIn),
        summary="Segment-compatible batch collector",
    )
    async def segment_batch(request: Request) -> Response:
        return await dispatch(request, "/v1/batch")

    def segment_single(kind: str) -> Any:
        async def collect(request: Request) -> Response:
            return await dispatch(request, f"/v1/{kind}")

        collect.__name__ = f"segment_{kind}"
        return collect

    for kind in SEGMENT_TYPES:
        router.add_api_route(
            f"/v1/{kind}",
            segment_single(kind),
            methods=["POST"],
            response_model=models.Accepted | models.IngestResult,
            responses=ERRORS,
            openapi_extra=body_schema(models.EventIn),
            summary=f"Segment-compatible {kind}",
        )

    def preflight(path: str) -> Any:
        async def answer(request: Request) -> Response:
            return await dispatch(request, path)

        return answer

    if cors_origins:
        for path in ("/track", "/batch-track", "/v1/batch", *(f"/v1/{k}" for k in SEGMENT_TYPES)):
            router.add_api_route(
                path, preflight(path), methods=["OPTIONS"], include_in_schema=False
            )

    # -- reading and managing ---------------------------------------------------------------

    @router.get("/health", response_model=models.Health, summary="Liveness and queue health")
    async def health(request: Request) -> Response:
        return await dispatch(request, "/health")

    @router.get("/performance", response_model=models.Performance, summary="Latency by route")
    async def performance(request: Request) -> Response:
        return await dispatch(request, "/performance")

    @router.get(
        "/statistics",
        response_model=models.Statistics,
        responses=ERRORS,
        summary="Live statistics, and aggregates over stored events",
    )
    async def statistics(
        request: Request,
        from_: str | None = Query(None, alias="from", description="RFC 3339 start"),
        to: str | None = Query(None, description="RFC 3339 end (exclusive)"),
        bucket: str = Query("hour", description="minute, hour or day"),
    ) -> Response:
        return await dispatch(request, "/statistics")

    @router.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": "Prometheus text format 0.0.4, or OpenMetrics 1.0 when the "
                "Accept header asks for application/openmetrics-text.",
                "content": {"text/plain": {}, "application/openmetrics-text": {}},
            },
            **ERRORS,
        },
        summary="Statistics for Prometheus",
    )
    async def metrics(request: Request) -> Response:
        return await dispatch(request, "/metrics")

    @router.get(
        "/alerts",
        response_model=models.Alerts,
        responses=ERRORS,
        summary="Alerts firing now and the latest transitions",
    )
    async def alerts(
        request: Request,
        # A string: the core checks it and answers in the one error shape.
        limit: str | None = Query(None, description="Transitions to return: 1 to 1000 (50)"),
    ) -> Response:
        return await dispatch(request, "/alerts")

    @router.get(
        "/dashboard",
        response_class=HTMLResponse,
        summary="The dashboard page (it asks for the API key, then reads the endpoints above)",
    )
    async def dashboard(request: Request) -> Response:
        return await dispatch(request, "/dashboard")

    @router.get("/config", response_model=models.ConfigView, summary="Options in force")
    async def get_config(request: Request) -> Response:
        return await dispatch(request, "/config")

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
    async def put_config(request: Request) -> Response:
        return await dispatch(request, "/config")

    @router.get(
        "/events",
        response_model=models.EventPage,
        responses=ERRORS,
        summary="Stored events: filters and keyset pagination",
    )
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
        # Strings, like the other parameters: the core checks them and answers its own
        # error shape (FastAPI's validation would answer another one).
        with_total: str = Query("false", description="true or false: also count every match"),
        properties: str | None = Query(
            None, description='Top-level property equalities as JSON: {"plan":"pro"}'
        ),
    ) -> Response:
        return await dispatch(request, "/events")

    @router.get(
        "/events/{event_id}",
        responses={**ERRORS, 404: {"model": models.Problem}},
        summary="One stored event",
    )
    async def get_event(request: Request, event_id: str) -> Response:
        return await dispatch(request, "/events/" + quote(event_id, safe=""))

    @router.patch(
        "/events/{event_id}",
        responses={**ERRORS, 404: {"model": models.Problem}},
        openapi_extra=body_schema(models.EventPatch),
        summary="Change a stored event's properties (validated again; API key)",
    )
    async def patch_event(request: Request, event_id: str) -> Response:
        return await dispatch(request, "/events/" + quote(event_id, safe=""))

    @router.delete(
        "/events/{event_id}",
        response_model=models.Deleted,
        responses={**ERRORS, 404: {"model": models.Problem}},
        summary="Delete a stored event (API key)",
    )
    async def delete_event(request: Request, event_id: str) -> Response:
        return await dispatch(request, "/events/" + quote(event_id, safe=""))

    @router.post(
        "/flush",
        response_model=models.Flushed,
        responses={**ERRORS, 504: {"model": models.Problem}},
        summary="Deliver everything buffered now (API key)",
    )
    async def flush(
        request: Request,
        timeout: str = Query("5", description="Seconds, 0 to 60"),
    ) -> Response:
        return await dispatch(request, "/flush")

    return router
