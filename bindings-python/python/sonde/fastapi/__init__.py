"""FastAPI integration: ``SondeMiddleware`` (pure ASGI), ``analytics_router`` and
``instrument(app)``, which adds both plus lifespan hooks in one line::

    from fastapi import FastAPI
    from sonde.fastapi import instrument

    app = FastAPI()
    sonde = instrument(app, api_key=os.environ["SONDE_API_KEY"])  # stores to ./sonde.db
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from fastapi import FastAPI

from .. import Sonde
from ..errors import SondeError
from .middleware import Identify, SondeMiddleware, route_template
from .router import analytics_router
from .routes import RouteGroup, add_route_group

__all__ = ["SondeMiddleware", "analytics_router", "instrument", "route_template"]


def instrument(
    app: FastAPI,
    sonde: Sonde | None = None,
    *,
    store: str = "sonde.db",
    prefix: str = "/analytics",
    api_key: str | Sequence[str] | None = None,
    write_keys: str | Sequence[str] | None = None,
    protect_reads: bool = True,
    allow_unauthenticated: bool = False,
    cors_origins: Sequence[str] = (),
    max_body_bytes: int | None = None,
    metrics_token: str | Sequence[str] | None = None,
    open_metrics: bool = False,
    exclude_paths: Iterable[str] = (),
    exclude_methods: Iterable[str] = ("OPTIONS",),
    request_sample_rate: float = 1.0,
    process_time_header: bool = False,
    trust_forwarded: bool = False,
    trusted_proxies: int = 0,
    identify: Identify | None = None,
    retention_days: float | None = None,
    shutdown_timeout: float = 5.0,
    **options: Any,
) -> Sonde:
    """Adds the middleware, the analytics router and lifespan hooks to ``app``; returns the
    client (created with ``store`` and ``options`` unless one is given).

    Lifespan: on shutdown, delivers what is buffered within ``shutdown_timeout`` seconds;
    while running, purges stored events older than ``retention_days`` (if set) every hour.
    The router's own paths are excluded from request tracking.
    """
    if sonde is None:
        sonde = Sonde(store=store, **options)
    elif options:
        raise TypeError("pass options either to Sonde(...) or to instrument(...), not both")
    exclude = [*exclude_paths, re.escape(f"{prefix}/")]
    app.add_middleware(
        SondeMiddleware,
        sonde=sonde,
        exclude_paths=exclude,
        exclude_methods=exclude_methods,
        request_sample_rate=request_sample_rate,
        process_time_header=process_time_header,
        trust_forwarded=trust_forwarded,
        trusted_proxies=trusted_proxies,
        identify=identify,
    )
    router = analytics_router(
        sonde,
        prefix,
        api_key=api_key,
        write_keys=write_keys,
        protect_reads=protect_reads,
        allow_unauthenticated=allow_unauthenticated,
        cors_origins=cors_origins,
        max_body_bytes=max_body_bytes,
        metrics_token=metrics_token,
        open_metrics=open_metrics,
    )
    # One entry in the app's route list that looks at its routes only for paths under the
    # prefix (see routes.py: included as a router they cost every request of the app ~20 µs).
    add_route_group(app, RouteGroup(prefix, router.routes))
    original = app.router.lifespan_context
    client = sonde

    async def retention() -> None:
        assert retention_days is not None
        while True:
            cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=retention_days)
            with contextlib.suppress(SondeError):
                await asyncio.get_running_loop().run_in_executor(
                    None, client.purge_older_than, cutoff
                )
            await asyncio.sleep(3600)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        task = asyncio.create_task(retention()) if retention_days else None
        try:
            async with original(app) as state:
                yield state
        finally:
            if task is not None:
                task.cancel()
            with contextlib.suppress(SondeError):
                await client.ashutdown(shutdown_timeout)

    app.router.lifespan_context = lifespan
    return sonde
