//! Live statistics, bounded in memory: delivery counters, per event-name counts, per
//! route+method and per operation latency sketches, and sliding-window rates.
//! A [`StatsSnapshot`] serializes to JSON and merges exactly with another, so the snapshots
//! of several workers or hosts add up to one correct view.

// The Prometheus and OTLP outputs are served by native bindings only.
#[cfg(not(target_arch = "wasm32"))]
mod catalog;
mod ddsketch;
#[cfg(not(target_arch = "wasm32"))]
mod exposition;
mod json;
#[cfg(not(target_arch = "wasm32"))]
mod otlp;
mod window;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use ddsketch::DDSketch;
#[cfg(not(target_arch = "wasm32"))]
pub use exposition::{exposition, ExpositionContext, ExpositionFormat, DURATION_BUCKETS};
#[cfg(not(target_arch = "wasm32"))]
pub use otlp::{export_request, OtlpResource, OTLP_SCALE};
pub(crate) use window::RateWindow;

use crate::error::Error;
use crate::event::reserved::{self, keys};
use crate::event::{Message, MessageType, Timestamp};

/// The bucket that absorbs names, routes and operations past the configured caps.
pub const OTHER: &str = "__other__";

/// Why an event left the pipeline without being delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Validation failed.
    Invalid,
    /// Not kept by sampling.
    Sampled,
    /// Dropped by the `before_send` hook.
    BeforeSend,
    /// The buffer was full.
    QueueFull,
    /// Larger than the message limit or the whole buffer.
    Oversize,
    /// A sink kept failing, or refused it permanently.
    RetryExhausted,
    /// A destination refused it: the collector rejected the item, or answered a 4xx that
    /// retrying cannot fix.
    Rejected,
    /// Not delivered before the shutdown deadline.
    ShutdownTimeout,
}

impl DropReason {
    /// Every reason.
    pub const ALL: [DropReason; 8] = [
        DropReason::Invalid,
        DropReason::Sampled,
        DropReason::BeforeSend,
        DropReason::QueueFull,
        DropReason::Oversize,
        DropReason::RetryExhausted,
        DropReason::Rejected,
        DropReason::ShutdownTimeout,
    ];

    /// The stable name, as in stats JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Invalid => "invalid",
            DropReason::Sampled => "sampled",
            DropReason::BeforeSend => "before_send",
            DropReason::QueueFull => "queue_full",
            DropReason::Oversize => "oversize",
            DropReason::RetryExhausted => "retry_exhausted",
            DropReason::Rejected => "rejected",
            DropReason::ShutdownTimeout => "shutdown_timeout",
        }
    }
}

/// Dropped events per reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCounts {
    /// See [`DropReason::Invalid`].
    pub invalid: u64,
    /// See [`DropReason::Sampled`].
    pub sampled: u64,
    /// See [`DropReason::BeforeSend`].
    pub before_send: u64,
    /// See [`DropReason::QueueFull`].
    pub queue_full: u64,
    /// See [`DropReason::Oversize`].
    pub oversize: u64,
    /// See [`DropReason::RetryExhausted`].
    pub retry_exhausted: u64,
    /// See [`DropReason::Rejected`].
    #[serde(default)]
    pub rejected: u64,
    /// See [`DropReason::ShutdownTimeout`].
    pub shutdown_timeout: u64,
}

impl DropCounts {
    fn slot(&mut self, reason: DropReason) -> &mut u64 {
        match reason {
            DropReason::Invalid => &mut self.invalid,
            DropReason::Sampled => &mut self.sampled,
            DropReason::BeforeSend => &mut self.before_send,
            DropReason::QueueFull => &mut self.queue_full,
            DropReason::Oversize => &mut self.oversize,
            DropReason::RetryExhausted => &mut self.retry_exhausted,
            DropReason::Rejected => &mut self.rejected,
            DropReason::ShutdownTimeout => &mut self.shutdown_timeout,
        }
    }

