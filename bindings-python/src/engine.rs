//! What a Python client is built from (its spec) and what it runs (its engine): kept apart
//! so a forked child can build a fresh engine from the same spec.

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{Map, Value};
use sonde_core::config::{
    merge_option_changes, options_from_environment, renamed_in_seconds, server_options,
    with_unit_problems, Destinations, DESTINATION_OPTIONS,
};
use sonde_core::sink::{CallbackSink, SinkBatch, SinkError};
use sonde_core::store::Store;
use sonde_core::{Config, OverflowPolicy, Sonde};

use crate::convert::{serialized, to_json, to_python};
use crate::errors::CoreError;
use crate::report::{self, Reporter};

/// Everything needed to build an engine. Only touched with the GIL held.
pub struct Spec {
    /// The core options (`Config::from_options`), with the anonymous id pinned after the
    /// first build so a forked child keeps it.
    options: Map<String, Value>,
    /// Store, console and JSON-lines destinations (the core reads them from the options).
    destinations: Destinations,
    sink: Option<Py<PyAny>>,
    on_alert: Option<Py<PyAny>>,
    before_send: Option<Py<PyAny>>,
    /// The `sonde` logger and `on_error`.
    reporter: Arc<Reporter>,
    /// Super properties registered at run time, copied before a fork.
    pub super_properties: Map<String, Value>,
}

/// A running client and the store it writes to, if any.
pub struct Engine {
    pub sonde: Sonde,
    pub store: Option<Arc<dyn Store>>,
    /// Whether sending can wait for room in the buffer (overflow policy `block`): only then
    /// must a send give up the GIL, since a Python sink may need it to make room.
    pub send_may_wait: bool,
    /// How long dropping the client may spend delivering what is left.
    pub drop_timeout: Duration,
    /// Where refused events are reported (`on_invalid="warn"`).
    pub reporter: Arc<Reporter>,
}

/// Options handled by the Python layer itself (functions and exit behaviour); everything
/// else goes to the core, destinations included.
const BINDING_OPTIONS: &[&str] = &[
    "sink",
    "on_alert",
    "on_error",
    "before_send",
    "flush_at_exit",
    "exit_timeout",
];

