"""Sonde: in-process analytics and performance monitoring on one Rust core.

>>> from sonde import Sonde
>>> with Sonde(store="sonde.db") as sonde:            # doctest: +SKIP
...     sonde.track("Signed Up", {"plan": "pro"}, user_id="42")

Events are validated, buffered (bounded) and delivered by a native worker thread; the
Python call returns as soon as the event is queued.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import threading
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from . import errors
from ._native import CORE_VERSION, AlertEngine, Client, __version__, merge_stats
from .errors import (
    ConfigError,
    FlushTimeoutError,
    InvalidTypeError,
    PayloadTooLargeError,
    QueueFullError,
    ShutDownError,
    SinkFailedError,
    SondeError,
    SondeIOError,
    StoreError,
    UnsupportedError,
    ValidationError,
)
from .timing import TrackTiming, timed

__all__ = [
    "CORE_VERSION",
    "AlertEngine",
    "ConfigError",
    "FlushTimeoutError",
    "InvalidTypeError",
    "PayloadTooLargeError",
    "QueueFullError",
    "ShutDownError",
    "SinkFailedError",
    "Sonde",
    "SondeError",
    "SondeIOError",
    "StoreError",
    "TrackTiming",
    "UnsupportedError",
    "ValidationError",
    "__version__",
    "errors",
    "merge_stats",
]

F = TypeVar("F", bound=Callable[..., Any])

# Live clients, for the exit flush and the fork hooks.
_clients: weakref.WeakSet[Sonde] = weakref.WeakSet()


class Sonde(Client):
    """The client. Options are keyword-only and map onto the core's options in one place
    (unknown or out-of-range ones raise ``ConfigError`` listing every problem). Durations
    are in seconds (``flush_interval=1.0``, ``retry_max_backoff=30``), like every timeout.

    Destinations (at least one, unless ``disabled=True``): ``store="sonde.db"`` (SQLite)
    or ``store="postgresql://..."``, ``console=True`` (or ``"json"``),
    ``jsonl="events.jsonl"`` (rotated when a regular file; ``/dev/stdout`` or a pipe is
    never renamed), ``endpoint="https://.../v1/batch"`` (a collector:
    Sonde's, any Segment-compatible one, or PostHog's ``/batch/`` with
    ``forward_format="posthog"``; ``write_key=...``, ``http_timeout`` seconds,
    ``outbox="outbox.db"`` to keep batches on disk until the collector took them,
    ``outbox_max_bytes``), ``sink=callable`` (receives a list of event dicts per batch, on
    the worker thread).

    Tests and local runs: ``disabled=True`` validates every event and sends and stores
    nothing. ``debug=True`` logs every delivered batch at DEBUG on the ``sonde`` logger
    (with a stderr handler when logging is not configured).

    Failures: lost events (a full buffer, a destination that keeps failing, the shutdown
    deadline) are logged on the ``sonde`` logger and passed to ``on_error(error, events)``.
    An event a tracking call cannot accept (invalid or too large; after ``shutdown`` the call
    raises ``ShutDownError`` whatever the policy) follows ``on_invalid``: ``"raise"`` (the
    ``ValidationError`` with every violation), ``"warn"`` (logged, given to ``on_error``,
    counted; the call returns ``None``) or ``"drop"``. The default is ``"raise"`` when
    disabled, in debug mode or under pytest, and ``"warn"`` otherwise, so production never
    fails a request over analytics. ``before_send=callable`` gets each event as a dict and
    returns it (changed or not) or ``None`` to drop it.

    The ``SONDE_*`` environment variables (``SONDE_DISABLED``, ``SONDE_DEBUG``,
    ``SONDE_STORE``, ``SONDE_ENDPOINT``, ``SONDE_WRITE_KEY``, ``SONDE_SAMPLE_RATE``,
    ``SONDE_ON_INVALID``) set options that are not passed; unknown ``SONDE_*`` names are
    logged as warnings.

    Lifecycle: ``flush_at_exit=True`` and ``exit_timeout=2.0`` seconds bound the flush at
    interpreter exit and on SIGTERM (which skips ``atexit``): the handler delivers what is
    buffered, then chains to the handler that was there before, or lets the signal
    terminate the process as it would have.
    """

    def __init__(self, **options: Any) -> None:
        self._flush_at_exit = bool(options.get("flush_at_exit", True))
        self._exit_timeout = float(options.get("exit_timeout", 2.0))
        _clients.add(self)
        if self._flush_at_exit:
            _handle_sigterm()
        if self.options.get("debug"):
            _log_debug()

    def __enter__(self) -> Sonde:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown(self._exit_timeout)

    async def __aenter__(self) -> Sonde:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.ashutdown(self._exit_timeout)

    async def aflush(self, timeout: float = 5.0) -> None:
        """``flush`` on a worker thread: the event loop keeps running meanwhile."""
        await asyncio.get_running_loop().run_in_executor(None, self.flush, timeout)

    async def ashutdown(self, timeout: float = 5.0) -> None:
        """``shutdown`` on a worker thread: the event loop keeps running meanwhile."""
        await asyncio.get_running_loop().run_in_executor(None, self.shutdown, timeout)

    def track_timing(self, operation: str, **metadata: Any) -> TrackTiming:
        """Times a block (``with`` or ``async with``) as a ``$performance`` event."""
        return TrackTiming(self, operation, metadata)

    def timed_operation(
        self, operation: str, metadata: dict[str, Any] | None = None
    ) -> Callable[[F], F]:
        """Decorator timing every call of a sync or async function."""
        return timed(self, operation, metadata)


def _log_debug() -> None:
    """Debug mode: the ``sonde`` logger at DEBUG, printing to stderr unless the app
    configured logging itself."""
    logger = logging.getLogger("sonde")
    logger.setLevel(logging.DEBUG)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s sonde %(levelname)s %(message)s"))
        logger.addHandler(handler)


def _shutdown_all_at_exit() -> None:
    for client in list(_clients):
        if client._flush_at_exit and not client.is_shut_down:
            try:
                client.shutdown(client._exit_timeout)
            except SondeError:
                pass  # what did not fit in the time is counted as dropped


# The SIGTERM handler this module replaced (called after the flush), once installed.
_previous_sigterm: Any = None
_sigterm_installed = False


def _handle_sigterm() -> None:
    """Installs the SIGTERM flush, from the main thread only (Python's rule for signal
    handlers), and not where SIGTERM is ignored or handled outside Python."""
    global _previous_sigterm, _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    current = signal.getsignal(signal.SIGTERM)
    if current is signal.SIG_IGN or current is None:
        return
    _previous_sigterm = current
    signal.signal(signal.SIGTERM, _on_sigterm)
    _sigterm_installed = True


def _on_sigterm(signum: int, frame: Any) -> None:
    _shutdown_all_at_exit()
    if callable(_previous_sigterm):
        _previous_sigterm(signum, frame)
        return
    # The default action, as if this handler had not been here: terminated by SIGTERM.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _before_fork() -> None:
    for client in list(_clients):
        client._before_fork()


def _after_fork_in_child() -> None:
    for client in list(_clients):
        client._after_fork_child()


atexit.register(_shutdown_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