    /// Counts `n` drops for `reason`.
    pub fn add(&mut self, reason: DropReason, n: u64) {
        let slot = self.slot(reason);
        *slot = slot.saturating_add(n);
    }

    /// Drops for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        let mut copy = *self;
        *copy.slot(reason)
    }

    /// Drops for every reason.
    pub fn total(&self) -> u64 {
        DropReason::ALL
            .iter()
            .fold(0u64, |total, r| total.saturating_add(self.get(*r)))
    }

    fn merge(&mut self, other: &DropCounts) {
        for r in DropReason::ALL {
            self.add(r, other.get(r));
        }
    }
}

/// Where every event that entered the pipeline is now. Always
/// `received == delivered + dropped.total() + queued + in_flight`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Events handed to the pipeline (track, ingest items, ...).
    pub received: u64,
    /// Events that entered the buffer.
    pub accepted: u64,
    /// Events every sink acknowledged.
    pub delivered: u64,
    /// Events waiting in the buffer.
    pub queued: u64,
    /// Bytes the waiting events count against `max_queue_bytes` (JSON and queue slot).
    pub queued_bytes: u64,
    /// Events taken for delivery and not yet acknowledged (including batches awaiting retry).
    pub in_flight: u64,
    /// Events dropped, per reason.
    pub dropped: DropCounts,
    /// Tracking-plan violations reported in `warn` mode.
    pub plan_violations: u64,
    /// Batches every sink accepted.
    pub batches_delivered: u64,
    /// Batches dropped after failures.
    pub batches_failed: u64,
    /// Delivery attempts that were retried.
    pub retries: u64,
}

impl Counters {
    /// The accounting identity every snapshot satisfies.
    pub fn is_balanced(&self) -> bool {
        self.received == self.delivered + self.dropped.total() + self.queued + self.in_flight
    }

    fn merge(&mut self, o: &Counters) {
        self.received = self.received.saturating_add(o.received);
        self.accepted = self.accepted.saturating_add(o.accepted);
        self.delivered = self.delivered.saturating_add(o.delivered);
        self.queued = self.queued.saturating_add(o.queued);
        self.queued_bytes = self.queued_bytes.saturating_add(o.queued_bytes);
        self.in_flight = self.in_flight.saturating_add(o.in_flight);
        self.dropped.merge(&o.dropped);
        self.plan_violations = self.plan_violations.saturating_add(o.plan_violations);
        self.batches_delivered = self.batches_delivered.saturating_add(o.batches_delivered);
        self.batches_failed = self.batches_failed.saturating_add(o.batches_failed);
        self.retries = self.retries.saturating_add(o.retries);
    }
}

/// Latency summary in milliseconds, with the sketch it came from (for merging).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// How many.
    pub count: u64,
    /// Smallest (exact).
    pub min: Option<f64>,
    /// Largest (exact).
    pub max: Option<f64>,
    /// Mean (exact).
    pub mean: Option<f64>,
    /// Median (within 1%).
    pub p50: Option<f64>,
    /// 90th percentile (within 1%).
    pub p90: Option<f64>,
    /// 95th percentile (within 1%).
    pub p95: Option<f64>,
    /// 99th percentile (within 1%).
    pub p99: Option<f64>,
    /// The sketch the quantiles come from; merging adds sketches.
    pub sketch: DDSketch,
}

impl Latency {
    /// The summary of a sketch.
    pub fn from_sketch(sketch: DDSketch) -> Self {
        Self {
            count: sketch.count(),
            min: sketch.min(),
            max: sketch.max(),
            mean: sketch.mean(),
            p50: sketch.quantile(0.50),
            p90: sketch.quantile(0.90),
            p95: sketch.quantile(0.95),
            p99: sketch.quantile(0.99),
            sketch,
        }
    }

    fn merge(&mut self, other: &Latency) -> Result<(), Error> {
        let mut sketch = self.sketch.clone();
        sketch.merge(&other.sketch)?;
        *self = Latency::from_sketch(sketch);
        Ok(())
    }
}

