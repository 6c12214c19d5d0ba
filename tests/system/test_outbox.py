"""The durable outbox between real processes: the collector stopped for a whole outage while
a Python service keeps tracking, and a Node service killed with SIGKILL while its batches
wait in the outbox, then started again. Every event accepted must be stored exactly once.

The outage lasts OUTAGE_SECONDS (60 by default)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import sonde
from processes import NODE_BINDING, FastAPICollector, assert_each_once, stored

OUTAGE_SECONDS = float(os.environ.get("OUTAGE_SECONDS", "60"))


def test_an_outage_of_the_collector_loses_nothing(tmp_path: Path) -> None:
    collector = FastAPICollector(tmp_path / "collector.db")
    collector.start()
    endpoint = f"{collector.base}/analytics/v1/batch"
    client = sonde.Sonde(
        endpoint=endpoint,
        outbox=str(tmp_path / "outbox.db"),
        batch_size=20,
        flush_interval=0.1,
        retry_max_backoff=1,
        alert_rules=[],  # a host alert's `$alert` would add to the exact count
    )
    try:
        i = 0
        for _ in range(100):
            client.track("Outage Order", {"i": i}, user_id="py-7")
            i += 1
        client.flush(timeout=30)
        collector.stop()
        ends = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < ends:
            for _ in range(10):
                client.track("Outage Order", {"i": i}, user_id="py-7")
                i += 1
            time.sleep(0.5)
        client.flush(timeout=30)
        during = client.stats()["outboxes"][endpoint]
        assert during["pending_events"] > 0 and during["retries"] > 0, during
        assert "failed" in during["last_error"], during
        collector.start()
        client.flush(timeout=30)
        after = client.stats()
        outbox = after["outboxes"][endpoint]
        assert (outbox["pending_events"], outbox["last_error"]) == (0, None), outbox
        assert outbox["sent"] == i
        counters = after["counters"]
        assert (counters["delivered"], counters["dropped"]["retry_exhausted"]) == (i, 0)
        assert_each_once(stored(collector.base, "Outage Order"), i)
    finally:
        client.shutdown()
        collector.stop()


SENDER = """
const { Sonde } = require(process.env.NODE_BINDING);
const sonde = new Sonde({ endpoint: process.env.ENDPOINT, outbox: process.env.OUTBOX,
  batchSize: 50, retryMaxBackoffMs: 1000, alertRules: [] });
const n = Number(process.env.COUNT);
for (let i = 0; i < n; i++) sonde.track('Killed Order', { i }, { userId: 'node-7' });
sonde.flush().then(() => {
  console.log(JSON.stringify(sonde.stats().outboxes[process.env.ENDPOINT]));
  if (process.env.HANG) setInterval(() => {}, 1000);
  else return sonde.shutdown();
});
"""


def node_sender(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["node", "-e", SENDER],
        env={**os.environ, "NODE_BINDING": str(NODE_BINDING), **env},
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_killed_node_sender_delivers_its_outbox_after_a_restart(
    tmp_path: Path,
) -> None:
    collector = FastAPICollector(tmp_path / "collector.db")  # not started: an outage
    endpoint = f"{collector.base}/analytics/v1/batch"
    env = {"ENDPOINT": endpoint, "OUTBOX": str(tmp_path / "outbox.db")}
    first = node_sender({**env, "COUNT": "500", "HANG": "1"})
    assert first.stdout is not None
    waiting = json.loads(first.stdout.readline())
    assert waiting["pending_events"] == 500, waiting
    first.kill()  # SIGKILL: no exit hook runs
    first.wait(10)
    collector.start()
    try:
        second = node_sender({**env, "COUNT": "0"})
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 0
        drained = json.loads(out.splitlines()[-1])
        assert (drained["pending_events"], drained["sent"]) == (0, 500), drained
        assert_each_once(stored(collector.base, "Killed Order"), 500)
    finally:
        collector.stop()
