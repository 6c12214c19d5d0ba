"""Middleware overhead: a trivial FastAPI endpoint under one uvicorn worker, loaded by
``wrk`` on 127.0.0.1 (bounded), bare / with ``instrument(app)`` / with
prometheus-fastapi-instrumentator, interleaved. Reports requests/s, latency, and the server
process's CPU per request minus the bare app's, counted until the app has committed every
event the run recorded (its ``/bench/flush`` route), each run on a fresh store.

    .venv/bin/python bindings-python/bench/bench_middleware.py [--before COMMIT]

``--before COMMIT`` adds two apps with that commit's ``SondeMiddleware`` (loaded with
``git show`` over the installed wheel), for before/after comparisons in one run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from common import median
from server import Server

REPS = int(os.environ.get("REPS", "3"))
DURATION = "5s"
VARIANTS = {
    "bare": "bare",
    "sonde instrument(app)": "with_sonde",
    "sonde, request events sampled out": "with_sonde_stats_only",
    "prometheus-fastapi-instrumentator": "with_prometheus",
}


def run_wrk(url: str) -> tuple[float, str, str, int]:
    out = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{DURATION}", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, p50, p99, total


def flush(url: str) -> int | None:
    """Asks the app to commit what it recorded; the number of stored events, if it stores."""
    with urllib.request.urlopen(url + "/bench/flush", timeout=120) as reply:
        return json.loads(reply.read())["stored"]


def main(args: list[str]) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    env = {}
    variants = dict(VARIANTS)
    if args[:1] == ["--before"]:
        env["BENCH_BEFORE"] = args[1]
        variants[f"before {args[1]}"] = "with_sonde_before"
        variants[f"before {args[1]}, sampled out"] = "with_sonde_before_stats_only"
    folder = Path(tempfile.mkdtemp(prefix="sonde-mw-"))
    rows: dict[str, list[tuple[float, float, str, str]]] = {name: [] for name in variants}
    for rep in range(REPS):
        for name, factory in variants.items():
            # A fresh store per run: no run inserts into a file an earlier run filled.
            store = folder / f"{factory}-{rep}.db"
            server = Server(factory, {"BENCH_STORE": str(store), **env})
            try:
                run_wrk(server.url + "/hello")  # warm-up
                flush(server.url)
                cpu = server.cpu_seconds()
                rps, p50, p99, total = run_wrk(server.url + "/hello")
                # The worker's trailing inserts after wrk returns belong to these requests.
                stored = flush(server.url)
                cpu_per_request = (server.cpu_seconds() - cpu) / total * 1e6
                if stored is not None and "sampled out" not in name and stored < total:
                    raise RuntimeError(f"{name}: {stored} events stored for {total} requests")
                rows[name].append((rps, cpu_per_request, p50, p99))
            finally:
                server.stop()
    bare_cpu = median([r[1] for r in rows["bare"]])
    bare_rps = median([r[0] for r in rows["bare"]])
    print(f"trivial endpoint, one uvicorn worker, wrk -t1 -c16 -d{DURATION}, median of {REPS}:")
    for name, values in rows.items():
        rps = median([v[0] for v in values])
        cpu = median([v[1] for v in values])
        print(
            f"  {name:36s} {rps:8.0f} req/s ({rps / bare_rps:.2f}x bare)  CPU {cpu:6.1f} µs/req "
            f"(+{cpu - bare_cpu:5.1f})  p50 {values[-1][2]}  p99 {values[-1][3]}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
