//! The native `Sonde` class (`index.js` wraps it in the public JS API): converts arguments,
//! delegates to the core, and runs waits (flush, shutdown) on libuv's thread pool.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{AsyncTask, Buffer, Either, Function, Promise};
use napi::{Env, Result, Task};
use napi_derive::napi;
use serde_json::{Map, Value};
use sonde_core::config::{
    options_from_environment, options_in_milliseconds, renamed_in_milliseconds, server_options,
    snake_case_keys, with_unit_problems, Destinations, NoticeHook,
};
use sonde_core::event::{calls, object_arg};

use sonde_core::sink::CallbackSink;
use sonde_core::stats::ExpositionFormat;
use sonde_core::store::{Bucket, Deletion, EventQuery, Store, TimeRange};
use sonde_core::{Error as CoreError, ErrorKind, Message, MessageType, Sonde, Timestamp};

use crate::errors::{as_data, invalid_argument, throw, unpanicked};
use crate::js_sink::{js_sink, JsSink};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use sonde_core::Notice;

/// The JS notice callback, called without waiting for it.
type NoticeFn = ThreadsafeFunction<String, (), String, napi::Status, false, true>;
use crate::slot::{Recipe, Slot};

/// How long the worker waits for a JS sink's call (its promise included) before counting
/// the batch as failed for now, unless the client says otherwise (`sinkTimeoutMs`).
const JS_SINK_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client dropped by the garbage collector may take to deliver what it holds.
const DROP_TIMEOUT: Duration = Duration::from_secs(5);

/// A wait's bound in ms as JS passes it (5 s when absent).
fn wait_timeout(timeout_ms: Option<u32>) -> Duration {
    Duration::from_millis(u64::from(timeout_ms.unwrap_or(5000)))
}

/// A result as JSON text, for `index.js` to `JSON.parse`.
fn to_text(value: &impl serde::Serialize) -> std::result::Result<String, CoreError> {
    serde_json::to_string(value)
        .map_err(|e| invalid_argument(format!("cannot convert a result: {e}")))
}

/// Store query filters (snake_case keys; camelCase accepted).
fn query_of(filters: Option<String>) -> std::result::Result<EventQuery, CoreError> {
    let doc = snake_case_keys(object_arg(filters.as_deref(), "filters")?);
    EventQuery::from_value(&Value::Object(doc))
}

/// Work on libuv's thread pool (flush, shutdown, reconfigure, store work), so the event
/// loop keeps running; resolves to `{"value": <JSON>}` or `{"error": <data>}`, which
/// `index.js` unwraps or throws.
pub struct Work {
    work: Option<Box<dyn FnOnce() -> std::result::Result<String, CoreError> + Send>>,
}

impl Work {
    /// Work whose value is JSON text.
    fn new(work: impl FnOnce() -> std::result::Result<String, CoreError> + Send + 'static) -> Self {
        Self {
            work: Some(Box::new(work)),
        }
    }

    /// A wait with no value (`null`).
    fn wait(work: impl FnOnce() -> std::result::Result<(), CoreError> + Send + 'static) -> Self {
        Self::new(move || work().map(|()| "null".to_owned()))
    }
}

