//! What a Python client is built from (its spec) and what it runs (its engine): kept apart
//! so a forked child can build a fresh engine from the same spec.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{Map, Value};
use sonde_core::sink::{
    CallbackSink, ConsoleFormat, ConsoleSink, ConsoleTarget, JsonLinesSink, SinkBatch, SinkError,
};
use sonde_core::store::{SqliteStore, StoreSink};
use sonde_core::{Config, OverflowPolicy, Sonde};

use crate::convert::{serialized, to_json, to_python};
use crate::errors::CoreError;

/// JSON-lines rotation defaults: 64 MiB per file, five files kept.
const JSONL_MAX_BYTES: u64 = 64 << 20;
const JSONL_MAX_FILES: u32 = 5;

/// Everything needed to build an engine. Only touched with the GIL held.
pub struct Spec {
    /// The core options (`Config::from_options`), with the anonymous id pinned after the
    /// first build so a forked child keeps it.
    options: Map<String, Value>,
    store: Option<PathBuf>,
    console: Option<ConsoleFormat>,
    jsonl: Option<(PathBuf, u64, u32)>,
    sink: Option<Py<PyAny>>,
    on_alert: Option<Py<PyAny>>,
    /// Super properties registered at run time, copied before a fork.
    pub super_properties: Map<String, Value>,
}

/// A running client and the store it writes to, if any.
pub struct Engine {
    pub sonde: Sonde,
    pub store: Option<Arc<SqliteStore>>,
    /// Whether sending can wait for room in the buffer (overflow policy `block`): only then
    /// must a send give up the GIL, since a Python sink may need it to make room.
    pub send_may_wait: bool,
}

/// Options handled by the binding itself; everything else goes to the core.
const BINDING_OPTIONS: &[&str] = &[
    "store",
    "console",
    "jsonl",
    "jsonl_max_bytes",
    "jsonl_max_files",
    "sink",
    "on_alert",
    "flush_at_exit",
    "exit_timeout",
];

fn path_of(value: &Bound<'_, PyAny>, what: &str) -> PyResult<PathBuf> {
    let fspath = value
        .py()
        .import("os")?
        .call_method1("fspath", (value,))
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a path (str or os.PathLike)")))?;
    Ok(PathBuf::from(fspath.extract::<String>()?))
}

