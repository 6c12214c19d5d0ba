"""Forwarding from the collector: a FastAPI collector (its own process) stores what it
accepts and also sends it on to a Segment-format and a PostHog-format endpoint (local
servers that keep what they receive), the PostHog one through an outbox."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import sonde
from processes import (
    FastAPICollector,
    RecordingServer,
    api,
    assert_each_once,
    stored,
)

APP = """
import json, os
from fastapi import FastAPI
from sonde.fastapi import instrument

app = FastAPI()
instrument(app, store=os.environ["SONDE_STORE"], api_key=os.environ["SONDE_API_KEY"],
           forward=json.loads(os.environ["SONDE_FORWARD"]),
           **json.loads(os.environ.get("SHOP_SONDE_OPTIONS", "{}")))
"""


@pytest.fixture
def targets() -> Iterator[tuple[RecordingServer, RecordingServer]]:
    segment, posthog = RecordingServer(), RecordingServer('{"status": 1}')
    yield segment, posthog
    segment.close()
    posthog.close()


def test_the_collector_stores_and_forwards_in_both_formats(
    tmp_path: Path, targets: tuple[RecordingServer, RecordingServer]
) -> None:
    segment, posthog = targets
    (tmp_path / "app.py").write_text(APP)
    forward = [
        {"endpoint": f"{segment.url}/v1/batch", "write_key": "seg-key"},
        {
            "endpoint": f"{posthog.url}/batch/",
            "forward_format": "posthog",
            "write_key": "phc_test",
            "outbox": str(tmp_path / "posthog-outbox.db"),
        },
    ]
    collector = FastAPICollector(
        tmp_path / "collector.db", app_dir=tmp_path, SONDE_FORWARD=json.dumps(forward)
    )
    collector.start()
    try:
        n = 50
        with sonde.Sonde(endpoint=f"{collector.base}/analytics/v1/batch") as client:
            for i in range(n):
                client.track("Forwarded Order", {"i": i}, user_id="fw-1")
            client.identify("fw-1", {"plan": "pro"})
            client.flush(timeout=30)
        assert_each_once(
            stored(collector.base, "Forwarded Order"), n
        )  # flushes the collector
        counters = api(collector.base, "/analytics/statistics")["live"]["counters"]
        assert counters["delivered"] == n + 1 and counters["dropped"]["rejected"] == 0

        events = [e for e in segment.batches() if e.get("event") == "Forwarded Order"]
        assert sorted(e["properties"]["i"] for e in events) == list(range(n))
        auth = segment.requests[0]["headers"]["authorization"]
        assert base64.b64decode(auth.removeprefix("Basic ")) == b"seg-key:"
        assert any(e["type"] == "identify" for e in segment.batches())

        assert {r["path"] for r in posthog.requests} == {"/batch/"}
        assert {r["body"]["api_key"] for r in posthog.requests} == {"phc_test"}
        captured = [e for e in posthog.batches() if e["event"] == "Forwarded Order"]
        assert sorted(e["properties"]["i"] for e in captured) == list(range(n))
        assert {e["distinct_id"] for e in captured} == {"fw-1"}
        assert len({e["uuid"] for e in captured}) == n
        identify = [e for e in posthog.batches() if e["event"] == "$identify"]
        assert identify[0]["properties"]["$set"] == {"plan": "pro"}
        outbox = api(collector.base, "/analytics/statistics")["live"]["outboxes"][
            f"{posthog.url}/batch/"
        ]
        assert (outbox["sent"], outbox["pending_events"]) == (n + 1, 0)
    finally:
        collector.stop()
