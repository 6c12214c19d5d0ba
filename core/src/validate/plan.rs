//! Tracking plans: which events exist and what their properties must look like.

use std::collections::HashMap;

use serde_json::Value;

use super::schema::{escape, Schema};
use crate::codes;
use crate::error::{Error, ErrorKind, Violation};

/// What happens to an event that breaks the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlanMode {
    /// Reject the event (dropped as `invalid`, reported to the caller).
    #[default]
    Enforce,
    /// Accept the event; report and count the violations.
    Warn,
}

impl PlanMode {
    /// `enforce` or `warn`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "enforce" => Some(Self::Enforce),
            "warn" => Some(Self::Warn),
            _ => None,
        }
    }
}

/// A compiled tracking plan.
///
/// JSON form:
/// `{"mode": "enforce"|"warn", "allowUnplanned": true|false, "events": {"Name": <schema>}}`,
/// where each schema describes the event's `properties` object.
#[derive(Debug, Clone, Default)]
pub struct TrackingPlan {
    /// Reject or report violations.
    pub mode: PlanMode,
    /// When false, `track` events whose name is not in the plan are violations
    /// (`unplanned_event`). Reserved `$` events are always allowed.
    pub allow_unplanned: bool,
    events: HashMap<String, Schema>,
}

impl TrackingPlan {
    /// Parses and compiles a plan; every problem in the document is reported at once.
    pub fn from_json_str(text: &str) -> Result<Self, Error> {
        let doc: Value = crate::event::reader::parse_json(text).map_err(|e| {
            Error::with_violations(
                ErrorKind::InvalidConfig,
                vec![Violation::new(
                    "",
                    codes::INVALID_JSON,
                    format!("tracking plan is not valid JSON: {e}"),
                )],
            )
        })?;
        Self::from_value(&doc)
    }

    /// Compiles a plan from a parsed JSON document.
    pub fn from_value(doc: &Value) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let mut plan = TrackingPlan {
            mode: PlanMode::Enforce,
            allow_unplanned: true,
            events: HashMap::new(),
        };
        let Value::Object(obj) = doc else {
            return Err(Error::with_violations(
                ErrorKind::InvalidConfig,
                vec![Violation::new(
                    "",
                    codes::INVALID_SCHEMA,
                    "a tracking plan must be a JSON object",
                )],
            ));
        };
        for (key, value) in obj {
            match key.as_str() {
                "mode" => match value.as_str().and_then(PlanMode::parse) {
                    Some(m) => plan.mode = m,
                    None => problems.push(Violation::new(
                        "/mode",
                        codes::INVALID_OPTION,
                        "mode must be \"enforce\" or \"warn\"",
                    )),
                },
                "allowUnplanned" => match value.as_bool() {
                    Some(b) => plan.allow_unplanned = b,
                    None => problems.push(Violation::new(
                        "/allowUnplanned",
                        codes::INVALID_OPTION,
                        "allowUnplanned must be a boolean",
                    )),
                },
                "events" => match value {
                    Value::Object(events) => {
                        for (name, schema) in events {
                            let at = format!("/events/{}", escape(name));
                            let compiled = Schema::compile(schema, &at, &mut problems);
                            plan.events.insert(name.clone(), compiled);
                        }
                    }
                    _ => problems.push(Violation::new(
                        "/events",
                        codes::INVALID_SCHEMA,
                        "events must be an object mapping event names to schemas",
                    )),
                },
                "$schema" | "description" | "title" | "version" => {}
                other => problems.push(Violation::new(
                    format!("/{}", escape(other)),
                    codes::UNSUPPORTED_KEYWORD,
                    format!(
                        "unknown tracking plan field {}",
                        crate::event::json::quoted(other)
                    ),
                )),
            }
        }
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(Error::with_violations(ErrorKind::InvalidConfig, problems))
        }
    }

    pub(crate) fn schema_for(&self, event: &str) -> Option<&Schema> {
        self.events.get(event)
    }

    /// Whether the plan has this event.
    pub fn contains(&self, event: &str) -> bool {
        self.events.contains_key(event)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}
