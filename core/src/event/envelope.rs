//! Event arguments as JSON text, the way the JS bindings (Node, browser) pass them: object
//! arguments parsed (or, for properties, kept as text), and the envelope options — `userId`,
//! `anonymousId`, `sessionId`, `messageId`, `timestamp`, `context` — applied to a message.

use serde_json::Value;

use super::reserved::{ApiRequest, ErrorEvent, Interaction, Performance};
use super::{Message, Properties, Timestamp};
use crate::error::{Error, ErrorKind};

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidConfig, message)
}

/// An object argument given as JSON text: absent or `null` is an empty object; anything
/// else that is not an object is refused, naming the argument.
pub fn object_arg(json: Option<&str>, what: &str) -> Result<Properties, Error> {
    let Some(json) = json else {
        return Ok(Properties::new());
    };
    match super::reader::parse_json(json) {
        Ok(Value::Null) => Ok(Properties::new()),
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(invalid(format!(
            "{what} must be an object, got {}",
            super::json::shown(&other)
        ))),
        Err(e) => Err(invalid(format!("{what} is not JSON: {e}"))),
    }
}

fn text(options: &Properties, key: &str) -> Option<String> {
    options.get(key).and_then(Value::as_str).map(str::to_owned)
}

impl Message {
    /// Properties given as JSON text (absent or `null`: none), kept as text and scanned
    /// under `sonde`'s rules; see [`crate::Sonde::with_properties_json`].
    pub fn with_properties_arg(
        self,
        sonde: &crate::Sonde,
        json: Option<String>,
    ) -> Result<Self, Error> {
        match json {
            Some(json) if json != "null" => sonde.with_properties_json(self, json),
            _ => Ok(self),
        }
    }

    /// Applies the envelope options (camelCase, as JS passes them); see
    /// [`Envelope::from_options`].
    pub fn with_envelope(self, options: &Properties) -> Result<Self, Error> {
        Ok(Envelope::from_options(options)?.apply(self))
    }
}

/// The identity and envelope options every event method takes, in every binding: who
/// (`user_id`, `anonymous_id`, `session_id`), which (`message_id`), when (`timestamp`)
/// and the `context` object. Each binding reads them its own way (keyword arguments in
/// Python, an options object here) and applies them with [`Envelope::apply`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    /// `userId`.
    pub user_id: Option<String>,
    /// `anonymousId`.
    pub anonymous_id: Option<String>,
    /// `sessionId`.
    pub session_id: Option<String>,
    /// `messageId` (the dedupe key; generated when absent).
    pub message_id: Option<String>,
    /// When it happened (now when absent).
    pub timestamp: Option<Timestamp>,
    /// `context` (empty: none).
    pub context: Properties,
}

impl Envelope {
    /// From a JS-style options object: `userId`, `anonymousId`, `sessionId`, `messageId`,
    /// `timestamp` (RFC 3339) and `context`; other keys are left to the caller.
    pub fn from_options(options: &Properties) -> Result<Self, Error> {
        let timestamp = match options.get("timestamp").filter(|v| !v.is_null()) {
            None => None,
            Some(t) => Some(t.as_str().and_then(Timestamp::parse).ok_or_else(|| {
                invalid(format!(
                    "timestamp must be an RFC 3339 string or a Date, got {}",
                    super::json::shown(t)
                ))
            })?),
        };
        Ok(Self {
            user_id: text(options, "userId"),
            anonymous_id: text(options, "anonymousId"),
            session_id: text(options, "sessionId"),
            message_id: text(options, "messageId"),
            timestamp,
            context: match options.get("context") {
                Some(Value::Object(context)) => context.clone(),
                _ => Properties::new(),
            },
        })
    }

    /// Sets what is given on `message`, leaving the rest as it is.
    pub fn apply(self, mut message: Message) -> Message {
        if let Some(id) = self.user_id {
            message = message.with_user_id(id);
        }
        if let Some(id) = self.anonymous_id {
            message = message.with_anonymous_id(id);
        }
        if let Some(id) = self.session_id {
            message = message.with_session_id(id);
        }
        if let Some(id) = self.message_id {
            message = message.with_message_id(id);
        }
        if let Some(t) = self.timestamp {
            message = message.with_timestamp(t);
        }
        if !self.context.is_empty() {
            message = message.with_context(self.context);
        }
        message
    }
}

