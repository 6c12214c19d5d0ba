//! `timer(op)`: a guard that records a `$performance` event when stopped or dropped.

use serde_json::Value;

use super::{Receipt, Sonde};
use crate::error::Result;
use crate::event::reserved::Performance;
use crate::event::Properties;

/// Measures one operation with the client's monotonic clock. Dropping it without calling
/// [`Timer::stop`] or [`Timer::fail`] records it too: as a failure when the thread is
/// panicking, as a success otherwise.
#[must_use = "a timer records when it is stopped or dropped"]
pub struct Timer {
    client: Sonde,
    operation: String,
    started_ns: u64,
    metadata: Properties,
    done: bool,
}

impl Timer {
    pub(super) fn start(client: Sonde, operation: String) -> Self {
        let started_ns = client.inner.shared.clock.monotonic_ns();
        Self {
            client,
            operation,
            started_ns,
            metadata: Properties::new(),
            done: false,
        }
    }

    /// Adds a property to the recorded event.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Milliseconds since the timer started.
    pub fn elapsed_ms(&self) -> f64 {
        let now = self.client.inner.shared.clock.monotonic_ns();
        now.saturating_sub(self.started_ns) as f64 / 1e6
    }

    /// Records success.
    pub fn stop(mut self) -> Result<Receipt> {
        self.record(true, None)
    }

    /// Records failure with an error type (for example an exception class name).
    pub fn fail(mut self, error_type: impl Into<String>) -> Result<Receipt> {
        self.record(false, Some(error_type.into()))
    }

    fn record(&mut self, success: bool, error_type: Option<String>) -> Result<Receipt> {
        self.done = true;
        let mut perf = Performance::new(
            std::mem::take(&mut self.operation),
            self.elapsed_ms(),
            success,
        );
        perf.error_type = error_type;
        perf.metadata = std::mem::take(&mut self.metadata);
        self.client.track_performance(perf)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if !self.done {
            let panicking = std::thread::panicking();
            let error = panicking.then(|| "panic".to_owned());
            // Nothing to report to from a destructor; the stats count any drop.
            let _ = self.record(!panicking, error);
        }
    }
}
