"""Threads, fork and interpreter exit: nothing accepted is lost or sent twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import sonde


def test_eight_threads_every_event_accounted_for(store_path: str) -> None:
    # Room for the whole burst, in events and bytes: this is about accounting across
    # threads, not about a store keeping up with 80,000 events in a tenth of a second.
    s = sonde.Sonde(store=store_path, max_queue_events=100_000, max_queue_bytes=1 << 30)
    per_thread = 10_000

    def work(n: int) -> None:
        for i in range(per_thread):
            s.track("Threaded", {"thread": n, "i": i}, user_id=f"u{n}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s.flush(60.0)
    counters = s.stats()["counters"]
    assert counters["received"] == counters["delivered"] == 8 * per_thread
    assert sum(counters["dropped"].values()) == 0
    assert s.query_events(with_total=True, limit=1)["total"] == 8 * per_thread
    for n in range(8):
        assert s.query_events(user_id=f"u{n}", with_total=True, limit=1)["total"] == per_thread
    s.shutdown(5.0)


def per_process_sink(folder: Path):
    def write(events: list[dict[str, object]]) -> None:
        with open(folder / f"{os.getpid()}.jsonl", "a") as f:
            for e in events:
                f.write(json.dumps(e) + "\n")

    return write


def read_events(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_gets_a_working_worker_and_nothing_is_sent_twice(tmp_path: Path) -> None:
    store = str(tmp_path / "fork.db")
    s = sonde.Sonde(
        store=store,
        sink=per_process_sink(tmp_path),
        flush_interval=3600,
        super_properties={"side": "any"},
    )
    s.register({"registered": True})
    for i in range(50):
        s.track("Before Fork", {"i": i}, user_id="parent")  # queued, not yet delivered
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            for i in range(20):
                s.track("In Child", {"i": i}, user_id="child")
            s.shutdown(10.0)
            code = 0
        finally:
            os._exit(code)
    for i in range(30):
        s.track("After Fork", {"i": i}, user_id="parent")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    s.flush(10.0)

    parent = read_events(tmp_path / f"{os.getpid()}.jsonl")
    child = read_events(tmp_path / f"{pid}.jsonl")
    assert sorted(e["event"] for e in child) == ["In Child"] * 20
    assert all(e["properties"]["registered"] is True for e in child)
    assert sorted(e["event"] for e in parent) == ["After Fork"] * 30 + ["Before Fork"] * 50
    ids = [e["messageId"] for e in parent + child]
    assert len(ids) == len(set(ids)) == 100
    assert s.query_events(with_total=True, limit=1)["total"] == 100
    s.shutdown(5.0)


def test_events_are_flushed_at_interpreter_exit(tmp_path: Path) -> None:
    store = tmp_path / "exit.db"
    script = (
        "import sonde\n"
        f"s = sonde.Sonde(store={str(store)!r}, flush_interval=3600)\n"
        "for i in range(1000):\n"
        "    s.track('At Exit', {'i': i}, user_id='u')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with sonde.Sonde(store=store) as reader:
        assert reader.query_events(event="At Exit", with_total=True, limit=1)["total"] == 1000


def test_tracking_from_threads_while_a_python_sink_is_slow(tmp_path: Path) -> None:
    # The worker holds the GIL only inside the Python sink; callers keep tracking meanwhile.
    # Every call below must return while the sink is still blocked: had track() waited for
    # the sink, the sink would have returned on its timeout first (released == [False]).
    delivered: list[int] = []
    released: list[bool] = []
    entered = threading.Event()
    gate = threading.Event()

    def slow_sink(events: list[dict[str, object]]) -> None:
        entered.set()
        released.append(gate.wait(10.0))
        delivered.append(len(events))

    s = sonde.Sonde(sink=slow_sink, batch_size=10, flush_interval=0.01)
    for i in range(10):
        s.track("First", {"i": i}, user_id="u")
    assert entered.wait(5.0), "the sink was never called"
    for i in range(500):
        s.track("Meanwhile", {"i": i}, user_id="u")
    assert released == [], "track() waited for the blocked sink"
    gate.set()
    s.shutdown(10.0)
    assert all(released)
    assert sum(delivered) == 510


def terminated(script: str) -> int:
    """Runs `script` until it prints "ready", sends it SIGTERM; its exit status."""
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGTERM)
    status = child.wait(30)
    child.stdout.close()
    return status


def test_sigterm_delivers_what_is_buffered_then_terminates(tmp_path: Path) -> None:
    # SIGTERM's default action skips atexit: without the handler these events were lost.
    store = str(tmp_path / "sigterm.db")
    script = (
        "import sys, time, sonde\n"
        f"s = sonde.Sonde(store={store!r}, flush_interval=3600, batch_size=2_500)\n"
        "for i in range(500):\n"
        "    s.track('Before SIGTERM', {'i': i}, user_id='u')\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    assert terminated(script) == -signal.SIGTERM, "the signal still terminates the process"
    with sonde.Sonde(store=store) as reader:
        stored = reader.query_events(event="Before SIGTERM", with_total=True, limit=1)
    assert stored["total"] == 500


def test_sigterm_chains_to_the_handler_that_was_there(tmp_path: Path) -> None:
    store = str(tmp_path / "chained.db")
    marker = tmp_path / "handled"
    script = (
        "import signal, sys, time, sonde\n"
        "def mine(signum, frame):\n"
        f"    open({str(marker)!r}, 'w').write('handled')\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, mine)\n"
        f"s = sonde.Sonde(store={store!r}, flush_interval=3600)\n"
        "s.track('Chained', user_id='u')\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    assert terminated(script) == 3
    assert marker.read_text() == "handled"
    with sonde.Sonde(store=store) as reader:
        assert reader.query_events(event="Chained", with_total=True, limit=1)["total"] == 1
