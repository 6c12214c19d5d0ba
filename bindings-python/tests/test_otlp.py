"""OTLP metrics export: a local receiver decodes what the client pushes with the official
OpenTelemetry protobuf definitions (opentelemetry-proto); values match stats(); a failing
receiver is retried and counted."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

import sonde


class Receiver:
    """An OTLP/HTTP metrics endpoint on 127.0.0.1: answers `status` (then 200), keeps
    every decoded request and its headers."""

    def __init__(self, failures: int = 0) -> None:
        self.requests: list[tuple[ExportMetricsServiceRequest, dict[str, str]]] = []
        self.failures = failures
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if receiver.failures > 0:
                    receiver.failures -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                request = ExportMetricsServiceRequest()
                request.ParseFromString(body)
                receiver.requests.append((request, dict(self.headers)))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/metrics"

    def wait(self, count: int) -> None:
        deadline = time.monotonic() + 10
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.requests) >= count, f"{len(self.requests)} exports received"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Any:
    r = Receiver()
    yield r
    r.close()


def metrics_of(request: ExportMetricsServiceRequest) -> dict[str, Any]:
    (resource,) = request.resource_metrics
    (scope,) = resource.scope_metrics
    assert scope.scope.name == "sonde"
    return {m.name: m for m in scope.metrics}


def attrs(point: Any) -> dict[str, Any]:
    """A point's attributes, each as the type it was sent as (string or integer)."""
    return {a.key: getattr(a.value, a.value.WhichOneof("value")) for a in point.attributes}


def test_the_statistics_arrive_decoded_by_the_official_definitions(
    collector: Any, receiver: Receiver
) -> None:
    client = sonde.Sonde(
        sink=collector,
        host_metrics=False,
        metrics_interval=0.1,
        otlp_endpoint=receiver.url,
        otlp_headers={"x-tenant": "shop"},
        otlp_interval=0.2,
        otlp_resource={"service.name": "checkout"},
    )
    durations = [3.0, 12.0, 12.5, 48.0, 250.0, 1200.0]
    for ms in durations:
        client.record_request("GET", "/items/{id}", 200, ms)
    client.record_request("POST", "/pay", 503, 30.0)
    client.track("Order Completed", {"total": 5}, user_id="u")
    client.flush(5.0)
    count = len(receiver.requests)
    receiver.wait(count + 2)  # one export after the events, and the next interval's
    request, headers = receiver.requests[-1]
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["x-tenant"] == "shop"
    resource = {
        a.key: a.value.string_value for a in request.resource_metrics[0].resource.attributes
    }
    assert resource["service.name"] == "checkout" and resource["process.pid"]

    metrics = metrics_of(request)
    stats = client.stats()
    received = metrics["sonde.events.received"].sum
    assert received.is_monotonic and received.aggregation_temporality == 2  # cumulative
    assert received.data_points[0].as_double == stats["counters"]["received"] == 1
    tracked = {
        attrs(p)["event"]: p.as_double for p in metrics["sonde.events.tracked"].sum.data_points
    }
    assert tracked == {"Order Completed": 1}

    duration = metrics["http.server.request.duration"]
    assert duration.unit == "s"
    points = {attrs(p)["http.route"]: p for p in duration.exponential_histogram.data_points}
    items = points["/items/{id}"]
    assert attrs(items)["http.request.method"] == "GET"
    # The status code as the convention has it: an integer attribute.
    assert attrs(items)["http.response.status_code"] == 200
    assert attrs(points["/pay"])["http.response.status_code"] == 503
    assert items.count == len(durations)
    assert abs(items.sum - sum(durations) / 1000) < 1e-9
    assert sum(items.positive.bucket_counts) + items.zero_count == len(durations)
    base = 2 ** (2**-items.scale)
    # Each value falls in its bucket, to the sketch's 1% (bucket i is (base^i, base^(i+1)]).
    bounds = [
        (base ** (items.positive.offset + i), base ** (items.positive.offset + i + 1))
        for i, n in enumerate(items.positive.bucket_counts)
        for _ in range(n)
    ]
    for seconds, (low, high) in zip(sorted(d / 1000 for d in durations), bounds, strict=True):
        assert low * 0.98 <= seconds <= high * 1.02, (seconds, low, high)
    assert abs(items.min - 0.003) < 1e-12 and abs(items.max - 1.2) < 1e-12
    responses = {
        (attrs(p)["http.route"], attrs(p)["status_class"]): p.as_double
        for p in metrics["sonde.http.server.responses"].sum.data_points
    }
    assert responses[("/pay", "5xx")] == 1
    assert exports_once(client, receiver.url, lambda e: e["sent"] >= 2)["failed"] == 0
    client.shutdown(5.0)


def exports_once(client: sonde.Sonde, url: str, done: Any) -> dict[str, Any]:
    """`stats()["exports"][url]` once `done` holds: an export is counted when the exporter
    has read the answer, a moment after the receiver has the request."""
    deadline = time.monotonic() + 10
    while True:
        exports = client.stats().get("exports", {}).get(url)
        if (exports and done(exports)) or time.monotonic() > deadline:
            assert exports is not None
            return exports
        time.sleep(0.02)


def test_a_failing_receiver_is_retried_and_counted(collector: Any) -> None:
    receiver = Receiver(failures=2)
    try:
        client = sonde.Sonde(
            sink=collector,
            host_metrics=False,
            metrics_interval=0.1,
            otlp_endpoint=receiver.url,
            otlp_interval=60,
        )
        # Retried at the next ticks, not a minute later.
        receiver.wait(1)
        exports = exports_once(client, receiver.url, lambda e: e["sent"] >= 1)
        assert exports["failed"] == 2 and exports["sent"] == 1
        assert "503" in exports["last_error"]
        client.shutdown(5.0)
    finally:
        receiver.close()


def test_bad_export_options_are_named(collector: Any) -> None:
    with pytest.raises(sonde.ConfigError) as bad:
        sonde.Sonde(
            sink=collector,
            otlp_endpoint="ftp://x",
            otlp_headers={"a": 1},
            otlp_interval=0.005,
        )
    assert {v["path"] for v in bad.value.violations} == {
        "/otlp_endpoint",
        "/otlp_headers",
        "/otlp_interval_ms",
    }
    with pytest.raises(sonde.ConfigError) as alone:
        sonde.Sonde(sink=collector, otlp_headers={"a": "b"})
    assert [v["path"] for v in alone.value.violations] == ["/otlp_headers"]
