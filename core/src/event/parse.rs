//! Turning incoming JSON into [`Message`]s, reporting every type problem at once.
//!
//! Fields are applied one at a time to a [`Draft`], so the same rules serve a parsed
//! `Value` and the streaming path of `ingest`, which reads each batch item straight into a
//! draft with the validating [`Reader`], without building and then dismantling a map.

use std::borrow::Cow;

use serde_json::Value;

use super::raw::RawObject;
use super::reader::{Reader, ScanRules, SyntaxError};
use super::{Message, MessageType, Properties, Timestamp};
use crate::codes;
use crate::error::Violation;

/// Reads one message from JSON. `default_type` is used when `type` is absent (for endpoints
/// such as `/v1/track` that imply it). Returns `None` when the value cannot be a message at
/// all; type problems in individual fields are pushed to `violations` and the field is left
/// unset, so later checks still run and every problem is reported.
pub fn parse_message(
    value: Value,
    default_type: Option<MessageType>,
    violations: &mut Vec<Violation>,
) -> Option<Message> {
    let draft = match value {
        Value::Object(obj) => Draft::from_map(obj),
        other => Draft::not_an_object(type_name(&other)),
    };
    draft.finish(default_type, violations)
}

/// What the `type` field said.
#[derive(Debug, Default)]
enum TypeField {
    #[default]
    Absent,
    Known(MessageType),
    Problem(Violation),
}

/// A message being read field by field.
#[derive(Debug)]
pub(crate) struct Draft {
    kind: TypeField,
    message: Message,
    violations: Vec<Violation>,
    /// Set when the JSON value was not an object (its type name).
    not_object: Option<&'static str>,
}

impl Default for Draft {
    fn default() -> Self {
        Self {
            kind: TypeField::Absent,
            message: Message::new(MessageType::Track),
            violations: Vec::new(),
            not_object: None,
        }
    }
}

impl Draft {
    /// A draft from the fields of an object.
    pub fn from_map(obj: serde_json::Map<String, Value>) -> Self {
        let mut d = Draft::default();
        for (key, value) in obj {
            d.apply(Cow::Owned(key), value);
        }
        d
    }

    pub fn not_an_object(type_name: &'static str) -> Self {
        Self {
            not_object: Some(type_name),
            ..Self::default()
        }
    }

    /// Applies one top-level field; the last occurrence of a duplicated key wins.
    fn apply(&mut self, key: Cow<'static, str>, value: Value) {
        let m = &mut self.message;
        let v = &mut self.violations;
        match key.as_ref() {
            "type" => {
                self.kind = match value {
                    Value::String(t) => type_from_text(&t),
                    other => type_not_text(type_name(&other)),
                }
            }
            "event" => m.event = string_field("event", value, false, v),
            "name" => m.name = string_field("name", value, false, v),
            "messageId" => m.message_id = string_field("messageId", value, false, v),
            "userId" => m.user_id = string_field("userId", value, true, v),
            "anonymousId" => m.anonymous_id = string_field("anonymousId", value, true, v),
            "sessionId" => m.session_id = string_field("sessionId", value, true, v),
            "groupId" => m.group_id = string_field("groupId", value, true, v),
            "previousId" => m.previous_id = string_field("previousId", value, true, v),
            "timestamp" => m.timestamp = timestamp_field("timestamp", value, v),
            "sentAt" => m.sent_at = timestamp_field("sentAt", value, v),
            "receivedAt" => m.received_at = timestamp_field("receivedAt", value, v),
            "properties" => m.properties = object_field("properties", value, v),
            "traits" => m.traits = object_field("traits", value, v),
            "context" => m.context = object_field("context", value, v),
            _ => {
                m.extra.insert(key.into_owned(), value);
            }
        }
    }

    /// Applies `type` or a timestamp read as text.
    fn apply_text(&mut self, key: &str, text: Text<'_>) {
        let v = &mut self.violations;
        if key == "type" {
            self.kind = match text {
                Text::Str(t) => type_from_text(&t),
                Text::Null => type_not_text("null"),
                Text::Other(name) => type_not_text(name),
            };
            return;
        }
        let parsed = match text {
            Text::Str(t) => timestamp_from_text(key, &t, v),
            Text::Null => None,
            Text::Other(name) => timestamp_not_text(key, name, v),
        };
        let m = &mut self.message;
        match key {
            "timestamp" => m.timestamp = parsed,
            "sentAt" => m.sent_at = parsed,
            _ => m.received_at = parsed,
        }
    }

