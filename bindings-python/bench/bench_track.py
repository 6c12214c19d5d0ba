"""`track()` of a 6-property event, ns per call, Sonde against posthog and
segment-analytics-python pointed at a local dummy server, interleaved in one run; then the
CPU per event until it is committed in SQLite.

    .venv/bin/python bindings-python/bench/bench_track.py
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable

import sonde

from common import dummy_server, median, six_properties

N = 20_000
REPS = 5


def timed_loop(track: Callable[[int], object]) -> float:
    """ns per call, including building the properties dict (the baseline row measures it)."""
    started = time.perf_counter_ns()
    for i in range(N):
        track(i)
    return (time.perf_counter_ns() - started) / N


def main() -> None:
    logging.disable(logging.CRITICAL)
    url, stop = dummy_server()
    folder = tempfile.mkdtemp(prefix="sonde-bench-")

    import posthog
    from segment.analytics import Client as SegmentClient

    sonde_client = sonde.Sonde(
        store=os.path.join(folder, "bench.db"), max_queue_events=200_000, max_queue_bytes=1 << 30
    )
    segment_client = SegmentClient("write-key", host=url, max_queue_size=200_000, send=True)
    posthog_client = posthog.Posthog("phc_key", host=url, max_queue_size=200_000)

    def sonde_track(i: int) -> object:
        return sonde_client.track("Order Completed", six_properties(i), user_id="user-7")

    def segment_track(i: int) -> object:
        return segment_client.track("user-7", "Order Completed", six_properties(i))

    def posthog_track(i: int) -> object:
        return posthog_client.capture(
            "Order Completed", distinct_id="user-7", properties=six_properties(i)
        )

    def dict_only(i: int) -> object:
        return six_properties(i)

    contenders = {
        "building the event dict only": dict_only,
        "sonde.track (SQLite store)": sonde_track,
        "segment-analytics-python track": segment_track,
        "posthog capture": posthog_track,
    }
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(REPS):
        for name, fn in contenders.items():
            results[name].append(timed_loop(fn))
            sonde_client.flush(60)
            segment_client.flush()
            posthog_client.flush()
    print(f"track() of a 6-property event, ns per call, median of {REPS} interleaved runs of {N}:")
    for name, values in results.items():
        print(
            f"  {name:36s} {median(values):8.0f} ns   "
            f"(runs: {', '.join(f'{v:.0f}' for v in values)})"
        )

    # CPU per event until committed: the whole process (caller and worker threads).
    committed = sonde.Sonde(
        store=os.path.join(folder, "cpu.db"),
        max_queue_events=200_000,
        max_queue_bytes=1 << 30,
        batch_size=500,
    )
    count = 100_000
    cpu = time.process_time()
    wall = time.perf_counter()
    for i in range(count):
        committed.track("Order Completed", six_properties(i), user_id=f"user-{i % 1000}")
    committed.flush(120)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    stored = committed.query_events(with_total=True, limit=1)["total"]
    assert stored == count, (stored, committed.stats()["counters"])
    print(
        f"CPU per event, track() until committed in SQLite: {cpu / count * 1e6:.2f} µs "
        f"({count} events, {count / wall:,.0f} events/s wall)"
    )
    segment_client.shutdown()
    posthog_client.shutdown()
    stop()


if __name__ == "__main__":
    main()
