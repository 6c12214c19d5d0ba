"""Exceptions raised by Sonde: one base class, one subclass per core error code.

Every exception has ``.code`` (stable, listed in docs/error-codes.md) and ``.violations``
(a list of ``{"path", "code", "message"}`` dicts; empty unless the error is about input).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "FlushTimeoutError",
    "InvalidTypeError",
    "PayloadTooLargeError",
    "QueueFullError",
    "ShutDownError",
    "SinkFailedError",
    "SondeError",
    "SondeIOError",
    "StoreError",
    "UnsupportedError",
    "ValidationError",
]


class SondeError(Exception):
    """Base class of every Sonde error."""

    code: str = "sonde_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        violations: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.violations: list[dict[str, Any]] = list(violations or [])


class ValidationError(SondeError, ValueError):
    """An event broke a rule (limits, identity, schema, tracking plan); see ``violations``."""

    code = "invalid_event"


class InvalidTypeError(ValidationError, TypeError):
    """An event holds a value JSON has no form for (an arbitrary object, a key that is not a
    str); also a ``TypeError``, as ``json.dumps`` raises. ``violations`` lists every value
    refused, each with the code ``invalid_type``."""


class PayloadTooLargeError(SondeError, ValueError):
    """An event or request body is over its size limit."""

    code = "payload_too_large"


class ConfigError(SondeError, ValueError):
    """An option is unknown or out of range; see ``violations``."""

    code = "invalid_config"


class QueueFullError(SondeError):
    """The buffer is full and the overflow policy refused the event."""

    code = "queue_full"


class SinkFailedError(SondeError):
    """A destination failed."""

    code = "sink_failed"


class StoreError(SondeError):
    """The event store failed: unwritable path, corrupt file, locked past the timeout."""

    code = "store_failed"


class UnsupportedError(SondeError):
    """Not available here (no store configured, no host metrics on this platform)."""

    code = "unsupported"


class ShutDownError(SondeError):
    """The client was shut down."""

    code = "shut_down"


class FlushTimeoutError(SondeError, TimeoutError):
    """Flush or shutdown did not finish in time; what was left is counted as dropped."""

    code = "timeout"


class SondeIOError(SondeError, OSError):
    """A file could not be read or written."""

    code = "io_error"
