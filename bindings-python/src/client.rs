//! The `Client` class (`sonde.Sonde` subclasses it in Python): converts arguments, then runs
//! core work with the GIL released.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use serde_json::{Map, Value};
use sonde_core::codes;
use sonde_core::config::options_in_seconds;
use sonde_core::event::reserved::{ApiRequest, ErrorEvent, Interaction, Performance};
use sonde_core::event::Envelope;
use sonde_core::stats::ExpositionFormat;
use sonde_core::store::{Bucket, Deletion, EventQuery, Store, TimeRange};
use sonde_core::{Error, ErrorKind, Message, MessageType, Timestamp};

use crate::convert::{optional_object, serialized, to_json, to_object, to_python};
use crate::engine::{Engine, Spec};
use crate::errors::{bad_argument, CoreError};
use crate::slot::{EngineGuard, EngineSlot};

/// The native client: the spec it was built from and the engine running it.
#[pyclass(subclass, frozen, module = "sonde._native", name = "Client")]
pub struct Client {
    engine: EngineSlot,
    spec: Mutex<Spec>,
}

impl Drop for Client {
    fn drop(&mut self) {
        // Dropping shuts down with the drop timeout: without the GIL, so a Python sink can
        // still run meanwhile. (Engines replaced earlier were shut down when replaced.)
        let engine = self.engine.load_full();
        Python::attach(|py| {
            py.detach(move || {
                let _ = engine.sonde.shutdown(engine.drop_timeout);
            })
        });
    }
}

/// The identity and envelope keyword arguments every event method takes, as the core's
/// [`Envelope`].
fn envelope(
    user_id: Option<String>,
    anonymous_id: Option<String>,
    session_id: Option<String>,
    message_id: Option<String>,
    timestamp: Option<&Bound<'_, PyAny>>,
    context: Option<&Bound<'_, PyAny>>,
) -> PyResult<Envelope> {
    Ok(Envelope {
        user_id,
        anonymous_id,
        session_id,
        message_id,
        timestamp: timestamp.map(event_time).transpose()?,
        context: optional_object(context, "context")?,
    })
}

/// An event's timestamp (`/timestamp`, `timestamp_invalid`).
fn event_time(value: &Bound<'_, PyAny>) -> PyResult<Timestamp> {
    timestamp_of(
        value,
        ErrorKind::InvalidEvent,
        "/timestamp",
        codes::TIMESTAMP_INVALID,
    )
}

/// A query's time bound (`invalid_query`, as the core's query reader reports them).
fn query_time(value: &Bound<'_, PyAny>, path: &str) -> PyResult<Timestamp> {
    timestamp_of(value, ErrorKind::InvalidConfig, path, codes::INVALID_QUERY)
}

/// A timestamp from an RFC 3339 string or a timezone-aware `datetime`; refused as the
/// core's error of `kind` with one violation at `path`.
fn timestamp_of(
    value: &Bound<'_, PyAny>,
    kind: ErrorKind,
    path: &str,
    code: &str,
) -> PyResult<Timestamp> {
    let bad = |message: String| bad_argument(kind, path, code, message);
    if value.hasattr("tzinfo")? && value.getattr("tzinfo")?.is_none() {
        return Err(bad(
            "timestamp must be timezone-aware (datetime.now(timezone.utc)), not naive".to_owned(),
        ));
    }
    match to_json(value)? {
        Value::String(s) => Timestamp::parse(&s).ok_or_else(|| {
            bad(format!(
                "timestamp must be an RFC 3339 date-time, got {s:?}"
            ))
        }),
        other => Err(bad(format!(
            "timestamp must be a datetime or an RFC 3339 string, got {other}"
        ))),
    }
}