/// Responses per status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusClasses {
    /// 1xx responses.
    #[serde(rename = "1xx")]
    pub informational: u64,
    /// 2xx responses.
    #[serde(rename = "2xx")]
    pub success: u64,
    /// 3xx responses.
    #[serde(rename = "3xx")]
    pub redirect: u64,
    /// 4xx responses.
    #[serde(rename = "4xx")]
    pub client_error: u64,
    /// 5xx responses.
    #[serde(rename = "5xx")]
    pub server_error: u64,
}

impl StatusClasses {
    fn record(&mut self, status: u64) {
        match status {
            100..=199 => self.informational += 1,
            200..=299 => self.success += 1,
            300..=399 => self.redirect += 1,
            400..=499 => self.client_error += 1,
            _ => self.server_error += 1,
        }
    }

    fn merge(&mut self, o: &StatusClasses) {
        self.informational = self.informational.saturating_add(o.informational);
        self.success = self.success.saturating_add(o.success);
        self.redirect = self.redirect.saturating_add(o.redirect);
        self.client_error = self.client_error.saturating_add(o.client_error);
        self.server_error = self.server_error.saturating_add(o.server_error);
    }
}

/// One route+method. `errors` counts 5xx responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteStats {
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub route: String,
    /// How many.
    pub count: u64,
    /// Failures (5xx responses, or `success: false`).
    pub errors: u64,
    /// Responses per status class.
    pub status: StatusClasses,
    /// Durations in milliseconds.
    pub latency: Latency,
    /// Durations per response status code (`"200"`, `"404"`; a route's codes past the
    /// [`MAX_STATUS_CODES`]th, and codes outside 100–999, under `__other__`): what the
    /// metrics outputs label `http.response.status_code`. Their merge is `latency`. Not
    /// kept in the browser.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_codes: BTreeMap<String, Latency>,
}

/// Distinct status codes a route keeps a latency sketch for; the rest share `__other__`.
pub const MAX_STATUS_CODES: usize = 16;

/// One timed operation. `errors` counts `success: false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationStats {
    /// Operation name.
    pub operation: String,
    /// How many.
    pub count: u64,
    /// Failures (5xx responses, or `success: false`).
    pub errors: u64,
    /// Durations in milliseconds.
    pub latency: Latency,
}

/// Accepted events over sliding windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// Accepted events in the last minute.
    pub events_1m: u64,
    /// Accepted events in the last 5 minutes.
    pub events_5m: u64,
    /// Accepted events in the last 15 minutes.
    pub events_15m: u64,
    /// Events per second over the last minute.
    pub per_second_1m: f64,
    /// Events per second over the last 5 minutes.
    pub per_second_5m: f64,
    /// Events per second over the last 15 minutes.
    pub per_second_15m: f64,
}

impl Rates {
    fn from_counts(m1: u64, m5: u64, m15: u64) -> Self {
        Self {
            events_1m: m1,
            events_5m: m5,
            events_15m: m15,
            per_second_1m: m1 as f64 / 60.0,
            per_second_5m: m5 as f64 / 300.0,
            per_second_15m: m15 as f64 / 900.0,
        }
    }
}

/// A point-in-time copy of every statistic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// When the snapshot was taken (the later one after a merge).
    pub taken_at: Timestamp,
    /// Where every event is (see [`Counters`]).
    pub counters: Counters,
    /// Accepted events per name (track: event name; others: message type).
    pub events: BTreeMap<String, u64>,
    /// Keyed `"METHOD route"`.
    pub routes: BTreeMap<String, RouteStats>,
    /// Keyed by operation name.
    pub operations: BTreeMap<String, OperationStats>,
    /// Sliding-window rates.
    pub rates: Rates,
    /// Latest host and process gauges (`host.cpu_percent`, ...), from the last alert
    /// evaluation with host metrics. Merging keeps the highest value of each (the busiest
    /// host), since gauges of different hosts do not add up. Native targets only, as are
    /// the outboxes and exports: the browser has none of them, nor their maps' code.
    #[cfg(not(target_arch = "wasm32"))]
    #[serde(default)]
    pub gauges: BTreeMap<String, f64>,
    /// The durable outboxes of HTTP destinations, keyed by endpoint (absent when none).
    #[cfg(not(target_arch = "wasm32"))]
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outboxes: BTreeMap<String, OutboxStats>,
    /// Metrics exports (OTLP), keyed by endpoint (absent when none).
    #[cfg(not(target_arch = "wasm32"))]
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exports: BTreeMap<String, ExportStats>,
}

