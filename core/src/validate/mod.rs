//! Validation: limits, identity rules, built-in schemas for reserved events, and the user's
//! tracking plan. Every violation is reported, each with a JSON pointer and a stable code.

mod pattern;
mod plan;
mod pointer;
mod schema;

use std::collections::HashMap;

use serde_json::Value;

pub use pattern::{set_pattern_compiler, PatternCompiler, PatternMatcher};
pub use plan::{PlanMode, TrackingPlan};
pub use schema::Schema;

use crate::codes;
use crate::error::Violation;
use crate::event::{reserved, Library, Message, MessageType, Properties};
use pointer::Pointer;

/// Size and shape limits. Defaults follow the Segment tracking API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Serialized size of one message (32 KiB).
    pub max_message_bytes: usize,
    /// Size of one ingested batch request (500 KiB).
    pub max_batch_bytes: usize,
    /// Messages in one ingested batch request (2,500).
    pub max_batch_messages: usize,
    /// Nesting depth of properties, traits and context (10).
    pub max_depth: usize,
    /// Characters in one object key (255).
    pub max_key_length: usize,
    /// Characters in a `track` event name or a page/screen name (200).
    pub max_event_name_length: usize,
    /// Characters in an id field (`userId`, `messageId`, ...) (255).
    pub max_id_length: usize,
    /// How far in the future a timestamp may be, in milliseconds (24 h).
    pub max_future_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 32 * 1024,
            max_batch_bytes: 500 * 1024,
            max_batch_messages: 2500,
            max_depth: 10,
            max_key_length: 255,
            max_event_name_length: 200,
            max_id_length: 255,
            max_future_ms: 24 * 3600 * 1000,
        }
    }
}

/// The result of checking one message: `errors` reject it, `warnings` (tracking plan in
/// `warn` mode) do not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checked {
    /// Violations that reject the message.
    pub errors: Vec<Violation>,
    /// Tracking-plan warnings (`warn` mode).
    pub warnings: Vec<Violation>,
}