/// The event methods of the bindings that pass JSON text (Node and the browser), once:
/// each builds its message from the call's arguments, object arguments and the envelope
/// options as JSON text. The bindings only declare the methods and send the result.
pub mod calls {
    use super::{object_arg, Envelope};
    use crate::error::Error;
    use crate::event::reserved::{ApiRequest, ErrorEvent, Interaction, Performance};
    use crate::event::{Message, Properties};
    use crate::Sonde;

    fn enveloped(message: Message, options: &Properties) -> Result<Message, Error> {
        Ok(Envelope::from_options(options)?.apply(message))
    }

    fn options_of(options: Option<&str>) -> Result<Properties, Error> {
        object_arg(options, "options")
    }

    /// `track(event, properties?, options?)`.
    pub fn track(
        sonde: &Sonde,
        event: String,
        properties: Option<String>,
        options: Option<&str>,
    ) -> Result<Message, Error> {
        let message =
            Message::track(event, Properties::new()).with_properties_arg(sonde, properties)?;
        enveloped(message, &options_of(options)?)
    }

    /// `track(event, properties?, { userId, anonymousId, sessionId })` with the ids given as
    /// strings: the common call, without an options object to parse.
    pub fn track_as(
        sonde: &Sonde,
        event: String,
        properties: Option<String>,
        user_id: Option<String>,
        anonymous_id: Option<String>,
        session_id: Option<String>,
    ) -> Result<Message, Error> {
        let envelope = Envelope {
            user_id,
            anonymous_id,
            session_id,
            ..Envelope::default()
        };
        Ok(envelope.apply(
            Message::track(event, Properties::new()).with_properties_arg(sonde, properties)?,
        ))
    }

    /// `page(name?, properties?, options?)`.
    pub fn page(
        sonde: &Sonde,
        name: Option<String>,
        properties: Option<String>,
        options: Option<&str>,
    ) -> Result<Message, Error> {
        let message =
            Message::page(name, Properties::new()).with_properties_arg(sonde, properties)?;
        enveloped(message, &options_of(options)?)
    }

    /// `screen(name?, properties?, options?)`.
    pub fn screen(
        sonde: &Sonde,
        name: Option<String>,
        properties: Option<String>,
        options: Option<&str>,
    ) -> Result<Message, Error> {
        let message =
            Message::screen(name, Properties::new()).with_properties_arg(sonde, properties)?;
        enveloped(message, &options_of(options)?)
    }

    /// `identify(userId, traits?, options?)`.
    pub fn identify(
        user_id: String,
        traits: Option<&str>,
        options: Option<&str>,
    ) -> Result<Message, Error> {
        let message = Message::identify(user_id, object_arg(traits, "traits")?);
        enveloped(message, &options_of(options)?)
    }

    /// `group(groupId, traits?, options?)`.
    pub fn group(
        group_id: String,
        traits: Option<&str>,
        options: Option<&str>,
    ) -> Result<Message, Error> {
        let message = Message::group(group_id, object_arg(traits, "traits")?);
        enveloped(message, &options_of(options)?)
    }

    /// `alias(userId, previousId, options?)`.
    pub fn alias(
        user_id: String,
        previous_id: String,
        options: Option<&str>,
    ) -> Result<Message, Error> {
        enveloped(Message::alias(user_id, previous_id), &options_of(options)?)
    }

    /// `trackApiRequest(request)`: the request's facts ([`ApiRequest::from_options`]) and
    /// the envelope, in one object.
    pub fn api_request(request: &str) -> Result<Message, Error> {
        let request = object_arg(Some(request), "request")?;
        enveloped(ApiRequest::from_options(&request).into_message(), &request)
    }

    /// `options`: `{path?, value?}` plus the envelope.
    pub fn interaction(
        action: String,
        target: String,
        options: Option<&str>,
    ) -> Result<Message, Error> {
        let options = options_of(options)?;
        enveloped(
            Interaction::from_options(action, target, &options).into_message(),
            &options,
        )
    }