/// What a metrics exporter did: exports the endpoint took, attempts that failed (each
/// retried; with cumulative temporality a later export carries what a failed one had).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportStats {
    /// Exports the endpoint took.
    pub sent: u64,
    /// Attempts that failed.
    pub failed: u64,
    /// The latest failure.
    pub last_error: Option<String>,
}

impl ExportStats {
    /// Adds `other`'s counts; its last error, if any, becomes the last one.
    pub fn add(&mut self, other: &ExportStats) {
        self.sent = self.sent.saturating_add(other.sent);
        self.failed = self.failed.saturating_add(other.failed);
        if other.last_error.is_some() {
            self.last_error.clone_from(&other.last_error);
        }
    }
}

/// What became of the batches an HTTP destination keeps in its outbox. Its own balance:
/// every event that entered the outbox (in this process, or left there by an earlier one) is
/// sent, dropped, or still pending. The core's counters count such events as delivered once
/// they are durably in the outbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxStats {
    /// Batches waiting in the file (every process sharing it).
    pub pending_batches: u64,
    /// Events in those batches.
    pub pending_events: u64,
    /// Their size.
    pub pending_bytes: u64,
    /// Events this process sent and the collector took.
    pub sent: u64,
    /// Failed sends this process will try again.
    pub retries: u64,
    /// Events this process dropped from the outbox, by reason.
    pub dropped: OutboxDrops,
    /// The last failure, until a send succeeds.
    pub last_error: Option<String>,
}

/// Events dropped from an outbox, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxDrops {
    /// The collector refused them (per item, or a 4xx for the batch).
    pub rejected: u64,
    /// Alone too large for the collector (413).
    pub oversize: u64,
    /// The oldest, removed to keep the file under `outbox_max_bytes`.
    pub outbox_full: u64,
}

impl OutboxStats {
    #[cfg(not(target_arch = "wasm32"))]
    fn merge(&mut self, other: &OutboxStats) {
        self.pending_batches = self.pending_batches.saturating_add(other.pending_batches);
        self.pending_events = self.pending_events.saturating_add(other.pending_events);
        self.pending_bytes = self.pending_bytes.saturating_add(other.pending_bytes);
        self.sent = self.sent.saturating_add(other.sent);
        self.retries = self.retries.saturating_add(other.retries);
        let d = &mut self.dropped;
        d.rejected = d.rejected.saturating_add(other.dropped.rejected);
        d.oversize = d.oversize.saturating_add(other.dropped.oversize);
        d.outbox_full = d.outbox_full.saturating_add(other.dropped.outbox_full);
        if other.last_error.is_some() {
            self.last_error.clone_from(&other.last_error);
        }
    }
}

