//! Ingesting JSON from other clients: one message, an array, or a Segment batch.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Disposition, Inner, Origin};
use crate::codes;
use crate::error::{Error, ErrorKind, Result, Violation};
use crate::event::{visit_scalars, Draft, MessageType, Timestamp};

/// What happened to one ingested item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// In the buffer.
    Accepted,
    /// Not kept by sampling.
    Sampled,
    /// Dropped by the `before_send` hook.
    Filtered,
    /// The buffer was full.
    QueueFull,
    /// Refused: see `errors`.
    Rejected,
}

/// The result for one item of an ingest request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestItem {
    /// Position in the request (0 for a single message).
    pub index: usize,
    /// What happened to it.
    pub status: ItemStatus,
    /// Its id, when it was accepted, sampled or filtered.
    pub message_id: Option<String>,
    /// Why it was rejected.
    pub errors: Vec<Violation>,
    /// Tracking-plan warnings (`warn` mode).
    pub warnings: Vec<Violation>,
}

/// Per-item results of one ingest call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestReport {
    /// Items now in the buffer.
    pub accepted: usize,
    /// Items refused for a violation.
    pub rejected: usize,
    /// One entry per item, by index.
    pub items: Vec<IngestItem>,
}

/// A parsed request: its items as drafts, with the batch-level `sentAt` and `context`.
struct Request {
    items: Vec<Draft>,
    sent_at: Option<Timestamp>,
    context: Option<Map<String, Value>>,
}

/// Batch-level checks and parsing, shared by `ingest` and `validate_request`.
fn parse_request(inner: &Inner, bytes: &[u8]) -> Result<Request> {
    let limits = inner.validator.limits();
    if bytes.len() > limits.max_batch_bytes {
        return Err(Error::with_violations(
            ErrorKind::PayloadTooLarge,
            vec![Violation::new(
                "",
                codes::BATCH_TOO_LARGE,
                format!(
                    "request is {} bytes, more than the limit of {} bytes",
                    bytes.len(),
                    limits.max_batch_bytes
                ),
            )],
        ));
    }
    let doc: RequestDoc = serde_json::from_slice(bytes).map_err(|e| {
        Error::with_violations(
            ErrorKind::InvalidEvent,
            vec![Violation::new(
                "",
                codes::INVALID_JSON,
                format!("not valid JSON: {e}"),
            )],
        )
    })?;
    let (items, sent_at, context) = split_batch(doc)?;
    if items.len() > limits.max_batch_messages {
        return Err(Error::with_violations(
            ErrorKind::PayloadTooLarge,
            vec![Violation::new(
                "/batch",
                codes::BATCH_TOO_MANY_MESSAGES,
                format!(
                    "{} messages, more than the limit of {}",
                    items.len(),
                    limits.max_batch_messages
                ),
            )],
        ));
    }
    Ok(Request {
        items,
        sent_at,
        context,
    })
}