impl Checked {
    /// True when there are no errors.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Checks messages against limits, built-in schemas and an optional tracking plan.
#[derive(Debug, Clone)]
pub struct Validator {
    limits: Limits,
    builtin: HashMap<&'static str, Schema>,
    plan: Option<TrackingPlan>,
}

impl Validator {
    /// A validator with these limits and an optional plan.
    pub fn new(limits: Limits, plan: Option<TrackingPlan>) -> Self {
        let mut builtin = HashMap::new();
        for (name, doc) in reserved::builtin_schemas() {
            // The built-in documents are fixed and known to compile; a test checks that.
            let mut ignored = Vec::new();
            builtin.insert(name, Schema::compile(&doc, "", &mut ignored));
        }
        Self {
            limits,
            builtin,
            plan,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The tracking plan, if any.
    pub fn plan(&self) -> Option<&TrackingPlan> {
        self.plan.as_ref()
    }

    /// Whether `check` needs a track event's properties as a map: the built-in schemas of
    /// reserved events (whose statistics read them too). A tracking plan's schema reads
    /// properties kept as text directly.
    pub(crate) fn reads_properties(&self, event: &str) -> bool {
        event.starts_with('$') && self.builtin.contains_key(event)
    }

    /// Every check except the serialized size, which the pipeline measures on the bytes it
    /// actually buffers (see [`Validator::check_size`]).
    pub fn check(&self, m: &Message, now_ms: i64) -> Checked {
        let mut out = Checked::default();
        self.check_fields(m, now_ms, &mut out.errors);
        self.check_tree("/properties", &m.properties, &mut out.errors);
        self.check_tree("/traits", &m.traits, &mut out.errors);
        self.check_tree("/context", &m.context, &mut out.errors);
        self.check_tree("", &m.extra, &mut out.errors);
        if m.kind == MessageType::Track {
            if let Some(event) = m.event.as_deref() {
                let raw = m.raw.properties.as_ref().map(|r| r.as_str());
                self.check_schemas(event, &m.properties, raw, &mut out);
            }
        }
        out
    }

    /// All checks, including the serialized size (with `context.library` added as it will be
    /// when delivered).
    pub fn validate(&self, m: &Message, now_ms: i64, library: Option<&Library>) -> Checked {
        let mut out = self.check(m, now_ms);
        let mut bytes = Vec::with_capacity(256);
        m.write_json(library, &mut bytes);
        out.errors.extend(self.check_size(bytes.len()));
        out
    }

    /// The size rule alone, for bytes already serialized.
    pub fn check_size(&self, len: usize) -> Option<Violation> {
        (len > self.limits.max_message_bytes).then(|| {
            Violation::new(
                "",
                codes::PAYLOAD_TOO_LARGE,
                format!(
                    "message is {len} bytes, more than the limit of {} bytes",
                    self.limits.max_message_bytes
                ),
            )
        })
    }

    fn check_fields(&self, m: &Message, now_ms: i64, errors: &mut Vec<Violation>) {
        let l = &self.limits;
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        if !present(&m.user_id) && !present(&m.anonymous_id) {
            errors.push(Violation::new(
                "",
                codes::MISSING_IDENTITY,
                "either userId or anonymousId is required: name the person the event is about",
            ));
        }
        for (path, id) in [
            ("/messageId", &m.message_id),
            ("/userId", &m.user_id),
            ("/anonymousId", &m.anonymous_id),
            ("/sessionId", &m.session_id),
            ("/groupId", &m.group_id),
            ("/previousId", &m.previous_id),
        ] {
            if let Some(id) = id {
                if id.len() > l.max_id_length && id.chars().count() > l.max_id_length {
                    errors.push(Violation::new(
                        path,
                        codes::ID_TOO_LONG,
                        format!(
                            "{} is longer than {} characters",
                            &path[1..],
                            l.max_id_length
                        ),
                    ));
                }
            }
        }
        match m.kind {
            MessageType::Track => match m.event.as_deref() {
                None => errors.push(Violation::new(
                    "/event",
                    codes::MISSING_FIELD,
                    "event is required for track messages",
                )),
                Some(name) => self.check_name("/event", name, errors),
            },
            MessageType::Page | MessageType::Screen => {
                if let Some(name) = m.name.as_deref() {
                    if name.chars().count() > l.max_event_name_length {
                        self.check_name("/name", name, errors);
                    }
                }
            }
            MessageType::Group if !present(&m.group_id) => errors.push(Violation::new(
                "/groupId",
                codes::MISSING_FIELD,
                "groupId is required for group messages",
            )),
            MessageType::Alias => {
                if !present(&m.previous_id) {
                    errors.push(Violation::new(
                        "/previousId",
                        codes::MISSING_FIELD,
                        "previousId is required for alias messages",
                    ));
                }
                if !present(&m.user_id) {
                    errors.push(Violation::new(
                        "/userId",
                        codes::MISSING_FIELD,
                        "userId is required for alias messages",
                    ));
                }
            }
            _ => {}
        }
        if let Some(ts) = m.timestamp {
            if ts.as_millis() > now_ms.saturating_add(l.max_future_ms) {
                errors.push(Violation::new(
                    "/timestamp",
                    codes::TIMESTAMP_IN_FUTURE,
                    format!(
                        "timestamp {ts} is more than {} s in the future",
                        l.max_future_ms / 1000
                    ),
                ));
            }
        }
    }

    fn check_name(&self, path: &str, name: &str, errors: &mut Vec<Violation>) {
        let len = name.chars().count();
        if len == 0 || len > self.limits.max_event_name_length {
            errors.push(Violation::new(
                path,
                codes::EVENT_NAME_LENGTH,
                format!(
                    "name must be 1 to {} characters, got {len}",
                    self.limits.max_event_name_length
                ),
            ));
        }
    }

    fn check_tree(&self, root: &str, map: &Properties, errors: &mut Vec<Violation>) {
        // Almost every event is clean: check without building paths first, and walk again
        // with JSON pointers only when there is something to report.
        if self.tree_is_clean(map, 1) {
            return;
        }
        self.walk_object(map, 1, &Pointer::Root(root), errors);
    }

    fn key_is_clean(&self, key: &str) -> bool {
        let max = self.limits.max_key_length;
        key.len() <= max || key.chars().count() <= max
    }

    fn tree_is_clean(&self, map: &Properties, depth: usize) -> bool {
        map.iter()
            .all(|(k, v)| self.key_is_clean(k) && self.value_is_clean(v, depth))
    }

    fn value_is_clean(&self, value: &Value, depth: usize) -> bool {
        let deeper_ok = depth < self.limits.max_depth;
        match value {
            Value::Object(m) => m.is_empty() || (deeper_ok && self.tree_is_clean(m, depth + 1)),
            Value::Array(items) => {
                items.is_empty()
                    || (deeper_ok && items.iter().all(|v| self.value_is_clean(v, depth + 1)))
            }
            _ => true,
        }
    }

    fn walk_object(
        &self,
        map: &Properties,
        depth: usize,
        path: &Pointer<'_>,
        errors: &mut Vec<Violation>,
    ) {
        for (key, value) in map {
            let path = path.key(key);
            if !self.key_is_clean(key) {
                errors.push(Violation::new(
                    path.text(),
                    codes::KEY_TOO_LONG,
                    format!(
                        "key is longer than {} characters",
                        self.limits.max_key_length
                    ),
                ));
            }
            self.walk_value(value, depth, &path, errors);
        }
    }

    fn walk_value(
        &self,
        value: &Value,
        depth: usize,
        path: &Pointer<'_>,
        errors: &mut Vec<Violation>,
    ) {
        let is_container = matches!(value, Value::Object(_) | Value::Array(_));
        if is_container && depth >= self.limits.max_depth {
            let nonempty = match value {
                Value::Object(m) => !m.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => false,
            };
            if nonempty {
                errors.push(Violation::new(
                    path.text(),
                    codes::DEPTH_EXCEEDED,
                    format!("nesting deeper than {} levels", self.limits.max_depth),
                ));
                return;
            }
        }
        match value {
            Value::Object(m) => self.walk_object(m, depth + 1, path, errors),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk_value(item, depth + 1, &path.index(i), errors);
                }
            }
            _ => {}
        }
    }