impl Task for Work {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<Self::Output> {
        let work = self.work.take();
        unpanicked(|| match work.map(|work| work()) {
            Some(Ok(value)) => format!("{{\"value\":{value}}}"),
            Some(Err(e)) => format!("{{\"error\":{}}}", as_data(&e)),
            None => "{\"value\":null}".to_owned(),
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// The client's store, or why there is none.
fn store_of(slot: &Slot) -> std::result::Result<Arc<dyn Store>, CoreError> {
    slot.current().store.clone().ok_or_else(|| {
        CoreError::new(
            ErrorKind::Unsupported,
            "this client has no store: pass { store: 'sonde.db' }",
        )
    })
}

/// The native client.
#[napi(js_name = "NativeSonde")]
pub struct NativeSonde {
    slot: Arc<Slot>,
    /// What reading the `SONDE_*` environment variables found wrong (unknown names), for
    /// `index.js` to log.
    environment_warnings: Vec<String>,
}

/// The JS spelling of options (camelCase, durations in milliseconds) in the core's.
fn core_spelling(
    options: Map<String, Value>,
) -> std::result::Result<Map<String, Value>, CoreError> {
    options_in_milliseconds(snake_case_keys(options))
}

/// Whether the process runs under a test runner (`node --test`, or `NODE_ENV=test`): then
/// invalid events raise unless `onInvalid` says otherwise.
fn under_test_runner() -> bool {
    std::env::var_os("NODE_TEST_CONTEXT").is_some()
        || std::env::var("NODE_ENV").is_ok_and(|v| v == "test")
}

/// Garbage collection runs this on the main thread, which a JS sink needs in order to
/// deliver what is left: the last handle is dropped (a bounded shutdown) on a thread of
/// its own instead of blocking the event loop.
impl Drop for NativeSonde {
    fn drop(&mut self) {
        let current = self.slot.current();
        if current.sonde.is_shut_down() {
            return;
        }
        let sonde = current.sonde.clone();
        let spawned = std::thread::Builder::new()
            .name("sonde-drop".into())
            .spawn(move || {
                let _ = sonde.shutdown(DROP_TIMEOUT);
                drop(current);
            });
        if spawned.is_err() {
            // No thread to wait on: give up what is buffered rather than block the loop.
            let _ = self.slot.current().sonde.shutdown(Duration::ZERO);
        }
    }
}

impl NativeSonde {
    /// Where the HTTP layer finds the current client (and replaces it on `PUT /config`).
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }

    /// The client, as it is now.
    pub fn sonde(&self) -> Sonde {
        self.slot.current().sonde.clone()
    }

    /// Store work for libuv's thread pool: SQLite never runs on the event loop.
    fn store_work(
        &self,
        work: impl FnOnce(&Slot) -> std::result::Result<String, CoreError> + Send + 'static,
    ) -> AsyncTask<Work> {
        let slot = Arc::clone(&self.slot);
        AsyncTask::new(Work::new(move || work(&slot)))
    }

    fn send(&self, env: &Env, m: std::result::Result<Message, CoreError>) -> Result<String> {
        m.and_then(|m| self.slot.current().sonde.send(m))
            .map(|receipt| receipt.message_id)
            .map_err(|e| throw(env, &e))
    }
}

#[napi]
impl NativeSonde {
    /// `options`: the core's options in camelCase plus `store`, `console`, `jsonl`, over
    /// the `SONDE_*` environment variables (explicit options win); `sink`: an async
    /// function receiving each batch as a JSON array string; `sink_timeout_ms`: how long
    /// the worker waits for one of its calls; `on_notice`: told about lost events (and
    /// deliveries in debug mode) as JSON text, on the main thread.
    #[napi(constructor, catch_unwind)]
    pub fn new(
        env: Env,
        options: Option<String>,
        sink: Option<Function<'_, String, Promise<()>>>,
        sink_timeout_ms: Option<u32>,
        on_notice: Option<Function<'_, String, ()>>,
    ) -> Result<Self> {
        let timeout = sink_timeout_ms.map_or(JS_SINK_TIMEOUT, |ms| {
            Duration::from_millis(u64::from(ms.max(1)))
        });
        let mut environment_warnings = Vec::new();
        let mut build = || -> std::result::Result<Slot, CoreError> {
            let (explicit, unit_problems) = renamed_in_milliseconds(snake_case_keys(object_arg(
                options.as_deref(),
                "options",
            )?));
            let environment = options_from_environment(std::env::vars())?;
            environment_warnings = environment.warnings;
            let mut core_options =
                server_options(explicit, environment.options, under_test_runner());
            let destinations =
                with_unit_problems(unit_problems, Destinations::take_from(&mut core_options))?;
            let sink = match &sink {
                None => None,
                Some(sink) => {
                    let tsfn: Arc<JsSink> = Arc::new(
                        sink.build_threadsafe_function::<String>()
                            .weak::<true>()
                            .build()
                            .map_err(|e| invalid_argument(format!("sink: {e}")))?,
                    );
                    let make: Arc<dyn Fn() -> CallbackSink + Send + Sync> =
                        Arc::new(move || js_sink(Arc::clone(&tsfn), timeout));
                    Some(make)
                }
            };
            let notice = match &on_notice {
                None => None,
                Some(on_notice) => {
                    // Weak: a client waiting to report never keeps the process alive.
                    let tsfn: Arc<NoticeFn> = Arc::new(
                        on_notice
                            .build_threadsafe_function::<String>()
                            .weak::<true>()
                            .build()
                            .map_err(|e| invalid_argument(format!("onNotice: {e}")))?,
                    );
                    let tell: NoticeHook = Arc::new(move |n: &Notice| {
                        let _ = tsfn.call(n.to_json(), ThreadsafeFunctionCallMode::NonBlocking);
                    });
                    Some(tell)
                }
            };
            Slot::new(Recipe {
                options: core_options,
                destinations,
                sink,
                notice,
            })
        };
        let slot = build().map_err(|e| throw(&env, &e))?;
        Ok(Self {
            slot: Arc::new(slot),
            environment_warnings,
        })
    }

    /// Unknown `SONDE_*` variables found when the client was made, as a JSON array.
    #[napi(getter, catch_unwind)]
    pub fn environment_warnings(&self) -> String {
        Value::from(self.environment_warnings.clone()).to_string()
    }

    /// What tracking calls do with an event they cannot accept: `raise`, `warn` or `drop`.
    #[napi(getter, catch_unwind)]
    pub fn invalid_policy(&self) -> String {
        self.slot
            .current()
            .sonde
            .invalid_policy()
            .as_str()
            .to_owned()
    }

    /// Counts an event the JS `beforeSend` hook dropped.
    #[napi(catch_unwind)]
    pub fn record_filtered(&self) {
        self.slot.current().sonde.record_filtered();
    }

    /// The core options in force (snake_case), as JSON text.
    #[napi(catch_unwind)]
    pub fn options(&self) -> String {
        Value::Object(self.slot.current().options.clone()).to_string()
    }

    /// New core options (camelCase or snake_case; `null` removes one) for a client built
    /// now; the previous one delivers what it holds within `timeoutMs` (see [`Work`]).
    #[napi(catch_unwind)]
    pub fn reconfigure(
        &self,
        env: Env,
        options: String,
        timeout_ms: Option<u32>,
    ) -> Result<AsyncTask<Work>> {
        let changes = object_arg(Some(&options), "options")
            .and_then(core_spelling)
            .map_err(|e| throw(&env, &e))?;
        let slot = Arc::clone(&self.slot);
        let timeout = wait_timeout(timeout_ms);
        Ok(AsyncTask::new(Work::wait(move || {
            slot.reconfigure(&changes, timeout)
        })))
    }

    /// `{ track(event, propertiesJson?, optionsJson?), trackFor(event, propertiesJson?,
    /// userId) }`: the per-event calls as plain functions bound to this client's slot
    /// (see `hot.rs` for why they are not methods).
    #[napi(catch_unwind)]
    pub fn event_calls(&self, env: Env) -> Result<napi::sys::napi_value> {
        crate::hot::event_calls(&env, &self.slot)
    }

    #[napi(catch_unwind)]
    pub fn page(
        &self,
        env: Env,
        name: Option<String>,
        properties: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send(
            &env,
            calls::page(
                &self.slot.current().sonde,
                name,
                properties,
                options.as_deref(),
            ),
        )
    }

    #[napi(catch_unwind)]
    pub fn screen(
        &self,
        env: Env,
        name: Option<String>,
        properties: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send(
            &env,
            calls::screen(
                &self.slot.current().sonde,
                name,
                properties,
                options.as_deref(),
            ),
        )
    }

    #[napi(catch_unwind)]
    pub fn identify(
        &self,
        env: Env,
        user_id: String,
        traits: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send(
            &env,
            calls::identify(user_id, traits.as_deref(), options.as_deref()),
        )
    }

    #[napi(catch_unwind)]
    pub fn group(
        &self,
        env: Env,
        group_id: String,
        traits: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send(
            &env,
            calls::group(group_id, traits.as_deref(), options.as_deref()),
        )
    }

    #[napi(catch_unwind)]
    pub fn alias(
        &self,
        env: Env,
        user_id: String,
        previous_id: String,
        options: Option<String>,
    ) -> Result<String> {
        self.send(&env, calls::alias(user_id, previous_id, options.as_deref()))
    }

    /// `{method, route, statusCode, durationMs, path?, clientAddress?, userAgent?,
    /// requestBodySize?, responseBodySize?, errorType?, ttfbMs?}` plus identity options.
    #[napi(catch_unwind)]
    pub fn track_api_request(&self, env: Env, request: String) -> Result<String> {
        self.send(&env, calls::api_request(&request))
    }

    /// Counts a request in the route statistics without an event (sampled-out requests).
    #[napi(catch_unwind)]
    pub fn record_request(
        &self,
        method: String,
        route: String,
        status_code: u32,
        duration_ms: f64,
    ) {
        let status = u16::try_from(status_code).unwrap_or(u16::MAX);
        self.sonde()
            .record_request(&method, &route, status, duration_ms);
    }

    /// `options`: `{success = true, errorType?, metadata?}` plus identity options.
    #[napi(catch_unwind)]
    pub fn track_performance(
        &self,
        env: Env,
        operation: String,
        duration_ms: f64,
        options: Option<String>,
    ) -> Result<String> {
        self.send(
            &env,
            calls::performance(operation, duration_ms, options.as_deref()),
        )
    }

    /// `options`: `{path?, value?}` plus identity options.
    #[napi(catch_unwind)]
    pub fn track_interaction(
        &self,
        env: Env,
        action: String,
        target: String,
        options: Option<String>,
    ) -> Result<String> {
        self.send(&env, calls::interaction(action, target, options.as_deref()))
    }

    /// `options`: `{stack?, route?}` plus identity options.
    #[napi(catch_unwind)]
    pub fn track_error(
        &self,
        env: Env,
        error_type: String,
        message: String,
        options: Option<String>,
    ) -> Result<String> {
        self.send(&env, calls::error(error_type, message, options.as_deref()))
    }

    /// Ingests a Segment-shaped request body (one message or `{batch: [...]}`); per-item
    /// results. `dryRun` checks without recording.
    #[napi(catch_unwind)]
    pub fn ingest(
        &self,
        env: Env,
        body: Either<String, Buffer>,
        default_type: Option<String>,
        dry_run: Option<bool>,
    ) -> Result<String> {
        let bytes: &[u8] = match &body {
            Either::A(s) => s.as_bytes(),
            Either::B(b) => b.as_ref(),
        };
        let run = || -> std::result::Result<String, CoreError> {
            let kind = match default_type.as_deref() {
                None => None,
                Some(t) => Some(MessageType::parse(t).ok_or_else(|| {
                    invalid_argument(format!("defaultType must be a message type, got {t:?}"))
                })?),
            };
            let report = match (dry_run.unwrap_or(false), kind) {
                (true, kind) => self.sonde().validate_request(bytes, kind)?,
                (false, Some(kind)) => self.sonde().ingest_as(bytes, kind)?,
                (false, None) => self.sonde().ingest(bytes)?,
            };
            to_text(&report)
        };
        run().map_err(|e| throw(&env, &e))
    }

    #[napi(catch_unwind)]
    pub fn register(&self, env: Env, properties: String) -> Result<()> {
        let properties =
            object_arg(Some(&properties), "properties").map_err(|e| throw(&env, &e))?;
        self.sonde().register(properties);
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn unregister(&self, key: String) {
        self.sonde().unregister(&key);
    }

    #[napi(catch_unwind)]
    pub fn super_properties(&self) -> String {
        Value::Object(self.sonde().super_properties()).to_string()
    }

    #[napi(getter, catch_unwind)]
    pub fn anonymous_id(&self) -> String {
        self.sonde().anonymous_id().to_owned()
    }

    #[napi(getter, catch_unwind)]
    pub fn is_shut_down(&self) -> bool {
        self.sonde().is_shut_down()
    }

    /// The size limits in force.
    #[napi(catch_unwind)]
    pub fn limits(&self) -> String {
        let sonde = self.sonde();
        let l = sonde.validator().limits();
        serde_json::json!({
            "maxMessageBytes": l.max_message_bytes,
            "maxBatchBytes": l.max_batch_bytes,
            "maxBatchMessages": l.max_batch_messages,
        })
        .to_string()
    }

    #[napi(catch_unwind)]
    pub fn flush_async(&self, timeout_ms: Option<u32>) -> AsyncTask<Work> {
        let (sonde, timeout) = (self.sonde(), wait_timeout(timeout_ms));
        AsyncTask::new(Work::wait(move || sonde.flush(timeout)))
    }

    /// Stops accepting events at once, on the caller's thread: whatever the event loop runs
    /// after this call is refused, whatever ran before it is delivered by `shutdownAsync`.
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.sonde().close();
    }

    #[napi(catch_unwind)]
    pub fn shutdown_async(&self, timeout_ms: Option<u32>) -> AsyncTask<Work> {
        let (sonde, timeout) = (self.sonde(), wait_timeout(timeout_ms));
        AsyncTask::new(Work::wait(move || sonde.shutdown(timeout)))
    }

    /// The merged statistics of every instance sharing the store in the Prometheus text
    /// format (OpenMetrics with `openmetrics`), on libuv's thread pool: reading the other
    /// instances' statistics is a store query.
    #[napi(catch_unwind)]
    pub fn metrics_text(&self, openmetrics: bool) -> AsyncTask<Work> {
        let format = if openmetrics {
            ExpositionFormat::OpenMetrics
        } else {
            ExpositionFormat::Prometheus
        };
        self.store_work(move |slot| {
            let text = slot.current().sonde.metrics_text(format)?;
            to_text(&text)
        })
    }

    #[napi(catch_unwind)]
    pub fn stats(&self, env: Env) -> Result<String> {
        to_text(&self.sonde().stats()).map_err(|e| throw(&env, &e))
    }

    #[napi(catch_unwind)]
    pub fn system_metrics(&self, env: Env) -> Result<String> {
        let metrics = self.sonde().system_metrics().map_err(|e| throw(&env, &e))?;
        to_text(&metrics).map_err(|e| throw(&env, &e))
    }

    #[napi(catch_unwind)]
    pub fn evaluate_alerts(&self, env: Env) -> Result<String> {
        let transitions = self
            .sonde()
            .evaluate_alerts()
            .map_err(|e| throw(&env, &e))?;
        to_text(&transitions).map_err(|e| throw(&env, &e))
    }

    #[napi(catch_unwind)]
    pub fn alerts(&self, env: Env) -> Result<String> {
        to_text(&self.sonde().alerts()).map_err(|e| throw(&env, &e))
    }

    /// A page of stored events: `{events, next_cursor, total}`. Filters as in the Python
    /// and HTTP APIs (snake_case keys; camelCase accepted). Like every store method, it runs
    /// on libuv's thread pool (see [`Work`]).
    #[napi(catch_unwind)]
    pub fn query_events(&self, filters: Option<String>) -> AsyncTask<Work> {
        self.store_work(move |slot| {
            let query = query_of(filters)?;
            to_text(&store_of(slot)?.query(&query)?)
        })
    }

    #[napi(catch_unwind)]
    pub fn get_event(&self, message_id: String) -> AsyncTask<Work> {
        self.store_work(move |slot| {
            let found = store_of(slot)?.get(&message_id)?;
            Ok(found.map_or_else(|| "null".to_owned(), |event| event.to_string()))
        })
    }

    #[napi(catch_unwind)]
    pub fn update_event(
        &self,
        message_id: String,
        properties: String,
        replace: Option<bool>,
    ) -> AsyncTask<Work> {
        self.store_work(move |slot| {
            let patch = object_arg(Some(&properties), "properties")?;
            let store = store_of(slot)?;
            let found = slot.current().sonde.update_stored(
                &*store,
                &message_id,
                &patch,
                replace.unwrap_or(false),
            )?;
            Ok(found.map_or_else(|| "null".to_owned(), |event| event.to_string()))
        })
    }

    #[napi(catch_unwind)]
    pub fn delete_event(&self, message_id: String) -> AsyncTask<Work> {
        self.store_work(move |slot| to_text(&store_of(slot)?.delete(&message_id)?))
    }

    /// Deletes every stored event the filters match; how many (a number: below 2^53). At
    /// least one filter, none of them `null`; `{ all: true }` alone deletes every event.
    #[napi(catch_unwind)]
    pub fn delete_events(&self, filters: Option<String>) -> AsyncTask<Work> {
        self.store_work(move |slot| {
            let doc = snake_case_keys(object_arg(filters.as_deref(), "filters")?);
            let deletion = Deletion::from_value(&Value::Object(doc))?;
            to_text(&store_of(slot)?.delete_matching(&deletion)?)
        })
    }

    /// `{from?, to?, bucket?: "minute" | "hour" | "day"}`.
    #[napi(catch_unwind)]
    pub fn aggregate(&self, options: Option<String>) -> AsyncTask<Work> {
        self.store_work(move |slot| {
            let o = object_arg(options.as_deref(), "options")?;
            let time = |key: &str| -> std::result::Result<Option<Timestamp>, CoreError> {
                match o.get(key).filter(|v| !v.is_null()) {
                    None => Ok(None),
                    Some(v) => v
                        .as_str()
                        .and_then(Timestamp::parse)
                        .map(Some)
                        .ok_or_else(|| {
                            invalid_argument(format!(
                                "{key} must be an RFC 3339 string or a Date, got {v}"
                            ))
                        }),
                }
            };
            let range = TimeRange {
                from: time("from")?,
                to: time("to")?,
            };
            let bucket =
                Bucket::from_name(o.get("bucket").and_then(Value::as_str).unwrap_or("hour"))?;
            to_text(&store_of(slot)?.aggregate(range, bucket)?)
        })
    }

    /// The path of the SQLite store, if any.
    #[napi(getter, catch_unwind)]
    pub fn store_path(&self) -> Option<String> {
        self.slot.current().store.as_ref().map(|s| s.location())
    }
}