/// Fills item context from the batch context (item keys win); the item's context is parsed
/// for that, and a parser refusal becomes a violation.
fn with_batch_context(
    mut m: crate::event::Message,
    context: Option<&Map<String, Value>>,
    errors: &mut Vec<Violation>,
) -> crate::event::Message {
    if let Some(ctx) = context {
        match m.materialize_context() {
            Ok(()) => {
                for (k, v) in ctx {
                    m.context.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            Err(v) => errors.push(v),
        }
    }
    m
}

/// Every check `ingest` makes, nothing recorded or queued: no sampling, no hook, no counters.
pub(super) fn validate_request(
    inner: &Inner,
    bytes: &[u8],
    default_type: Option<MessageType>,
) -> Result<IngestReport> {
    let request = parse_request(inner, bytes)?;
    let now = inner.shared.clock.now_ms();
    let mut report = IngestReport {
        accepted: 0,
        rejected: 0,
        items: Vec::with_capacity(request.items.len()),
    };
    for (index, item) in request.items.into_iter().enumerate() {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut message_id = None;
        if let Some(m) = item.finish(default_type, &mut errors) {
            let mut m = with_batch_context(m, request.context.as_ref(), &mut errors);
            inner.normalize(
                &mut m,
                Origin::Ingest {
                    batch_sent_at: request.sent_at,
                    public: false,
                },
                now,
            );
            // Parsed as the pipeline would, so every problem is found and reported by path.
            if let Err(problems) = inner.prepare_raw(&mut m) {
                errors.extend(problems);
            }
            let checked = inner.validator.validate(&m, now, Some(&inner.library));
            errors.extend(checked.errors);
            warnings = checked.warnings;
            message_id = m.message_id;
        }
        let status = if errors.is_empty() {
            report.accepted += 1;
            ItemStatus::Accepted
        } else {
            report.rejected += 1;
            message_id = None;
            ItemStatus::Rejected
        };
        report.items.push(IngestItem {
            index,
            status,
            message_id,
            errors,
            warnings,
        });
    }
    Ok(report)
}

pub(super) fn ingest(
    inner: &Inner,
    bytes: &[u8],
    default_type: Option<MessageType>,
    public: bool,
) -> Result<IngestReport> {
    let Request {
        items,
        sent_at: batch_sent_at,
        context: batch_context,
    } = parse_request(inner, bytes)?;
    if inner.shared.is_closed() {
        return Err(Error::new(ErrorKind::ShutDown, "the client was shut down"));
    }
    let mut report = IngestReport {
        accepted: 0,
        rejected: 0,
        items: Vec::with_capacity(items.len()),
    };
    for (index, item) in items.into_iter().enumerate() {
        let mut errors = Vec::new();
        let parsed = item.finish(default_type, &mut errors);
        let result = match parsed {
            Some(m) => {
                let m = with_batch_context(m, batch_context.as_ref(), &mut errors);
                let origin = Origin::Ingest {
                    batch_sent_at,
                    public,
                };
                inner.process(m, origin, errors)
            }
            None => {
                inner
                    .shared
                    .buffer()
                    .record_drop(crate::stats::DropReason::Invalid);
                Err(Error::with_violations(ErrorKind::InvalidEvent, errors))
            }
        };
        let entry = match result {
            Ok(receipt) => {
                let status = match receipt.disposition {
                    // A disabled client answers as if it kept them: nothing to retry.
                    Disposition::Queued | Disposition::Disabled => ItemStatus::Accepted,
                    Disposition::Sampled => ItemStatus::Sampled,
                    Disposition::Filtered => ItemStatus::Filtered,
                    Disposition::QueueFull => ItemStatus::QueueFull,
                };
                if status == ItemStatus::Accepted {
                    report.accepted += 1;
                }
                IngestItem {
                    index,
                    status,
                    message_id: Some(receipt.message_id),
                    errors: Vec::new(),
                    warnings: receipt.warnings,
                }
            }
            Err(e) if e.kind() == ErrorKind::ShutDown => return Err(e),
            Err(e) => {
                report.rejected += 1;
                let errors = match e.violations() {
                    [] => vec![Violation::new("", e.code(), e.message())],
                    _ => e.into_violations(),
                };
                IngestItem {
                    index,
                    status: ItemStatus::Rejected,
                    message_id: None,
                    errors,
                    warnings: Vec::new(),
                }
            }
        };
        report.items.push(entry);
    }
    Ok(report)
}

type BatchParts = (Vec<Draft>, Option<Timestamp>, Option<Map<String, Value>>);

/// A request body, read in one pass: batch items go straight into message drafts.
enum RequestDoc {
    /// A bare JSON array of messages.
    Items(Vec<Draft>),
    /// An object: a Segment batch when it has `batch`, otherwise one message.
    Object {
        batch: Option<BatchField>,
        rest: Map<String, Value>,
    },
    /// A scalar: not a message (its JSON type name).
    Scalar(&'static str),
}

enum BatchField {
    Items(Vec<Draft>),
    WrongType,
}

/// Splits a request into items plus the batch-level `sentAt` and `context`.
fn split_batch(doc: RequestDoc) -> Result<BatchParts> {
    let (batch, mut rest) = match doc {
        RequestDoc::Items(items) => return Ok((items, None, None)),
        RequestDoc::Scalar(name) => return Ok((vec![Draft::not_an_object(name)], None, None)),
        RequestDoc::Object { batch: None, rest } => {
            return Ok((vec![Draft::from_map(rest)], None, None))
        }
        RequestDoc::Object {
            batch: Some(batch),
            rest,
        } => (batch, rest),
    };
    let mut problems = Vec::new();
    let items = match batch {
        BatchField::Items(items) => items,
        BatchField::WrongType => {
            problems.push(Violation::new(
                "/batch",
                codes::INVALID_TYPE,
                "batch must be an array",
            ));
            Vec::new()
        }
    };
    let sent_at = match rest.remove("sentAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match Timestamp::parse(&s) {
            Some(t) => Some(t),
            None => {
                problems.push(Violation::new(
                    "/sentAt",
                    codes::TIMESTAMP_INVALID,
                    format!("sentAt {s:?} is not an RFC 3339 date-time"),
                ));
                None
            }
        },
        Some(_) => {
            problems.push(Violation::new(
                "/sentAt",
                codes::INVALID_TYPE,
                "sentAt must be a string",
            ));
            None
        }
    };
    let context = match rest.remove("context") {
        None | Some(Value::Null) => None,
        Some(Value::Object(c)) => Some(c),
        Some(_) => {
            problems.push(Violation::new(
                "/context",
                codes::INVALID_TYPE,
                "context must be an object",
            ));
            None
        }
    };
    if problems.is_empty() {
        Ok((items, sent_at, context))
    } else {
        Err(Error::with_violations(ErrorKind::InvalidEvent, problems))
    }
}

/// Every element of a JSON array as a message draft.
fn read_drafts<'de, A: SeqAccess<'de>>(mut seq: A) -> std::result::Result<Vec<Draft>, A::Error> {
    let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
    while let Some(d) = seq.next_element::<Draft>()? {
        items.push(d);
    }
    Ok(items)
}

impl<'de> Deserialize<'de> for RequestDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(RequestVisitor)
    }
}

struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = RequestDoc;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message, an array of messages, or a batch")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<RequestDoc, A::Error> {
        read_drafts(seq).map(RequestDoc::Items)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<RequestDoc, A::Error> {
        let mut batch = None;
        let mut rest = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "batch" {
                batch = Some(map.next_value::<BatchField>()?);
            } else {
                let value: Value = map.next_value()?;
                rest.insert(key, value);
            }
        }
        Ok(RequestDoc::Object { batch, rest })
    }

    visit_scalars!(RequestDoc::Scalar);
}

impl<'de> Deserialize<'de> for BatchField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(BatchVisitor)
    }
}

struct BatchVisitor;

impl<'de> Visitor<'de> for BatchVisitor {
    type Value = BatchField;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<BatchField, A::Error> {
        read_drafts(seq).map(BatchField::Items)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<BatchField, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(BatchField::WrongType)
    }

    visit_scalars!(|_| BatchField::WrongType);
}