    /// `raw`: the properties' text when they are kept as text (then `props` is empty, or
    /// the same object read for a built-in schema).
    fn check_schemas(&self, event: &str, props: &Properties, raw: Option<&str>, out: &mut Checked) {
        let builtin = if event.starts_with('$') {
            self.builtin.get(event)
        } else {
            None
        };
        if let Some(schema) = builtin {
            schema.check_properties(props, &Pointer::Root("/properties"), &mut out.errors);
        }
        let Some(plan) = &self.plan else { return };
        let target = match plan.mode {
            PlanMode::Enforce => &mut out.errors,
            PlanMode::Warn => &mut out.warnings,
        };
        match plan.schema_for(event) {
            Some(schema) => {
                let at = Pointer::Root("/properties");
                match raw {
                    Some(text) => schema.check_properties_text(text, &at, target),
                    None => schema.check_properties(props, &at, target),
                }
            }
            // Only the built-in reserved events are planned by Sonde itself; any other
            // `$` name is the user's and must be in the plan like any name.
            None if !plan.allow_unplanned && builtin.is_none() => {
                target.push(Violation::new(
                    "/event",
                    codes::UNPLANNED_EVENT,
                    format!(
                        "event {} is not in the tracking plan",
                        crate::event::json::quoted(event)
                    ),
                ));
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schemas_name_every_reserved_event_and_the_shared_keys() {
        use crate::event::reserved::{self as r, keys as k};
        let docs: HashMap<&str, serde_json::Value> = r::builtin_schemas().into_iter().collect();
        let required = |name: &str| docs[name]["required"].clone();
        assert_eq!(docs.len(), 5);
        assert_eq!(
            required(r::API_REQUEST),
            serde_json::json!([
                k::HTTP_METHOD,
                k::HTTP_ROUTE,
                k::HTTP_STATUS,
                k::DURATION_MS
            ])
        );
        assert_eq!(
            required(r::PERFORMANCE),
            serde_json::json!([k::OPERATION, k::DURATION_MS, k::SUCCESS])
        );
        assert_eq!(
            required(r::INTERACTION),
            serde_json::json!([k::ACTION, k::TARGET])
        );
        assert_eq!(
            required(r::ERROR),
            serde_json::json!([k::ERROR_TYPE, k::ERROR_MESSAGE])
        );
        for key in [
            k::TTFB_MS,
            k::URL_PATH,
            k::CLIENT_ADDRESS,
            k::USER_AGENT,
            k::REQUEST_BODY_SIZE,
            k::RESPONSE_BODY_SIZE,
            k::ERROR_TYPE,
        ] {
            assert!(
                docs[r::API_REQUEST]["properties"].get(key).is_some(),
                "{key}"
            );
        }
        assert!(docs[r::ERROR]["properties"].get(k::ERROR_STACK).is_some());
        assert!(docs[r::INTERACTION]["properties"]
            .get(k::URL_PATH)
            .is_some());
    }

    #[test]
    fn builtin_schemas_compile_cleanly() {
        for (name, doc) in reserved::builtin_schemas() {
            let mut problems = Vec::new();
            Schema::compile(&doc, "", &mut problems);
            assert!(problems.is_empty(), "{name}: {problems:?}");
        }
    }
}
