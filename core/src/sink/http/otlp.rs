//! The OTLP metrics exporter (feature `http-sink`, native): every `interval` the worker's
//! tick POSTs the client's statistics (`stats::export_request`, protobuf) to an
//! OpenTelemetry collector's `/v1/metrics`. Cumulative temporality, so a failed export
//! loses nothing: the next one carries the totals. A failure (network, 408/429/5xx) is
//! retried at the next tick rather than a whole interval later; any other 4xx means the
//! request can never succeed and waits for the next interval. Outcomes are counted in
//! `stats()["exports"]`.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::transport::agent;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::stats::{export_request, ExportStats, OtlpResource, StatsSnapshot};

/// Where and how often to export.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpOptions {
    /// The collector's metrics URL (`http://collector:4318/v1/metrics`).
    pub endpoint: String,
    /// Extra request headers (an API key, a tenant).
    pub headers: Vec<(String, String)>,
    /// How often (60 s by default, OpenTelemetry's default export interval).
    pub interval: Duration,
    /// Resource attributes (`service.name`, ...).
    pub resource: Vec<(String, String)>,
}

/// Exports a client's statistics on its interval.
pub struct OtlpExporter {
    options: OtlpOptions,
    agent: ureq::Agent,
    resource: OtlpResource,
    clock: SystemClock,
    start_ns: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Wall-clock ms of the next export (0: at the first tick).
    next_ms: i64,
    stats: ExportStats,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("endpoint", &self.options.endpoint)
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// An exporter for `options`; it sends nothing until the worker's first tick.
    pub fn new(options: OtlpOptions) -> Self {
        let mut attributes = options.resource.clone();
        if !attributes.iter().any(|(k, _)| k == "service.name") {
            attributes.push(("service.name".into(), "unknown_service:sonde".into()));
        }
        attributes.push(("process.pid".into(), std::process::id().to_string()));
        let clock = SystemClock::new();
        let start_ns = u64::try_from(clock.now_ms()).unwrap_or(0) * 1_000_000;
        Self {
            options,
            agent: agent(Duration::from_secs(5), Duration::from_secs(15)),
            resource: OtlpResource { attributes },
            clock,
            start_ns,
            state: Mutex::new(State::default()),
        }
    }

    /// The collector's URL.
    pub fn endpoint(&self) -> &str {
        &self.options.endpoint
    }

    /// What the exports did so far.
    pub fn stats(&self) -> ExportStats {
        self.state().stats.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Exports the statistics `stats` gives if the interval has passed since the last export
    /// (or a failed one is waiting); they are taken only then. Called from the worker's tick.
    pub fn export_if_due(&self, stats: impl FnOnce() -> StatsSnapshot) {
        let now = self.clock.now_ms();
        if now < self.state().next_ms {
            return;
        }
        let interval = i64::try_from(self.options.interval.as_millis()).unwrap_or(i64::MAX);
        let outcome = self.export(&stats(), now);
        let mut state = self.state();
        match outcome {
            Ok(()) => {
                state.stats.sent += 1;
                state.next_ms = now.saturating_add(interval);
            }
            Err((error, retry_soon)) => {
                state.stats.failed += 1;
                state.stats.last_error = Some(error.message().to_owned());
                // Retried at the next tick, or after a whole interval if it cannot succeed.
                state.next_ms = if retry_soon {
                    now
                } else {
                    now.saturating_add(interval)
                };
            }
        }
    }

    fn export(&self, stats: &StatsSnapshot, now_ms: i64) -> Result<(), (Error, bool)> {
        let now_ns = u64::try_from(now_ms).unwrap_or(0) * 1_000_000;
        let body = export_request(stats, &self.resource, self.start_ns, now_ns);
        let mut request = self
            .agent
            .post(&self.options.endpoint)
            .header("content-type", "application/x-protobuf");
        for (name, value) in &self.options.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let fail = |message: String| Error::new(ErrorKind::Io, message);
        let mut response = request.send(&body[..]).map_err(|e| {
            (
                fail(format!("POST {} failed: {e}", self.options.endpoint)),
                true,
            )
        })?;
        let status = response.status().as_u16();
        let _ = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec();
        match status {
            200..=299 => Ok(()),
            408 | 429 | 500..=599 => Err((
                fail(format!("{} answered {status}", self.options.endpoint)),
                true,
            )),
            _ => Err((
                fail(format!("{} answered {status}", self.options.endpoint)),
                false,
            )),
        }
    }
}
