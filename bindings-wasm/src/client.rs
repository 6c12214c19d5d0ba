//! The native client: manual delivery (the JS glue takes batches, sends them, and acks or
//! nacks them), the browser's clock, and JSON text for every object in or out.

use std::sync::Arc;

use serde_json::{Map, Value};
use sonde_core::config::snake_case_keys;
use sonde_core::event::{calls, object_arg};
use sonde_core::{Clock, Config, DeliveryMode, Error as CoreError, Message, Sonde};
use wasm_bindgen::prelude::*;

use crate::errors::{set, to_js};
use js_sys::Object;

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: a monotonic clock in milliseconds with sub-ms precision.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// Wall time from `Date.now()`, monotonic time from `performance.now()`.
struct BrowserClock;

impl Clock for BrowserClock {
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    fn monotonic_ns(&self) -> u64 {
        (performance_now() * 1e6) as u64
    }
}

type Result<T> = std::result::Result<T, JsValue>;

/// The native client.
#[wasm_bindgen]
pub struct NativeSonde {
    pub(crate) sonde: Sonde,
}

impl NativeSonde {
    fn send(&self, m: std::result::Result<Message, CoreError>) -> Result<String> {
        m.and_then(|m| self.sonde.send(m))
            .map(|receipt| receipt.message_id)
            .map_err(|e| to_js(&e))
    }
}

#[wasm_bindgen]
impl NativeSonde {
    /// `options`: the core's options as JSON (camelCase or snake_case names); delivery is
    /// always manual (the JS glue is the transport).
    #[wasm_bindgen(constructor)]
    pub fn new(options: Option<String>) -> Result<NativeSonde> {
        crate::register_page_engines();
        let build = || -> std::result::Result<Sonde, CoreError> {
            let mut core: Map<String, Value> =
                snake_case_keys(object_arg(options.as_deref(), "options")?);
            core.insert("delivery".into(), Value::String("manual".into()));
            // The clock first: checking the options on wasm32 requires one.
            let mut config = Config::default()
                .clock(Arc::new(BrowserClock))
                .for_binding(&core, ("sonde-browser", env!("CARGO_PKG_VERSION")))?;
            config.delivery = DeliveryMode::Manual;
            Sonde::new(config)
        };
        build()
            .map(|sonde| NativeSonde { sonde })
            .map_err(|e| to_js(&e))
    }

    pub fn track(
        &self,
        event: String,
        properties: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send(calls::track(
            &self.sonde,
            event,
            properties,
            options.as_deref(),
        ))
    }

    /// `track` for the page's usual call: its identity as strings, no options object
    /// (stringifying and parsing one cost about 3 µs per event).
    #[wasm_bindgen(js_name = trackAs)]
    pub fn track_as(
        &self,
        event: String,
        properties: Option<String>,
        user_id: Option<String>,
        anonymous_id: Option<String>,
        session_id: Option<String>,
    ) -> Result<String> {
        self.send(calls::track_as(
            &self.sonde,
            event,
            properties,
            user_id,
            anonymous_id,
            session_id,
        ))
    }

    pub fn page(
        &self,
        name: Option<String>,
        properties: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send(calls::page(
            &self.sonde,
            name,
            properties,
            options.as_deref(),
        ))
    }

    pub fn screen(
        &self,
        name: Option<String>,
        properties: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send(calls::screen(
            &self.sonde,
            name,
            properties,
            options.as_deref(),
        ))
    }

    pub fn identify(
        &self,
        user_id: String,
        traits: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send(calls::identify(
            user_id,
            traits.as_deref(),
            options.as_deref(),
        ))
    }

    pub fn group(
        &self,
        group_id: String,
        traits: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send(calls::group(
            group_id,
            traits.as_deref(),
            options.as_deref(),
        ))
    }

    /// What tracking calls do with an event they cannot accept: `raise`, `warn` or `drop`.
    #[wasm_bindgen(getter, js_name = invalidPolicy)]
    pub fn invalid_policy(&self) -> String {
        self.sonde.invalid_policy().as_str().to_owned()
    }

    /// The context every later event gets where its own has no such key (JSON object: the
    /// page's device and page context, set when it changes rather than with each event).
    #[wasm_bindgen(js_name = setContextDefaults)]
    pub fn set_context_defaults(&self, context: String) -> Result<()> {
        let defaults = object_arg(Some(&context), "context").map_err(|e| to_js(&e))?;
        self.sonde.set_context_defaults(defaults);
        Ok(())
    }