    /// `options`: `{stack?, route?}` plus the envelope.
    pub fn error(
        error_type: String,
        message: String,
        options: Option<&str>,
    ) -> Result<Message, Error> {
        let options = options_of(options)?;
        enveloped(
            ErrorEvent::from_options(error_type, message, &options).into_message(),
            &options,
        )
    }

    /// `options`: `{success = true, errorType?, metadata?}` plus the envelope.
    pub fn performance(
        operation: String,
        duration_ms: f64,
        options: Option<&str>,
    ) -> Result<Message, Error> {
        let options = options_of(options)?;
        enveloped(
            Performance::from_options(operation, duration_ms, &options).into_message(),
            &options,
        )
    }
}

impl ApiRequest {
    /// From a JS-style object: `method`, `route`, `statusCode`, `durationMs`, and optional
    /// `path`, `clientAddress`, `userAgent`, `requestBodySize`, `responseBodySize`,
    /// `errorType`, `ttfbMs`. A missing or mistyped required field becomes a value the
    /// `$api_request` schema refuses with its code (empty text, status 0, a `null` duration),
    /// never a silent default that passes.
    pub fn from_options(options: &Properties) -> Self {
        let number = |key: &str| options.get(key).and_then(Value::as_f64);
        let status = number("statusCode")
            .filter(|s| s.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(s))
            .map_or(0, |s| s as u16);
        Self {
            path: text(options, "path"),
            client_address: text(options, "clientAddress"),
            user_agent: text(options, "userAgent"),
            request_body_size: options.get("requestBodySize").and_then(Value::as_u64),
            response_body_size: options.get("responseBodySize").and_then(Value::as_u64),
            error_type: text(options, "errorType"),
            ttfb_ms: number("ttfbMs"),
            ..Self::new(
                text(options, "method").unwrap_or_default(),
                text(options, "route").unwrap_or_default(),
                status,
                number("durationMs").unwrap_or(f64::NAN),
            )
        }
    }
}

impl Performance {
    /// From JS-style options: `success` (default true), `errorType`, `metadata`.
    pub fn from_options(
        operation: impl Into<String>,
        duration_ms: f64,
        options: &Properties,
    ) -> Self {
        Self {
            error_type: text(options, "errorType"),
            metadata: match options.get("metadata") {
                Some(Value::Object(m)) => m.clone(),
                _ => Properties::new(),
            },
            ..Self::new(
                operation,
                duration_ms,
                options
                    .get("success")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            )
        }
    }
}

impl Interaction {
    /// From JS-style options: `path`, `value`.
    pub fn from_options(
        action: impl Into<String>,
        target: impl Into<String>,
        options: &Properties,
    ) -> Self {
        Self {
            path: text(options, "path"),
            value: options.get("value").cloned(),
            ..Self::new(action, target)
        }
    }
}

