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
    exception(py, class_name(e.code()), e)
}

fn exception(py: Python<'_>, class: &str, e: &sonde_core::Error) -> PyResult<PyErr> {
    let errors = py.import("sonde.errors")?;
    let class = errors.getattr(class)?;
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

/// Every value an event's object holds that JSON has no form for, as one exception:
/// `InvalidTypeError` (a `ValidationError` that is also a `TypeError`) when any of them is
/// of a type JSON cannot hold, else `ValidationError`; each violation at its path.
pub fn refused_values(violations: Vec<sonde_core::Violation>, type_error: bool) -> PyErr {
    let error = sonde_core::Error::with_violations(sonde_core::ErrorKind::InvalidEvent, violations);
    if !type_error {
        return CoreError(error).into();
    }
    Python::attach(|py| exception(py, "InvalidTypeError", &error).unwrap_or_else(|failure| failure))
}

/// A value of a type JSON cannot hold, at `path`: `InvalidTypeError` with code `invalid_type`.
pub fn bad_type(path: &str, message: impl Into<String>) -> PyErr {
    refused_values(
        vec![sonde_core::Violation::new(
            path,
            sonde_core::codes::INVALID_TYPE,
            message,
        )],
        true,
    )
}

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

/// A Python-side failure inside the binding that is not a core error.
pub fn internal(message: impl Into<String>) -> PyErr {
    PyRuntimeError::new_err(message.into())
}
