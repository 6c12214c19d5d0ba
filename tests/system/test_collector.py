"""The standalone collector (`sonde-collector`): two of them on one PostgreSQL database
receiving at once from Sonde's HTTP destination, @segment/analytics-node and raw
Segment-protocol batches resent to both: every event stored once, and the statistics either
answers with are the exact merge of both. SIGTERM stores what was accepted, then exits."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import sonde
from processes import (
    KEY,
    NODE_BINDING,
    ROOT,
    api,
    assert_each_once,
    free_port,
    postgres_database,
    run_node,
    stop,
    stored,
    wait_until_up,
)

COLLECTOR = ROOT / "target" / "release" / "sonde-collector"
WRITE_KEY = "collector-write-key"


def start(store: str, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [str(COLLECTOR), "--listen", f"127.0.0.1:{port}", "--store", store]
        + ["--api-key", KEY, "--write-key", WRITE_KEY, "--mount", "/analytics"]
        + list(flags)
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_up(f"{base}/analytics/health", process)
    return process, base


def post_batch(base: str, items: list[dict]) -> dict:
    request = urllib.request.Request(
        f"{base}/analytics/v1/batch",
        data=json.dumps({"batch": items}).encode(),
        headers={"content-type": "application/json", "x-write-key": WRITE_KEY},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_two_collectors_on_one_postgres_store_each_event_once() -> None:
    database = postgres_database()
    # No host alerts: their `$alert` events would add to the exact counts below.
    publish = json.dumps({"metrics_interval_ms": 200, "alert_rules": []})
    a, a_base = start(database, "--options", publish)
    b, b_base = start(database, "--options", publish)
    try:
        errors: list[BaseException] = []

        def sonde_destination() -> None:  # Sonde's HTTP destination, to A
            with sonde.Sonde(
                endpoint=f"{a_base}/analytics/v1/batch",
                write_key=WRITE_KEY,
                batch_size=50,
            ) as client:
                for i in range(400):
                    client.track("Destination Order", {"i": i}, user_id="py")
                client.flush(30.0)
                assert client.stats()["counters"]["delivered"] == 400

        def segment_node() -> None:  # @segment/analytics-node, to B
            result = run_node(
                """
                const { Analytics } = require(require.resolve('@segment/analytics-node',
                  { paths: [process.env.NODE_BINDING] }));
                const analytics = new Analytics({ writeKey: process.env.WRITE_KEY,
                  host: process.env.HOST, path: '/analytics/v1/batch', maxEventsInBatch: 40 });
                const errors = [];
                analytics.on('error', (e) => errors.push(String(e.reason || e)));
                for (let i = 0; i < 300; i++) {
                  analytics.track({ userId: 'seg', event: 'Segment Order', properties: { i } });
                }
                analytics.closeAndFlush({ timeout: 30000 }).then(() => {
                  console.log(JSON.stringify({ errors }));
                });
                """,
                HOST=b_base,
                NODE_BINDING=str(NODE_BINDING),
                WRITE_KEY=WRITE_KEY,
            )
            assert result["errors"] == []

        def resends() -> None:  # the same batches to both: a client retrying elsewhere
            for start_at in range(0, 200, 20):
                items = [
                    {
                        "type": "track",
                        "event": "Resent Order",
                        "userId": "r",
                        "messageId": f"resent-{i}",
                        "properties": {"i": i},
                    }
                    for i in range(start_at, start_at + 20)
                ]
                for base in (a_base, b_base):
                    assert post_batch(base, items)["accepted"] == 20

        def guarded(work) -> None:
            try:
                work()
            except BaseException as e:  # noqa: BLE001 (re-raised below, in the test thread)
                errors.append(e)

        threads = [
            threading.Thread(target=guarded, args=(w,))
            for w in (sonde_destination, segment_node, resends)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors

        api(b_base, "/analytics/flush", "POST")
        assert_each_once(stored(a_base, "Destination Order"), 400)
        assert_each_once(stored(a_base, "Segment Order"), 300)
        assert_each_once(stored(b_base, "Resent Order"), 200)

        # Either collector answers for both, exactly (each counted the resends it got).
        received = 400 + 300 + 2 * 200
        for base in (a_base, b_base):
            statistics = wait_for_merge(base, received)
            assert statistics["live"]["counters"]["received"] == received
            assert len(statistics["instances"]) == 2
            assert statistics["live"]["events"]["Resent Order"] == 400
    finally:
        stop(a)
        stop(b)


def wait_for_merge(base: str, received: int) -> dict:
    """/statistics once both collectors published what they received (every 200 ms)."""
    deadline = time.monotonic() + 20
    while True:
        statistics = api(base, "/analytics/statistics")
        if (
            statistics["live"]["counters"]["received"] >= received
            or time.monotonic() > deadline
        ):
            return statistics
        time.sleep(0.2)


def test_sigterm_stores_what_was_accepted_then_exits(tmp_path: Path) -> None:
    store = str(tmp_path / "events.db")
    # Batches would wait a minute: only the shutdown can store them in time.
    process, base = start(store, "--options", json.dumps({"flush_interval_ms": 60_000}))
    items = [
        {"type": "track", "event": "Late Order", "userId": "u", "properties": {"i": i}}
        for i in range(50)
    ]
    assert post_batch(base, items)["accepted"] == 50
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    reader = sonde.Sonde(store=store, flush_at_exit=False)
    events = reader.query_events(event="Late Order", limit=100)["events"]
    reader.shutdown()
    assert_each_once(events, 50)


def test_bad_settings_are_named_and_stop_the_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(COLLECTOR),
            "--store",
            str(tmp_path / "e.db"),
            "--options",
            '{"batch_size": 0}',
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "/batch_size" in done.stderr and "invalid_option" in done.stderr
    done = subprocess.run(
        [str(COLLECTOR), "--store", str(tmp_path / "e.db")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0 and "api_key" in done.stderr


def test_metrics_for_a_scraper_token(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    process, base = start(str(tmp_path / "events.db"), "--metrics-token", "scrape")
    try:
        items = [{"type": "track", "event": "Scraped", "userId": "u"} for _ in range(7)]
        assert post_batch(base, items)["accepted"] == 7
        request = urllib.request.Request(
            f"{base}/analytics/metrics", headers={"Authorization": "Bearer scrape"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
        received = {
            s.name: s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }["sonde_events_received_total"]
        assert received == 7
        # The dashboard page comes with the collector too.
        with urllib.request.urlopen(f"{base}/analytics/dashboard", timeout=30) as page:
            assert page.headers["content-type"].startswith("text/html")
            assert b"<title>Sonde dashboard</title>" in page.read()
    finally:
        stop(process)
