"""Fixtures of the system tests: the example collectors as subprocesses, each with its own
store, stopped afterwards."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import KEY, ROOT, FastAPICollector, stop, wait_until_up, free_port


@pytest.fixture
def fastapi_collector(tmp_path: Path) -> Iterator[str]:
    """The example FastAPI app under uvicorn, its own process and store."""
    collector = FastAPICollector(tmp_path / "fastapi.db")
    collector.start()
    try:
        yield collector.base
    finally:
        collector.stop()


@pytest.fixture
def node_collector(tmp_path: Path) -> Iterator[str]:
    """The example node:http server, its own process and store."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "SONDE_STORE": str(tmp_path / "node.db"),
        "SONDE_API_KEY": KEY,
    }
    process = subprocess.Popen(
        ["node", str(ROOT / "examples" / "node_app" / "server.js")],
        cwd=tmp_path,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/analytics/health", process)
        yield base
    finally:
        stop(process)
