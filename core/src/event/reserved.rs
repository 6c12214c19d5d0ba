//! Reserved `track` events with built-in schemas, and typed builders for them.
//! HTTP fields use OpenTelemetry semantic-convention names.

use serde_json::{json, Map, Value};

use super::{Message, Properties};

/// A served HTTP request.
pub const API_REQUEST: &str = "$api_request";
/// A timed operation.
pub const PERFORMANCE: &str = "$performance";
/// A user interaction in a UI.
pub const INTERACTION: &str = "$interaction";
/// An application error.
pub const ERROR: &str = "$error";
/// An alert rule firing or resolving.
pub const ALERT: &str = "$alert";

/// The `anonymousId` of an event about the system rather than a person (a request with no
/// known user, a timing, an error, an alert) on a server that requires a person: marked as
/// such instead of merged into one process-wide "person". Stores leave it out of people
/// counts; the PostHog format sends it without a person profile.
pub const PERSONLESS_ID: &str = "$personless";

/// Whether `event` is one of Sonde's own instrumentation events, which may be personless.
pub fn is_instrumentation(event: &str) -> bool {
    matches!(event, API_REQUEST | PERFORMANCE | ERROR | ALERT)
}

/// Property names shared by every runtime.
pub mod keys {
    /// HTTP method (`GET`).
    pub const HTTP_METHOD: &str = "http.request.method";
    /// Route template (`/items/{id}`).
    pub const HTTP_ROUTE: &str = "http.route";
    /// Response status code.
    pub const HTTP_STATUS: &str = "http.response.status_code";
    /// Duration in milliseconds.
    pub const DURATION_MS: &str = "duration_ms";
    /// The raw path.
    pub const URL_PATH: &str = "url.path";
    /// The client's IP address.
    pub const CLIENT_ADDRESS: &str = "client.address";
    /// The `User-Agent` header.
    pub const USER_AGENT: &str = "user_agent.original";
    /// Request body bytes.
    pub const REQUEST_BODY_SIZE: &str = "http.request.body.size";
    /// Response body bytes.
    pub const RESPONSE_BODY_SIZE: &str = "http.response.body.size";
    /// Error class or kind.
    pub const ERROR_TYPE: &str = "error.type";
    /// Error message.
    pub const ERROR_MESSAGE: &str = "error.message";
    /// Stack trace.
    pub const ERROR_STACK: &str = "error.stack";
    /// Time to first byte, in milliseconds.
    pub const TTFB_MS: &str = "ttfb_ms";
    /// Operation name of `$performance`.
    pub const OPERATION: &str = "operation";
    /// Whether the operation succeeded.
    pub const SUCCESS: &str = "success";
    /// Interaction kind: click, submit, input, scroll, ...
    pub const ACTION: &str = "action";
    /// What was interacted with (selector or label).
    pub const TARGET: &str = "target";
    /// Interaction value.
    pub const VALUE: &str = "value";
}

fn put(props: &mut Properties, key: &str, value: impl Into<Value>) {
    props.insert(key.to_owned(), value.into());
}

fn put_opt<T: Into<Value>>(props: &mut Properties, key: &str, value: Option<T>) {
    if let Some(v) = value {
        props.insert(key.to_owned(), v.into());
    }
}

/// One served HTTP request (`$api_request`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: String,
    /// The route template (`/items/{id}`), never the raw path.
    pub route: String,
    /// Response status code.
    pub status_code: u16,
    /// Time to the last response byte, in milliseconds.
    pub duration_ms: f64,
    /// The raw path (`url.path`).
    pub path: Option<String>,
    /// The client's address.
    pub client_address: Option<String>,
    /// The user agent.
    pub user_agent: Option<String>,
    /// Request body bytes.
    pub request_body_size: Option<u64>,
    /// Response body bytes.
    pub response_body_size: Option<u64>,
    /// Error class when the request failed.
    pub error_type: Option<String>,
    /// Time to first byte, in milliseconds.
    pub ttfb_ms: Option<f64>,
}

impl ApiRequest {
    /// A request with the four required fields.
    pub fn new(
        method: impl Into<String>,
        route: impl Into<String>,
        status_code: u16,
        duration_ms: f64,
    ) -> Self {
        Self {
            method: method.into(),
            route: route.into(),
            status_code,
            duration_ms,
            ..Self::default()
        }
    }

    /// The `$api_request` track message.
    pub fn into_message(self) -> Message {
        let mut p = Properties::new();
        put(&mut p, keys::HTTP_METHOD, self.method);
        put(&mut p, keys::HTTP_ROUTE, self.route);
        put(&mut p, keys::HTTP_STATUS, self.status_code);
        put(&mut p, keys::DURATION_MS, finite(self.duration_ms));
        put_opt(&mut p, keys::URL_PATH, self.path);
        put_opt(&mut p, keys::CLIENT_ADDRESS, self.client_address);
        put_opt(&mut p, keys::USER_AGENT, self.user_agent);
        put_opt(&mut p, keys::REQUEST_BODY_SIZE, self.request_body_size);
        put_opt(&mut p, keys::RESPONSE_BODY_SIZE, self.response_body_size);
        put_opt(&mut p, keys::ERROR_TYPE, self.error_type);
        put_opt(&mut p, keys::TTFB_MS, self.ttfb_ms.map(finite));
        Message::track(API_REQUEST, p)
    }
}

/// A timed operation (`$performance`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Performance {
    /// Operation name, e.g. `db.query`.
    pub operation: String,
    /// Duration in milliseconds.
    pub duration_ms: f64,
    /// Whether it succeeded.
    pub success: bool,
    /// Error class when it failed.
    pub error_type: Option<String>,
    /// Any further properties.
    pub metadata: Properties,
}

