//! One POST and what its answer means (see the module documentation of `sink::http`), with
//! 413 splitting; used by the sink directly and by the outbox's sender.

use std::io::Write;
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;

use super::{ForwardFormat, HttpSinkOptions};
use crate::clock::{Clock, SystemClock};
use crate::event::Timestamp;
use crate::sink::{BufferedEvent, RefusedEvent, SinkError};
use crate::stats::DropReason;

/// Longest answer body read (Sonde's per-item report for a full batch fits easily).
const MAX_ANSWER_BYTES: u64 = 4 << 20;

/// A kept-alive client for one collector.
pub(super) struct Transport {
    options: HttpSinkOptions,
    agent: ureq::Agent,
    clock: SystemClock,
}

/// How one request came out.
enum Answer {
    /// Taken; the items the collector refused, by index in the request.
    Taken(Vec<usize>),
    /// The body was too large (413).
    TooLarge,
}

/// The HTTP client every destination uses: statuses are answers, not errors (each caller
/// reads them), connect and total timeouts, Sonde's user agent, a couple of kept-alive
/// connections per host.
pub(super) fn agent(connect: Duration, total: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(connect))
        .timeout_global(Some(total))
        .user_agent(concat!("sonde/", env!("CARGO_PKG_VERSION")))
        .max_idle_connections_per_host(2)
        .build();
    ureq::Agent::new_with_config(config)
}

impl Transport {
    pub fn new(options: HttpSinkOptions) -> Self {
        Self {
            agent: agent(options.connect_timeout, options.timeout),
            options,
            clock: SystemClock::new(),
        }
    }

    pub fn options(&self) -> &HttpSinkOptions {
        &self.options
    }

    /// Sends every event: delivered except the ones returned, or failed as a whole.
    pub fn send_all(&self, events: &[BufferedEvent]) -> Result<Vec<RefusedEvent>, SinkError> {
        let mut refused = Vec::new();
        if !events.is_empty() {
            self.send(events, 0, &mut refused)?;
        }
        Ok(refused)
    }

    /// Sends `events` (which start at `offset` in the batch), halving on 413.
    fn send(
        &self,
        events: &[BufferedEvent],
        offset: usize,
        refused: &mut Vec<RefusedEvent>,
    ) -> Result<(), SinkError> {
        match self.post(events)? {
            Answer::Taken(indexes) => {
                refused.extend(indexes.into_iter().filter(|i| *i < events.len()).map(|i| {
                    RefusedEvent {
                        index: offset + i,
                        reason: DropReason::Rejected,
                    }
                }));
                Ok(())
            }
            Answer::TooLarge if events.len() == 1 => {
                refused.push(RefusedEvent {
                    index: offset,
                    reason: DropReason::Oversize,
                });
                Ok(())
            }
            Answer::TooLarge => {
                let half = events.len() / 2;
                self.send(&events[..half], offset, refused)?;
                self.send(&events[half..], offset + half, refused)
            }
        }
    }

    fn post(&self, events: &[BufferedEvent]) -> Result<Answer, SinkError> {
        let options = &self.options;
        let sent_at = Timestamp::from_millis(self.clock.now_ms());
        let body = options
            .format
            .body(events, options.write_key.as_deref(), sent_at)?;
        let body = gzip(body.as_bytes())
            .map_err(|e| SinkError::retryable(format!("cannot compress the batch: {e}")))?;
        let mut request = self
            .agent
            .post(&options.endpoint)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip");
        if let (ForwardFormat::Segment, Some(key)) = (options.format, &options.write_key) {
            request = request.header("authorization", format!("Basic {}", basic_auth(key)));
        }
        let mut response = request
            .send(&body[..])
            .map_err(|e| SinkError::retryable(format!("POST {} failed: {e}", options.endpoint)))?;
        let status = response.status().as_u16();
        let retry_after_ms = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        // The answer is read whole so the connection can be reused; its size is bounded.
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .unwrap_or_default();
        match status {
            200..=299 => Ok(Answer::Taken(refused_items(&text))),
            413 => Ok(Answer::TooLarge),
            408 | 429 | 500..=599 => Err(SinkError::retryable(format!(
                "{} answered {status}: {}",
                options.endpoint,
                excerpt(&text)
            ))
            .retry_after(retry_after_ms)),
            _ => Ok(Answer::Taken((0..events.len()).collect())),
        }
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// The indexes a Sonde collector's per-item report says it rejected; none for any other
/// collector's answer.
fn refused_items(answer: &str) -> Vec<usize> {
    let Ok(Value::Object(report)) = serde_json::from_str::<Value>(answer) else {
        return Vec::new();
    };
    let Some(Value::Array(items)) = report.get("items") else {
        return Vec::new();
    };
    items
        .iter()
        .filter(|item| item.get("status").and_then(Value::as_str) == Some("rejected"))
        .filter_map(|item| item.get("index").and_then(Value::as_u64))
        .filter_map(|i| usize::try_from(i).ok())
        .collect()
}

/// `Retry-After` in seconds, as milliseconds (an HTTP date falls back to the backoff).
fn parse_retry_after(value: &str) -> Option<u64> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| s.saturating_mul(1000))
}

fn excerpt(text: &str) -> &str {
    let end = text
        .char_indices()
        .nth(200)
        .map_or(text.len(), |(at, _)| at);
    &text[..end]
}

/// Base64 of `key:` (the key as user name, no password), as Segment SDKs send it.
fn basic_auth(key: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{key}:");
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