/// The message with its properties from a dict, written straight to JSON text with the
/// client's writer (which applies its depth, key-length and redaction rules as it writes,
/// so the core neither builds a map nor reads the text again).
fn with_properties(
    sonde: &sonde_core::Sonde,
    message: Message,
    properties: Option<&Bound<'_, PyAny>>,
) -> PyResult<Message> {
    let Some(properties) = properties.filter(|p| !p.is_none()) else {
        return Ok(message);
    };
    let mut writer = sonde.object_writer();
    if let Err(refused) = crate::convert::write_object(properties, "properties", &mut writer) {
        // What else is wrong with the event (its name, say) joins the refusal, from a dry
        // run without the properties; a tracking plan's checks of the properties are left
        // out, since they would only miss what was refused.
        let mut rest = sonde.validate(&message).errors;
        rest.retain(|v| !v.path.starts_with("/properties"));
        return Err(crate::convert::joined(rest, refused));
    }
    let written = writer.finish("properties").map_err(CoreError)?;
    Ok(message.with_written_properties(written))
}

fn seconds(timeout: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(timeout).map_err(|_| {
        bad_argument(
            ErrorKind::InvalidConfig,
            "/timeout",
            codes::INVALID_OPTION,
            format!("timeout must be a non-negative number of seconds, got {timeout}"),
        )
    })
}

fn no_store() -> CoreError {
    CoreError(Error::new(
        ErrorKind::Unsupported,
        "this client has no store: pass store=\"sonde.db\"",
    ))
}

/// Query filters from keyword arguments (`from_` is accepted for `from`; datetimes become
/// RFC 3339 text).
/// Keyword filters as the core's query document; `None` values are kept (as `null`) only
/// when `keep_none`: a delete refuses them by name, a search leaves them out.
fn filter_doc(filters: Option<&Bound<'_, PyDict>>, keep_none: bool) -> PyResult<Value> {
    let mut doc = Map::new();
    for (k, v) in filters.into_iter().flat_map(|f| f.iter()) {
        let key: String = k.extract()?;
        if v.is_none() && !keep_none {
            continue;
        }
        let key = match key.as_str() {
            "from_" => "from".to_owned(),
            "type_" => "type".to_owned(),
            _ => key,
        };
        doc.insert(key, to_json(&v)?);
    }
    Ok(Value::Object(doc))
}

fn query_of(filters: Option<&Bound<'_, PyDict>>) -> PyResult<EventQuery> {
    Ok(EventQuery::from_value(&filter_doc(filters, false)?).map_err(CoreError)?)
}

/// Why `reconfigure` changed nothing.
pub enum Reconfigure {
    /// An option that cannot change at run time (a destination or a binding option).
    Fixed(String),
    /// The new options were refused, or the new engine could not be built.
    Failed(PyErr),
}

impl Client {
    /// Builds a new engine with `changes` merged into the options and swaps it in; the
    /// previous one delivers what it holds (waiting at most `timeout`).
    pub fn reconfigure_with(
        &self,
        py: Python<'_>,
        changes: &Map<String, Value>,
        timeout: Duration,
    ) -> Result<(), Reconfigure> {
        // Work on a copy: building detaches from the interpreter, and holding the spec's
        // lock meanwhile could deadlock another thread waiting for it with the GIL.
        let mut spec = self
            .spec
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone_ref(py);
        spec.super_properties = self.engine().sonde.super_properties();
        spec.merge_options(changes).map_err(Reconfigure::Fixed)?;
        let engine = spec
            .build_replacing(py, self.engine().store.clone())
            .map_err(Reconfigure::Failed)?;
        *self.spec.lock().unwrap_or_else(PoisonError::into_inner) = spec;
        // The new engine's statistics continue the old one's: counters never go back.
        engine.sonde.continue_from(&self.engine().sonde);
        let old = self.engine.replace(engine);
        // Retired for real: drained, then its worker, alert timer and outbox sender stop
        // (left running, each change added a worker and repeated every $alert). It is freed
        // when the last call still using it ends; its store is the new engine's, not a
        // second connection.
        let retired = py.detach(|| old.sonde.shutdown(timeout));
        self.engine().sonde.settle_predecessor();
        retired.map_err(|e| Reconfigure::Failed(CoreError(e).into()))
    }

    /// The core options in force.
    pub fn core_options(&self) -> Map<String, Value> {
        self.spec
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .core_options()
            .clone()
    }

    /// The current engine, for the length of one call.
    pub(crate) fn engine(&self) -> EngineGuard {
        self.engine.load()
    }

    /// The current engine as an owned handle (the HTTP layer keeps it for a request).
    pub(crate) fn engine_handle(&self) -> Arc<Engine> {
        self.engine.load_full()
    }