impl StatsSnapshot {
    /// Adds `other` into `self`: counts and sketches add, so the result equals the snapshot
    /// of one client that saw both streams. `taken_at` becomes the later of the two.
    pub fn merge(&mut self, other: &StatsSnapshot) -> Result<(), Error> {
        self.taken_at = self.taken_at.max(other.taken_at);
        self.counters.merge(&other.counters);
        for (name, n) in &other.events {
            let mine = self.events.entry(name.clone()).or_insert(0);
            *mine = mine.saturating_add(*n);
        }
        for (key, r) in &other.routes {
            match self.routes.get_mut(key) {
                Some(mine) => {
                    mine.count = mine.count.saturating_add(r.count);
                    mine.errors = mine.errors.saturating_add(r.errors);
                    mine.status.merge(&r.status);
                    mine.latency.merge(&r.latency)?;
                    for (code, latency) in &r.status_codes {
                        match mine.status_codes.get_mut(code) {
                            Some(l) => l.merge(latency)?,
                            None => {
                                mine.status_codes.insert(code.clone(), latency.clone());
                            }
                        }
                    }
                }
                None => {
                    self.routes.insert(key.clone(), r.clone());
                }
            }
        }
        for (key, o) in &other.operations {
            match self.operations.get_mut(key) {
                Some(mine) => {
                    mine.count = mine.count.saturating_add(o.count);
                    mine.errors = mine.errors.saturating_add(o.errors);
                    mine.latency.merge(&o.latency)?;
                }
                None => {
                    self.operations.insert(key.clone(), o.clone());
                }
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            for (name, v) in &other.gauges {
                let mine = self.gauges.entry(name.clone()).or_insert(*v);
                *mine = mine.max(*v);
            }
            for (endpoint, o) in &other.outboxes {
                self.outboxes.entry(endpoint.clone()).or_default().merge(o);
            }
            for (endpoint, e) in &other.exports {
                self.exports.entry(endpoint.clone()).or_default().add(e);
            }
        }
        self.rates = Rates::from_counts(
            self.rates.events_1m.saturating_add(other.rates.events_1m),
            self.rates.events_5m.saturating_add(other.rates.events_5m),
            self.rates.events_15m.saturating_add(other.rates.events_15m),
        );
        Ok(())
    }

    /// The snapshot as JSON (snake_case keys).
    pub fn to_json(&self) -> String {
        json::snapshot(self)
    }

    /// Reads a snapshot written by [`StatsSnapshot::to_json`] (any runtime).
    pub fn from_json(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| {
            Error::new(
                crate::error::ErrorKind::InvalidConfig,
                format!("not a stats snapshot: {e}"),
            )
        })
    }
}

/// A timed operation's live statistics.
#[derive(Debug, Clone)]
struct LiveEndpoint {
    count: u64,
    errors: u64,
    sketch: DDSketch,
}

impl LiveEndpoint {
    fn new() -> Self {
        Self {
            count: 0,
            errors: 0,
            sketch: DDSketch::default(),
        }
    }

    fn stats(&self, operation: &str) -> OperationStats {
        OperationStats {
            operation: operation.to_owned(),
            count: self.count,
            errors: self.errors,
            latency: Latency::from_sketch(self.sketch.clone()),
        }
    }
}

/// A route's live statistics: latency is kept per status code only (one sketch add per
/// request, as before); the route's own sketch is their merge, made at snapshot time.
#[derive(Debug, Clone)]
struct LiveRoute {
    count: u64,
    errors: u64,
    status: StatusClasses,
    /// In first-seen order; code 0 stands for `__other__`.
    codes: Vec<(u16, DDSketch)>,
}

impl LiveRoute {
    fn new() -> Self {
        Self {
            count: 0,
            errors: 0,
            status: StatusClasses::default(),
            codes: Vec::new(),
        }
    }

