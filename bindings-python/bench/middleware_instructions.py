"""Instructions per request a middleware adds over HTTP, counted by callgrind (stable on
noisy machines, unlike the wall and CPU times of ``bench_middleware.py``).

Each app of ``apps.py`` is served by uvicorn under ``valgrind --tool=callgrind`` (every
thread, the store's worker included) and sent N and N + EXTRA keep-alive ``GET /hello``
requests, then ``/bench/flush`` so the worker's inserts are counted; the difference of the
two totals over EXTRA is what one request costs the server process.

    python bindings-python/bench/middleware_instructions.py   # from the repository root

Takes a few minutes (the server runs ~50x slower under callgrind).
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = ("bare", "with_sonde", "with_sonde_stats_only")
BASE, EXTRA = 200, 2000
PORT = 8731


def load(n: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
    for _ in range(n):
        conn.request("GET", "/hello")
        conn.getresponse().read()
    conn.request("GET", "/bench/flush")
    conn.getresponse().read()


def total_instructions(app: str, n: int, workdir: str) -> int:
    out = os.path.join(workdir, f"cg.{app}.{n}")
    env = dict(os.environ, BENCH_STORE=os.path.join(workdir, f"{app}-{n}.db"))
    server = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"apps:{app}",
            "--host",
            "127.0.0.1",
            "--port",
            str(PORT),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
        ],
        cwd=HERE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            try:
                load(0)
                break
            except OSError:
                time.sleep(0.5)
        load(n)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=600)
    text = Path(out).read_text(errors="replace")
    match = re.search(r"^totals: (\d+)", text, re.M)
    if match is None:
        raise SystemExit(f"no totals in {out}")
    return int(match.group(1))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sonde-mw-") as workdir:
        per_request = {}
        for app in APPS:
            low = total_instructions(app, BASE, workdir)
            high = total_instructions(app, BASE + EXTRA, workdir)
            per_request[app] = (high - low) / EXTRA
        bare = per_request["bare"]
        for app, n in per_request.items():
            added = "" if app == "bare" else f"  (+{n - bare:,.0f})"
            print(f"{app:24} {n:10,.0f} instructions per request{added}")


if __name__ == "__main__":
    main()