    fn store(&self) -> Result<Arc<dyn Store>, CoreError> {
        self.engine().store.clone().ok_or_else(no_store)
    }

    /// Validates and enqueues: about a microsecond, never I/O. Releasing the GIL for that
    /// would cost more than it saves and hand the GIL to any waiting thread for up to the
    /// switch interval, so the GIL is released only when the send can wait (`block`).
    fn send(&self, py: Python<'_>, message: Message) -> PyResult<String> {
        let engine = self.engine();
        let receipt = if engine.send_may_wait {
            py.detach(|| engine.sonde.send(message))
        } else {
            engine.sonde.send(message)
        };
        Ok(receipt.map_err(CoreError)?.message_id)
    }

    /// An event method's answer: its `messageId`, or what the `on_invalid` policy makes of
    /// a refusal (`event` rebuilds the event as given, for `on_error`, only then).
    fn settle<'py>(
        &self,
        py: Python<'py>,
        sent: PyResult<String>,
        event: impl FnOnce(Python<'py>) -> PyResult<Bound<'py, PyDict>>,
    ) -> PyResult<Option<String>> {
        match sent {
            Ok(id) => Ok(Some(id)),
            Err(error) => {
                let engine = self.engine();
                engine
                    .reporter
                    .refused(py, engine.sonde.invalid_policy(), error, event)
            }
        }
    }
}