    /// The browser keeps one sketch per route (no status-code outputs there: its
    /// WebAssembly stays smaller).
    #[cfg(target_arch = "wasm32")]
    fn sketch_for(&mut self, _status: u64) -> &mut DDSketch {
        if self.codes.is_empty() {
            self.codes.push((0, DDSketch::default()));
        }
        &mut self.codes[0].1
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn sketch_for(&mut self, status: u64) -> &mut DDSketch {
        let mut code = u16::try_from(status)
            .ok()
            .filter(|c| (100..=999).contains(c))
            .unwrap_or(0);
        let mut at = self.codes.iter().position(|(c, _)| *c == code);
        if at.is_none() && self.codes.len() >= MAX_STATUS_CODES {
            // Past the cap, a new code shares `__other__`.
            code = 0;
            at = self.codes.iter().position(|(c, _)| *c == 0);
        }
        let at = at.unwrap_or_else(|| {
            self.codes.push((code, DDSketch::default()));
            self.codes.len() - 1
        });
        &mut self.codes[at].1
    }

    fn stats(&self, method: &str, route: &str) -> RouteStats {
        let mut all = DDSketch::default();
        let mut status_codes = BTreeMap::new();
        for (code, sketch) in &self.codes {
            // Every sketch here has the same accuracy, so merging cannot fail.
            let _ = all.merge(sketch);
            if cfg!(target_arch = "wasm32") {
                continue;
            }
            let key = if *code == 0 {
                OTHER.to_owned()
            } else {
                code.to_string()
            };
            status_codes.insert(key, Latency::from_sketch(sketch.clone()));
        }
        RouteStats {
            method: method.to_owned(),
            route: route.to_owned(),
            count: self.count,
            errors: self.errors,
            status: self.status,
            latency: Latency::from_sketch(all),
            status_codes,
        }
    }
}

/// A status code given as an integer, or as a float with no fraction (valid JSON Schema
/// `integer`, which some clients send).
fn status_code(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=999.0).contains(f))
            .map(|f| f as u64)
    })
}

/// The mutable statistics a client updates for every accepted event.
#[derive(Debug)]
pub(crate) struct StatsCollector {
    max_names: usize,
    max_routes: usize,
    events: HashMap<String, u64>,
    /// Names `events` took from the public collector: at most half of `max_names`, so
    /// senders outside the process cannot push this process's own names into `__other__`.
    public_names: usize,
    /// route → [(method, stats)]: two-level so lookups need no allocation.
    routes: HashMap<String, Vec<(String, LiveRoute)>>,
    route_count: usize,
    operations: HashMap<String, LiveEndpoint>,
    rates: RateWindow,
    #[cfg(not(target_arch = "wasm32"))]
    gauges: BTreeMap<String, f64>,
}

impl StatsCollector {
    pub fn new(max_names: usize, max_routes: usize) -> Self {
        Self {
            max_names,
            max_routes,
            events: HashMap::new(),
            public_names: 0,
            routes: HashMap::new(),
            route_count: 0,
            operations: HashMap::new(),
            rates: RateWindow::default(),
            #[cfg(not(target_arch = "wasm32"))]
            gauges: BTreeMap::new(),
        }
    }

    /// Counts an accepted event. `public`: it came through the public collector, so it
    /// counts by name within the public share of the names, and an `$api_request` never
    /// counts as one of this process's own requests (forged ones would skew the route
    /// statistics and fire alerts).
    pub fn record(&mut self, m: &Message, now_ms: i64, public: bool) {
        self.rates.record(now_ms, 1);
        let name = m.stats_name();
        let room = self.events.len() < self.max_names
            && (!public || self.public_names < self.max_names / 2);
        match self.events.get_mut(name) {
            Some(n) => *n += 1,
            None if room => {
                self.events.insert(name.to_owned(), 1);
                self.public_names += usize::from(public);
            }
            None => *self.events.entry(OTHER.to_owned()).or_insert(0) += 1,
        }
        if m.kind != MessageType::Track {
            return;
        }
        let p = &m.properties;
        match m.event.as_deref() {
            Some(reserved::API_REQUEST) if !public => {
                let (Some(method), Some(route), Some(status), Some(ms)) = (
                    p.get(keys::HTTP_METHOD).and_then(Value::as_str),
                    p.get(keys::HTTP_ROUTE).and_then(Value::as_str),
                    p.get(keys::HTTP_STATUS).and_then(status_code),
                    p.get(keys::DURATION_MS).and_then(Value::as_f64),
                ) else {
                    return;
                };
                self.record_request(method, route, status, ms);
            }
            Some(reserved::PERFORMANCE) => {
                let (Some(op), Some(ms), Some(ok)) = (
                    p.get(keys::OPERATION).and_then(Value::as_str),
                    p.get(keys::DURATION_MS).and_then(Value::as_f64),
                    p.get(keys::SUCCESS).and_then(Value::as_bool),
                ) else {
                    return;
                };
                self.record_operation(op, ms, ok);
            }
            _ => {}
        }
    }

