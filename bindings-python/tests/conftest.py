"""Shared fixtures: every test runs against the installed `sonde` wheel, never a mock."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors"


class Collector:
    """A Python sink: keeps every delivered event, in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.batches = 0

    def __call__(self, events: list[dict[str, Any]]) -> None:
        self.batches += 1
        self.events.extend(events)


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture(params=["sqlite", "postgres"])
def store_path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store is: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "sonde.db")
    return postgres_database()


_databases = itertools.count()


def postgres_database() -> str:
    """A new, empty database on the server `make test-python` starts
    (scripts/with-postgres.sh); without one the test fails, it is never skipped."""
    base = os.environ.get("TEST_POSTGRES_URL")
    assert base, (
        "TEST_POSTGRES_URL is not set: run `make test-python`, or pytest under "
        "scripts/with-postgres.sh, which starts a PostgreSQL server"
    )
    name = f"py{os.getpid()}_{next(_databases)}"
    subprocess.run(
        ["psql", base, "-q", "-c", f"CREATE DATABASE {name}"],
        check=True,
        capture_output=True,
    )
    return f"{base.rsplit('/', 1)[0]}/{name}"


def vector_cases() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for file in sorted(VECTORS.glob("*/*.json")):
        doc = json.loads(file.read_text())
        for case in doc["cases"]:
            cases.append((doc["kind"], f"{file.parent.name}/{file.stem}: {case['name']}", case))
    return cases
