//! Queries over stored events: filters, order, limit and an opaque keyset cursor.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codes;
use crate::error::{Error, ErrorKind, Violation};
use crate::event::{MessageType, Timestamp};

/// Oldest first or newest first (by event time, then by storage order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    #[default]
    Desc,
}

/// A time range on the event time: `from` inclusive, `to` exclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: Option<Timestamp>,
    /// Exclusive end.
    pub to: Option<Timestamp>,
}

impl TimeRange {
    /// The bounds in milliseconds since the epoch (`None`: open on that side).
    pub fn millis(&self) -> (Option<i64>, Option<i64>) {
        (
            self.from.map(Timestamp::as_millis),
            self.to.map(Timestamp::as_millis),
        )
    }
}

/// Which events, in which order, how many, from where.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    /// Only this message type.
    pub kind: Option<MessageType>,
    /// Only this event name.
    pub event: Option<String>,
    /// Only event names starting with this.
    pub event_prefix: Option<String>,
    /// Only this user.
    pub user_id: Option<String>,
    /// Only this anonymous id.
    pub anonymous_id: Option<String>,
    /// Only this session.
    pub session_id: Option<String>,
    /// Only events in this time range.
    pub time: TimeRange,
    /// Only events whose top-level property equals the value (strings, numbers, booleans,
    /// null).
    pub properties: Vec<(String, Value)>,
    /// Order by event time.
    pub order: Order,
    /// Page size: 1 to 1000 (default 50).
    pub limit: usize,
    /// Where the previous page ended (`EventPage::next_cursor`).
    pub cursor: Option<String>,
    /// Also count every match (an extra query).
    pub with_total: bool,
}

/// The largest page.
pub const MAX_LIMIT: usize = 1000;

impl Default for EventQuery {
    fn default() -> Self {
        Self {
            kind: None,
            event: None,
            event_prefix: None,
            user_id: None,
            anonymous_id: None,
            session_id: None,
            time: TimeRange::default(),
            properties: Vec::new(),
            order: Order::Desc,
            limit: 50,
            cursor: None,
            with_total: false,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    /// The events, as stored (Segment JSON).
    pub events: Vec<Value>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Every match, when asked for.
    pub total: Option<u64>,
}

/// A decoded cursor: the last row's event time and storage id.
#[cfg_attr(
    not(all(feature = "sqlite", not(target_arch = "wasm32"))),
    allow(dead_code)
)] // used by the SQLite store
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub ts: i64,
    pub id: i64,
}

#[cfg_attr(
    not(all(feature = "sqlite", not(target_arch = "wasm32"))),
    allow(dead_code)
)]
impl Cursor {
    /// Opaque text: hexadecimal, so it survives URLs and JSON untouched.
    pub fn encode(self) -> String {
        format!("{:016x}{:016x}", self.ts as u64, self.id as u64)
    }

    pub fn decode(text: &str) -> Option<Self> {
        if text.len() != 32 || !text.is_ascii() {
            return None;
        }
        let ts = u64::from_str_radix(&text[..16], 16).ok()? as i64;
        let id = u64::from_str_radix(&text[16..], 16).ok()? as i64;
        Some(Self { ts, id })
    }
}

/// What follows the filters in a page query: the keyset condition (with a cursor), the order
/// and the limit (one more row than the page, to know whether another follows). `first` is
/// the number of the first parameter these use (the cursor's time and id, then the limit);
/// `placeholder(n)` spells parameter `n` in the backend's SQL (`?n` or `$n`).
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
pub(crate) fn page_clauses(
    order: Order,
    has_filters: bool,
    cursor: bool,
    first: usize,
    placeholder: impl Fn(usize) -> String,
) -> String {
    let (cmp, dir) = match order {
        Order::Asc => (">", "ASC"),
        Order::Desc => ("<", "DESC"),
    };
    let mut sql = String::new();
    let mut next = first;
    if cursor {
        let joiner = if has_filters { "AND" } else { "WHERE" };
        sql.push_str(&format!(
            " {joiner} (ts, id) {cmp} ({}, {})",
            placeholder(next),
            placeholder(next + 1)
        ));
        next += 2;
    }
    sql.push_str(&format!(
        " ORDER BY ts {dir}, id {dir} LIMIT {}",
        placeholder(next)
    ));
    sql
}

#[cfg_attr(
    not(all(feature = "sqlite", not(target_arch = "wasm32"))),
    allow(dead_code)
)]
impl EventQuery {
    /// Every problem with the query, as an `invalid_config` error with `invalid_query`
    /// violations.
    pub(crate) fn check(&self) -> Result<Option<Cursor>, Error> {
        let mut problems = Vec::new();
        if self.limit == 0 || self.limit > MAX_LIMIT {
            problems.push(Violation::new(
                "/limit",
                codes::INVALID_QUERY,
                format!("limit must be within 1..={MAX_LIMIT}, got {}", self.limit),
            ));
        }
        let cursor = match &self.cursor {
            None => None,
            Some(text) => {
                let c = Cursor::decode(text);
                if c.is_none() {
                    problems.push(Violation::new(
                        "/cursor",
                        codes::INVALID_QUERY,
                        "cursor is not one this store made",
                    ));
                }
                c
            }
        };
        problems.extend(self.filter_problems());
        if problems.is_empty() {
            Ok(cursor)
        } else {
            Err(Error::with_violations(ErrorKind::InvalidConfig, problems))
        }
    }

