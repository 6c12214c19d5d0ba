"""Shared fixtures: every test runs against the installed `sonde` wheel, never a mock."""

from __future__ import annotations

import json
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


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    return str(tmp_path / "sonde.db")


def vector_cases() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for file in sorted(VECTORS.glob("*/*.json")):
        doc = json.loads(file.read_text())
        for case in doc["cases"]:
            cases.append((doc["kind"], f"{file.parent.name}/{file.stem}: {case['name']}", case))
    return cases
