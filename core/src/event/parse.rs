//! Turning an incoming JSON value into a [`Message`], reporting every type problem at once.

use serde_json::Value;

use super::{Message, MessageType, Properties, Timestamp};
use crate::error::Violation;
use crate::validate::codes;

/// Reads one message from JSON. `default_type` is used when `type` is absent (for endpoints
/// such as `/v1/track` that imply it). Returns `None` when the value cannot be a message at
/// all; type problems in individual fields are pushed to `violations` and the field is left
/// unset, so later checks still run and every problem is reported.
pub fn parse_message(
    value: Value,
    default_type: Option<MessageType>,
    violations: &mut Vec<Violation>,
) -> Option<Message> {
    let Value::Object(mut obj) = value else {
        violations.push(Violation::new(
            "",
            codes::INVALID_TYPE,
            format!("a message must be a JSON object, got {}", type_name(&value)),
        ));
        return None;
    };
    let kind = match obj.remove("type") {
        Some(Value::String(t)) => match MessageType::parse(&t) {
            Some(k) => k,
            None => {
                violations.push(Violation::new(
                    "/type",
                    codes::UNKNOWN_MESSAGE_TYPE,
                    format!("type {t:?} is not one of track, page, screen, identify, group, alias"),
                ));
                return None;
            }
        },
        Some(other) => {
            violations.push(Violation::new(
                "/type",
                codes::INVALID_TYPE,
                format!("type must be a string, got {}", type_name(&other)),
            ));
            return None;
        }
        None => match default_type {
            Some(k) => k,
            None => {
                violations.push(Violation::new(
                    "/type",
                    codes::MISSING_FIELD,
                    "type is required",
                ));
                return None;
            }
        },
    };

    let mut m = Message::new(kind);
    m.event = take_string(&mut obj, "event", false, violations);
    m.name = take_string(&mut obj, "name", false, violations);
    m.message_id = take_string(&mut obj, "messageId", false, violations);
    m.user_id = take_string(&mut obj, "userId", true, violations);
    m.anonymous_id = take_string(&mut obj, "anonymousId", true, violations);
    m.session_id = take_string(&mut obj, "sessionId", true, violations);
    m.group_id = take_string(&mut obj, "groupId", true, violations);
    m.previous_id = take_string(&mut obj, "previousId", true, violations);
    m.timestamp = take_timestamp(&mut obj, "timestamp", violations);
    m.sent_at = take_timestamp(&mut obj, "sentAt", violations);
    m.received_at = take_timestamp(&mut obj, "receivedAt", violations);
    m.properties = take_object(&mut obj, "properties", violations);
    m.traits = take_object(&mut obj, "traits", violations);
    m.context = take_object(&mut obj, "context", violations);
    m.extra = obj;
    Some(m)
}

/// Ids may arrive as numbers from loosely typed clients; they are kept as their decimal text.
fn take_string(
    obj: &mut Properties,
    key: &str,
    allow_number: bool,
    violations: &mut Vec<Violation>,
) -> Option<String> {
    match obj.remove(key)? {
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

fn take_timestamp(
    obj: &mut Properties,
    key: &str,
    violations: &mut Vec<Violation>,
) -> Option<Timestamp> {
    match obj.remove(key)? {
        Value::String(s) => match Timestamp::parse(&s) {
            Some(t) => Some(t),
            None => {
                violations.push(Violation::new(
                    format!("/{key}"),
                    codes::TIMESTAMP_INVALID,
                    format!("{key} {s:?} is not an RFC 3339 date-time"),
                ));
                None
            }
        },
        Value::Null => None,
        other => {
            violations.push(Violation::new(
                format!("/{key}"),
                codes::INVALID_TYPE,
                format!(
                    "{key} must be an RFC 3339 string, got {}",
                    type_name(&other)
                ),
            ));
            None
        }
    }
}

fn take_object(obj: &mut Properties, key: &str, violations: &mut Vec<Violation>) -> Properties {
    match obj.remove(key) {
        Some(Value::Object(map)) => map,
        None | Some(Value::Null) => Properties::new(),
        Some(other) => {
            violations.push(Violation::new(
                format!("/{key}"),
                codes::INVALID_TYPE,
                format!("{key} must be an object, got {}", type_name(&other)),
            ));
            Properties::new()
        }
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