fn callable(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Py<PyAny>> {
    if value.is_callable() {
        Ok(value.clone().unbind())
    } else {
        Err(PyTypeError::new_err(format!("{what} must be callable")))
    }
}

impl Spec {
    /// A copy (the Python callables are shared).
    pub fn clone_ref(&self, py: Python<'_>) -> Spec {
        Spec {
            options: self.options.clone(),
            store: self.store.clone(),
            console: self.console,
            jsonl: self.jsonl.clone(),
            sink: self.sink.as_ref().map(|s| s.clone_ref(py)),
            on_alert: self.on_alert.as_ref().map(|s| s.clone_ref(py)),
            super_properties: self.super_properties.clone(),
        }
    }

    /// The core options in force.
    pub fn core_options(&self) -> &Map<String, Value> {
        &self.options
    }

    /// Merges new core options (destinations cannot change at run time).
    pub fn merge_options(&mut self, options: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let Some(options) = options else {
            return Ok(());
        };
        for (key, value) in options.iter() {
            let key: String = key.extract()?;
            if BINDING_OPTIONS.contains(&key.as_str()) {
                return Err(PyTypeError::new_err(format!(
                    "{key} cannot change at run time: create a new client"
                )));
            }
            if value.is_none() {
                self.options.remove(&key);
            } else {
                self.options.insert(key, to_json(&value)?);
            }
        }
        Ok(())
    }

    /// Splits keyword options into the binding's own and the core's.
    pub fn from_kwargs(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut spec = Spec {
            options: Map::new(),
            store: None,
            console: None,
            jsonl: None,
            sink: None,
            on_alert: None,
            super_properties: Map::new(),
        };
        let Some(kwargs) = kwargs else {
            return Ok(spec);
        };
        let mut jsonl_limits = (JSONL_MAX_BYTES, JSONL_MAX_FILES);
        for (key, value) in kwargs.iter() {
            let key: String = key.extract()?;
            if value.is_none() && BINDING_OPTIONS.contains(&key.as_str()) {
                continue;
            }
            match key.as_str() {
                "store" => spec.store = Some(path_of(&value, "store")?),
                "console" => {
                    spec.console = match to_json(&value)? {
                        Value::Bool(false) => None,
                        Value::Bool(true) => Some(ConsoleFormat::Pretty),
                        Value::String(s) if s == "pretty" => Some(ConsoleFormat::Pretty),
                        Value::String(s) if s == "json" => Some(ConsoleFormat::JsonLines),
                        other => {
                            return Err(PyTypeError::new_err(format!(
                                "console must be True, False, \"pretty\" or \"json\", got {other}"
                            )))
                        }
                    }
                }
                "jsonl" => spec.jsonl = Some((path_of(&value, "jsonl")?, 0, 0)),
                "jsonl_max_bytes" => jsonl_limits.0 = value.extract()?,
                "jsonl_max_files" => jsonl_limits.1 = value.extract()?,
                "sink" => spec.sink = Some(callable(&value, "sink")?),
                "on_alert" => spec.on_alert = Some(callable(&value, "on_alert")?),
                "flush_at_exit" | "exit_timeout" => {}
                _ => {
                    spec.options.insert(key, to_json(&value)?);
                }
            }
        }
        if let Some(jsonl) = &mut spec.jsonl {
            (jsonl.1, jsonl.2) = jsonl_limits;
        }
        Ok(spec)
    }

    /// Builds a client from this spec: opens the store, creates the sinks, starts the worker.
    pub fn build(&mut self, py: Python<'_>) -> PyResult<Engine> {
        let mut config =
            Config::from_options(&Value::Object(self.options.clone())).map_err(CoreError)?;
        if !self.options.contains_key("library") {
            config.library.name = "sonde-python".to_owned();
            config.library.version = env!("CARGO_PKG_VERSION").to_owned();
        }
        for (k, v) in &self.super_properties {
            config.super_properties.insert(k.clone(), v.clone());
        }
        let mut store = None;
        if let Some(path) = &self.store {
            let opened = Arc::new(py.detach(|| SqliteStore::open(path)).map_err(CoreError)?);
            config = config.sink(StoreSink::new(Arc::clone(&opened)));
            store = Some(opened);
        }
        if let Some(format) = self.console {
            config = config.sink(ConsoleSink::new(format, ConsoleTarget::Stderr));
        }
        if let Some((path, max_bytes, max_files)) = &self.jsonl {
            config = config.sink(JsonLinesSink::new(path, *max_bytes, *max_files));
        }
        if let Some(sink) = &self.sink {
            let sink = sink.clone_ref(py);
            config = config.sink(CallbackSink::new("python", move |batch: &SinkBatch<'_>| {
                deliver_to_python(&sink, batch)
            }));
        }
        if let Some(on_alert) = &self.on_alert {
            let on_alert = on_alert.clone_ref(py);
            config = config.on_alert(move |transition| {
                let _ = Python::try_attach(|py| {
                    let called = serialized(py, transition).and_then(|t| on_alert.call1(py, (t,)));
                    if let Err(e) = called {
                        e.write_unraisable(py, None);
                    }
                });
            });
        }
        if config.sinks.is_empty() {
            return Err(CoreError(sonde_core::Error::invalid_config(
                "no destination for events: pass store=\"sonde.db\", console=True, jsonl=\"events.jsonl\" or sink=callable",
            ))
            .into());
        }
        let send_may_wait = matches!(config.overflow, OverflowPolicy::Block(_));
        let sonde = py.detach(|| Sonde::new(config)).map_err(CoreError)?;
        self.options.insert(
            "anonymous_id".to_owned(),
            Value::String(sonde.anonymous_id().to_owned()),
        );
        Ok(Engine {
            sonde,
            store,
            send_may_wait,
        })
    }
}

/// Calls the Python sink with the batch as a list of dicts. An exception is a retryable
/// failure (the pipeline backs off and tries again); a finalizing interpreter too.
fn deliver_to_python(sink: &Py<PyAny>, batch: &SinkBatch<'_>) -> Result<(), SinkError> {
    let values = batch.to_values();
    Python::try_attach(|py| {
        let events = PyList::empty(py);
        for v in &values {
            events
                .append(to_python(py, v).map_err(|e| SinkError::retryable(e.to_string()))?)
                .map_err(|e| SinkError::retryable(e.to_string()))?;
        }
        sink.call1(py, (events,))
            .map(|_| ())
            .map_err(|e| SinkError::retryable(format!("the Python sink raised {e}")))
    })
    .unwrap_or_else(|| {
        Err(SinkError::retryable(
            "the Python interpreter is shutting down",
        ))
    })
}
