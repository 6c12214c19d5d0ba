//! The core's HTTP layer for Python adapters: `RequestRecorder` (what the ASGI middleware
//! records) and `HttpApi` (the analytics endpoints). Conversion only: every decision is in
//! `sonde_core::http`.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use serde_json::{Map, Value};
use sonde_core::config::merge_option_changes;
use sonde_core::http::{
    runs_inline_for, Api, ApiHost, HttpRequest, RequestError, RequestFacts,
    RequestRecorder as CoreRecorder,
};
use sonde_core::store::Store;
use sonde_core::{Config, Error, ErrorKind, Sonde, Violation};

use crate::client::{Client, Reconfigure};
use crate::convert::to_json;
use crate::engine::Engine;
use crate::errors::CoreError;

/// How long `PUT /config` lets the replaced engine deliver what it holds.
const RECONFIGURE_TIMEOUT: Duration = Duration::from_secs(5);

fn options_value(options: Option<&Bound<'_, PyDict>>) -> PyResult<Value> {
    Ok(match options {
        Some(options) => to_json(options.as_any())?,
        None => Value::Object(Map::new()),
    })
}

/// Request recording rules (exclusion, sampling, client address, forwarded headers).
#[pyclass(frozen, module = "sonde._native", name = "RequestRecorder")]
pub struct RequestRecorder {
    inner: CoreRecorder,
}

#[pymethods]
impl RequestRecorder {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let inner = CoreRecorder::from_options(&options_value(options)?).map_err(CoreError)?;
        Ok(Self { inner })
    }

    /// Whether a request is left alone (not timed, not counted).
    fn excludes(&self, method: &str, path: &str) -> bool {
        self.inner.excludes(method, path)
    }

    /// Whether the middleware adds `X-Process-Time`.
    #[getter]
    fn process_time_header(&self) -> bool {
        self.inner.process_time_header()
    }

    /// Records one finished request (`status_code=None` when no response started).
    /// `headers` are the ASGI header pairs (lower-case bytes names): the user agent and the
    /// forwarding headers are read from them here, and only for requests sampled in.
    /// The facts are positional (keywords work too): the middleware calls this per request.
    #[pyo3(signature = (client, method, path, route, status_code, duration_ms, ttfb_ms=None, peer_address=None, headers=None, request_body_bytes=None, response_body_bytes=None, error_type=None, error_message=None, error_stack=None, aborted=false, user_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        client: &Bound<'_, Client>,
        method: String,
        path: String,
        route: Option<String>,
        status_code: Option<u16>,
        duration_ms: f64,
        ttfb_ms: Option<f64>,
        peer_address: Option<String>,
        headers: Option<&Bound<'_, PyAny>>,
        request_body_bytes: Option<u64>,
        response_body_bytes: Option<u64>,
        error_type: Option<String>,
        error_message: Option<String>,
        error_stack: Option<String>,
        aborted: bool,
        user_id: Option<String>,
    ) -> PyResult<()> {
        let facts = RequestFacts {
            method,
            path,
            route,
            status_code,
            duration_ms,
            ttfb_ms,
            peer_address,
            request_body_bytes,
            response_body_bytes,
            error: RequestError::from_parts(error_type, error_message, error_stack),
            aborted,
            user_id,
            ..RequestFacts::default()
        };
        self.record_facts(client, facts, headers)
    }

    /// `record` for an ASGI request: method, path, route template, peer and headers are read
    /// from the ASGI `scope` here, and the times are `time.perf_counter()` readings (seconds;
    /// `first_byte` 0 when no response started). One native call instead of a dozen Python
    /// steps per request.
    #[pyo3(signature = (client, scope, status_code, started, first_byte, finished, request_body_bytes, response_body_bytes, error_type=None, error_message=None, error_stack=None, user_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn record_asgi(
        &self,
        client: &Bound<'_, Client>,
        scope: &Bound<'_, PyDict>,
        status_code: Option<u16>,
        started: f64,
        first_byte: f64,
        finished: f64,
        request_body_bytes: u64,
        response_body_bytes: u64,
        error_type: Option<String>,
        error_message: Option<String>,
        error_stack: Option<String>,
        user_id: Option<String>,
    ) -> PyResult<()> {
        let py = scope.py();
        let peer_address = match scope.get_item(pyo3::intern!(py, "client"))? {
            Some(peer) if !peer.is_none() => Some(peer.get_item(0)?.extract::<String>()?),
            _ => None,
        };
        let facts = RequestFacts {
            method: scope_text(scope, pyo3::intern!(py, "method"))?,
            path: scope_text(scope, pyo3::intern!(py, "path"))?,
            route: route_template(scope)?,
            status_code,
            duration_ms: (finished - started) * 1000.0,
            ttfb_ms: (first_byte > 0.0).then_some((first_byte - started) * 1000.0),
            peer_address,
            request_body_bytes: Some(request_body_bytes),
            response_body_bytes: Some(response_body_bytes),
            error: RequestError::from_parts(error_type, error_message, error_stack),
            aborted: false,
            user_id,
            ..RequestFacts::default()
        };
        let headers = scope.get_item(pyo3::intern!(py, "headers"))?;
        self.record_facts(client, facts, headers.as_ref())
    }
}