    /// Applies `properties`, `traits` or `context` read as raw JSON text: the object, or
    /// the text of what came instead (`null`, or a value of the wrong type).
    fn apply_raw(&mut self, key: &str, value: Result<RawObject, &str>) {
        let (map, slot) = match key {
            "properties" => (
                &mut self.message.properties,
                &mut self.message.raw.properties,
            ),
            "traits" => (&mut self.message.traits, &mut self.message.raw.traits),
            _ => (&mut self.message.context, &mut self.message.raw.context),
        };
        // A later duplicate key replaces an earlier one, as with parsed objects.
        map.clear();
        *slot = None;
        match value {
            Ok(object) => *slot = Some(object),
            Err("null") => {}
            Err(text) => self.violations.push(Violation::new(
                format!("/{key}"),
                codes::INVALID_TYPE,
                format!("{key} must be an object, got {}", raw_type_name(text)),
            )),
        }
    }

    /// Reads the message at the reader, one field at a time: `properties`, `traits` and
    /// `context` kept as text, validated and scanned with `rules` in the same pass (see
    /// `raw`); `type` and timestamps read as borrowed text.
    pub(crate) fn read(r: &mut Reader<'_>, rules: &ScanRules<'_>) -> Result<Draft, SyntaxError> {
        if r.peek() != Some(b'{') {
            let text = r.skip_value()?;
            return Ok(Draft::not_an_object(raw_type_name(text)));
        }
        r.begin_object()?;
        let mut draft = Draft::default();
        let mut first = true;
        while let Some(key) = r.next_key(&mut first)? {
            let key = known_field(key);
            match key.as_ref() {
                "properties" | "traits" | "context" => {
                    if r.peek() == Some(b'{') {
                        let (text, scan) = r.scan_object(rules)?;
                        draft.apply_raw(
                            &key,
                            Ok(RawObject::scanned(text.into_owned(), scan, rules)),
                        );
                    } else {
                        let text = r.skip_value()?;
                        draft.apply_raw(&key, Err(text));
                    }
                }
                "type" | "timestamp" | "sentAt" | "receivedAt" => {
                    let text = match r.peek() {
                        Some(b'"') => Text::Str(r.string()?),
                        _ => match r.skip_value()? {
                            "null" => Text::Null,
                            other => Text::Other(raw_type_name(other)),
                        },
                    };
                    draft.apply_text(&key, text);
                }
                _ => {
                    let value = r.value()?;
                    draft.apply(key, value);
                }
            }
        }
        Ok(draft)
    }

    /// The message, or `None` when it cannot be one (not an object, no usable type).
    /// Field problems go to `violations`; a type problem is reported alone, since nothing
    /// else can be judged without knowing the type.
    pub fn finish(
        self,
        default_type: Option<MessageType>,
        violations: &mut Vec<Violation>,
    ) -> Option<Message> {
        if let Some(name) = self.not_object {
            violations.push(Violation::new(
                "",
                codes::INVALID_TYPE,
                format!("a message must be a JSON object, got {name}"),
            ));
            return None;
        }
        let kind = match (self.kind, default_type) {
            (TypeField::Known(k), _) | (TypeField::Absent, Some(k)) => k,
            (TypeField::Problem(v), _) => {
                violations.push(v);
                return None;
            }
            (TypeField::Absent, None) => {
                violations.push(Violation::new(
                    "/type",
                    codes::MISSING_FIELD,
                    "type is required",
                ));
                return None;
            }
        };
        violations.extend(self.violations);
        let mut message = self.message;
        message.kind = kind;
        Some(message)
    }
}

/// The top-level field names of a message, so that known keys cost no allocation.
const FIELD_NAMES: [&str; 15] = [
    "type",
    "event",
    "name",
    "messageId",
    "userId",
    "anonymousId",
    "sessionId",
    "groupId",
    "previousId",
    "timestamp",
    "sentAt",
    "receivedAt",
    "properties",
    "traits",
    "context",
];

/// A message key: a static name for known fields (no allocation), owned text otherwise.
fn known_field(key: Cow<'_, str>) -> Cow<'static, str> {
    match FIELD_NAMES.iter().find(|&&n| n == key) {
        Some(&known) => Cow::Borrowed(known),
        None => Cow::Owned(key.into_owned()),
    }
}

/// Ids may arrive as numbers from loosely typed clients; they are kept as their decimal text.
fn string_field(
    key: &str,
    value: Value,
    allow_number: bool,
    violations: &mut Vec<Violation>,
) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Null => None,
        Value::Number(n) if allow_number && (n.is_i64() || n.is_u64()) => Some(n.to_string()),
        other => {
            violations.push(Violation::new(
                format!("/{key}"),
                codes::INVALID_TYPE,
                format!("{key} must be a string, got {}", type_name(&other)),
            ));
            None
        }
    }
}

