//! Request bodies: the Segment batch (`{"batch": [...], "sentAt": ...}`, the events as they
//! are) and PostHog's batch (`{"api_key": ..., "batch": [...]}`, each event mapped).
//!
//! PostHog mapping, by Segment type:
//!
//! | Segment | PostHog `event` | PostHog `properties` |
//! | --- | --- | --- |
//! | track | the event name | the properties |
//! | page | `$pageview` | the properties, `$current_url` from `url`, `title`/`name` kept |
//! | screen | `$screen` | the properties, `$screen_name` from `name` |
//! | identify | `$identify` | `$set` from `traits` |
//! | group | `$groupidentify` | `$group_type` (`traits.group_type`, else `company`), `$group_key` from `groupId`, `$group_set` from `traits` |
//! | alias | `$create_alias` | `alias` = `userId`; `distinct_id` is `previousId` |
//!
//! Every event also gets `distinct_id` (`userId`, else `anonymousId`), `timestamp`, `uuid`
//! (the `messageId`), `$lib` = `sonde`, `$ip` from `context.ip` and `$anon_distinct_id` when
//! both ids are known. A personless event (`anonymousId` `$personless`, no user) is sent as
//! PostHog's personless events are: `distinct_id` its `messageId`, and
//! `$process_person_profile: false`.

use serde_json::{json, Map, Value};

use super::super::{BufferedEvent, SinkError};
use crate::event::Timestamp;

/// The body a collector expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardFormat {
    /// Segment's `/v1/batch` (Sonde's collector, Segment, RudderStack, Jitsu, ...).
    Segment,
    /// PostHog's `/batch/`.
    PostHog,
}

impl ForwardFormat {
    /// The option value: `"segment"` or `"posthog"`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "segment" => Some(Self::Segment),
            "posthog" => Some(Self::PostHog),
            _ => None,
        }
    }

    /// The option value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Segment => "segment",
            Self::PostHog => "posthog",
        }
    }

    /// The request body for `events`.
    pub(super) fn body(
        self,
        events: &[BufferedEvent],
        write_key: Option<&str>,
        sent_at: Timestamp,
    ) -> Result<String, SinkError> {
        match self {
            Self::Segment => Ok(segment_body(events, sent_at)),
            Self::PostHog => posthog_body(events, write_key),
        }
    }
}

fn segment_body(events: &[BufferedEvent], sent_at: Timestamp) -> String {
    let size: usize = events.iter().map(|e| e.json.len() + 1).sum();
    let mut out = String::with_capacity(size + 64);
    out.push_str("{\"batch\":");
    super::super::push_json_array(events, &mut out);
    out.push_str(",\"sentAt\":\"");
    out.push_str(&sent_at.to_string());
    out.push_str("\"}");
    out
}

fn posthog_body(events: &[BufferedEvent], api_key: Option<&str>) -> Result<String, SinkError> {
    let batch = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let event: Map<String, Value> = serde_json::from_str(&e.json).map_err(|err| {
                SinkError::permanent(format!("event {i} of the batch cannot be read back: {err}"))
            })?;
            Ok(posthog_event(event))
        })
        .collect::<Result<Vec<_>, SinkError>>()?;
    let body = json!({"api_key": api_key.unwrap_or(""), "batch": batch});
    Ok(body.to_string())
}

/// One Segment event as a PostHog event (see the module documentation).
pub(super) fn posthog_event(mut e: Map<String, Value>) -> Value {
    let text =
        |e: &Map<String, Value>, key: &str| e.get(key).and_then(Value::as_str).map(str::to_owned);
    let kind = text(&e, "type").unwrap_or_else(|| "track".to_owned());
    let user_id = text(&e, "userId");
    let anonymous_id = text(&e, "anonymousId");
    let mut distinct_id = user_id.clone().or_else(|| anonymous_id.clone());
    let mut properties = match e.remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    let traits = match e.remove("traits") {
        Some(Value::Object(t)) => t,
        _ => Map::new(),
    };
    let name = text(&e, "name");
    let event = match kind.as_str() {
        "page" => {
            if let Some(url) = properties.get("url").cloned() {
                properties.insert("$current_url".to_owned(), url);
            }
            if let Some(name) = name {
                properties.entry("name").or_insert(Value::String(name));
            }
            "$pageview".to_owned()
        }
        "screen" => {
            if let Some(name) = name {
                properties.insert("$screen_name".to_owned(), Value::String(name));
            }
            "$screen".to_owned()
        }
        "identify" => {
            properties.insert("$set".to_owned(), Value::Object(traits));
            "$identify".to_owned()
        }
        "group" => {
            let group_type = traits
                .get("group_type")
                .cloned()
                .unwrap_or_else(|| Value::String("company".to_owned()));
            properties.insert("$group_type".to_owned(), group_type);
            properties.insert(
                "$group_key".to_owned(),
                e.get("groupId").cloned().unwrap_or(Value::Null),
            );
            properties.insert("$group_set".to_owned(), Value::Object(traits));
            "$groupidentify".to_owned()
        }
        "alias" => {
            if let Some(previous) = text(&e, "previousId") {
                distinct_id = Some(previous);
            }
            properties.insert(
                "alias".to_owned(),
                user_id.clone().map_or(Value::Null, Value::String),
            );
            "$create_alias".to_owned()
        }
        _ => text(&e, "event").unwrap_or_default(),
    };
    if user_id.is_none() && anonymous_id.as_deref() == Some(crate::event::reserved::PERSONLESS_ID) {
        // PostHog's personless events: their own distinct id, and no person profile made.
        distinct_id = text(&e, "messageId").or(distinct_id);
        properties.insert("$process_person_profile".to_owned(), Value::Bool(false));
    }
    let distinct_id = distinct_id.map_or(Value::Null, Value::String);
    properties.insert("distinct_id".to_owned(), distinct_id.clone());
    properties.insert("$lib".to_owned(), Value::String("sonde".to_owned()));
    properties.insert(
        "$lib_version".to_owned(),
        Value::String(env!("CARGO_PKG_VERSION").to_owned()),
    );
    if let (Some(_), Some(anonymous)) = (&user_id, anonymous_id) {
        properties.insert("$anon_distinct_id".to_owned(), Value::String(anonymous));
    }
    if let Some(ip) = e
        .get("context")
        .and_then(|c| c.get("ip"))
        .filter(|ip| ip.is_string())
    {
        properties.insert("$ip".to_owned(), ip.clone());
    }
    let mut out = Map::new();
    out.insert("event".to_owned(), Value::String(event));
    out.insert("distinct_id".to_owned(), distinct_id);
    out.insert("properties".to_owned(), Value::Object(properties));
    if let Some(ts) = e.remove("timestamp") {
        out.insert("timestamp".to_owned(), ts);
    }
    // PostHog refuses a `uuid` that is not one; a custom messageId is left out.
    if let Some(id) = e
        .remove("messageId")
        .filter(|id| id.as_str().is_some_and(is_uuid))
    {
        out.insert("uuid".to_owned(), id);
    }
    Value::Object(out)
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}
