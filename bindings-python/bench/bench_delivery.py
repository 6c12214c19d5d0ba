"""Events leaving the process over HTTP, gzip on, interleaved in one run: Sonde's HTTP
destination (Segment format, and PostHog format) against segment-analytics-python and
posthog, all sending to the same dummy server in its own process, and Sonde sending to its
FastAPI collector (one uvicorn worker, SQLite store). N track() calls of a 6-property event,
then until delivered (Sonde: flush() returned, every batch acknowledged; the competitors:
flush() returned and the server counted all N). Reported per contender, medians of REPS:
delivered events per second (wall, loop start to delivered) and this process's CPU per
delivered event (all its threads: the SDK's sender thread or Sonde's worker included).

    .venv/bin/python bindings-python/bench/bench_delivery.py
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sonde

from common import DummyServer, median, six_properties
from server import Server

N = 20_000
REPS = int(os.environ.get("REPS", 5))


def main() -> None:
    logging.disable(logging.CRITICAL)
    dummy = DummyServer()
    folder = tempfile.mkdtemp(prefix="sonde-delivery-")
    collector = Server("collector", {"BENCH_STORE": str(Path(folder) / "collector.db")})
    try:
        run(dummy, collector)
    finally:
        collector.stop()
        dummy.stop()


def run(dummy: DummyServer, collector: Server) -> None:
    import posthog
    from segment.analytics import Client as SegmentClient

    big_queue = {"max_queue_events": 200_000, "max_queue_bytes": 1 << 30}
    to_dummy = sonde.Sonde(endpoint=f"{dummy.url}/v1/batch", write_key="wk", **big_queue)
    to_dummy_posthog = sonde.Sonde(
        endpoint=f"{dummy.url}/batch/", forward_format="posthog", write_key="phc", **big_queue
    )
    to_collector = sonde.Sonde(endpoint=f"{collector.url}/analytics/v1/batch", **big_queue)
    segment_client = SegmentClient(
        "write-key", host=dummy.url, max_queue_size=200_000, send=True, gzip=True
    )
    posthog_client = posthog.Posthog("phc_key", host=dummy.url, max_queue_size=200_000, gzip=True)
    expected = 0  # events the dummy server must have counted after the current round

    def sonde_round(client: sonde.Sonde, counted_by_dummy: bool) -> Callable[[], None]:
        def run() -> None:
            nonlocal expected
            for i in range(N):
                client.track("Order Completed", six_properties(i), user_id="user-7")
            client.flush(120)
            if counted_by_dummy:
                expected += N

        return run

    def segment_round() -> None:
        nonlocal expected
        for i in range(N):
            segment_client.track("user-7", "Order Completed", six_properties(i))
        segment_client.flush()
        expected += N
        dummy.wait_for(expected)

    def posthog_round() -> None:
        nonlocal expected
        for i in range(N):
            posthog_client.capture(
                "Order Completed", distinct_id="user-7", properties=six_properties(i)
            )
        posthog_client.flush()
        expected += N
        dummy.wait_for(expected)

    contenders: dict[str, Callable[[], None]] = {
        "sonde -> dummy (segment format)": sonde_round(to_dummy, True),
        "sonde -> dummy (posthog format)": sonde_round(to_dummy_posthog, True),
        "segment-analytics-python -> dummy": segment_round,
        "posthog -> dummy": posthog_round,
        "sonde -> FastAPI collector": sonde_round(to_collector, False),
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(REPS):
        for name, run in contenders.items():
            wall0, cpu0 = time.perf_counter(), time.process_time()
            run()
            wall, used = time.perf_counter() - wall0, time.process_time() - cpu0
            rates[name].append(N / wall)
            cpu[name].append(used / N * 1e6)
    dummy.wait_for(expected)
    for client in (to_dummy, to_dummy_posthog, to_collector):
        counters = client.stats()["counters"]
        assert counters["delivered"] == N * REPS, counters
    print(f"{N} events per round, {REPS} rounds interleaved, gzip on; medians")
    print(f"{'contender':38} {'delivered/s':>12} {'CPU us/event':>13}")
    for name in contenders:
        print(f"{name:38} {median(rates[name]):12,.0f} {median(cpu[name]):13.1f}")
    for client in (to_dummy, to_dummy_posthog, to_collector):
        client.shutdown()
    segment_client.shutdown()
    posthog_client.shutdown()


if __name__ == "__main__":
    main()
