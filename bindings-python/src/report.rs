//! Where a Python client's failures become visible: the `sonde` logger (`logging`), the
//! `on_error(error, events)` callback, the `on_invalid` policy applied at the call, and the
//! `before_send` hook. A callback that raises is logged, never propagated: analytics must
//! not break the host app.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;
use sonde_core::event::parse_message;
use sonde_core::{InvalidPolicy, LogThrottle, Message, Notice};

use crate::convert::{to_json, to_python};
use crate::errors::CoreError;

/// The logger and the user's error callback.
pub struct Reporter {
    logger: Py<PyAny>,
    on_error: Option<Py<PyAny>>,
    /// `on_invalid="warn"` lines: one a second per kind of mistake.
    refusals: std::sync::Mutex<LogThrottle>,
    started: std::time::Instant,
}

impl Reporter {
    pub fn new(py: Python<'_>, on_error: Option<Py<PyAny>>) -> PyResult<Self> {
        let logger = py
            .import("logging")?
            .call_method1("getLogger", ("sonde",))?
            .unbind();
        Ok(Self {
            logger,
            on_error,
            refusals: std::sync::Mutex::default(),
            started: std::time::Instant::now(),
        })
    }

    /// Logs at `level` (`"debug"`, `"warning"`, `"error"`); a failing logger is ignored.
    pub fn log(&self, py: Python<'_>, level: &str, message: &str) {
        let _ = self.logger.call_method1(py, level, ("%s", message));
    }

    /// Calls `on_error(error, events)`; what it raises is logged.
    fn call_on_error(&self, py: Python<'_>, error: &PyErr, events: Bound<'_, PyList>) {
        let Some(on_error) = &self.on_error else {
            return;
        };
        if let Err(raised) = on_error.call1(py, (error.value(py), events)) {
            let _ = self
                .logger
                .call_method1(py, "error", ("on_error raised %r", raised.value(py)));
        }
    }

    /// A tracking call could not accept its event: raise, or under `warn` log it and tell
    /// `on_error` (with the event as it was given), or under `drop` nothing.
    #[cold]
    pub fn refused<'py>(
        &self,
        py: Python<'py>,
        policy: InvalidPolicy,
        error: PyErr,
        event: impl FnOnce(Python<'py>) -> PyResult<Bound<'py, PyDict>>,
    ) -> PyResult<Option<String>> {
        // A client that was shut down cannot take the event whatever it holds: that is the
        // caller's to know (a server draining requests answers them as failed).
        let shut_down = error
            .value(py)
            .getattr("code")
            .ok()
            .is_some_and(|code| code.eq("shut_down").unwrap_or(false));
        match policy {
            _ if shut_down => Err(error),
            InvalidPolicy::Raise => Err(error),
            InvalidPolicy::Drop => Ok(None),
            InvalidPolicy::Warn => {
                // The same mistake (code and where) is held back; a different one is written.
                let key = mistake_key(py, &error);
                let now_ms = self.started.elapsed().as_millis() as u64;
                let admitted = self
                    .refusals
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .admit(&key, now_ms);
                if let Some(held) = admitted {
                    let more = if held > 0 {
                        format!(" ({held} more like it since the last report)")
                    } else {
                        String::new()
                    };
                    self.log(
                        py,
                        "warning",
                        &format!(
                            "event dropped (on_invalid=\"warn\"): {}{more}",
                            error.value(py)
                        ),
                    );
                }
                let events = PyList::empty(py);
                if let Ok(event) = event(py) {
                    let _ = events.append(event);
                }
                self.call_on_error(py, &error, events);
                Ok(None)
            }
        }
    }

    /// A notice from the core (lost events; deliveries in debug mode), on the thread that
    /// noticed: the worker, usually.
    pub fn notice(&self, notice: &Notice) {
        // A finalizing interpreter has nobody left to tell.
        let _ = Python::try_attach(|py| match notice {
            Notice::Delivered { batch, events } => {
                self.log(
                    py,
                    "debug",
                    &format!("batch {batch} delivered ({events} events)"),
                );
            }
            Notice::Lost(lost) => {
                let error: PyErr = CoreError(lost.to_error()).into();
                self.log(py, "error", &error.value(py).to_string());
                let events = PyList::empty(py);
                for json in &lost.events {
                    let value: Value = serde_json::from_str(json).unwrap_or(Value::Null);
                    if let Ok(event) = to_python(py, &value) {
                        let _ = events.append(event);
                    }
                }
                self.call_on_error(py, &error, events);
            }
        });
    }
}

/// What makes two refusals the same mistake: the error's code and its violations' paths and
/// codes (not their messages, which may carry values).
fn mistake_key(py: Python<'_>, error: &PyErr) -> String {
    let value = error.value(py);
    let mut key: String = value
        .getattr("code")
        .and_then(|c| c.extract())
        .unwrap_or_default();
    if let Ok(violations) = value.getattr("violations") {
        if let Ok(items) = violations.try_iter() {
            for item in items.flatten() {
                for field in ["path", "code"] {
                    let part: String = item
                        .get_item(field)
                        .and_then(|v| v.extract())
                        .unwrap_or_default();
                    key.push(' ');
                    key.push_str(&part);
                }
            }
        }
    }
    key
}

/// Runs the Python `before_send(event) -> dict | None` on a message: `None` drops it, a
/// dict replaces it. A hook that raises or returns something that is not an event is
/// logged and the event goes on unchanged (a bug in a scrubber must not lose data or break
/// the request).
pub fn before_send(hook: &Py<PyAny>, reporter: &Reporter, message: Message) -> Option<Message> {
    Python::attach(|py| {
        let given = message.to_value(None);
        let outcome = to_python(py, &given).and_then(|event| hook.call1(py, (event,)));
        let returned = match outcome {
            Ok(returned) => returned,
            Err(raised) => {
                reporter.log(
                    py,
                    "error",
                    &format!(
                        "before_send raised {}; the event goes on unchanged",
                        raised.value(py)
                    ),
                );
                return Some(message);
            }
        };
        let returned = returned.bind(py);
        if returned.is_none() {
            return None;
        }
        let mut problems = Vec::new();
        let changed = to_json(returned)
            .ok()
            .and_then(|value| parse_message(value, Some(message.kind), &mut problems));
        match changed {
            Some(changed) if problems.is_empty() => Some(changed),
            _ => {
                reporter.log(
                    py,
                    "error",
                    &format!("before_send must return the event (a dict) or None, got {}; the event goes on unchanged", returned.repr().map(|r| r.to_string()).unwrap_or_default()),
                );
                Some(message)
            }
        }
    })
}