impl RequestRecorder {
    /// Hands `facts` to the core; the headers are read only for requests it samples in.
    fn record_facts(
        &self,
        client: &Bound<'_, Client>,
        facts: RequestFacts,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let mut unreadable = None;
        self.inner
            .record_with(&client.get().engine().sonde, facts, |facts| {
                if let Some(headers) = headers {
                    unreadable = read_headers(headers, facts).err();
                }
            });
        unreadable.map_or(Ok(()), Err)
    }
}

/// The template of the route the framework matched (Starlette's `scope["route"]`:
/// `path_format`, else `path`), or `None`.
fn route_template(scope: &Bound<'_, PyDict>) -> PyResult<Option<String>> {
    let py = scope.py();
    let Some(route) = scope.get_item(pyo3::intern!(py, "route"))? else {
        return Ok(None);
    };
    // Interned: names built per call cost more than the lookups.
    for attribute in [pyo3::intern!(py, "path_format"), pyo3::intern!(py, "path")] {
        if let Ok(template) = route.getattr(attribute) {
            if let Ok(text) = template.extract::<String>() {
                if !text.is_empty() {
                    return Ok(Some(text));
                }
            }
        }
    }
    Ok(None)
}

/// `scope[key]` as text.
fn scope_text(
    scope: &Bound<'_, PyDict>,
    key: &Bound<'_, pyo3::types::PyString>,
) -> PyResult<String> {
    match scope.get_item(key)? {
        Some(value) => value.extract(),
        None => Err(pyo3::exceptions::PyKeyError::new_err(key.clone().unbind())),
    }
}

/// Header bytes as text: Latin-1, as ASGI servers decode them.
fn latin1(value: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(value
        .cast::<PyBytes>()?
        .as_bytes()
        .iter()
        .map(|&b| char::from(b))
        .collect())
}

/// The user agent (first) and the forwarding headers (repeated ones joined in order, as
/// one list) from ASGI header pairs.
fn read_headers(headers: &Bound<'_, PyAny>, facts: &mut RequestFacts) -> PyResult<()> {
    for pair in headers.try_iter()? {
        let pair = pair?;
        let name = pair.get_item(0)?;
        let name = name.cast::<PyBytes>()?.as_bytes();
        let slot = match name {
            b"user-agent" if facts.user_agent.is_none() => &mut facts.user_agent,
            b"forwarded" => &mut facts.forwarded,
            b"x-forwarded-for" => &mut facts.x_forwarded_for,
            _ => continue,
        };
        let text = latin1(&pair.get_item(1)?)?;
        match slot {
            Some(list) => {
                list.push_str(", ");
                list.push_str(&text);
            }
            None => *slot = Some(text),
        }
    }
    Ok(())
}

