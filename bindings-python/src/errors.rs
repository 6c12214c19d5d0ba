//! The one place core errors become Python exceptions. The classes live in
//! `sonde/errors.py` (so the validation error can subclass both `SondeError` and
//! `ValueError`); each core error kind maps to one of them by its stable code.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// A core error on its way to Python: `?` converts it at every call site (the orphan rule
/// forbids `From<sonde_core::Error> for PyErr` here).
pub struct CoreError(pub sonde_core::Error);

impl From<sonde_core::Error> for CoreError {
    fn from(e: sonde_core::Error) -> Self {
        Self(e)
    }
}

impl From<CoreError> for PyErr {
    fn from(e: CoreError) -> PyErr {
        Python::attach(|py| to_exception(py, &e.0).unwrap_or_else(|failure| failure))
    }
}

/// The exception class for a core error code.
fn class_name(code: &str) -> &'static str {
    match code {
        "invalid_event" => "ValidationError",
        "payload_too_large" => "PayloadTooLargeError",
        "queue_full" => "QueueFullError",
        "sink_failed" => "SinkFailedError",
        "store_failed" => "StoreError",
        "invalid_config" => "ConfigError",
        "unsupported" => "UnsupportedError",
        "shut_down" => "ShutDownError",
        "timeout" => "FlushTimeoutError",
        "io_error" => "SondeIOError",
        _ => "SondeError",
    }
}

fn to_exception(py: Python<'_>, e: &sonde_core::Error) -> PyResult<PyErr> {
    let errors = py.import("sonde.errors")?;
    let class = errors.getattr(class_name(e.code()))?;
    let violations = PyList::empty(py);
    for v in e.violations() {
        let item = PyDict::new(py);
        item.set_item("path", &v.path)?;
        item.set_item("code", &v.code)?;
        item.set_item("message", &v.message)?;
        violations.append(item)?;
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("code", e.code())?;
    kwargs.set_item("violations", violations)?;
    let exception = class.call((e.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(exception))
}

/// A Python-side failure inside the binding that is not a core error.
/// A bad argument as the core's error: one violation with its path and stable code, raised
/// as the exception class of `kind` (`ValidationError` and `ConfigError` are `ValueError`s).
pub fn bad_argument(
    kind: sonde_core::ErrorKind,
    path: &str,
    code: &str,
    message: impl Into<String>,
) -> PyErr {
    CoreError(sonde_core::Error::with_violations(
        kind,
        vec![sonde_core::Violation::new(path, code, message)],
    ))
    .into()
}

pub fn internal(message: impl Into<String>) -> PyErr {
    PyRuntimeError::new_err(message.into())
}
