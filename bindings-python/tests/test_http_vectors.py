"""The shared message and batch vectors through the HTTP collector: the same codes come
back as over the Python API, as 4xx problems or per-item results."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import sonde
from sonde.fastapi import analytics_router

from conftest import Collector, vector_cases
from test_vectors import body, check_delivered, pairs, sorted_errors, subset

CASES = [c for c in vector_cases() if c[0] in ("message", "batch")]


def post(case: dict[str, Any], collector: Collector) -> tuple[int, dict[str, Any], sonde.Sonde]:
    s = sonde.Sonde(sink=collector, flush_interval=3600, **(case.get("config") or {}))
    app = FastAPI()
    app.include_router(analytics_router(s, allow_unauthenticated=True))
    with TestClient(app) as http:
        response = http.post(
            "/analytics/v1/batch", content=body(case), headers={"content-type": "text/plain"}
        )
    return response.status_code, response.json(), s


@pytest.mark.parametrize(("kind", "name", "case"), CASES, ids=[c[1] for c in CASES])
def test_vector_over_http(kind: str, name: str, case: dict[str, Any], collector: Collector) -> None:
    status, answer, s = post(case, collector)
    if "expected_errors" in case:
        if status == 200:  # one item rejected inside an accepted request
            assert kind == "message", answer
            (item,) = answer["items"]
            assert item["status"] == "rejected"
            got = pairs(item["errors"])
        else:
            assert status in (400, 413, 422), answer
            got = pairs(answer["violations"])
        assert got == pairs(case["expected_errors"])
        return
    assert status == 200, answer
    if kind == "batch":
        for item in answer["items"]:
            item["errors"] = sorted_errors(item["errors"])
        expected = json.loads(json.dumps(case["expected"]))
        for want in expected.pop("items", []):
            if "errors" in want:
                want["errors"] = sorted_errors(want["errors"])
            subset(want, answer["items"][want["index"]])
        subset(expected, answer)
        return
    expected = case["expected"]
    (item,) = answer["items"]
    assert item["status"] == expected.get("status", "accepted")
    assert pairs(item["warnings"]) == pairs(expected.get("warnings", []))
    if item["status"] == "accepted":
        s.flush(5.0)
        (delivered,) = collector.events
        check_delivered(expected, delivered)