/// An event as a tracking call was given it, for `on_error`: its type and the fields named.
fn given_event<'py>(
    py: Python<'py>,
    kind: &str,
    fields: &[(&str, Option<&Bound<'_, PyAny>>)],
) -> PyResult<Bound<'py, PyDict>> {
    let event = PyDict::new(py);
    event.set_item("type", kind)?;
    for (name, value) in fields {
        if let Some(value) = value {
            event.set_item(*name, value)?;
        }
    }
    Ok(event)
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut spec = Spec::from_kwargs(py, options)?;
        let engine = spec.build(py)?;
        Ok(Self {
            engine: EngineSlot::new(engine),
            spec: Mutex::new(spec),
        })
    }

    /// Changes core options at run time (sampling, tracking plan, batching, limits, ...):
    /// a new engine is built with the merged options and takes over; the previous one
    /// delivers what it holds (waiting at most `timeout` seconds). Destinations cannot
    /// change. A bad option raises `ConfigError` and changes nothing.
    #[pyo3(signature = (timeout=5.0, **options))]
    fn reconfigure(
        &self,
        py: Python<'_>,
        timeout: f64,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let timeout = seconds(timeout)?;
        let mut changes = Map::new();
        for (key, value) in options.into_iter().flatten() {
            changes.insert(key.extract::<String>()?, to_json(&value)?);
        }
        let changes = options_in_seconds(changes).map_err(CoreError)?;
        self.reconfigure_with(py, &changes, timeout)
            .map_err(|fixed| match fixed {
                Reconfigure::Fixed(key) => PyTypeError::new_err(format!(
                    "{key} cannot change at run time: create a new client"
                )),
                Reconfigure::Failed(e) => e,
            })
    }

    /// The core options in force (what `reconfigure` changes), as a dict.
    #[getter]
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let spec = self.spec.lock().unwrap_or_else(PoisonError::into_inner);
        to_python(py, &Value::Object(spec.core_options().clone()))
    }

    /// The size limits in force: `max_message_bytes`, `max_batch_bytes`,
    /// `max_batch_messages` (a collector refuses larger bodies before reading them).
    #[getter]
    fn limits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.engine();
        let limits = engine.sonde.validator().limits();
        let out = PyDict::new(py);
        out.set_item("max_message_bytes", limits.max_message_bytes)?;
        out.set_item("max_batch_bytes", limits.max_batch_bytes)?;
        out.set_item("max_batch_messages", limits.max_batch_messages)?;
        Ok(out.into_any())
    }

    /// Counts a served request in the route statistics without recording an event (for
    /// requests a middleware samples out).
    fn record_request(&self, method: &str, route: &str, status_code: u16, duration_ms: f64) {
        self.engine()
            .sonde
            .record_request(method, route, status_code, duration_ms);
    }

    /// Records a `track` event; returns its `messageId`.
    #[pyo3(signature = (event, properties=None, *, user_id=None, anonymous_id=None, session_id=None, message_id=None, timestamp=None, context=None))]
    #[allow(clippy::too_many_arguments)]
    fn track(
        &self,
        py: Python<'_>,
        event: &Bound<'_, PyString>,
        properties: Option<&Bound<'_, PyAny>>,
        user_id: Option<String>,
        anonymous_id: Option<String>,
        session_id: Option<String>,
        message_id: Option<String>,
        timestamp: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<String>> {
        let sent = (|| -> PyResult<String> {
            let envelope = envelope(
                user_id,
                anonymous_id,
                session_id,
                message_id,
                timestamp,
                context,
            )?;
            self.send(
                py,
                with_properties(
                    &self.engine().sonde,
                    envelope.apply(Message::track(event.to_str()?.to_owned(), Map::new())),
                    properties,
                )?,
            )
        })();
        self.settle(py, sent, |py| {
            given_event(
                py,
                "track",
                &[
                    ("event", Some(event.as_any())),
                    ("properties", properties),
                    ("context", context),
                ],
            )
        })
    }

    /// Records a `page` view; returns its `messageId`.
    #[pyo3(signature = (name=None, properties=None, *, user_id=None, anonymous_id=None, session_id=None, message_id=None, timestamp=None, context=None))]
    #[allow(clippy::too_many_arguments)]
    fn page(
        &self,
        py: Python<'_>,
        name: Option<&Bound<'_, PyString>>,
        properties: Option<&Bound<'_, PyAny>>,
        user_id: Option<String>,
        anonymous_id: Option<String>,
        session_id: Option<String>,
        message_id: Option<String>,
        timestamp: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<String>> {
        let sent = (|| -> PyResult<String> {
            let envelope = envelope(
                user_id,
                anonymous_id,
                session_id,
                message_id,
                timestamp,
                context,
            )?;
            self.send(
                py,
                with_properties(
                    &self.engine().sonde,
                    envelope.apply(Message::page(
                        name.map(|n| n.to_str().map(str::to_owned)).transpose()?,
                        Map::new(),
                    )),
                    properties,
                )?,
            )
        })();
        self.settle(py, sent, |py| {
            given_event(
                py,
                "page",
                &[
                    ("name", name.map(|n| n.as_any())),
                    ("properties", properties),
                    ("context", context),
                ],
            )
        })
    }

    /// Records a `screen` view; returns its `messageId`.
    #[pyo3(signature = (name=None, properties=None, *, user_id=None, anonymous_id=None, session_id=None, message_id=None, timestamp=None, context=None))]
    #[allow(clippy::too_many_arguments)]
    fn screen(
        &self,
        py: Python<'_>,
        name: Option<&Bound<'_, PyString>>,
        properties: Option<&Bound<'_, PyAny>>,
        user_id: Option<String>,
        anonymous_id: Option<String>,
        session_id: Option<String>,
        message_id: Option<String>,
        timestamp: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<String>> {
        let sent = (|| -> PyResult<String> {
            let envelope = envelope(
                user_id,
                anonymous_id,
                session_id,
                message_id,
                timestamp,
                context,
            )?;
            self.send(
                py,
                with_properties(
                    &self.engine().sonde,
                    envelope.apply(Message::screen(
                        name.map(|n| n.to_str().map(str::to_owned)).transpose()?,
                        Map::new(),
                    )),
                    properties,
                )?,
            )
        })();
        self.settle(py, sent, |py| {
            given_event(
                py,
                "screen",
                &[
                    ("name", name.map(|n| n.as_any())),
                    ("properties", properties),
                    ("context", context),
                ],
            )
        })
    }

    /// Ties a user to their traits; returns the `messageId`.
    #[pyo3(signature = (user_id, traits=None, *, anonymous_id=None, session_id=None, message_id=None, timestamp=None, context=None))]
    #[allow(clippy::too_many_arguments)]
    fn identify(
        &self,
        py: Python<'_>,
        user_id: &Bound<'_, PyString>,
        traits: Option<&Bound<'_, PyAny>>,
        anonymous_id: Option<String>,
        session_id: Option<String>,
        message_id: Option<String>,
        timestamp: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<String>> {
        let sent = (|| -> PyResult<String> {
            let traits = optional_object(traits, "traits")?;
            let envelope = envelope(
                None,
                anonymous_id,
                session_id,
                message_id,
                timestamp,
                context,
            )?;
            self.send(
                py,
                envelope.apply(Message::identify(user_id.to_str()?, traits)),
            )
        })();
        self.settle(py, sent, |py| {
            given_event(
                py,
                "identify",
                &[
                    ("userId", Some(user_id.as_any())),
                    ("traits", traits),
                    ("context", context),
                ],
            )
        })
    }

    /// Ties a user to a group (company, team); returns the `messageId`.
    #[pyo3(signature = (group_id, traits=None, *, user_id=None, anonymous_id=None, session_id=None, message_id=None, timestamp=None, context=None))]
    #[allow(clippy::too_many_arguments)]
    fn group(
        &self,
        py: Python<'_>,
        group_id: &Bound<'_, PyString>,
        traits: Option<&Bound<'_, PyAny>>,
        user_id: Option<String>,
        anonymous_id: Option<String>,
        session_id: Option<String>,
        message_id: Option<String>,
        timestamp: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<String>> {
        let sent = (|| -> PyResult<String> {
            let traits = optional_object(traits, "traits")?;
            let envelope = envelope(
                user_id,
                anonymous_id,
                session_id,
                message_id,
                timestamp,
                context,
            )?;
            self.send(
                py,
                envelope.apply(Message::group(group_id.to_str()?, traits)),
            )
        })();
        self.settle(py, sent, |py| {
            given_event(
                py,
                "group",
                &[
                    ("groupId", Some(group_id.as_any())),
                    ("traits", traits),
                    ("context", context),
                ],
            )
        })
    }

    /// Merges two identities: `previous_id` (an anonymous id, or the old user id) becomes
    /// `user_id`, in the order of Segment's and PostHog's Python SDKs; returns the
    /// `messageId`.
    #[pyo3(signature = (previous_id, user_id, *, message_id=None, timestamp=None, context=None))]
    fn alias(
        &self,
        py: Python<'_>,
        previous_id: &Bound<'_, PyString>,
        user_id: &Bound<'_, PyString>,
        message_id: Option<String>,
        timestamp: Option<&Bound<'_, PyAny>>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<String>> {
        let sent = (|| -> PyResult<String> {
            let envelope = envelope(None, None, None, message_id, timestamp, context)?;
            self.send(
                py,
                envelope.apply(Message::alias(user_id.to_str()?, previous_id.to_str()?)),
            )
        })();
        self.settle(py, sent, |py| {
            given_event(
                py,
                "alias",
                &[
                    ("previousId", Some(previous_id.as_any())),
                    ("userId", Some(user_id.as_any())),
                    ("context", context),
                ],
            )
        })
    }

    /// Records an `$api_request` event (and route statistics).
    #[pyo3(signature = (method, route, status_code, duration_ms, *, path=None, client_address=None, user_agent=None, request_body_size=None, response_body_size=None, error_type=None, ttfb_ms=None, user_id=None, anonymous_id=None, session_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn track_api_request(
        &self,
        py: Python<'_>,
        method: String,
        route: String,
        status_code: u16,
        duration_ms: f64,
        path: Option<String>,
        client_address: Option<String>,
        user_agent: Option<String>,
        request_body_size: Option<u64>,
        response_body_size: Option<u64>,
        error_type: Option<String>,
        ttfb_ms: Option<f64>,
        user_id: Option<String>,
        anonymous_id: Option<String>,
        session_id: Option<String>,
    ) -> PyResult<Option<String>> {
        let sent = (|| -> PyResult<String> {
            let request = ApiRequest {
                path,
                client_address,
                user_agent,
                request_body_size,
                response_body_size,
                error_type,
                ttfb_ms,
                ..ApiRequest::new(method, route, status_code, duration_ms)
            };
            let envelope = envelope(user_id, anonymous_id, session_id, None, None, None)?;
            self.send(py, envelope.apply(request.into_message()))
        })();
        self.settle(py, sent, |py| {
            let name = PyString::new(py, "$api_request");
            given_event(py, "track", &[("event", Some(name.as_any()))])
        })
    }

    /// Records a `$performance` event (and operation statistics).
    #[pyo3(signature = (operation, duration_ms, *, success=true, error_type=None, metadata=None, user_id=None, anonymous_id=None, session_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn track_performance(
        &self,
        py: Python<'_>,
        operation: String,
        duration_ms: f64,
        success: bool,
        error_type: Option<String>,
        metadata: Option<&Bound<'_, PyAny>>,
        user_id: Option<String>,
        anonymous_id: Option<String>,
        session_id: Option<String>,
    ) -> PyResult<Option<String>> {
        let sent = (|| -> PyResult<String> {
            let perf = Performance {
                error_type,
                metadata: optional_object(metadata, "metadata")?,
                ..Performance::new(operation, duration_ms, success)
            };
            let envelope = envelope(user_id, anonymous_id, session_id, None, None, None)?;
            self.send(py, envelope.apply(perf.into_message()))
        })();
        self.settle(py, sent, |py| {
            let name = PyString::new(py, "$performance");
            given_event(py, "track", &[("event", Some(name.as_any()))])
        })
    }

    /// Records an `$interaction` event.
    #[pyo3(signature = (action, target, *, path=None, value=None, user_id=None, anonymous_id=None, session_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn track_interaction(
        &self,
        py: Python<'_>,
        action: String,
        target: String,
        path: Option<String>,
        value: Option<&Bound<'_, PyAny>>,
        user_id: Option<String>,
        anonymous_id: Option<String>,
        session_id: Option<String>,
    ) -> PyResult<Option<String>> {
        let sent = (|| -> PyResult<String> {
            let interaction = Interaction {
                path,
                value: value.map(to_json).transpose()?,
                ..Interaction::new(action, target)
            };
            let envelope = envelope(user_id, anonymous_id, session_id, None, None, None)?;
            self.send(py, envelope.apply(interaction.into_message()))
        })();
        self.settle(py, sent, |py| {
            let name = PyString::new(py, "$interaction");
            given_event(py, "track", &[("event", Some(name.as_any()))])
        })
    }

    /// Records an `$error` event.
    #[pyo3(signature = (error_type, message, *, stack=None, route=None, user_id=None, anonymous_id=None, session_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn track_error(
        &self,
        py: Python<'_>,
        error_type: String,
        message: String,
        stack: Option<String>,
        route: Option<String>,
        user_id: Option<String>,
        anonymous_id: Option<String>,
        session_id: Option<String>,
    ) -> PyResult<Option<String>> {
        let sent = (|| -> PyResult<String> {
            let error = ErrorEvent {
                stack,
                route,
                ..ErrorEvent::new(error_type, message)
            };
            let envelope = envelope(user_id, anonymous_id, session_id, None, None, None)?;
            self.send(py, envelope.apply(error.into_message()))
        })();
        self.settle(py, sent, |py| {
            let name = PyString::new(py, "$error");
            given_event(py, "track", &[("event", Some(name.as_any()))])
        })
    }

    /// Takes a Segment-shaped request body (one message or `{"batch": [...]}`), validates
    /// every item, buffers the valid ones; returns per-item results.
    #[pyo3(signature = (body, *, default_type=None, dry_run=false))]
    fn ingest<'py>(
        &self,
        py: Python<'py>,
        body: &Bound<'py, PyAny>,
        default_type: Option<String>,
        dry_run: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bytes: Vec<u8> = if let Ok(b) = body.cast::<PyBytes>() {
            b.as_bytes().to_vec()
        } else if let Ok(s) = body.cast::<PyString>() {
            s.to_str()?.as_bytes().to_vec()
        } else {
            serde_json::to_vec(&to_json(body)?).map_err(|e| {
                bad_argument(
                    ErrorKind::InvalidEvent,
                    "",
                    codes::INVALID_JSON,
                    format!("cannot serialize the body: {e}"),
                )
            })?
        };
        let kind = match default_type {
            None => None,
            Some(t) => Some(MessageType::parse(&t).ok_or_else(|| {
                bad_argument(
                    ErrorKind::InvalidConfig,
                    "/default_type",
                    codes::INVALID_OPTION,
                    format!("default_type must be a message type, got {t:?}"),
                )
            })?),
        };
        let engine = self.engine();
        let report = py
            .detach(|| match (dry_run, kind) {
                (true, kind) => engine.sonde.validate_request(&bytes, kind),
                (false, Some(kind)) => engine.sonde.ingest_as(&bytes, kind),
                (false, None) => engine.sonde.ingest(&bytes),
            })
            .map_err(CoreError)?;
        serialized(py, &report)
    }

    /// Adds properties to every later `track`, `page` and `screen`.
    fn register(&self, properties: &Bound<'_, PyAny>) -> PyResult<()> {
        self.engine()
            .sonde
            .register(to_object(properties, "properties")?);
        Ok(())
    }

    /// Removes one super property.
    fn unregister(&self, key: &str) {
        self.engine().sonde.unregister(key);
    }

    /// The current super properties.
    #[getter]
    fn super_properties<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &Value::Object(self.engine().sonde.super_properties()))
    }

    /// The anonymous id used for events without a user or anonymous id.
    #[getter]
    fn anonymous_id(&self) -> String {
        self.engine().sonde.anonymous_id().to_owned()
    }

    /// Delivers everything accepted so far, waiting at most `timeout` seconds.
    #[pyo3(signature = (timeout=5.0))]
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = seconds(timeout)?;
        let engine = self.engine();
        Ok(py
            .detach(|| engine.sonde.flush(timeout))
            .map_err(CoreError)?)
    }

    /// Stops accepting events and delivers what is buffered within `timeout` seconds.
    #[pyo3(signature = (timeout=5.0))]
    fn shutdown(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let timeout = seconds(timeout)?;
        let engine = self.engine();
        Ok(py
            .detach(|| engine.sonde.shutdown(timeout))
            .map_err(CoreError)?)
    }

    /// Whether `shutdown` was called.
    #[getter]
    fn is_shut_down(&self) -> bool {
        self.engine().sonde.is_shut_down()
    }

    /// Every statistic at once: counters, drops by reason, per-event and per-route
    /// latency quantiles, rates, host gauges.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.engine();
        let snapshot = py.detach(|| engine.sonde.stats());
        serialized(py, &snapshot)
    }

    /// The statistics of every instance sharing the store, merged, in the Prometheus text
    /// format (or OpenMetrics with `openmetrics=True`), as `/metrics` serves them.
    #[pyo3(signature = (openmetrics=false))]
    fn metrics_text(&self, py: Python<'_>, openmetrics: bool) -> PyResult<String> {
        let format = if openmetrics {
            ExpositionFormat::OpenMetrics
        } else {
            ExpositionFormat::Prometheus
        };
        let engine = self.engine();
        Ok(py
            .detach(|| engine.sonde.metrics_text(format))
            .map_err(CoreError)?)
    }

    /// Host and process metrics now (CPU, memory, disks, network, container limits).
    fn system_metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.engine();
        let metrics = py
            .detach(|| engine.sonde.system_metrics())
            .map_err(CoreError)?;
        serialized(py, &metrics)
    }

    /// Evaluates the alert rules now; returns the transitions (fired / resolved).
    fn evaluate_alerts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let engine = self.engine();
        let transitions = py
            .detach(|| engine.sonde.evaluate_alerts())
            .map_err(CoreError)?;
        serialized(py, &transitions)
    }

    /// The alerts firing now.
    fn alerts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialized(py, &self.engine().sonde.alerts())
    }

    /// The latest alert transitions, newest last.
    #[pyo3(signature = (limit=100))]
    fn alert_history<'py>(&self, py: Python<'py>, limit: usize) -> PyResult<Bound<'py, PyAny>> {
        serialized(py, &self.engine().sonde.alert_history(limit))
    }

    /// A page of stored events: `{"events", "next_cursor", "total"}`. Filters: `type`,
    /// `event`, `event_prefix`, `user_id`, `anonymous_id`, `session_id`, `from_`/`from`,
    /// `to`, `properties` (dict of top-level equalities), `order` ("asc"/"desc"), `limit`,
    /// `cursor`, `with_total`.
    #[pyo3(signature = (**filters))]
    fn query_events<'py>(
        &self,
        py: Python<'py>,
        filters: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = query_of(filters)?;
        let store = self.store()?;
        let page = py.detach(|| store.query(&query)).map_err(CoreError)?;
        serialized(py, &page)
    }

    /// One stored event, or `None`.
    fn get_event<'py>(&self, py: Python<'py>, message_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let store = self.store()?;
        match py.detach(|| store.get(message_id)).map_err(CoreError)? {
            Some(event) => to_python(py, &event),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Merges `properties` into a stored event's (or replaces them); the result is
    /// validated again. Returns the updated event, or `None` if there is none with this id.
    #[pyo3(signature = (message_id, properties, *, replace=false))]
    fn update_event<'py>(
        &self,
        py: Python<'py>,
        message_id: &str,
        properties: &Bound<'py, PyAny>,
        replace: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let patch = to_object(properties, "properties")?;
        let engine = self.engine();
        let store = self.store()?;
        let updated = py
            .detach(|| {
                engine
                    .sonde
                    .update_stored(&*store, message_id, &patch, replace)
            })
            .map_err(CoreError)?;
        match updated {
            Some(event) => to_python(py, &event),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Deletes one stored event; whether it existed.
    fn delete_event(&self, py: Python<'_>, message_id: &str) -> PyResult<bool> {
        let store = self.store()?;
        Ok(py.detach(|| store.delete(message_id)).map_err(CoreError)?)
    }

    /// Deletes every stored event the filters match (per-user erasure, retention); how many.
    /// At least one filter, and none of them `None` (an erasure with a missing id must not
    /// wipe the store); `all=True` alone deletes every event.
    #[pyo3(signature = (**filters))]
    fn delete_events(&self, py: Python<'_>, filters: Option<&Bound<'_, PyDict>>) -> PyResult<u64> {
        let deletion = Deletion::from_value(&filter_doc(filters, true)?).map_err(CoreError)?;
        let store = self.store()?;
        Ok(py
            .detach(|| store.delete_matching(&deletion))
            .map_err(CoreError)?)
    }

    /// Deletes stored events older than `before` (datetime or RFC 3339); how many.
    fn purge_older_than(&self, py: Python<'_>, before: &Bound<'_, PyAny>) -> PyResult<u64> {
        let before = query_time(before, "/before")?;
        let store = self.store()?;
        Ok(py
            .detach(|| store.purge_older_than(before))
            .map_err(CoreError)?)
    }

    /// Counts by type and event, a time series (`bucket`: "minute", "hour", "day"), unique
    /// users and sessions, latency quantiles per route and operation, over stored events.
    #[pyo3(signature = (*, from_=None, to=None, bucket="hour"))]
    fn aggregate<'py>(
        &self,
        py: Python<'py>,
        from_: Option<&Bound<'py, PyAny>>,
        to: Option<&Bound<'py, PyAny>>,
        bucket: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bucket = Bucket::from_name(bucket).map_err(CoreError)?;
        let range = TimeRange {
            from: from_.map(|t| query_time(t, "/from")).transpose()?,
            to: to.map(|t| query_time(t, "/to")).transpose()?,
        };
        let store = self.store()?;
        let aggregates = py
            .detach(|| store.aggregate(range, bucket))
            .map_err(CoreError)?;
        serialized(py, &aggregates)
    }

    /// Path of the SQLite store, or `None`.
    #[getter]
    fn store_path(&self) -> Option<String> {
        self.engine().store.as_ref().map(|s| s.location())
    }

    /// Called by `os.register_at_fork(before=...)`: keeps what the child must inherit.
    fn _before_fork(&self) {
        let props = self.engine().sonde.super_properties();
        self.spec
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .super_properties = props;
    }

    /// Called in the child after `fork`: the parent's worker thread does not exist here
    /// and its locks may be held forever, so the child builds a fresh engine (new worker,
    /// new store connection) and abandons the old one without touching it: what the
    /// parent had queued stays the parent's to deliver.
    fn _after_fork_child(&self, py: Python<'_>) -> PyResult<()> {
        let engine = self
            .spec
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .build(py)?;
        self.engine.replace_after_fork(engine);
        Ok(())
    }
}