/// A Python client as the API's host, with the engine that was current when the request
/// came in.
struct PythonHost<'a> {
    client: &'a Client,
    engine: Arc<Engine>,
}

impl ApiHost for PythonHost<'_> {
    fn sonde(&self) -> &Sonde {
        &self.engine.sonde
    }

    fn store(&self) -> Option<&dyn Store> {
        self.engine.store.as_deref()
    }

    fn options(&self) -> Value {
        Value::Object(self.client.core_options())
    }

    fn reconfigure(&self, changes: &Map<String, Value>) -> Result<(), Error> {
        // Refused options are reported with every violation before anything is rebuilt.
        let mut merged = self.client.core_options();
        // Nothing is fixed here: fixed names are refused by `reconfigure_with` below.
        let _ = merge_option_changes(&mut merged, changes, |_| false);
        Python::attach(|py| {
            match self
                .client
                .reconfigure_with(py, changes, RECONFIGURE_TIMEOUT)
            {
                Ok(()) => Ok(()),
                Err(Reconfigure::Fixed(key)) => Err(Error::with_violations(
                    ErrorKind::InvalidConfig,
                    vec![Violation::new(
                        format!("/{key}"),
                        sonde_core::codes::INVALID_OPTION,
                        format!("{key} cannot change at run time: create a new client"),
                    )],
                )),
                Err(Reconfigure::Failed(e)) => Err(Config::from_options(&Value::Object(merged))
                    .err()
                    .unwrap_or_else(|| Error::invalid_config(e.to_string()))),
            }
        })
    }
}

/// `(status, [(name, value)], body)`, as the adapter turns it into a Starlette response.
type Answer<'py> = (u16, Vec<(String, String)>, Bound<'py, PyBytes>);

/// The analytics API over a client.
#[pyclass(frozen, module = "sonde._native", name = "HttpApi")]
pub struct HttpApi {
    api: Api,
    client: Py<Client>,
}

#[pymethods]
impl HttpApi {
    #[new]
    #[pyo3(signature = (client, **options))]
    fn new(client: Py<Client>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let api = Api::new(&options_value(options)?).map_err(CoreError)?;
        Ok(Self { api, client })
    }

    /// The body limit in bytes: stop reading one byte past it.
    fn body_limit(&self) -> usize {
        self.api.body_limit(&self.client.get().engine().sonde)
    }

    /// Whether a route only validates and enqueues, and cannot wait (fine on the event
    /// loop); with overflow `block` ingestion can wait, so it runs on the thread pool.
    fn runs_inline(&self, method: &str, path: &str) -> bool {
        runs_inline_for(&self.client.get().engine().sonde, method, path)
    }

    /// Answers one request: `(status, [(name, value)], body)`; `headers` are the ASGI
    /// header pairs (bytes). The core's work runs without the GIL.
    fn handle<'py>(
        &self,
        py: Python<'py>,
        method: String,
        path: String,
        query: String,
        headers: &Bound<'py, PyAny>,
        body: Vec<u8>,
    ) -> PyResult<Answer<'py>> {
        let mut pairs = Vec::new();
        for pair in headers.try_iter()? {
            let pair = pair?;
            pairs.push((latin1(&pair.get_item(0)?)?, latin1(&pair.get_item(1)?)?));
        }
        let request = HttpRequest {
            method,
            path,
            query,
            headers: pairs,
            body,
        };
        let client = self.client.get();
        let host = PythonHost {
            client,
            engine: client.engine_handle(),
        };
        let response = py.detach(|| self.api.handle(&host, &request));
        Ok((
            response.status,
            response.headers,
            PyBytes::new(py, &response.body),
        ))
    }
}