    /// Counts an event the page's `beforeSend` hook dropped.
    #[wasm_bindgen(js_name = recordFiltered)]
    pub fn record_filtered(&self) {
        self.sonde.record_filtered();
    }

    pub fn alias(
        &self,
        user_id: String,
        previous_id: String,
        options: Option<String>,
    ) -> Result<String> {
        self.send(calls::alias(user_id, previous_id, options.as_deref()))
    }

    /// `options`: `{path?, value?}` plus identity options.
    #[wasm_bindgen(js_name = trackInteraction)]
    pub fn track_interaction(
        &self,
        action: String,
        target: String,
        options: Option<String>,
    ) -> Result<String> {
        self.send(calls::interaction(action, target, options.as_deref()))
    }

    /// `options`: `{stack?, route?}` plus identity options.
    #[wasm_bindgen(js_name = trackError)]
    pub fn track_error(
        &self,
        error_type: String,
        message: String,
        options: Option<String>,
    ) -> Result<String> {
        self.send(calls::error(error_type, message, options.as_deref()))
    }

    /// `options`: `{success = true, errorType?, metadata?}` plus identity options.
    #[wasm_bindgen(js_name = trackPerformance)]
    pub fn track_performance(
        &self,
        operation: String,
        duration_ms: f64,
        options: Option<String>,
    ) -> Result<String> {
        self.send(calls::performance(
            operation,
            duration_ms,
            options.as_deref(),
        ))
    }

    pub fn register(&self, properties: String) -> Result<()> {
        let properties = object_arg(Some(&properties), "properties").map_err(|e| to_js(&e))?;
        self.sonde.register(properties);
        Ok(())
    }

    pub fn unregister(&self, key: &str) {
        self.sonde.unregister(key);
    }

    #[wasm_bindgen(getter, js_name = anonymousId)]
    pub fn anonymous_id(&self) -> String {
        self.sonde.anonymous_id().to_owned()
    }

    /// Every statistic, as JSON text.
    pub fn stats(&self) -> String {
        self.sonde.stats_json()
    }

    /// Marks everything buffered as due now (the glue then drains with `takeBatch`).
    pub fn flush(&self) -> Result<()> {
        self.sonde
            .flush(std::time::Duration::ZERO)
            .map_err(|e| to_js(&e))
    }

    /// Stops accepting events; what is buffered stays available to `takeBatch`.
    pub fn close(&self) {
        self.sonde.close();
    }

    /// The next due batch as an object `{id, attempt, events, payload}` (the payload is the
    /// request body's JSON text), or `undefined`.
    #[wasm_bindgen(js_name = takeBatch)]
    pub fn take_batch(&self) -> Result<Option<Object>> {
        match self.sonde.take_batch() {
            Ok(Some(batch)) => {
                let out = Object::new();
                set(&out, "id", &(batch.id as f64).into());
                set(&out, "attempt", &f64::from(batch.attempt).into());
                set(&out, "events", &(batch.events as f64).into());
                set(&out, "payload", &batch.payload.into());
                Ok(Some(out))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(to_js(&e)),
        }
    }

    /// The batch was delivered.
    pub fn ack(&self, id: f64) -> Result<bool> {
        self.sonde.ack(id as u64).map_err(|e| to_js(&e))
    }

    /// The batch failed; returns the delay before it is due again (ms: the core's backoff,
    /// or the server's `retryAfterMs` when that is longer), or `undefined` when it is
    /// dropped (not retryable, or out of retries).
    pub fn nack(
        &self,
        id: f64,
        retryable: bool,
        retry_after_ms: Option<f64>,
    ) -> Result<Option<f64>> {
        let retry_after = retry_after_ms
            .filter(|ms| ms.is_finite() && *ms > 0.0)
            .map(|ms| std::time::Duration::from_millis(ms as u64));
        self.sonde
            .nack_after(id as u64, retryable, retry_after)
            .map(|delay| delay.map(|d| d.as_secs_f64() * 1000.0))
            .map_err(|e| to_js(&e))
    }

    /// Milliseconds until a batch is due (0 when one is due now), or `undefined` when
    /// nothing is buffered.
    #[wasm_bindgen(js_name = nextBatchIn)]
    pub fn next_batch_in(&self) -> Option<f64> {
        self.sonde.next_batch_in().map(|d| d.as_secs_f64() * 1000.0)
    }
}
