"""GET /analytics/metrics: Prometheus text and OpenMetrics, parsed by the official Prometheus
client's parsers, with values checked against /statistics; who may read it; and
`metrics_text()` on the client."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

import sonde
from sonde.fastapi import instrument

ADMIN = {"X-API-Key": "admin"}
SCRAPER = {"Authorization": "Bearer scrape"}
BOUNDS = ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0"]


def app_with_traffic(store_path: str, **api: object) -> tuple[TestClient, sonde.Sonde]:
    app = FastAPI()
    client = instrument(app, store=store_path, api_key="admin", host_metrics=False, **api)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        await asyncio.sleep((item_id % 4) / 1000)
        return {"item_id": item_id}

    @app.get("/fail")
    async def fail() -> None:
        raise RuntimeError("boom")

    http = TestClient(app, raise_server_exceptions=False)
    for i in range(40):
        assert http.get(f"/items/{i}").status_code == 200
    for _ in range(3):
        assert http.get("/fail").status_code == 500
    client.track("Signed Up", {"plan": "pro"}, user_id="u")
    client.flush(5.0)
    return http, client


def samples(families, name: str) -> dict[tuple, float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in families
        for s in family.samples
        if s.name == name
    }


def test_prometheus_text_parses_and_matches_the_statistics(store_path: str) -> None:
    http, client = app_with_traffic(store_path, metrics_token="scrape")
    response = http.get("/analytics/metrics", headers=SCRAPER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(response.text))
    live = http.get("/analytics/statistics", headers=ADMIN).json()["live"]

    route = live["routes"]["GET /items/{item_id}"]
    # Labelled as OpenTelemetry's HTTP conventions say: method, status code, route.
    labels = (
        ("http_request_method", "GET"),
        ("http_response_status_code", "200"),
        ("http_route", "/items/{item_id}"),
    )
    counts = samples(families, "http_server_request_duration_seconds_count")
    assert counts[labels] == route["status_codes"]["200"]["count"] == route["count"] == 40
    failed = (
        ("http_request_method", "GET"),
        ("http_response_status_code", "500"),
        ("http_route", "/fail"),
    )
    assert counts[failed] == live["routes"]["GET /fail"]["status_codes"]["500"]["count"] == 3
    sums = samples(families, "http_server_request_duration_seconds_sum")
    assert abs(sums[labels] - route["latency"]["mean"] * 40 / 1000) < 1e-6
    buckets = samples(families, "http_server_request_duration_seconds_bucket")
    cumulative = [buckets[(*labels, ("le", le))] for le in [*BOUNDS, "+Inf"]]
    assert cumulative == sorted(cumulative) and cumulative[-1] == 40
    by_type = {f.name: f.type for f in families}
    assert by_type["http_server_request_duration_seconds"] == "histogram"

    received = samples(families, "sonde_events_received_total")[()]
    assert received == live["counters"]["received"]
    dropped = samples(families, "sonde_events_dropped_total")
    assert dropped[(("reason", "queue_full"),)] == live["counters"]["dropped"]["queue_full"]
    tracked = samples(families, "sonde_events_tracked_total")
    assert tracked[(("event", "Signed Up"),)] == 1
    responses = samples(families, "sonde_http_server_responses_total")
    fail = (("http_request_method", "GET"), ("http_route", "/fail"))
    assert responses[(*fail, ("status_class", "5xx"))] == 3
    assert samples(families, "sonde_instances")[()] >= 1
    client.shutdown(5.0)


def test_openmetrics_when_asked(store_path: str) -> None:
    http, client = app_with_traffic(store_path)
    response = http.get(
        "/analytics/metrics",
        headers={**ADMIN, "Accept": "application/openmetrics-text; version=1.0.0"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    # The strict OpenMetrics parser: # EOF, _total counters, complete histograms.
    families = {f.name: f for f in openmetrics_families(response.text)}
    assert families["sonde_events_received"].type == "counter"
    assert families["http_server_request_duration_seconds"].type == "histogram"
    client.shutdown(5.0)


def test_who_may_read_metrics(store_path: str) -> None:
    http, client = app_with_traffic(store_path, metrics_token="scrape")
    assert http.get("/analytics/metrics").status_code == 401
    assert http.get("/analytics/metrics", headers={"X-API-Key": "wrong"}).status_code == 401
    assert http.get("/analytics/metrics", headers=ADMIN).status_code == 200
    assert http.get("/analytics/metrics", headers=SCRAPER).status_code == 200
    # The scraper's token reads nothing else.
    assert http.get("/analytics/statistics", headers=SCRAPER).status_code == 401
    assert http.get("/analytics/events", headers=SCRAPER).status_code == 401
    assert http.post("/analytics/metrics", headers=ADMIN).status_code == 405
    client.shutdown(5.0)
    http, client = app_with_traffic(store_path, open_metrics=True)
    assert http.get("/analytics/metrics").status_code == 200
    client.shutdown(5.0)


def test_metrics_text_on_the_client(collector) -> None:
    client = sonde.Sonde(sink=collector, host_metrics=False)
    client.record_request("GET", "/a", 200, 12.0)
    text = client.metrics_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["http_server_request_duration_seconds"].type == "histogram"
    assert list(openmetrics_families(client.metrics_text(openmetrics=True)))
    client.shutdown(5.0)


def test_counters_never_go_back_across_a_reconfiguration(store_path: str) -> None:
    http, client = app_with_traffic(store_path)

    def scrape() -> dict[str, float]:
        text = http.get("/analytics/metrics", headers=ADMIN).text
        return {
            f"{s.name}{sorted(s.labels.items())}": s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name.endswith(("_total", "_count"))
        }

    before = scrape()
    client.reconfigure(sample_rate=0.5, batch_size=50)
    after = scrape()
    went_back = {k: (v, after.get(k)) for k, v in before.items() if after.get(k, 0) < v}
    assert not went_back, went_back
    assert after["sonde_events_received_total[]"] >= before["sonde_events_received_total[]"]
    for i in range(5):
        http.get(f"/items/{i}")
    label = (
        "[('http_request_method', 'GET'), ('http_response_status_code', '200'), "
        "('http_route', '/items/{item_id}')]"
    )
    assert scrape()[f"http_server_request_duration_seconds_count{label}"] == 45
    client.shutdown(5.0)
