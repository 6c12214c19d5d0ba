//! In-memory sink for tests in every runtime (feature `test-utils`): records what was
//! delivered and can be told to fail.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use super::{Sink, SinkBatch, SinkError};

#[derive(Debug, Default)]
struct MemoryState {
    events: Vec<String>,
    batches: Vec<(u64, u32, usize)>,
    fail_next: u32,
    fail_retryable: bool,
    attempts: u64,
}

/// Clones share the same storage, so a test keeps one clone and gives another to the client.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    state: Arc<Mutex<MemoryState>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Delivered events, as JSON strings, in delivery order.
    pub fn events(&self) -> Vec<String> {
        self.lock().events.clone()
    }

    /// Delivered events parsed back into JSON values.
    pub fn values(&self) -> Vec<Value> {
        self.lock()
            .events
            .iter()
            .filter_map(|e| crate::event::reader::parse_json(e).ok())
            .collect()
    }

    /// Events delivered so far.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    /// Whether nothing was delivered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(batch id, attempt, events)` for each successful delivery.
    pub fn batches(&self) -> Vec<(u64, u32, usize)> {
        self.lock().batches.clone()
    }

    /// Delivery attempts, failed ones included.
    pub fn attempts(&self) -> u64 {
        self.lock().attempts
    }

    /// Makes the next `n` deliveries fail.
    pub fn fail_next(&self, n: u32, retryable: bool) {
        let mut s = self.lock();
        s.fail_next = n;
        s.fail_retryable = retryable;
    }

    /// Forgets what was delivered.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.events.clear();
        s.batches.clear();
    }
}

impl Sink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }

    fn deliver(&self, batch: &SinkBatch<'_>) -> Result<(), SinkError> {
        let mut s = self.lock();
        s.attempts += 1;
        if s.fail_next > 0 {
            s.fail_next -= 1;
            return Err(SinkError {
                retryable: s.fail_retryable,
                message: "memory sink told to fail".to_owned(),
                retry_after_ms: None,
            });
        }
        s.events.extend(batch.json_lines().map(str::to_owned));
        s.batches.push((batch.id, batch.attempt, batch.len()));
        Ok(())
    }
}
