//! The core's HTTP layer for Python adapters: `RequestRecorder` (what the ASGI middleware
//! records) and `HttpApi` (the analytics endpoints). Conversion only: every decision is in
//! `sonde_core::http`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
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

    /// Starts timing an ASGI request: the `Exchange` the middleware passes to the app as its
    /// `send`, or `None` when the scope is not HTTP or the request is excluded (the app then
    /// runs untouched). One native call and one native `send` per message instead of Python
    /// frames: the middleware's own cost is most of what it adds to a request.
    fn begin(
        slf: &Bound<'_, Self>,
        scope: &Bound<'_, PyDict>,
        send: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Exchange>> {
        let py = scope.py();
        let is_http = match scope.get_item(pyo3::intern!(py, "type"))? {
            Some(kind) => kind.cast::<PyString>()?.to_str()? == "http",
            None => false,
        };
        if !is_http {
            return Ok(None);
        }
        let method = scope_text(scope, pyo3::intern!(py, "method"))?;
        let path = scope_text(scope, pyo3::intern!(py, "path"))?;
        let recorder = slf.get();
        if recorder.inner.excludes(&method, &path) {
            return Ok(None);
        }
        Ok(Some(Exchange {
            recorder: slf.clone().unbind(),
            scope: scope.clone().unbind(),
            server_send: send.clone().unbind(),
            started: Instant::now(),
            add_header: recorder.inner.process_time_header(),
            may_have_body: may_have_body(scope)?,
            status: AtomicU32::new(NO_STATUS),
            first_byte_ns: AtomicU64::new(0),
            last_chunk_ns: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
        }))
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

/// `status` before a response starts.
const NO_STATUS: u32 = u32::MAX;

/// One ASGI request in flight: its clocks and byte counts. Called as the app's `send`, it
/// keeps them and hands each message on to the server's `send` (returning its awaitable);
/// `finish` records the request. The counters are atomics only because the class is shared
/// with Python: one request's messages come from one task.
#[pyclass(frozen, module = "sonde._native", name = "Exchange")]
pub struct Exchange {
    recorder: Py<RequestRecorder>,
    scope: Py<PyDict>,
    server_send: Py<PyAny>,
    started: Instant,
    add_header: bool,
    may_have_body: bool,
    status: AtomicU32,
    /// Nanoseconds after `started` (0: not yet).
    first_byte_ns: AtomicU64,
    last_chunk_ns: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

#[pymethods]
impl Exchange {
    /// Whether the request may have a body (HTTP/1 declares one with a `Content-Length`
    /// above 0 or chunked encoding; HTTP/2 and 3 need not): only then is `receive` wrapped
    /// to count it.
    #[getter]
    fn may_have_body(&self) -> bool {
        self.may_have_body
    }

    /// The app's `send`. A message this cannot read is passed on as it is: instrumentation
    /// never breaks a response.
    fn __call__(&self, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(message) = message.cast::<PyDict>() {
            self.observe(message);
        }
        Ok(self
            .server_send
            .bind(message.py())
            .call1((message,))?
            .unbind())
    }

    /// Counts a message the server's `receive` returned.
    fn received(&self, message: &Bound<'_, PyAny>) {
        let py = message.py();
        let Ok(message) = message.cast::<PyDict>() else {
            return;
        };
        let kind = dict_string(message, pyo3::intern!(py, "type"));
        if kind.as_ref().and_then(|k| k.to_str().ok()) == Some("http.request") {
            self.received
                .fetch_add(body_len(message), Ordering::Relaxed);
        }
    }

    /// Records the finished request with `client` (`error_*` when the app raised; no
    /// status is recorded then, as Starlette's outer middleware turns it into a 500).
    #[pyo3(signature = (client, error_type=None, error_message=None, error_stack=None, user_id=None))]
    fn finish(
        &self,
        client: &Bound<'_, Client>,
        error_type: Option<String>,
        error_message: Option<String>,
        error_stack: Option<String>,
        user_id: Option<String>,
    ) -> PyResult<()> {
        let py = client.py();
        let scope = self.scope.bind(py);
        let failed = error_type.is_some();
        let status = self.status.load(Ordering::Relaxed);
        let ms = |ns: u64| ns as f64 / 1e6;
        let last_chunk = self.last_chunk_ns.load(Ordering::Relaxed);
        let first_byte = self.first_byte_ns.load(Ordering::Relaxed);
        let peer_address = match scope.get_item(pyo3::intern!(py, "client"))? {
            Some(peer) if !peer.is_none() => Some(peer.get_item(0)?.extract::<String>()?),
            _ => None,
        };
        let facts = RequestFacts {
            method: scope_text(scope, pyo3::intern!(py, "method"))?,
            path: scope_text(scope, pyo3::intern!(py, "path"))?,
            route: route_template(scope)?,
            status_code: u16::try_from(status).ok().filter(|_| !failed),
            duration_ms: ms(if last_chunk > 0 {
                last_chunk
            } else {
                self.elapsed_ns()
            }),
            ttfb_ms: (first_byte > 0).then(|| ms(first_byte)),
            peer_address,
            request_body_bytes: Some(self.received.load(Ordering::Relaxed)),
            response_body_bytes: Some(self.sent.load(Ordering::Relaxed)),
            error: RequestError::from_parts(error_type, error_message, error_stack),
            aborted: false,
            user_id,
            ..RequestFacts::default()
        };
        let headers = scope.get_item(pyo3::intern!(py, "headers"))?;
        self.recorder
            .get()
            .record_facts(client, facts, headers.as_ref())
    }
}

impl Exchange {
    /// Nanoseconds since the request began (at least 1, so 0 can mean "not yet").
    fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Keeps what a `send` message says: the status and first byte at the response's
    /// start (adding `X-Process-Time` when asked), the body's size and last chunk after.
    fn observe(&self, message: &Bound<'_, PyDict>) {
        let py = message.py();
        let kind = dict_string(message, pyo3::intern!(py, "type"));
        match kind.as_ref().and_then(|k| k.to_str().ok()) {
            Some("http.response.body") => {
                self.sent.fetch_add(body_len(message), Ordering::Relaxed);
                let more = message
                    .get_item(pyo3::intern!(py, "more_body"))
                    .ok()
                    .flatten()
                    .is_some_and(|more| more.is_truthy().unwrap_or(false));
                if !more {
                    self.last_chunk_ns
                        .store(self.elapsed_ns(), Ordering::Relaxed);
                }
            }
            Some("http.response.start") => {
                let status = message
                    .get_item(pyo3::intern!(py, "status"))
                    .ok()
                    .flatten()
                    .and_then(|status| status.extract::<u16>().ok());
                self.status
                    .store(status.map_or(NO_STATUS, u32::from), Ordering::Relaxed);
                let first_byte = self.elapsed_ns();
                self.first_byte_ns.store(first_byte, Ordering::Relaxed);
                if self.add_header {
                    // Unreadable headers are left as they are rather than failing the response.
                    let _ = add_process_time(message, first_byte);
                }
            }
            _ => {}
        }
    }
}

/// `message[key]`, when it is a string (read with `to_str`, which borrows it: no copy).
fn dict_string<'py>(
    message: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> Option<Bound<'py, PyString>> {
    let value = message.get_item(key).ok().flatten()?;
    value.cast_into::<PyString>().ok()
}

/// The size of a message's `body` (0 when it has none or it is not bytes-like).
fn body_len(message: &Bound<'_, PyDict>) -> u64 {
    message
        .get_item(pyo3::intern!(message.py(), "body"))
        .ok()
        .flatten()
        .and_then(|body| body.len().ok())
        .map_or(0, |n| n as u64)
}

/// Appends `X-Process-Time` (seconds, when the response started) to a start message.
fn add_process_time(message: &Bound<'_, PyDict>, elapsed_ns: u64) -> PyResult<()> {
    let py = message.py();
    let key = pyo3::intern!(py, "headers");
    let headers = match message.get_item(key)? {
        Some(headers) => PyList::new(py, headers.try_iter()?.collect::<PyResult<Vec<_>>>()?)?,
        None => PyList::empty(py),
    };
    let elapsed = format!("{:.6}", elapsed_ns as f64 / 1e9);
    headers.append((
        PyBytes::new(py, b"x-process-time"),
        PyBytes::new(py, elapsed.as_bytes()),
    ))?;
    message.set_item(key, headers)
}

/// Whether an ASGI request may have a body: HTTP/1 requests declare one (`Content-Length`
/// above 0, or chunked); HTTP/2 and 3 need not, so theirs are always counted.
fn may_have_body(scope: &Bound<'_, PyDict>) -> PyResult<bool> {
    let py = scope.py();
    if let Some(version) = dict_string(scope, pyo3::intern!(py, "http_version")) {
        if !version.to_str()?.starts_with('1') {
            return Ok(true);
        }
    }
    let Some(headers) = scope.get_item(pyo3::intern!(py, "headers"))? else {
        return Ok(false);
    };
    for pair in headers.try_iter()? {
        let pair = pair?;
        let name = pair.get_item(0)?;
        match name.cast::<PyBytes>()?.as_bytes() {
            b"content-length" => {
                let value = pair.get_item(1)?;
                let value = value.cast::<PyBytes>()?.as_bytes().trim_ascii();
                return Ok(!value.is_empty() && value != b"0");
            }
            b"transfer-encoding" => return Ok(true),
            _ => {}
        }
    }
    Ok(false)
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
fn scope_text(scope: &Bound<'_, PyDict>, key: &Bound<'_, PyString>) -> PyResult<String> {
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
