"""Middleware cost without a server: a trivial FastAPI endpoint's ASGI app called in-process,
bare / with ``SondeMiddleware`` (events to JSON lines) / with request events sampled out.
Prints µs per request (median of 7 rounds); under callgrind, run one variant with two
request counts and subtract to get instructions per request:

    python bench_middleware_inprocess.py                       # all variants, timed
    python bench_middleware_inprocess.py sonde 2200            # one variant, n requests
    python bench_middleware_inprocess.py --before 90f8873      # adds that commit's middleware

``--before COMMIT`` loads ``sonde/fastapi/middleware.py`` as it was at COMMIT (``git show``)
over the installed wheel, for before/after comparisons in one process.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

from fastapi import FastAPI

import sonde
from sonde.fastapi import SondeMiddleware

ROOT = Path(__file__).resolve().parents[2]
SCOPE = {
    "type": "http",
    "asgi": {"version": "3.0"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/hello",
    "raw_path": b"/hello",
    "query_string": b"",
    "root_path": "",
    "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
    "client": ("127.0.0.1", 5555),
    "server": ("127.0.0.1", 8000),
}


def middleware_at(commit: str) -> Any:
    source = subprocess.run(
        ["git", "show", f"{commit}:bindings-python/python/sonde/fastapi/middleware.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.replace("from .. import Sonde", "from sonde import Sonde")
    module = types.ModuleType("middleware_before")
    exec(compile(source, f"middleware@{commit}", "exec"), module.__dict__)
    return module.SondeMiddleware


def app_with(middleware: Any, sample_rate: float) -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    if middleware is not None:
        jsonl = Path(tempfile.mkdtemp(prefix="sonde-mw-")) / "events.jsonl"
        client = sonde.Sonde(jsonl=str(jsonl), flush_interval=0.2)
        # The middleware of an older commit (`--before`) named the option `sample_rate`.
        option = "request_sample_rate" if middleware is SondeMiddleware else "sample_rate"
        rate = {option: sample_rate}
        app.add_middleware(middleware, sonde=client, exclude_paths=["/analytics/"], **rate)
    return app


async def drive(app: Any, n: int) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    started = time.perf_counter()
    for _ in range(n):
        await app(dict(SCOPE), receive, send)
    return (time.perf_counter() - started) / n * 1e6


def variants(before: str | None) -> dict[str, tuple[Any, float]]:
    found: dict[str, tuple[Any, float]] = {
        "bare": (None, 1.0),
        "sonde": (SondeMiddleware, 1.0),
        "sonde-sampled-out": (SondeMiddleware, 0.0),
    }
    if before:
        old = middleware_at(before)
        found[f"before-{before}"] = (old, 1.0)
        found[f"before-{before}-sampled-out"] = (old, 0.0)
    return found


async def main(args: list[str]) -> None:
    before = None
    if args[:1] == ["--before"]:
        before, args = args[1], args[2:]
    table = variants(before)
    if args:  # one variant, n requests (for callgrind)
        app = app_with(*table[args[0]])
        await drive(app, 200)
        print(await drive(app, int(args[1])))
        return
    apps = {name: app_with(*v) for name, v in table.items()}
    rounds: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(7):
        for name, app in apps.items():
            rounds[name].append(await drive(app, 5000))
    for name, values in rounds.items():
        print(f"{name:34s} {statistics.median(values):7.2f} µs per request")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
