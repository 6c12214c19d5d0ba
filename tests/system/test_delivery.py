"""Events leaving the process, between real processes on 127.0.0.1: a Node service and a
Python service send to the example collectors (FastAPI under uvicorn, and the Node
example server) with the HTTP destination, and a real Segment SDK from npm posts to the
collector; every event must be stored exactly once and read back through
/analytics/events."""

from __future__ import annotations

from pathlib import Path

import sonde
from processes import NODE_BINDING, assert_each_once, run_node, stored


def test_a_node_service_sends_to_the_fastapi_collector(fastapi_collector: str) -> None:
    n = 300
    stats = run_node(
        f"""
        const sonde = new Sonde({{ endpoint: process.env.ENDPOINT, batchSize: 50 }});
        for (let i = 0; i < {n}; i++) sonde.track('Node Order', {{ i }}, {{ userId: 'node-7' }});
        sonde.identify('node-7', {{ plan: 'pro' }});
        sonde.flush().then(() => {{
          console.log(JSON.stringify(sonde.stats().counters));
          return sonde.shutdown();
        }});
        """,
        ENDPOINT=f"{fastapi_collector}/analytics/v1/batch",
    )
    assert stats["delivered"] == n + 1
    assert stats["dropped"]["rejected"] == 0
    events = stored(fastapi_collector, "Node Order")
    assert_each_once(events, n)
    assert events[0]["userId"] == "node-7"
    assert events[0]["context"]["library"]["name"] == "sonde-node"


def test_a_python_service_sends_to_the_node_collector(node_collector: str) -> None:
    n = 250
    with sonde.Sonde(
        endpoint=f"{node_collector}/analytics/v1/batch", batch_size=40
    ) as client:
        for i in range(n):
            client.track("Python Order", {"i": i}, user_id="py-7")
        client.flush(timeout=30)
        counters = client.stats()["counters"]
    assert counters["delivered"] == n
    events = stored(node_collector, "Python Order")
    assert_each_once(events, n)
    assert events[0]["context"]["library"]["name"] == "sonde-python"


def test_a_python_service_sends_to_the_fastapi_collector_and_keeps_a_local_store(
    fastapi_collector: str, tmp_path: Path
) -> None:
    n = 120
    local = tmp_path / "local.db"
    client = sonde.Sonde(
        endpoint=f"{fastapi_collector}/analytics/v1/batch", store=str(local)
    )
    for i in range(n):
        client.track("Both Places", {"i": i}, user_id="py-7")
    client.flush(timeout=30)
    assert client.stats()["counters"]["delivered"] == n
    assert len(client.query_events(event="Both Places", limit=500)["events"]) == n
    client.shutdown()
    assert_each_once(stored(fastapi_collector, "Both Places"), n)


def test_items_the_collector_rejects_are_counted_as_rejected(
    fastapi_collector: str,
) -> None:
    """The collector's tracking plan is not the sender's: what it refuses is dropped as
    `rejected`, item by item, and the rest is stored."""
    # The collector refuses messages over its 32 KB limit; this sender allows them.
    client = sonde.Sonde(
        endpoint=f"{fastapi_collector}/analytics/v1/batch",
        limits={"max_message_bytes": 100_000},
        batch_size=10,
    )
    for i in range(6):
        big = "x" * (40_000 if i % 3 == 0 else 10)
        client.track("Mixed Sizes", {"i": i, "blob": big}, user_id="py-7")
    client.flush(timeout=30)
    counters = client.stats()["counters"]
    client.shutdown()
    assert (counters["delivered"], counters["dropped"]["rejected"]) == (4, 2)
    kept = sorted(
        e["properties"]["i"] for e in stored(fastapi_collector, "Mixed Sizes")
    )
    assert kept == [1, 2, 4, 5]


def test_the_segment_node_sdk_posts_to_the_node_collector(node_collector: str) -> None:
    result = run_node(
        """
        const { Analytics } = require(require.resolve('@segment/analytics-node',
          { paths: [process.env.NODE_BINDING] }));
        const analytics = new Analytics({ writeKey: 'any', host: process.env.HOST,
          path: '/analytics/v1/batch', maxEventsInBatch: 25 });
        const errors = [];
        analytics.on('error', (e) => errors.push(String(e.reason || e)));
        for (let i = 0; i < 60; i++) {
          analytics.track({ userId: 'seg-1', event: 'Segment Order', properties: { i } });
        }
        analytics.closeAndFlush({ timeout: 20000 }).then(() => {
          console.log(JSON.stringify({ errors }));
        });
        """,
        HOST=node_collector,
        NODE_BINDING=str(NODE_BINDING),
    )
    assert result["errors"] == []
    events = stored(node_collector, "Segment Order")
    assert_each_once(events, 60)
    assert events[0]["context"]["library"]["name"] == "@segment/analytics-node"
