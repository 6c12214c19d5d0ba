//! Where delivered batches go. A [`Sink`] receives batches of serialized events from the
//! delivery loop; several sinks fan out, each retried on its own so a failing sink never
//! makes a healthy one receive duplicates.

mod callback;
mod console;
#[cfg(all(feature = "http-sink", not(target_arch = "wasm32")))]
mod http;
#[cfg(not(target_arch = "wasm32"))]
mod jsonl;
#[cfg(any(test, feature = "test-utils"))]
mod memory;

use std::fmt;
use std::time::Duration;

use serde_json::Value;

pub use callback::CallbackSink;
pub use console::{ConsoleFormat, ConsoleSink, ConsoleTarget};
#[cfg(all(feature = "http-sink", not(target_arch = "wasm32")))]
pub use http::{ForwardFormat, HttpSink, HttpSinkOptions, OtlpExporter, OtlpOptions};
#[cfg(not(target_arch = "wasm32"))]
pub use jsonl::JsonLinesSink;
#[cfg(any(test, feature = "test-utils"))]
pub use memory::MemorySink;

use crate::platform::MaybeSendSync;
use crate::stats::DropReason;

/// One buffered event: its serialized JSON and bookkeeping for ordering and flushing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferedEvent {
    /// Position in the client's accept order (1-based, gap-free).
    pub seq: u64,
    /// Monotonic time of enqueue, for interval flushing.
    pub(crate) enqueued_ms: u64,
    /// The event as compact JSON.
    pub json: Box<str>,
}

/// Appends the events as one JSON array.
pub(crate) fn push_json_array(events: &[BufferedEvent], out: &mut String) {
    out.push('[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&e.json);
    }
    out.push(']');
}

/// The events of one delivery attempt, in accept order.
#[derive(Debug, Clone, Copy)]
pub struct SinkBatch<'a> {
    /// Stable across retries of the same batch.
    pub id: u64,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The events.
    pub events: &'a [BufferedEvent],
}

impl SinkBatch<'_> {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Each event as a JSON string.
    pub fn json_lines(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(|e| &*e.json)
    }

    /// The batch as one JSON array.
    pub fn to_json_array(&self) -> String {
        let size: usize = self.events.iter().map(|e| e.json.len() + 1).sum();
        let mut out = String::with_capacity(size + 2);
        push_json_array(self.events, &mut out);
        out
    }

    /// The events parsed back into JSON values.
    ///
    /// An event that cannot be read back fails the whole batch as a permanent failure, so
    /// it is counted as dropped (`retry_exhausted`), never as delivered with events missing.
    pub fn to_values(&self) -> Result<Vec<Value>, SinkError> {
        self.json_lines()
            .enumerate()
            .map(|(i, line)| {
                crate::event::reader::parse_json(line).map_err(|e| {
                    SinkError::permanent(format!("event {i} of the batch cannot be read back: {e}"))
                })
            })
            .collect()
    }
}

/// Why a sink could not take a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkError {
    /// Whether trying again later may succeed (network down, disk full) or not (rejected).
    pub retryable: bool,
    /// What went wrong.
    pub message: String,
    /// The earliest a retry may come, in milliseconds (a server's `Retry-After`).
    pub retry_after_ms: Option<u64>,
}

impl SinkError {
    /// A failure worth retrying (network down, disk full).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// A failure retrying cannot fix (payload refused).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The same failure, not to be retried before `ms` milliseconds.
    pub fn retry_after(mut self, ms: Option<u64>) -> Self {
        self.retry_after_ms = ms;
        self
    }
}

/// An event of a batch that a sink took but will never deliver: a collector refused that
/// item, or it alone is too large to send. The rest of the batch counts as delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusedEvent {
    /// Its position in the batch.
    pub index: usize,
    /// Why: [`DropReason::Rejected`] or [`DropReason::Oversize`].
    pub reason: DropReason,
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.retryable {
            "retryable"
        } else {
            "permanent"
        };
        write!(f, "{kind} sink failure: {}", self.message)
    }
}

impl std::error::Error for SinkError {}

/// A destination for batches. Called from the delivery worker, never on the caller's thread.
pub trait Sink: MaybeSendSync {
    /// A short name for statistics and logs.
    fn name(&self) -> &str;

    /// Delivers every event of the batch, or fails as a whole.
    fn deliver(&self, batch: &SinkBatch<'_>) -> Result<(), SinkError>;

    /// Delivers the batch, except the events it returns, which were refused one by one and
    /// are never retried (a collector's per-item answer). The delivery worker calls this;
    /// sinks that take or fail a batch as a whole keep the default.
    fn deliver_items(&self, batch: &SinkBatch<'_>) -> Result<Vec<RefusedEvent>, SinkError> {
        self.deliver(batch).map(|()| Vec::new())
    }

    /// Makes delivered data durable, or sent on (called on flush and shutdown), within
    /// about `timeout` (what is left of the caller's flush).
    fn flush(&self, timeout: Duration) -> Result<(), SinkError> {
        let _ = timeout;
        Ok(())
    }

    /// The client shut down and its worker stopped: end background work (an outbox's
    /// sender). What was not delivered stays where it is durable.
    fn close(&self) {}

    /// A sink that keeps what it took in a durable outbox of its own before sending it on
    /// says what became of it (key: where it sends), for the statistics snapshot.
    fn outbox_stats(&self) -> Option<(String, crate::stats::OutboxStats)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, json: &str) -> BufferedEvent {
        BufferedEvent {
            seq,
            enqueued_ms: 0,
            json: json.into(),
        }
    }

    #[test]
    fn an_event_that_cannot_be_read_back_fails_the_batch_instead_of_vanishing() {
        let events = [event(1, r#"{"event":"A"}"#), event(2, r#"{"x":1e400}"#)];
        let batch = SinkBatch {
            id: 1,
            attempt: 1,
            events: &events,
        };
        let e = batch
            .to_values()
            .expect_err("the second event cannot be read");
        assert!(
            !e.retryable && e.message.contains("event 1 of the batch"),
            "{e:?}"
        );
        let readable = [event(1, r#"{"event":"A"}"#)];
        let batch = SinkBatch {
            id: 1,
            attempt: 1,
            events: &readable,
        };
        assert_eq!(batch.to_values().expect("readable").len(), 1);
    }
}
