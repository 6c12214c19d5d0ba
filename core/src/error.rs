//! The one error type of the core, with stable string codes shared by every runtime.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One problem found in an event, a batch or a tracking plan.
///
/// `path` is a JSON pointer into the offending document (`""` is the whole document),
/// `code` is a stable identifier listed in `docs/error-codes.md`, `message` is for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// JSON pointer to the problem (`""` is the whole document).
    pub path: String,
    /// Stable code, listed in `docs/error-codes.md`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

impl Violation {
    /// A violation at `path` with a stable `code`.
    pub fn new(path: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(f, "{path}: {} ({})", self.message, self.code)
    }
}

/// What went wrong, as a closed set bindings can branch on. New kinds may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The event or batch broke validation rules; see [`Error::violations`].
    InvalidEvent,
    /// A message or batch is larger than the configured limit.
    PayloadTooLarge,
    /// The buffer had no room and the overflow policy rejected the event.
    QueueFull,
    /// A sink could not deliver a batch.
    SinkFailed,
    /// The event store failed.
    StoreFailed,
    /// A configuration value or tracking plan is not acceptable.
    InvalidConfig,
    /// The operation is not available on this platform (for example threads on wasm32).
    Unsupported,
    /// The client was shut down; no new events are accepted.
    ShutDown,
    /// A bounded wait (flush, shutdown) ran out of time before the work was done.
    Timeout,
    /// An I/O operation failed (files, sockets).
    Io,
}

impl ErrorKind {
    /// The stable code for this kind, identical in every runtime.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidEvent => "invalid_event",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::QueueFull => "queue_full",
            ErrorKind::SinkFailed => "sink_failed",
            ErrorKind::StoreFailed => "store_failed",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::ShutDown => "shut_down",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io_error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The core's error: a kind with a stable code, a message, and for validation the full list
/// of violations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    violations: Vec<Violation>,
}

impl Error {
    /// An error without violations.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            violations: Vec::new(),
        }
    }

    /// An error carrying every violation found; the message summarises them.
    pub fn with_violations(kind: ErrorKind, violations: Vec<Violation>) -> Self {
        let message = summarize(&violations);
        Self {
            kind,
            message,
            violations,
        }
    }

    /// An `invalid_config` error.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message)
    }

    /// What went wrong, to branch on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Stable code, e.g. `invalid_event`.
    pub fn code(&self) -> &'static str {
        self.kind.as_str()
    }

    /// Human-readable explanation.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Every violation found (validation and configuration errors).
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Takes the violations out.
    pub fn into_violations(self) -> Vec<Violation> {
        self.violations
    }
}

fn summarize(violations: &[Violation]) -> String {
    match violations {
        [] => "no violations".to_owned(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(ErrorKind::InvalidEvent.as_str(), "invalid_event");
        assert_eq!(ErrorKind::ShutDown.as_str(), "shut_down");
        let e = Error::with_violations(
            ErrorKind::InvalidEvent,
            vec![
                Violation::new("/event", "missing_field", "event is required"),
                Violation::new("/userId", "invalid_type", "must be a string"),
            ],
        );
        assert_eq!(e.code(), "invalid_event");
        assert_eq!(e.violations().len(), 2);
        assert!(e.to_string().contains("and 1 more"), "{e}");
    }
}
