//! Ingesting JSON from other clients: one message, an array, or a Segment batch.

use serde::Serialize;
use serde_json::Value;

use super::{Disposition, Inner, Origin};
use crate::error::{Error, ErrorKind, Result, Violation};
use crate::event::{parse_message, MessageType, Timestamp};
use crate::validate::codes;

/// What happened to one ingested item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Accepted,
    Sampled,
    Filtered,
    QueueFull,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestItem {
    /// Position in the request (0 for a single message).
    pub index: usize,
    pub status: ItemStatus,
    pub message_id: Option<String>,
    pub errors: Vec<Violation>,
    pub warnings: Vec<Violation>,
}

/// Per-item results of one ingest call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestReport {
    /// Items now in the buffer.
    pub accepted: usize,
    /// Items refused for a violation.
    pub rejected: usize,
    pub items: Vec<IngestItem>,
}

pub(super) fn ingest(
    inner: &Inner,
    bytes: &[u8],
    default_type: Option<MessageType>,
) -> Result<IngestReport> {
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
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::with_violations(
            ErrorKind::InvalidEvent,
            vec![Violation::new(
                "",
                codes::INVALID_JSON,
                format!("not valid JSON: {e}"),
            )],
        )
    })?;
    let (items, batch_sent_at, batch_context) = split_batch(doc)?;
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
    if inner.shared.buffer().is_closed() {
        return Err(Error::new(ErrorKind::ShutDown, "the client was shut down"));
    }
    let mut report = IngestReport {
        accepted: 0,
        rejected: 0,
        items: Vec::with_capacity(items.len()),
    };
    for (index, item) in items.into_iter().enumerate() {
        let mut errors = Vec::new();
        let parsed = parse_message(item, default_type, &mut errors);
        let result = match parsed {
            Some(mut m) => {
                if let Some(ctx) = &batch_context {
                    for (k, v) in ctx {
                        m.context.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                inner.process(m, Origin::Ingest { batch_sent_at }, errors)
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
                    Disposition::Queued => ItemStatus::Accepted,
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

type BatchParts = (
    Vec<Value>,
    Option<Timestamp>,
    Option<serde_json::Map<String, Value>>,
);

/// Splits a request into items plus the batch-level `sentAt` and `context`.
fn split_batch(doc: Value) -> Result<BatchParts> {
    match doc {
        Value::Array(items) => Ok((items, None, None)),
        Value::Object(mut obj) if obj.contains_key("batch") => {
            let mut problems = Vec::new();
            let items = match obj.remove("batch") {
                Some(Value::Array(items)) => items,
                _ => {
                    problems.push(Violation::new(
                        "/batch",
                        codes::INVALID_TYPE,
                        "batch must be an array",
                    ));
                    Vec::new()
                }
            };
            let sent_at = match obj.remove("sentAt") {
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
            let context = match obj.remove("context") {
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
        single => Ok((vec![single], None, None)),
    }
}