fn timestamp_field(key: &str, value: Value, violations: &mut Vec<Violation>) -> Option<Timestamp> {
    match value {
        Value::String(s) => timestamp_from_text(key, &s, violations),
        Value::Null => None,
        other => timestamp_not_text(key, type_name(&other), violations),
    }
}

fn timestamp_from_text(key: &str, s: &str, violations: &mut Vec<Violation>) -> Option<Timestamp> {
    let parsed = Timestamp::parse(s);
    if parsed.is_none() {
        violations.push(Violation::new(
            format!("/{key}"),
            codes::TIMESTAMP_INVALID,
            format!(
                "{key} {} is not an RFC 3339 date-time",
                crate::event::json::quoted(s)
            ),
        ));
    }
    parsed
}

fn timestamp_not_text(
    key: &str,
    type_name: &str,
    violations: &mut Vec<Violation>,
) -> Option<Timestamp> {
    violations.push(Violation::new(
        format!("/{key}"),
        codes::INVALID_TYPE,
        format!("{key} must be an RFC 3339 string, got {type_name}"),
    ));
    None
}

fn type_from_text(t: &str) -> TypeField {
    match MessageType::parse(t) {
        Some(k) => TypeField::Known(k),
        None => TypeField::Problem(Violation::new(
            "/type",
            codes::UNKNOWN_MESSAGE_TYPE,
            format!(
                "type {} is not one of track, page, screen, identify, group, alias",
                crate::event::json::quoted(t)
            ),
        )),
    }
}

fn type_not_text(type_name: &str) -> TypeField {
    TypeField::Problem(Violation::new(
        "/type",
        codes::INVALID_TYPE,
        format!("type must be a string, got {type_name}"),
    ))
}

/// A JSON value read only for its text: strings are borrowed from the input when they
/// have no escapes, so `type` and timestamps cost no allocation.
enum Text<'a> {
    Str(Cow<'a, str>),
    Null,
    /// Any other JSON type (its name).
    Other(&'static str),
}

fn object_field(key: &str, value: Value, violations: &mut Vec<Violation>) -> Properties {
    match value {
        Value::Object(map) => map,
        Value::Null => Properties::new(),
        other => {
            violations.push(Violation::new(
                format!("/{key}"),
                codes::INVALID_TYPE,
                format!("{key} must be an object, got {}", type_name(&other)),
            ));
            Properties::new()
        }
    }
}

/// The JSON type name of valid JSON text, from its first character.
fn raw_type_name(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ if text.contains(['.', 'e', 'E']) => "number",
        _ => "integer",
    }
}

/// JSON type name used in messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn field_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            (-1e3f64..1e3).prop_map(|f| json!(f)),
            Just(json!("track")),
            Just(json!("2026-01-02T03:04:05Z")),
            Just(json!("2026-02-30T00:00:00Z")),
            "[a-z\"\\\\]{0,6}".prop_map(Value::String),
            Just(json!({"a": [1, {"b": null}]})),
            Just(json!([1, 2])),
        ]
    }

    proptest! {
        /// Reading straight from the JSON stream (with raw objects) and reading a parsed
        /// value give the same message and the same violations.
        #[test]
        fn streaming_and_parsed_drafts_agree(
            fields in proptest::collection::btree_map(
                "(type|event|name|messageId|userId|anonymousId|sessionId|groupId|previousId|timestamp|sentAt|receivedAt|properties|traits|context|integrations)",
                field_value(),
                0..10,
            ),
            default_track in any::<bool>(),
        ) {
            let doc = Value::Object(fields.into_iter().collect());
            let default_type = default_track.then_some(MessageType::Track);
            let mut from_value = Vec::new();
            let a = parse_message(doc.clone(), default_type, &mut from_value);
            let text = doc.to_string();
            let draft = Draft::read(&mut Reader::new(&text), &ScanRules::NONE).unwrap();
            let mut from_stream = Vec::new();
            let b = draft.finish(default_type, &mut from_stream).map(|mut m| {
                m.materialize_all().unwrap();
                m
            });
            let key = |v: &Violation| (v.path.clone(), v.code.clone(), v.message.clone());
            let mut x: Vec<_> = from_value.iter().map(key).collect();
            let mut y: Vec<_> = from_stream.iter().map(key).collect();
            x.sort();
            y.sort();
            prop_assert_eq!(x, y);
            prop_assert_eq!(a, b);
        }
    }
}
