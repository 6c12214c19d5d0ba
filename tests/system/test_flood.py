"""A flood against a stalled destination: a million events tracked while the sink never
finishes a batch. Memory must stay within the configured buffer cap (plus 10 MB) and the
counters must account for every event exactly. Run in a fresh process so its resident
memory is this test's alone."""

from __future__ import annotations

import json
import subprocess
import sys

FLOOD = """
import json, threading, sonde

def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")

stalled = threading.Event()
def stuck_sink(events):
    stalled.wait()  # never set: the worker holds one batch and waits

CAP = 20 << 20
client = sonde.Sonde(sink=stuck_sink, max_queue_bytes=CAP, max_queue_events=10_000_000,
                     flush_at_exit=False)
props = {"plan": "pro", "revenue": 42.5, "currency": "EUR", "coupon": None}
for i in range(20_000):  # warm up allocators and caches before measuring
    client.track("Warm Up", props, user_id="u")
start = rss_bytes()
peak = start
for i in range(1_000_000):
    client.track("Flooded", props, user_id="u")
    if i % 50_000 == 0:
        peak = max(peak, rss_bytes())
peak = max(peak, rss_bytes())
counters = client.stats()["counters"]
print(json.dumps({"start": start, "peak": peak, "cap": CAP, "counters": counters}))
"""


def test_a_million_events_into_a_stalled_sink_stay_within_the_cap() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FLOOD],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    c = result["counters"]
    assert c["received"] == 1_020_000
    assert (
        c["received"]
        == c["delivered"] + sum(c["dropped"].values()) + c["queued"] + c["in_flight"]
    ), c
    assert c["delivered"] == 0
    assert c["dropped"]["queue_full"] > 900_000, c
    assert c["queued_bytes"] <= result["cap"]
    grown = result["peak"] - result["start"]
    assert grown <= result["cap"] + (10 << 20), f"RSS grew by {grown / 2**20:.1f} MiB"
