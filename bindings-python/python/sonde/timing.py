"""Timing helpers: ``track_timing`` (``with`` / ``async with``) and ``@timed_operation``
(sync and async functions). Each records a ``$performance`` event with the duration in
milliseconds; a failure records ``success=False`` and the exception type, then re-raises."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from types import TracebackType

    from . import Sonde

F = TypeVar("F", bound=Callable[..., Any])


class TrackTiming:
    """Times the block it wraps. ``metadata`` can be extended inside the block."""

    __slots__ = ("_client", "_started", "metadata", "operation")

    def __init__(self, client: Sonde, operation: str, metadata: dict[str, Any] | None) -> None:
        self._client = client
        self.operation = operation
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._started = 0.0

    def __enter__(self) -> TrackTiming:
        self._started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._record(exc_type)

    async def __aenter__(self) -> TrackTiming:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._record(exc_type)

    def _record(self, exc_type: type[BaseException] | None) -> None:
        duration_ms = (time.perf_counter() - self._started) * 1000.0
        self._client.track_performance(
            self.operation,
            duration_ms,
            success=exc_type is None,
            error_type=None if exc_type is None else exc_type.__name__,
            metadata=self.metadata or None,
        )


def timed(client: Sonde, operation: str, metadata: dict[str, Any] | None) -> Callable[[F], F]:
    """The decorator behind ``Sonde.timed_operation``."""

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with TrackTiming(client, operation, metadata):
                    return await fn(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with TrackTiming(client, operation, metadata):
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate
