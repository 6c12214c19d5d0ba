//! The HTTP destination (feature `http-sink`, native targets): batches POSTed to a
//! Segment-compatible collector (Sonde's own, RudderStack, Segment) or to PostHog's batch
//! endpoint, from the delivery worker with a blocking client (ureq, rustls), gzip bodies,
//! connect and total timeouts and kept-alive connections.
//!
//! What an answer means:
//! - 2xx: delivered. From Sonde's collector the per-item report is read, and only the items
//!   it rejected are dropped (`rejected`).
//! - 408, 429, 5xx and network errors: retried by the core's backoff, never sooner than the
//!   answer's `Retry-After` (seconds).
//! - 413: the batch is split in halves, each sent on its own; one event alone too large is
//!   dropped (`oversize`).
//! - any other 4xx: retrying cannot help; the batch is dropped (`rejected`).
//!
//! Without an outbox, failed batches are retried by the core's buffer like any sink's.
//! With one (`outbox`), a batch is taken once it is durably in the outbox file, and the
//! outbox's own sender delivers it (see `outbox.rs`).

mod format;
mod otlp;
mod outbox;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use format::ForwardFormat;
pub use otlp::{OtlpExporter, OtlpOptions};

use super::{RefusedEvent, Sink, SinkBatch, SinkError};
use crate::error::{Error, ErrorKind};
use crate::stats::OutboxStats;
use outbox::{Backoff, Outbox};
use transport::Transport;

/// The outbox cap when none is given: 256 MiB of batches.
pub const OUTBOX_MAX_BYTES: u64 = 256 << 20;

/// How to reach the collector.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSinkOptions {
    /// The batch URL (`https://collector/analytics/v1/batch`, `https://eu.posthog.com/batch/`).
    pub endpoint: String,
    /// Sent as the basic-auth user name (Segment format) or as `api_key` (PostHog format).
    pub write_key: Option<String>,
    /// The body's shape.
    pub format: ForwardFormat,
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Longest a whole request may take, answer included.
    pub timeout: Duration,
    /// A SQLite file keeping batches until the collector took them.
    pub outbox: Option<PathBuf>,
    /// The outbox's cap; the oldest batches go first past it.
    pub outbox_max_bytes: u64,
    /// The outbox sender's retry waits (initial, max); the client's backoff options.
    pub backoff: (Duration, Duration),
}

impl HttpSinkOptions {
    /// Defaults for `endpoint`: Segment format, 5 s to connect, 15 s per request, no outbox.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            write_key: None,
            format: ForwardFormat::Segment,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            outbox: None,
            outbox_max_bytes: OUTBOX_MAX_BYTES,
            backoff: (Duration::from_millis(100), Duration::from_secs(30)),
        }
    }
}

/// POSTs batches to a collector; see the module documentation for what each answer means.
pub struct HttpSink {
    name: String,
    transport: Arc<Transport>,
    outbox: Option<Arc<Outbox>>,
}

impl std::fmt::Debug for HttpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options = self.transport.options();
        f.debug_struct("HttpSink")
            .field("endpoint", &options.endpoint)
            .field("format", &options.format)
            .field("outbox", &options.outbox)
            .finish_non_exhaustive()
    }
}

impl HttpSink {
    /// A sink for `options`; with an outbox, opens the file and starts its sender, which
    /// first sends what an earlier process left there.
    pub fn new(options: HttpSinkOptions) -> Result<Self, Error> {
        let name = format!("http:{}", options.format.as_str());
        let outbox_path = options.outbox.clone();
        let (max_bytes, backoff) = (options.outbox_max_bytes, options.backoff);
        let destination = format!("{} {}", options.format.as_str(), options.endpoint);
        let transport = Arc::new(Transport::new(options));
        let Some(path) = outbox_path else {
            return Ok(Self {
                name,
                transport,
                outbox: None,
            });
        };
        let outbox = Outbox::open(&path, destination, max_bytes)?;
        let (for_sender, sender_transport) = (Arc::clone(&outbox), Arc::clone(&transport));
        let backoff = Backoff {
            initial: backoff.0,
            max: backoff.1,
        };
        std::thread::Builder::new()
            .name("sonde-outbox".to_owned())
            .spawn(move || outbox::run_sender(&for_sender, &sender_transport, backoff))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot start the outbox sender: {e}"),
                )
            })?;
        Ok(Self {
            name,
            transport,
            outbox: Some(outbox),
        })
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        // The sender ends after its current request; what it has not sent stays in the file.
        if let Some(outbox) = &self.outbox {
            outbox.stop();
        }
    }
}

impl Sink for HttpSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&self, batch: &SinkBatch<'_>) -> Result<(), SinkError> {
        self.deliver_items(batch).map(|_| ())
    }

    fn deliver_items(&self, batch: &SinkBatch<'_>) -> Result<Vec<RefusedEvent>, SinkError> {
        match &self.outbox {
            Some(outbox) if !batch.is_empty() => outbox.append(batch.events).map(|()| Vec::new()),
            Some(_) => Ok(Vec::new()),
            None => self.transport.send_all(batch.events),
        }
    }

    /// With an outbox: waits (up to `timeout`, at most the request timeout) for it to
    /// drain, unless the collector is failing, when the batches stay safely in the file.
    fn flush(&self, timeout: Duration) -> Result<(), SinkError> {
        match &self.outbox {
            Some(outbox) => outbox.wait_drained(timeout.min(self.transport.options().timeout)),
            None => Ok(()),
        }
    }

    /// The client shut down: the outbox's sender ends after its current request.
    fn close(&self) {
        if let Some(outbox) = &self.outbox {
            outbox.stop();
        }
    }

    fn outbox_stats(&self) -> Option<(String, OutboxStats)> {
        let outbox = self.outbox.as_ref()?;
        Some((self.transport.options().endpoint.clone(), outbox.stats()))
    }
}
