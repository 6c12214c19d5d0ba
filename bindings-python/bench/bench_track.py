"""`track()` of a 6-property event: Sonde against posthog and segment-analytics-python,
interleaved in one run. The competitors send to a dummy server in its own process, which
counts what it received. Reported per contender: ns per call (the track() loop alone), and
until delivered — from the loop's start until every event is delivered (the competitors:
flush() returned and the server counted all N; Sonde: committed in its SQLite store) — as
wall ns per event and as this process's CPU ns per event (all its threads). Then the CPU per
event of a 100,000-event burst until committed in SQLite.

    .venv/bin/python bindings-python/bench/bench_track.py
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable

import sonde

from common import DummyServer, median, six_properties

N = 20_000
REPS = int(os.environ.get("REPS", 5))


def timed_loop(track: Callable[[int], object]) -> float:
    """ns per call, including building the properties dict (the baseline row measures it)."""
    started = time.perf_counter_ns()
    for i in range(N):
        track(i)
    return (time.perf_counter_ns() - started) / N


def main() -> None:
    logging.disable(logging.CRITICAL)
    server = DummyServer()
    url = server.url
    folder = tempfile.mkdtemp(prefix="sonde-bench-")

    import posthog
    from segment.analytics import Client as SegmentClient

    sonde_client = sonde.Sonde(
        store=os.path.join(folder, "bench.db"), max_queue_events=200_000, max_queue_bytes=1 << 30
    )
    segment_client = SegmentClient("write-key", host=url, max_queue_size=200_000, send=True)
    posthog_client = posthog.Posthog("phc_key", host=url, max_queue_size=200_000)
    expected = 0  # events the server must have counted once the current round is delivered

    def sonde_track(i: int) -> object:
        return sonde_client.track("Order Completed", six_properties(i), user_id="user-7")

    def sonde_deliver() -> None:
        sonde_client.flush(120)

    def segment_track(i: int) -> object:
        return segment_client.track("user-7", "Order Completed", six_properties(i))

    def segment_deliver() -> None:
        nonlocal expected
        segment_client.flush()
        expected += N
        server.wait_for(expected)

    def posthog_track(i: int) -> object:
        return posthog_client.capture(
            "Order Completed", distinct_id="user-7", properties=six_properties(i)
        )

    def posthog_deliver() -> None:
        nonlocal expected
        posthog_client.flush()
        expected += N
        server.wait_for(expected)

    def dict_only(i: int) -> object:
        return six_properties(i)

    contenders: dict[str, tuple[Callable[[int], object], Callable[[], None] | None]] = {
        "building the event dict only": (dict_only, None),
        "sonde.track (SQLite store)": (sonde_track, sonde_deliver),
        "segment-analytics-python track": (segment_track, segment_deliver),
        "posthog capture": (posthog_track, posthog_deliver),
    }
    per_call: dict[str, list[float]] = {name: [] for name in contenders}
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(REPS):
        for name, (track, deliver) in contenders.items():
            cpu_started = time.process_time_ns()
            started = time.perf_counter_ns()
            per_call[name].append(timed_loop(track))
            if deliver is None:
                continue
            deliver()
            wall[name].append((time.perf_counter_ns() - started) / N)
            cpu[name].append((time.process_time_ns() - cpu_started) / N)
    stored = sonde_client.query_events(event="Order Completed", with_total=True, limit=1)["total"]
    assert stored == N * REPS, (stored, sonde_client.stats()["counters"])

    def cell(values: list[float]) -> str:
        return f"{median(values):.0f}" if values else "n/a"

    print(f"track() of a 6-property event, median of {REPS} interleaved runs of {N}:")
    print(
        "| contender | ns per call | until delivered, wall ns per event "
        "| until delivered, CPU ns per event |"
    )
    print("| --- | ---: | ---: | ---: |")
    for name in contenders:
        print(f"| {name} | {cell(per_call[name])} | {cell(wall[name])} | {cell(cpu[name])} |")
    for name, values in per_call.items():
        print(f"  runs, ns per call, {name}: {', '.join(f'{v:.0f}' for v in values)}")

    # A burst of 100,000 into the default store with default settings: stored whole (the
    # byte-sized buffer holds what the store has not committed yet), and the CPU per event
    # until committed, for the whole process (caller and worker threads).
    committed = sonde.Sonde(store=os.path.join(folder, "cpu.db"))
    count = 100_000
    cpu = time.process_time()
    wall = time.perf_counter()
    for i in range(count):
        committed.track("Order Completed", six_properties(i), user_id=f"user-{i % 1000}")
    committed.flush(120)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    stored = committed.query_events(event="Order Completed", with_total=True, limit=1)["total"]
    assert stored == count, (stored, committed.stats()["counters"])
    print(
        f"CPU per event, track() until committed in SQLite: {cpu / count * 1e6:.2f} µs "
        f"({count} events, {count / wall:,.0f} events/s wall)"
    )
    segment_client.shutdown()
    posthog_client.shutdown()
    server.stop()


if __name__ == "__main__":
    main()
