//! The native client: manual delivery (the JS glue takes batches, sends them, and acks or
//! nacks them), the browser's clock, and JSON text for every object in or out.

use std::sync::Arc;

use serde_json::{Map, Value};
use sonde_core::event::reserved::{ErrorEvent, Interaction, Performance};
use sonde_core::{Clock, Config, DeliveryMode, Error as CoreError, Message, Sonde, Timestamp};
use wasm_bindgen::prelude::*;

use crate::errors::{invalid_argument, to_js};

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

fn object(json: Option<String>, what: &str) -> std::result::Result<Map<String, Value>, CoreError> {
    let Some(json) = json else {
        return Ok(Map::new());
    };
    match serde_json::from_str::<Value>(&json) {
        Ok(Value::Null) => Ok(Map::new()),
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(invalid_argument(format!(
            "{what} must be an object, got {other}"
        ))),
        Err(e) => Err(invalid_argument(format!("{what} is not JSON: {e}"))),
    }
}

fn with_properties(
    message: Message,
    json: Option<String>,
) -> std::result::Result<Message, CoreError> {
    match json {
        Some(json) if json != "null" => message.with_properties_json(json),
        _ => Ok(message),
    }
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `userId`, `anonymousId`, `sessionId`, `messageId`, `timestamp`, `context`.
fn envelope(mut m: Message, o: &Map<String, Value>) -> std::result::Result<Message, CoreError> {
    if let Some(id) = text(o, "userId") {
        m = m.with_user_id(id);
    }
    if let Some(id) = text(o, "anonymousId") {
        m = m.with_anonymous_id(id);
    }
    if let Some(id) = text(o, "sessionId") {
        m = m.with_session_id(id);
    }
    if let Some(id) = text(o, "messageId") {
        m = m.with_message_id(id);
    }
    if let Some(t) = o.get("timestamp").filter(|v| !v.is_null()) {
        let parsed = t.as_str().and_then(Timestamp::parse).ok_or_else(|| {
            invalid_argument(format!(
                "timestamp must be an RFC 3339 string or a Date, got {t}"
            ))
        })?;
        m = m.with_timestamp(parsed);
    }
    if let Some(Value::Object(context)) = o.get("context") {
        m = m.with_context(context.clone());
    }
    Ok(m)
}

/// `someOption` → `some_option`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The native client.
#[wasm_bindgen]
pub struct NativeSonde {
    sonde: Sonde,
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
        let build = || -> std::result::Result<Sonde, CoreError> {
            let mut core: Map<String, Value> = object(options, "options")?
                .into_iter()
                .map(|(k, v)| (snake_case(&k), v))
                .collect();
            core.insert("delivery".into(), Value::String("manual".into()));
            let has_library = core.contains_key("library");
            // The clock first: checking the options on wasm32 requires one.
            let mut config = Config::default().clock(Arc::new(BrowserClock));
            config.apply_options(&Value::Object(core))?;
            if !has_library {
                config.library.name = "sonde-browser".to_owned();
                config.library.version = env!("CARGO_PKG_VERSION").to_owned();
            }
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
        self.send((|| {
            envelope(
                with_properties(Message::track(event, Map::new()), properties)?,
                &object(options, "options")?,
            )
        })())
    }

    pub fn page(
        &self,
        name: Option<String>,
        properties: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send((|| {
            envelope(
                with_properties(Message::page(name, Map::new()), properties)?,
                &object(options, "options")?,
            )
        })())
    }

    pub fn screen(
        &self,
        name: Option<String>,
        properties: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send((|| {
            envelope(
                with_properties(Message::screen(name, Map::new()), properties)?,
                &object(options, "options")?,
            )
        })())
    }

    pub fn identify(
        &self,
        user_id: String,
        traits: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send((|| {
            envelope(
                Message::identify(user_id, object(traits, "traits")?),
                &object(options, "options")?,
            )
        })())
    }

    pub fn group(
        &self,
        group_id: String,
        traits: Option<String>,
        options: Option<String>,
    ) -> Result<String> {
        self.send((|| {
            envelope(
                Message::group(group_id, object(traits, "traits")?),
                &object(options, "options")?,
            )
        })())
    }

    pub fn alias(
        &self,
        user_id: String,
        previous_id: String,
        options: Option<String>,
    ) -> Result<String> {
        self.send((|| {
            envelope(
                Message::alias(user_id, previous_id),
                &object(options, "options")?,
            )
        })())
    }

    /// `options`: `{path?, value?}` plus identity options.
    #[wasm_bindgen(js_name = trackInteraction)]
    pub fn track_interaction(
        &self,
        action: String,
        target: String,
        options: Option<String>,
    ) -> Result<String> {
        self.send((|| {
            let o = object(options, "options")?;
            let interaction = Interaction {
                path: text(&o, "path"),
                value: o.get("value").cloned(),
                ..Interaction::new(action, target)
            };
            envelope(interaction.into_message(), &o)
        })())
    }

    /// `options`: `{stack?, route?}` plus identity options.
    #[wasm_bindgen(js_name = trackError)]
    pub fn track_error(
        &self,
        error_type: String,
        message: String,
        options: Option<String>,
    ) -> Result<String> {
        self.send((|| {
            let o = object(options, "options")?;
            let error = ErrorEvent {
                stack: text(&o, "stack"),
                route: text(&o, "route"),
                ..ErrorEvent::new(error_type, message)
            };
            envelope(error.into_message(), &o)
        })())
    }

    /// `options`: `{success = true, errorType?, metadata?}` plus identity options.
    #[wasm_bindgen(js_name = trackPerformance)]
    pub fn track_performance(
        &self,
        operation: String,
        duration_ms: f64,
        options: Option<String>,
    ) -> Result<String> {
        self.send((|| {
            let o = object(options, "options")?;
            let perf = Performance {
                error_type: text(&o, "errorType"),
                metadata: match o.get("metadata") {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Map::new(),
                },
                ..Performance::new(
                    operation,
                    duration_ms,
                    o.get("success").and_then(Value::as_bool).unwrap_or(true),
                )
            };
            envelope(perf.into_message(), &o)
        })())
    }

    pub fn register(&self, properties: String) -> Result<()> {
        let properties = object(Some(properties), "properties").map_err(|e| to_js(&e))?;
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
        self.sonde.stats().to_json()
    }

    /// Marks everything buffered as due now (the glue then drains with `takeBatch`).
    pub fn flush(&self) -> Result<()> {
        self.sonde
            .flush(std::time::Duration::ZERO)
            .map_err(|e| to_js(&e))
    }

    /// Stops accepting events; what is buffered stays available to `takeBatch`.
    pub fn close(&self) {
        let _ = self.sonde.shutdown(std::time::Duration::ZERO);
    }

    /// The next due batch as JSON text `{id, attempt, events, payload}`, or `undefined`.
    #[wasm_bindgen(js_name = takeBatch)]
    pub fn take_batch(&self) -> Result<Option<String>> {
        match self.sonde.take_batch() {
            Ok(Some(batch)) => Ok(Some(
                serde_json::json!({"id": batch.id, "attempt": batch.attempt, "events": batch.events, "payload": batch.payload}).to_string(),
            )),
            Ok(None) => Ok(None),
            Err(e) => Err(to_js(&e)),
        }
    }

    /// The batch was delivered.
    pub fn ack(&self, id: f64) -> Result<bool> {
        self.sonde.ack(id as u64).map_err(|e| to_js(&e))
    }

    /// The batch failed; returns the delay before it is due again (ms), or `undefined`
    /// when it is dropped (not retryable, or out of retries).
    pub fn nack(&self, id: f64, retryable: bool) -> Result<Option<f64>> {
        self.sonde
            .nack(id as u64, retryable)
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
