"""Schema-driven API testing: schemathesis generates requests from the example app's
/openapi.json for every analytics endpoint, with the API key and without, against the app
running under uvicorn. No answer may be a 5xx, and every answer (the 4xx ones included,
in the one error shape) must match the documented schema. Bounded: a few seconds each."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
KEY = "fuzz-key"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = tmp_path_factory.mktemp("fuzz") / "events.db"
    command = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        cwd=EXAMPLE,
        env={**os.environ, "SONDE_STORE": str(store), "SONDE_API_KEY": KEY},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/openapi.json", timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, "the app did not start"
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(20)


@pytest.mark.parametrize("with_key", [True, False], ids=["with the key", "without"])
def test_no_5xx_and_every_answer_as_documented(app_url: str, with_key: bool) -> None:
    command = [str(SCHEMATHESIS), "run", f"{app_url}/openapi.json"]
    command += ["--checks", "not_a_server_error,response_schema_conformance"]
    command += ["--max-examples", "15", "--include-path-regex", "^/analytics", "--seed", "7"]
    if with_key:
        command += ["-H", f"X-API-Key: {KEY}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-6000:]