    pub fn record_request(&mut self, method: &str, route: &str, status: u64, duration_ms: f64) {
        let full = self.route_count >= self.max_routes;
        let known = self
            .routes
            .get(route)
            .is_some_and(|ms| ms.iter().any(|(m, _)| m == method));
        let (route, method) = if known || !full {
            (route, method)
        } else {
            (OTHER, "*")
        };
        let methods = self.routes.entry(route.to_owned()).or_default();
        let idx = match methods.iter().position(|(m, _)| m == method) {
            Some(i) => i,
            None => {
                methods.push((method.to_owned(), LiveRoute::new()));
                self.route_count += 1;
                methods.len() - 1
            }
        };
        let e = &mut methods[idx].1;
        e.count += 1;
        e.status.record(status);
        if status >= 500 {
            e.errors += 1;
        }
        e.sketch_for(status).add(duration_ms);
    }

    pub fn record_operation(&mut self, operation: &str, duration_ms: f64, success: bool) {
        let key =
            if self.operations.contains_key(operation) || self.operations.len() < self.max_routes {
                operation
            } else {
                OTHER
            };
        let e = match self.operations.get_mut(key) {
            Some(e) => e,
            None => self
                .operations
                .entry(key.to_owned())
                .or_insert_with(LiveEndpoint::new),
        };
        e.count += 1;
        if !success {
            e.errors += 1;
        }
        e.sketch.add(duration_ms);
    }

    /// Replaces the gauges with the latest readings.
    #[cfg(not(target_arch = "wasm32"))]
    #[cfg_attr(not(feature = "host-metrics"), allow(dead_code))]
    pub fn set_gauges(&mut self, gauges: BTreeMap<String, f64>) {
        self.gauges = gauges;
    }

    /// What `snapshot(..).to_json()` writes, without building the snapshot (see
    /// `json::live`; the browser's `stats()`).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub fn live_json(&self, counters: &Counters, now_ms: i64) -> String {
        json::live(self, counters, now_ms)
    }

    /// The sliding-window rates at `now_ms`.
    fn rates_at(&self, now_ms: i64) -> Rates {
        Rates::from_counts(
            self.rates.count_last(now_ms, 1),
            self.rates.count_last(now_ms, 5),
            self.rates.count_last(now_ms, 15),
        )
    }

    pub fn snapshot(&self, counters: Counters, now_ms: i64) -> StatsSnapshot {
        // Filled by insertion, not `collect`: collecting into a BTreeMap sorts first, and
        // each such sort is ~3 KB of the browser's WebAssembly.
        let mut routes = BTreeMap::new();
        for (route, methods) in &self.routes {
            for (method, e) in methods {
                routes.insert(format!("{method} {route}"), e.stats(method, route));
            }
        }
        let mut operations = BTreeMap::new();
        for (op, e) in &self.operations {
            operations.insert(op.clone(), e.stats(op));
        }
        let mut events = BTreeMap::new();
        for (name, n) in &self.events {
            events.insert(name.clone(), *n);
        }
        StatsSnapshot {
            taken_at: Timestamp::from_millis(now_ms),
            counters,
            events,
            routes,
            operations,
            rates: self.rates_at(now_ms),
            #[cfg(not(target_arch = "wasm32"))]
            gauges: self.gauges.clone(),
            #[cfg(not(target_arch = "wasm32"))]
            outboxes: BTreeMap::new(),
            #[cfg(not(target_arch = "wasm32"))]
            exports: BTreeMap::new(),
        }
    }
}