impl ErrorEvent {
    /// From JS-style options: `stack`, `route`.
    pub fn from_options(
        error_type: impl Into<String>,
        message: impl Into<String>,
        options: &Properties,
    ) -> Self {
        Self {
            stack: text(options, "stack"),
            route: text(options, "route"),
            ..Self::new(error_type, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_requests_from_js_objects() {
        let full = json!({"method": "GET", "route": "/items/{id}", "statusCode": 200, "durationMs": 12.5,
            "path": "/items/7", "requestBodySize": 0, "ttfbMs": 3.0});
        let r = ApiRequest::from_options(full.as_object().expect("object"));
        assert_eq!(
            (r.method.as_str(), r.route.as_str(), r.status_code),
            ("GET", "/items/{id}", 200)
        );
        assert_eq!(
            (r.duration_ms, r.ttfb_ms, r.request_body_size),
            (12.5, Some(3.0), Some(0))
        );
        assert_eq!(r.path.as_deref(), Some("/items/7"));
        let bad = json!({"statusCode": 200.5});
        let r = ApiRequest::from_options(bad.as_object().expect("object"));
        assert_eq!(r.status_code, 0);
        assert!(r.duration_ms.is_nan() && r.method.is_empty());
    }

    #[test]
    fn calls_build_messages_with_their_envelope() {
        let sonde =
            crate::Sonde::new(crate::Config::default().delivery(crate::DeliveryMode::Manual))
                .expect("client");
        let m = calls::track(
            &sonde,
            "Signed Up".into(),
            Some(r#"{"plan":"pro"}"#.into()),
            Some(r#"{"userId":"u1","messageId":"m1","timestamp":"2026-01-01T00:00:00Z","context":{"ip":"1.2.3.4"}}"#),
        )
        .expect("valid");
        let json: Value = serde_json::from_str(&m.to_json_string()).expect("JSON");
        assert_eq!(json["event"], "Signed Up");
        assert_eq!(json["userId"], "u1");
        assert_eq!(json["messageId"], "m1");
        assert_eq!(json["timestamp"], "2026-01-01T00:00:00.000Z");
        assert_eq!(json["context"]["ip"], "1.2.3.4");
        assert_eq!(json["properties"]["plan"], "pro");
        let e = calls::identify("u".into(), Some("[1]"), None).expect_err("traits");
        assert!(e.message().contains("traits must be an object"));
        let e = calls::page(&sonde, None, None, Some(r#"{"timestamp":"yesterday"}"#))
            .expect_err("time");
        assert!(e.message().contains("timestamp must be an RFC 3339 string"));
        let perf = calls::performance(
            "db".into(),
            2.0,
            Some(r#"{"success":false,"anonymousId":"a"}"#),
        )
        .expect("valid");
        let json: Value = serde_json::from_str(&perf.to_json_string()).expect("JSON");
        assert_eq!(
            (
                json["anonymousId"].as_str(),
                json["properties"]["success"].as_bool()
            ),
            (Some("a"), Some(false))
        );
    }

    #[test]
    fn object_arguments() {
        assert!(object_arg(None, "x").expect("empty").is_empty());
        assert!(object_arg(Some("null"), "x").expect("empty").is_empty());
        assert_eq!(object_arg(Some(r#"{"a":1}"#), "x").expect("object")["a"], 1);
        let e = object_arg(Some("[1]"), "traits").expect_err("not an object");
        assert!(e.message().contains("traits must be an object"));
        assert!(object_arg(Some("{"), "x").is_err());
    }

    #[test]
    fn typed_events_from_options() {
        let o = json!({"success": false, "errorType": "Timeout", "metadata": {"rows": 3},
                       "path": "/cart", "value": 2, "stack": "at x", "route": "/items/:id"});
        let o = o.as_object().expect("object");
        let perf = Performance::from_options("db", 1.5, o);
        assert!(!perf.success);
        assert_eq!(perf.error_type.as_deref(), Some("Timeout"));
        assert_eq!(perf.metadata["rows"], 3);
        assert!(Performance::from_options("db", 1.5, &Properties::new()).success);
        let click = Interaction::from_options("click", "#buy", o);
        assert_eq!(
            (click.path.as_deref(), click.value),
            (Some("/cart"), Some(json!(2)))
        );
        let error = ErrorEvent::from_options("TypeError", "bad", o);
        assert_eq!(
            (error.stack.as_deref(), error.route.as_deref()),
            (Some("at x"), Some("/items/:id"))
        );
    }

    #[test]
    fn envelope_options() {
        let options = json!({"userId": "u", "anonymousId": "a", "sessionId": "s", "messageId": "m",
                             "timestamp": "2026-01-01T00:00:00Z", "context": {"ip": "10.0.0.1"}});
        let m = Message::track("E", Properties::new())
            .with_envelope(options.as_object().expect("object"))
            .expect("valid");
        assert_eq!(m.user_id.as_deref(), Some("u"));
        assert_eq!(m.anonymous_id.as_deref(), Some("a"));
        assert_eq!(m.session_id.as_deref(), Some("s"));
        assert_eq!(m.message_id.as_deref(), Some("m"));
        assert_eq!(m.timestamp, Timestamp::parse("2026-01-01T00:00:00Z"));
        assert_eq!(m.context["ip"], "10.0.0.1");
        let bad = json!({"timestamp": "yesterday"});
        assert!(Message::track("E", Properties::new())
            .with_envelope(bad.as_object().expect("object"))
            .is_err());
    }
}
