//! Ingesting JSON from other clients: one message, an array, or a Segment batch.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Disposition, Inner, Origin};
use crate::codes;
use crate::error::{Error, ErrorKind, Result, Violation};
use crate::event::reader::{Reader, ScanRules, SyntaxError};
use crate::event::{Draft, MessageType, Timestamp};

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
    let rules = inner.scan_rules();
    let not_json = |e: SyntaxError| {
        Error::with_violations(
            ErrorKind::InvalidEvent,
            vec![Violation::new(
                "",
                codes::INVALID_JSON,
                format!("not valid JSON: {}", e.describe(bytes)),
            )],
        )
    };
    let mut reader = Reader::from_bytes(bytes).map_err(not_json)?;
    let (items, sent_at, context) = read_request(&mut reader, &rules).map_err(not_json)??;
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

/// Reads a request body in one pass: a message, an array of messages, or a Segment batch
/// (`{batch, sentAt?, context?}`) whose items go straight into message drafts. The outer
/// error is the syntax; the inner one a batch-level field of the wrong type.
fn read_request(
    r: &mut Reader<'_>,
    rules: &ScanRules<'_>,
) -> std::result::Result<Result<BatchParts>, SyntaxError> {
    let parts = match r.peek() {
        Some(b'[') => Ok((read_drafts(r, rules)?, None, None)),
        Some(b'{') => {
            let start = r.position();
            r.begin_object()?;
            let mut first = true;
            // The last `batch` wins, as the last of any duplicated key does.
            let mut batch: Option<Option<Vec<Draft>>> = None;
            let mut batch_fields: Vec<(Cow<'_, str>, &str)> = Vec::new();
            while let Some(key) = r.next_key(&mut first)? {
                if key == "batch" {
                    batch = Some(if r.peek() == Some(b'[') {
                        Some(read_drafts(r, rules)?)
                    } else {
                        r.skip_value()?;
                        None
                    });
                } else {
                    let text = r.skip_value()?;
                    if key == "sentAt" || key == "context" {
                        batch_fields.push((key, text));
                    }
                }
            }
            match batch {
                Some(items) => batch_parts(items, batch_fields),
                // Not a batch: the object is one message, read again as one (only single
                // messages are read twice, and they are small).
                None => {
                    let draft = Draft::read(&mut Reader::at(r.text(), start), rules)?;
                    Ok((vec![draft], None, None))
                }
            }
        }
        // Not an object: the draft records which type it is.
        _ => Ok((vec![Draft::read(r, rules)?], None, None)),
    };
    r.finish()?;
    Ok(parts)
}

/// A batch's items (`None`: `batch` was not an array) with its `sentAt` and `context`,
/// given as the text of each occurrence (the last wins).
fn batch_parts(items: Option<Vec<Draft>>, fields: Vec<(Cow<'_, str>, &str)>) -> Result<BatchParts> {
    let mut problems = Vec::new();
    let items = items.unwrap_or_else(|| {
        problems.push(Violation::new(
            "/batch",
            codes::INVALID_TYPE,
            "batch must be an array",
        ));
        Vec::new()
    });
    let field = |name: &str| {
        fields
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .and_then(|(_, text)| crate::event::reader::parse_json(text).ok())
    };
    let sent_at = match field("sentAt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match Timestamp::parse(&s) {
            Some(t) => Some(t),
            None => {
                problems.push(Violation::new(
                    "/sentAt",
                    codes::TIMESTAMP_INVALID,
                    format!(
                        "sentAt {} is not an RFC 3339 date-time",
                        crate::event::json::quoted(&s)
                    ),
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
    let context = match field("context") {
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

/// Every element of the JSON array at the reader as a message draft.
fn read_drafts(
    r: &mut Reader<'_>,
    rules: &ScanRules<'_>,
) -> std::result::Result<Vec<Draft>, SyntaxError> {
    r.begin_array()?;
    // Sized for typical messages (a few hundred bytes each), so 500 drafts are not moved
    // through a chain of reallocations.
    let mut items = Vec::with_capacity((r.text().len() / 256).min(4096));
    let mut first = true;
    while r.next_element(&mut first)? {
        items.push(Draft::read(r, rules)?);
    }
    Ok(items)
}