impl Performance {
    /// A measured operation.
    pub fn new(operation: impl Into<String>, duration_ms: f64, success: bool) -> Self {
        Self {
            operation: operation.into(),
            duration_ms,
            success,
            ..Self::default()
        }
    }

    /// The `$performance` track message.
    pub fn into_message(self) -> Message {
        let mut p = self.metadata;
        put(&mut p, keys::OPERATION, self.operation);
        put(&mut p, keys::DURATION_MS, finite(self.duration_ms));
        put(&mut p, keys::SUCCESS, self.success);
        put_opt(&mut p, keys::ERROR_TYPE, self.error_type);
        Message::track(PERFORMANCE, p)
    }
}

/// A user interaction (`$interaction`): click, submit, input, scroll, ...
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interaction {
    /// Interaction kind: click, submit, input, scroll, ...
    pub action: String,
    /// What was interacted with (selector or label).
    pub target: String,
    /// The page path.
    pub path: Option<String>,
    /// The value involved (input text length, scroll depth, ...).
    pub value: Option<Value>,
}

impl Interaction {
    /// An interaction with a target.
    pub fn new(action: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            target: target.into(),
            ..Self::default()
        }
    }

    /// The `$interaction` track message.
    pub fn into_message(self) -> Message {
        let mut p = Properties::new();
        put(&mut p, keys::ACTION, self.action);
        put(&mut p, keys::TARGET, self.target);
        put_opt(&mut p, keys::URL_PATH, self.path);
        put_opt(&mut p, keys::VALUE, self.value);
        Message::track(INTERACTION, p)
    }
}

/// An application error (`$error`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorEvent {
    /// Error class or kind.
    pub error_type: String,
    /// Error message.
    pub message: String,
    /// Stack trace.
    pub stack: Option<String>,
    /// Route template where it happened.
    pub route: Option<String>,
}

impl ErrorEvent {
    /// An error of a type with a message.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            message: message.into(),
            ..Self::default()
        }
    }

    /// The `$error` track message.
    pub fn into_message(self) -> Message {
        let mut p = Properties::new();
        put(&mut p, keys::ERROR_TYPE, self.error_type);
        put(&mut p, keys::ERROR_MESSAGE, self.message);
        put_opt(&mut p, keys::ERROR_STACK, self.stack);
        put_opt(&mut p, keys::HTTP_ROUTE, self.route);
        Message::track(ERROR, p)
    }
}

/// JSON cannot carry NaN or infinity; such durations become `null` and fail validation
/// with a clear type error instead of vanishing.
fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

/// Built-in schemas for the reserved events, in the tracking-plan schema language. Kept as
/// JSON text (parsed when a validator is built) rather than `json!` code: the text is a
/// fraction of the size in the browser's WebAssembly, and a test checks it names the same
/// keys as [`keys`].
const BUILTIN_SCHEMAS: &str = r#"{
"$api_request": {"type": "object",
  "required": ["http.request.method", "http.route", "http.response.status_code", "duration_ms"],
  "properties": {
    "http.request.method": {"type": "string", "minLength": 1, "maxLength": 32},
    "http.route": {"type": "string", "minLength": 1, "maxLength": 1024},
    "http.response.status_code": {"type": "integer", "minimum": 100, "maximum": 599},
    "duration_ms": {"type": "number", "minimum": 0},
    "ttfb_ms": {"type": "number", "minimum": 0},
    "url.path": {"type": "string"},
    "client.address": {"type": "string"},
    "user_agent.original": {"type": "string"},
    "http.request.body.size": {"type": "integer", "minimum": 0},
    "http.response.body.size": {"type": "integer", "minimum": 0},
    "error.type": {"type": "string"}}},
"$performance": {"type": "object",
  "required": ["operation", "duration_ms", "success"],
  "properties": {
    "operation": {"type": "string", "minLength": 1, "maxLength": 200},
    "duration_ms": {"type": "number", "minimum": 0},
    "success": {"type": "boolean"},
    "error.type": {"type": "string"}}},
"$interaction": {"type": "object",
  "required": ["action", "target"],
  "properties": {
    "action": {"type": "string", "minLength": 1, "maxLength": 64},
    "target": {"type": "string", "maxLength": 1024},
    "url.path": {"type": "string"}}},
"$error": {"type": "object",
  "required": ["error.type", "error.message"],
  "properties": {
    "error.type": {"type": "string", "minLength": 1},
    "error.message": {"type": "string"},
    "error.stack": {"type": "string"},
    "http.route": {"type": "string"}}},
"$alert": {"type": "object",
  "required": ["rule", "state", "metric", "value", "threshold"],
  "properties": {
    "rule": {"type": "string", "minLength": 1},
    "state": {"enum": ["fired", "resolved"]},
    "metric": {"type": "string", "minLength": 1},
    "value": {"type": "number"},
    "threshold": {"type": "number"}}}
}"#;

/// The reserved event names with their built-in schemas.
pub(crate) fn builtin_schemas() -> Vec<(&'static str, Value)> {
    let docs = match super::reader::parse_json(BUILTIN_SCHEMAS) {
        Ok(Value::Object(map)) => map,
        // Unreachable for the constant above; a test parses it.
        _ => Map::new(),
    };
    [API_REQUEST, PERFORMANCE, INTERACTION, ERROR, ALERT]
        .into_iter()
        // Cloned, not removed: see `remove_key`.
        .filter_map(|name| docs.get(name).cloned().map(|doc| (name, doc)))
        .collect()
}