    /// The filters' checks alone (what `delete_where` uses: it has no page).
    pub(crate) fn check_filters(&self) -> Result<(), Error> {
        let problems = self.filter_problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::with_violations(ErrorKind::InvalidConfig, problems))
        }
    }

    fn filter_problems(&self) -> Vec<Violation> {
        let mut problems = Vec::new();
        if let (Some(from), Some(to)) = (self.time.from, self.time.to) {
            if from > to {
                problems.push(Violation::new(
                    "/time",
                    codes::INVALID_QUERY,
                    "time range ends before it starts",
                ));
            }
        }
        for (i, (key, value)) in self.properties.iter().enumerate() {
            if key.is_empty() {
                problems.push(Violation::new(
                    format!("/properties/{i}"),
                    codes::INVALID_QUERY,
                    "property name is empty",
                ));
            }
            if matches!(value, Value::Array(_) | Value::Object(_)) {
                problems.push(Violation::new(
                    format!("/properties/{i}"),
                    codes::INVALID_QUERY,
                    "property filters compare strings, numbers, booleans or null",
                ));
            }
        }
        problems
    }
}

impl EventQuery {
    /// Reads a query from a JSON object (snake_case, as the bindings and the REST API pass
    /// it): `type`, `event`, `event_prefix`, `user_id`, `anonymous_id`, `session_id`, `from`,
    /// `to` (RFC 3339), `properties` (an object of top-level property values), `order`
    /// (`asc` / `desc`), `limit`, `cursor`, `with_total`. Every problem is reported.
    pub fn from_value(doc: &Value) -> Result<Self, Error> {
        let mut q = EventQuery::default();
        let mut problems = Vec::new();
        let Value::Object(obj) = doc else {
            return Err(invalid_query("", "a query must be an object"));
        };
        let mut bad = |key: &str, message: String| {
            problems.push(Violation::new(
                format!("/{key}"),
                codes::INVALID_QUERY,
                message,
            ));
        };
        for (key, v) in obj {
            let text = || v.as_str().map(str::to_owned);
            match key.as_str() {
                "type" => match v.as_str().and_then(MessageType::parse) {
                    Some(k) => q.kind = Some(k),
                    None => bad(key, format!("type must be a message type, got {v}")),
                },
                "event" | "event_prefix" | "user_id" | "anonymous_id" | "session_id" | "cursor" => {
                    let Some(t) = text() else {
                        bad(key, format!("{key} must be a string, got {v}"));
                        continue;
                    };
                    match key.as_str() {
                        "event" => q.event = Some(t),
                        "event_prefix" => q.event_prefix = Some(t),
                        "user_id" => q.user_id = Some(t),
                        "anonymous_id" => q.anonymous_id = Some(t),
                        "session_id" => q.session_id = Some(t),
                        _ => q.cursor = Some(t),
                    }
                }
                "from" | "to" => match v.as_str().and_then(Timestamp::parse) {
                    Some(t) if key == "from" => q.time.from = Some(t),
                    Some(t) => q.time.to = Some(t),
                    None => bad(key, format!("{key} must be an RFC 3339 date-time, got {v}")),
                },
                "properties" => match v {
                    Value::Object(p) => {
                        q.properties = p.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                    }
                    _ => bad(
                        key,
                        "properties must be an object of property values".into(),
                    ),
                },
                "order" => match v.as_str() {
                    Some("asc") => q.order = Order::Asc,
                    Some("desc") => q.order = Order::Desc,
                    _ => bad(key, format!("order must be \"asc\" or \"desc\", got {v}")),
                },
                "limit" => match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
                    Some(n) => q.limit = n,
                    None => bad(key, format!("limit must be a positive integer, got {v}")),
                },
                "with_total" => match v.as_bool() {
                    Some(b) => q.with_total = b,
                    None => bad(key, "with_total must be a boolean".into()),
                },
                other => bad(other, format!("unknown query field {other:?}")),
            }
        }
        if let Err(e) = q.check() {
            problems.extend(e.into_violations());
        }
        if problems.is_empty() {
            Ok(q)
        } else {
            Err(Error::with_violations(ErrorKind::InvalidConfig, problems))
        }
    }
}

/// A query refused for one problem, at `path`.
pub(crate) fn invalid_query(path: &str, message: &str) -> Error {
    Error::with_violations(
        ErrorKind::InvalidConfig,
        vec![Violation::new(path, codes::INVALID_QUERY, message)],
    )
}

