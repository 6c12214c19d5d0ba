"""The Flask integration against real Flask (its test client, buffered, drives the WSGI
app as a server would: the body read to its end): route templates, unmatched paths,
errors, sizes, timing, identify."""

from __future__ import annotations

from typing import Any

import flask
import pytest

import sonde
from sonde.flask import instrument

from conftest import Collector


def app_with(collector: Collector, **options: Any) -> tuple[flask.Flask, sonde.Sonde]:
    app = flask.Flask("shop")

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, int]:
        flask.g.user_id = flask.request.headers.get("x-user")
        return {"id": item_id}

    @app.post("/echo")
    def echo() -> Any:
        return flask.request.get_json()

    @app.get("/boom")
    def boom() -> str:
        raise KeyError("missing")

    client = instrument(
        app,
        sonde.Sonde(sink=collector, flush_interval=3600),
        identify=lambda request: flask.g.get("user_id"),
        **options,
    )
    return app, client


def requests_of(collector: Collector) -> list[dict[str, Any]]:
    return [e for e in collector.events if e["event"] == "$api_request"]


def test_flask_requests_are_recorded_with_route_templates_and_users(collector: Collector) -> None:
    app, client = app_with(collector, process_time_header=True)
    http = app.test_client()
    response = http.get(
        "/items/7", buffered=True, headers={"x-user": "u-7", "user-agent": "flask-test"}
    )
    assert response.json == {"id": 7} and "X-Process-Time" in response.headers
    assert http.get("/items/8", buffered=True).status_code == 200
    assert http.get("/nowhere", buffered=True).status_code == 404
    assert http.post("/echo", buffered=True, json={"a": 1}).json == {"a": 1}
    assert http.get("/boom", buffered=True).status_code == 500
    client.flush(5.0)
    found = requests_of(collector)
    assert [
        (e["properties"]["http.route"], e["properties"]["http.response.status_code"]) for e in found
    ] == [
        ("/items/<int:item_id>", 200),
        ("/items/<int:item_id>", 200),
        ("__unmatched__", 404),
        ("/echo", 200),
        ("/boom", 500),
    ]
    assert [(e.get("userId"), e.get("anonymousId")) for e in found[:3]] == [
        ("u-7", None),
        (None, "$personless"),
        (None, "$personless"),
    ]
    first = found[0]["properties"]
    assert first["url.path"] == "/items/7" and first["user_agent.original"] == "flask-test"
    assert first["http.response.body.size"] == len(b'{"id":7}\n')
    assert found[3]["properties"]["http.request.body.size"] == len(b'{"a": 1}')
    (error,) = [e for e in collector.events if e["event"] == "$error"]
    assert error["properties"]["error.type"] == "KeyError"
    assert client.stats()["routes"]["GET /items/<int:item_id>"]["count"] == 2
    client.shutdown(5.0)


def test_exclusions_and_a_broken_identify(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    app = flask.Flask("excluded")

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/me")
    def me() -> str:
        return "me"

    def broken(request: flask.Request) -> str:
        raise RuntimeError("bug in identify")

    client = instrument(
        app,
        sonde.Sonde(sink=collector, flush_interval=3600),
        identify=broken,
        exclude_paths=["/health"],
    )
    http = app.test_client()
    assert http.get("/health", buffered=True).status_code == 200
    assert http.get("/me", buffered=True).status_code == 200
    client.flush(5.0)
    assert [e["properties"]["http.route"] for e in requests_of(collector)] == ["/me"]
    assert requests_of(collector)[0]["anonymousId"] == "$personless"
    assert any("identify raised" in r.getMessage() for r in caplog.records)
    client.shutdown(5.0)