/// An option value as JSON; paths (`os.PathLike`) become their text.
fn option_value(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    if value.hasattr("__fspath__")? {
        let text = value.py().import("os")?.call_method1("fspath", (value,))?;
        return to_json(&text);
    }
    to_json(value)
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
            destinations: self.destinations.clone(),
            sink: self.sink.as_ref().map(|s| s.clone_ref(py)),
            on_alert: self.on_alert.as_ref().map(|s| s.clone_ref(py)),
            before_send: self.before_send.as_ref().map(|s| s.clone_ref(py)),
            reporter: Arc::clone(&self.reporter),
            super_properties: self.super_properties.clone(),
        }
    }

    /// The core options in force.
    pub fn core_options(&self) -> &Map<String, Value> {
        &self.options
    }

    /// Merges new core options (`null` removes one), in the core's spelling. Destinations
    /// and the binding's own options cannot change at run time: the first such name is the
    /// error.
    pub fn merge_options(&mut self, options: &Map<String, Value>) -> Result<(), String> {
        merge_option_changes(&mut self.options, options, |k| {
            BINDING_OPTIONS.contains(&k) || DESTINATION_OPTIONS.contains(&k)
        })
        .map_err(|fixed| fixed.into_iter().next().unwrap_or_default())
    }

    /// Splits keyword options into the binding's own, the destinations and the core's,
    /// completed as every server binding's are (`server_options`: the `SONDE_*`
    /// environment beneath, a person required, invalid events raising under pytest).
    /// Unknown `SONDE_*` names are logged as warnings.
    pub fn from_kwargs(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut spec = Spec {
            options: Map::new(),
            destinations: Destinations::default(),
            sink: None,
            on_alert: None,
            before_send: None,
            reporter: Arc::new(Reporter::new(py, None)?),
            super_properties: Map::new(),
        };
        let mut on_error = None;
        if let Some(kwargs) = kwargs {
            for (key, value) in kwargs.iter() {
                let key: String = key.extract()?;
                match key.as_str() {
                    _ if value.is_none() && BINDING_OPTIONS.contains(&key.as_str()) => {}
                    "sink" => spec.sink = Some(callable(&value, "sink")?),
                    "on_alert" => spec.on_alert = Some(callable(&value, "on_alert")?),
                    "on_error" => on_error = Some(callable(&value, "on_error")?),
                    "before_send" => spec.before_send = Some(callable(&value, "before_send")?),
                    "flush_at_exit" | "exit_timeout" => {}
                    _ => {
                        spec.options.insert(key, option_value(&value)?);
                    }
                }
            }
        }
        spec.reporter = Arc::new(Reporter::new(py, on_error)?);
        let environment = options_from_environment(std::env::vars()).map_err(CoreError)?;
        for warning in &environment.warnings {
            spec.reporter.log(py, "warning", warning);
        }
        let (explicit, unit_problems) = renamed_in_seconds(std::mem::take(&mut spec.options));
        let under_pytest = std::env::var_os("PYTEST_CURRENT_TEST").is_some();
        spec.options = server_options(explicit, environment.options, under_pytest);
        spec.destinations =
            with_unit_problems(unit_problems, Destinations::take_from(&mut spec.options))
                .map_err(CoreError)?;
        Ok(spec)
    }

    /// Builds a client from this spec: opens the store, creates the sinks, starts the worker.
    pub fn build(&mut self, py: Python<'_>) -> PyResult<Engine> {
        self.build_replacing(py, None)
    }

    /// Builds the engine that replaces one whose store is `open` (used again, not reopened).
    pub fn build_replacing(
        &mut self,
        py: Python<'_>,
        open: Option<Arc<dyn Store>>,
    ) -> PyResult<Engine> {
        let mut config = Config::default()
            .for_binding(&self.options, ("sonde-python", env!("CARGO_PKG_VERSION")))
            .map_err(CoreError)?;
        for (k, v) in &self.super_properties {
            config.super_properties.insert(k.clone(), v.clone());
        }
        let sink = self.sink.as_ref().map(|s| s.clone_ref(py));
        let on_alert = self.on_alert.as_ref().map(|s| s.clone_ref(py));
        if let Some(hook) = self.before_send.as_ref().map(|s| s.clone_ref(py)) {
            let reporter = Arc::clone(&self.reporter);
            config.before_send = Some(Arc::new(move |message| {
                report::before_send(&hook, &reporter, message)
            }));
        }
        let reporter = Arc::clone(&self.reporter);
        config = config.on_notice(move |notice| reporter.notice(notice));
        let drop_timeout = config.drop_timeout;
        let mut send_may_wait = false;
        let add_python = |mut config: Config| {
            if let Some(sink) = sink {
                config = config.sink(CallbackSink::new("python", move |batch: &SinkBatch<'_>| {
                    deliver_to_python(&sink, batch)
                }));
            }
            if let Some(on_alert) = on_alert {
                config = config.on_alert(move |transition| {
                    let _ = Python::try_attach(|py| {
                        let called =
                            serialized(py, transition).and_then(|t| on_alert.call1(py, (t,)));
                        if let Err(e) = called {
                            e.write_unraisable(py, None);
                        }
                    });
                });
            }
            send_may_wait = matches!(config.overflow, OverflowPolicy::Block(_));
            Ok(config)
        };
        let destinations = &self.destinations;
        let (sonde, store) = py
            .detach(|| {
                destinations.rebuild_client(
                    config,
                    add_python,
                    "store=\"sonde.db\", console=True, jsonl=\"events.jsonl\", sink=callable, or disabled=True to validate and send nothing",
                    open,
                )
            })
            .map_err(CoreError)?;
        self.options.insert(
            "anonymous_id".to_owned(),
            Value::String(sonde.anonymous_id().to_owned()),
        );
        Ok(Engine {
            sonde,
            store,
            send_may_wait,
            drop_timeout,
            reporter: Arc::clone(&self.reporter),
        })
    }
}

/// Calls the Python sink with the batch as a list of dicts. An exception is a retryable
/// failure (the pipeline backs off and tries again); a finalizing interpreter too.
fn deliver_to_python(sink: &Py<PyAny>, batch: &SinkBatch<'_>) -> Result<(), SinkError> {
    let values = batch.to_values()?;
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