/// What a bulk delete removes: the events its filters match, or, asked for explicitly,
/// every event. An erasure with a missing id must never wipe the store, so there is no way
/// to spell "everything" with filters.
#[derive(Debug, Clone, PartialEq)]
pub enum Deletion {
    /// The events these filters match (at least one filter is set).
    Matching(Box<EventQuery>),
    /// Every stored event (`all: true`).
    All,
}

/// Query fields that page or order results; a delete has neither.
const PAGING_FIELDS: [&str; 4] = ["limit", "cursor", "order", "with_total"];

impl EventQuery {
    /// Whether any filter is set (what a delete requires).
    pub fn has_filter(&self) -> bool {
        self.kind.is_some()
            || self.event.is_some()
            || self.event_prefix.is_some()
            || self.user_id.is_some()
            || self.anonymous_id.is_some()
            || self.session_id.is_some()
            || self.time.from.is_some()
            || self.time.to.is_some()
            || !self.properties.is_empty()
    }
}

impl Deletion {
    /// Reads a bulk delete (snake_case fields): the query filters, or `all: true` alone.
    /// Refused, with every problem: a filter given as `null` (a `None` or `undefined` id
    /// would otherwise match everything), paging fields, `all` with filters, and no filter
    /// at all.
    pub fn from_value(doc: &Value) -> Result<Self, Error> {
        let Value::Object(obj) = doc else {
            return Err(invalid_query("", "a delete's filters must be an object"));
        };
        let mut problems = Vec::new();
        let mut filters = Map::new();
        let mut all = false;
        for (key, value) in obj {
            if key == "all" {
                match value.as_bool() {
                    Some(b) => all = b,
                    None => problems.push(Violation::new(
                        "/all",
                        codes::INVALID_QUERY,
                        format!("all must be true or false, got {value}"),
                    )),
                }
            } else if PAGING_FIELDS.contains(&key.as_str()) {
                problems.push(Violation::new(
                    format!("/{key}"),
                    codes::INVALID_QUERY,
                    format!("{key} pages or orders results: a delete takes filters only"),
                ));
            } else if value.is_null() {
                problems.push(Violation::new(
                    format!("/{key}"),
                    codes::INVALID_QUERY,
                    format!("{key} has no value: leave it out, or give the value to match (a missing filter would delete more than meant)"),
                ));
            } else {
                filters.insert(key.clone(), value.clone());
            }
        }
        let query = match EventQuery::from_value(&Value::Object(filters)) {
            Ok(query) => Some(query),
            Err(e) => {
                problems.extend(e.into_violations());
                None
            }
        };
        let has_filter = query.as_ref().is_some_and(EventQuery::has_filter);
        if problems.is_empty() && all && has_filter {
            problems.push(Violation::new(
                "/all",
                codes::INVALID_QUERY,
                "all: true deletes every event: give it without filters",
            ));
        }
        if problems.is_empty() && !all && !has_filter {
            problems.push(Violation::new(
                "",
                codes::INVALID_QUERY,
                "a delete needs at least one filter; pass all: true to delete every event",
            ));
        }
        if !problems.is_empty() {
            return Err(Error::with_violations(ErrorKind::InvalidConfig, problems));
        }
        Ok(match query {
            Some(query) if !all => Deletion::Matching(Box::new(query)),
            _ => Deletion::All,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_need_a_filter_or_all_and_refuse_missing_values_and_paging() {
        let paths = |doc: Value| -> Vec<String> {
            let e = Deletion::from_value(&doc).expect_err("refused");
            e.violations().iter().map(|v| v.path.clone()).collect()
        };
        assert_eq!(paths(serde_json::json!({})), [""]);
        assert_eq!(paths(serde_json::json!({"user_id": null})), ["/user_id"]);
        assert_eq!(
            paths(serde_json::json!({"user_id": "u", "limit": 5, "cursor": "x", "order": "asc"})),
            ["/cursor", "/limit", "/order"]
        );
        assert_eq!(
            paths(serde_json::json!({"all": true, "user_id": "u"})),
            ["/all"]
        );
        assert_eq!(paths(serde_json::json!({"all": "yes"})), ["/all"]);
        assert_eq!(paths(serde_json::json!({"all": false})), [""]);
        assert_eq!(
            Deletion::from_value(&serde_json::json!({"all": true})).expect("all"),
            Deletion::All
        );
        let Deletion::Matching(q) =
            Deletion::from_value(&serde_json::json!({"user_id": "u1"})).expect("a filter")
        else {
            panic!("a filtered delete");
        };
        assert_eq!(q.user_id.as_deref(), Some("u1"));
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            ts: 1_800_000_000_123,
            id: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("nope"), None);
        assert_eq!(Cursor::decode(&"z".repeat(32)), None);
    }
}
