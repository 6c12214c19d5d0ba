"""The ASGI apps the HTTP benchmarks serve with uvicorn (``--factory apps:<name>``)."""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

# The benchmark's own route, excluded from request tracking: see ``_hello``.
BENCH_PATHS = ["/bench/"]


def _hello(app: FastAPI, client: Any = None) -> FastAPI:
    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/bench/flush")
    async def flush() -> dict[str, int | None]:
        """Waits until every recorded event is committed, so the CPU read after it counts
        the worker's trailing inserts; answers how many events the store holds."""
        if client is None:
            return {"stored": None}
        await run_in_threadpool(client.flush, 60)
        page = await run_in_threadpool(client.query_events, limit=1, with_total=True)
        return {"stored": page["total"]}

    return app


def bare() -> FastAPI:
    return _hello(FastAPI())


def with_sonde() -> FastAPI:
    from sonde.fastapi import instrument

    app = FastAPI()
    client = instrument(
        app,
        store=os.environ["BENCH_STORE"],
        allow_unauthenticated=True,
        exclude_paths=BENCH_PATHS,
    )
    return _hello(app, client)


def with_sonde_stats_only() -> FastAPI:
    """Request events sampled out: what the middleware costs without persisting events."""
    from sonde.fastapi import instrument

    app = FastAPI()
    client = instrument(
        app,
        store=os.environ["BENCH_STORE"],
        allow_unauthenticated=True,
        request_sample_rate=0.0,
        exclude_paths=BENCH_PATHS,
    )
    return _hello(app, client)


def _with_sonde_before(sample_rate: float) -> FastAPI:
    """``instrument(app)`` with the middleware of commit ``BENCH_BEFORE`` instead."""
    import re

    import sonde
    from bench_middleware_inprocess import middleware_at
    from sonde.fastapi import analytics_router

    client = sonde.Sonde(store=os.environ["BENCH_STORE"])
    app = _hello(FastAPI(), client)
    app.add_middleware(
        middleware_at(os.environ["BENCH_BEFORE"]),
        sonde=client,
        exclude_paths=[re.escape("/analytics/"), *BENCH_PATHS],
        sample_rate=sample_rate,
    )
    app.include_router(analytics_router(client, allow_unauthenticated=True))
    return app


def with_sonde_before() -> FastAPI:
    return _with_sonde_before(1.0)


def with_sonde_before_stats_only() -> FastAPI:
    return _with_sonde_before(0.0)


def with_prometheus() -> FastAPI:
    from prometheus_fastapi_instrumentator import Instrumentator

    app = _hello(FastAPI())
    Instrumentator().instrument(app)
    return app


def collector() -> FastAPI:
    import sonde
    from sonde.fastapi import analytics_router

    client = sonde.Sonde(
        store=os.environ["BENCH_STORE"],
        max_queue_events=1_000_000,
        max_queue_bytes=1 << 30,
        batch_size=500,
    )
    app = FastAPI()
    app.include_router(analytics_router(client, allow_unauthenticated=True))
    return app
