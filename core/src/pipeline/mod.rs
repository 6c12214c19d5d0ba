//! The `Sonde` client: normalize → sample → before_send → validate → redact → serialize →
//! statistics → bounded buffer → delivery.

mod alerts;
mod cluster;
mod delivery;
mod ingest;
mod process;
mod redact;
// Run-time reconfiguration (a binding replacing its client) is a server feature.
#[cfg(not(target_arch = "wasm32"))]
mod succession;
mod timer;

use std::mem::take;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

pub use cluster::{ClusterStats, InstanceStats};
pub use ingest::{IngestItem, IngestReport, ItemStatus};
pub use redact::REDACTED;
pub use timer::Timer;

use crate::alert::{ActiveAlert, AlertEngine, AlertTransition};
use crate::buffer::{Buffer, BufferLimits, PushError};
use crate::clock::{platform_clock, SharedClock};
use crate::codes;
use crate::config::{BeforeSend, Config, DeliveryMode, OverflowPolicy};
use crate::error::{Error, ErrorKind, Result, Violation};
use crate::event::reserved::{ApiRequest, ErrorEvent, Interaction, Performance};
use crate::event::{Library, Message, MessageType, Properties, Timestamp};
use crate::ids::{stable_hash, IdGenerator};
use crate::sink::Sink;
use crate::stats::{DropReason, StatsCollector, StatsSnapshot};
use crate::validate::{Checked, Validator};
use delivery::Delivery;
pub(crate) use redact::Redactor;

/// What happened to an event the pipeline took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// In the buffer, on its way to the sinks.
    Queued,
    /// Not kept by sampling (counted as `sampled`).
    Sampled,
    /// Dropped by the `before_send` hook (counted as `before_send`).
    Filtered,
    /// The buffer was full and the overflow policy refused it (counted as `queue_full`).
    QueueFull,
    /// Valid, and not sent or stored: the client is disabled.
    Disabled,
}

/// The answer to `track` and friends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Receipt {
    /// The message's id (generated or given).
    pub message_id: String,
    /// What happened to it.
    pub disposition: Disposition,
    /// Tracking-plan violations in `warn` mode: reported, not rejected.
    pub warnings: Vec<Violation>,
}

/// The statistics-sharing part of a client with a store (native targets).
#[cfg(not(target_arch = "wasm32"))]
fn cluster_of(config: &Config) -> Option<cluster::Cluster> {
    let store = config.stats_store.clone()?;
    let now = config.clock.as_ref().map_or_else(
        || crate::clock::Clock::now_ms(&crate::clock::SystemClock::new()),
        |c| c.now_ms(),
    );
    Some(cluster::Cluster {
        store,
        instance: crate::store::Instance::current(now),
        interval: config.metrics_interval,
    })
}

#[cfg(target_arch = "wasm32")]
fn cluster_of(_config: &Config) -> Option<cluster::Cluster> {
    None
}

/// Where a message came from: the local API fills identity and super properties; ingested
/// messages get `receivedAt` and clock-skew correction instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Local,
    /// `public`: from outside the process, through the HTTP collector (see
    /// [`Sonde::collect`]).
    Ingest {
        batch_sent_at: Option<Timestamp>,
        public: bool,
    },
}

/// One batch handed to a host-driven transport (manual delivery).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutgoingBatch {
    /// Pass to `ack` or `nack`.
    pub id: u64,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Events in the batch.
    pub events: usize,
    /// `{"batch":[...],"sentAt":"..."}`: the Segment batch format, which `ingest` accepts.
    pub payload: String,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// State shared by the client handles and the delivery worker.
pub(crate) struct Shared {
    pub buffer: Mutex<Buffer>,
    /// Mirrors the buffer's closed flag so `track` can refuse early without taking the
    /// lock; the buffer's own flag stays the authority when an event is pushed.
    pub closed: std::sync::atomic::AtomicBool,
    pub stats: Mutex<StatsCollector>,
    pub clock: SharedClock,
    pub sinks: Vec<Arc<dyn Sink>>,
    pub jitter: IdGenerator,
    pub delivery: Delivery,
    /// Told about lost events (and deliveries in debug mode), outside the buffer's lock.
    pub notice: Option<crate::config::NoticeHook>,
}

impl Shared {
    pub fn mono_ms(&self) -> u64 {
        self.clock.monotonic_ns() / 1_000_000
    }

    /// Releases the buffer's lock, then tells the host what the buffer noticed, once it is
    /// time to (every [`crate::notice::NOTICE_INTERVAL_MS`], and at once when closing).
    pub fn release(&self, mut buf: MutexGuard<'_, Buffer>) {
        if buf.notices.is_empty() {
            return;
        }
        let closing = buf.is_closed();
        let notices = buf.notices.take_due(self.mono_ms(), closing);
        drop(buf);
        if notices.is_empty() {
            return;
        }
        if let Some(hook) = &self.notice {
            for notice in &notices {
                // Host code: a panic there must not take the caller (or the worker) down.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(notice)));
            }
        }
    }

    pub fn buffer(&self) -> MutexGuard<'_, Buffer> {
        lock(&self.buffer)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Closes the buffer (no new events) and records it for the lock-free check.
    pub fn close(&self, buf: &mut Buffer) {
        buf.close();
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

struct Inner {
    shared: Arc<Shared>,
    /// This client's scan rules, among every client's in the process: a raw object scanned
    /// under other rules (another client's) is scanned again.
    rules_id: u64,
    validator: Validator,
    before_send: Option<BeforeSend>,
    redactor: Redactor,
    sample_rate: f64,
    sample_rates: std::collections::HashMap<String, f64>,
    library: Library,
    /// `context.library`, serialized once.
    library_json: Vec<u8>,
    anonymous_id: String,
    super_properties: RwLock<Properties>,
    /// Context entries every locally tracked event gets unless it has its own (a page's
    /// device and page context, set once instead of sent with every event).
    context_defaults: RwLock<Properties>,
    ids: IdGenerator,
    overflow: OverflowPolicy,
    mode: DeliveryMode,
    drop_timeout: Duration,
    /// The buffer's caps (events, bytes), for `queue.fill_percent`.
    queue_caps: (usize, usize),
    /// Validate, then send and store nothing.
    disabled: bool,
    ip_policy: crate::config::IpPolicy,
    /// Events must name their person (servers): no process-wide anonymous id.
    require_person: bool,
    invalid_policy: crate::config::InvalidPolicy,
    alerts: Mutex<alerts::AlertRuntime>,
    alert_callbacks: Vec<crate::config::AlertCallback>,
    /// The store this client publishes its statistics to, and who it is there.
    cluster: Option<cluster::Cluster>,
    /// The client this one replaced, whose statistics continue in this one's.
    #[cfg(not(target_arch = "wasm32"))]
    predecessor: Mutex<Option<succession::Predecessor>>,
    /// Replaced by a successor that publishes this client's numbers: no longer publishes.
    replaced: std::sync::atomic::AtomicBool,
    #[cfg(all(feature = "http-sink", not(target_arch = "wasm32")))]
    otlp: Option<Arc<crate::sink::OtlpExporter>>,
}

/// A process-wide id for a client's scan rules (never 0: "not scanned").
fn next_rules_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Drop for Inner {
    fn drop(&mut self) {
        if delivery::on_worker_thread(&self.shared) {
            // Dropped by the worker's own alert tick: it cannot wait for itself, so it only
            // closes the buffer; the worker delivers what is left, then ends.
            let mut buf = self.shared.buffer();
            self.shared.close(&mut buf);
            return;
        }
        // The last handle is gone: deliver what we can within the bounded timeout.
        let _ = self.shutdown(self.drop_timeout);
    }
}

/// The client. Cheap to clone; clones share one buffer, worker and statistics. Dropping the
/// last clone shuts down with `Config::drop_timeout`.
#[derive(Clone)]
pub struct Sonde {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sonde {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sonde")
            .field("library", &self.inner.library)
            .field("mode", &self.inner.mode)
            .finish_non_exhaustive()
    }
}

impl Sonde {
    /// Builds a client; every configuration problem is reported at once.
    pub fn new(mut config: Config) -> Result<Self> {
        config.check()?;
        if config.delivery == DeliveryMode::Worker && config.sinks.is_empty() && !config.disabled {
            return Err(Error::with_violations(
                ErrorKind::InvalidConfig,
                vec![Violation::new(
                    "/sinks",
                    codes::INVALID_OPTION,
                    "worker delivery needs at least one sink",
                )],
            ));
        }
        let clock = match config.clock.clone().or_else(platform_clock) {
            Some(c) => c,
            None => return Err(Error::invalid_config("no clock available on this platform")),
        };
        let seed = config.random_seed.unwrap_or_else(|| {
            IdGenerator::from_entropy(clock.now_ms() as u64 ^ clock.monotonic_ns()).next_u64()
        });
        let ids = IdGenerator::new(seed);
        let jitter = IdGenerator::new(ids.next_u64());
        let anonymous_id = take(&mut config.anonymous_id).unwrap_or_else(|| ids.uuid_v4());
        let shared = Arc::new(Shared {
            buffer: Mutex::new({
                let mut buffer =
                    Buffer::new(BufferLimits::from_config(&config), config.sinks.len());
                buffer.notices.losses = config.on_notice.is_some();
                buffer.notices.deliveries = config.on_notice.is_some() && config.debug;
                buffer
            }),
            closed: std::sync::atomic::AtomicBool::new(false),
            stats: Mutex::new(StatsCollector::new(
                config.max_event_names,
                config.max_routes,
            )),
            clock,
            sinks: take(&mut config.sinks),
            jitter,
            delivery: Delivery::new(),
            notice: take(&mut config.on_notice),
        });
        if config.delivery == DeliveryMode::Worker {
            delivery::start_worker(&shared)?;
        }
        let sonde = Self {
            inner: Arc::new(Inner {
                shared,
                validator: Validator::new(config.limits.clone(), take(&mut config.tracking_plan)),
                before_send: take(&mut config.before_send),
                rules_id: next_rules_id(),
                redactor: Redactor::new(&config.redact_keys, config.ip_policy),
                sample_rate: config.sample_rate,
                sample_rates: take(&mut config.sample_rates),
                library: config.library.clone(),
                library_json: crate::event::json::library_fragment(&config.library),
                anonymous_id,
                super_properties: RwLock::new(take(&mut config.super_properties)),
                context_defaults: RwLock::new(Properties::new()),
                ids,
                overflow: config.overflow,
                mode: config.delivery,
                drop_timeout: config.drop_timeout,
                disabled: config.disabled,
                ip_policy: config.ip_policy,
                require_person: config.require_person,
                invalid_policy: config.invalid_policy(),
                queue_caps: (config.max_queue_events, config.max_queue_bytes),
                alerts: Mutex::new(alerts::AlertRuntime::new(
                    AlertEngine::new(config.alert_rules.clone(), config.alert_history_limit)?,
                    config.host_metrics,
                )),
                alert_callbacks: take(&mut config.alert_callbacks),
                cluster: cluster_of(&config),
                #[cfg(not(target_arch = "wasm32"))]
                predecessor: Mutex::new(None),
                replaced: std::sync::atomic::AtomicBool::new(false),
                #[cfg(all(feature = "http-sink", not(target_arch = "wasm32")))]
                otlp: take(&mut config.otlp),
            }),
        };
        // No worker on wasm32: the host calls `evaluate_alerts` itself (and the browser
        // build leaves the alert evaluation code out).
        #[cfg(not(target_arch = "wasm32"))]
        if config.delivery == DeliveryMode::Worker {
            let alerting = (cfg!(feature = "host-metrics") && config.host_metrics)
                || !config.alert_rules.is_empty();
            let publishing = sonde.inner.cluster.is_some() || sonde.exports_metrics();
            if alerting || publishing {
                // The worker samples the host, evaluates alerts and publishes the statistics
                // at the interval. It holds the client only weakly, so dropping the last
                // handle still shuts the client down.
                let weak = Arc::downgrade(&sonde.inner);
                delivery::set_tick(
                    &sonde.inner.shared,
                    config.metrics_interval,
                    Arc::new(move || {
                        if let Some(inner) = weak.upgrade() {
                            let sonde = Sonde { inner };
                            if alerting {
                                let _ = sonde.evaluate_alerts();
                            }
                            // A failed publish is retried at the next tick.
                            let _ = sonde.publish_stats();
                            sonde.export_metrics_if_due();
                        }
                    }),
                );
            }
        }
        Ok(sonde)
    }

    /// Sends any message through the pipeline.
    pub fn send(&self, message: Message) -> Result<Receipt> {
        self.inner.process(message, Origin::Local, Vec::new())
    }

    /// Records a `track` event with the client's anonymous id (use [`Sonde::send`] with
    /// [`Message::track`] to set a user id).
    pub fn track(&self, event: impl Into<String>, properties: Properties) -> Result<Receipt> {
        self.send(Message::track(event, properties))
    }

    /// Records a page view.
    pub fn page(&self, name: Option<String>, properties: Properties) -> Result<Receipt> {
        self.send(Message::page(name, properties))
    }

    /// Records a screen view.
    pub fn screen(&self, name: Option<String>, properties: Properties) -> Result<Receipt> {
        self.send(Message::screen(name, properties))
    }

    /// Records who a user is.
    pub fn identify(&self, user_id: impl Into<String>, traits: Properties) -> Result<Receipt> {
        self.send(Message::identify(user_id, traits))
    }

    /// Records the user's group.
    pub fn group(&self, group_id: impl Into<String>, traits: Properties) -> Result<Receipt> {
        self.send(Message::group(group_id, traits))
    }

    /// Merges `previous_id` into `user_id`.
    pub fn alias(
        &self,
        user_id: impl Into<String>,
        previous_id: impl Into<String>,
    ) -> Result<Receipt> {
        self.send(Message::alias(user_id, previous_id))
    }

    /// Records a served request (`$api_request`); feeds route statistics.
    pub fn track_api_request(&self, request: ApiRequest) -> Result<Receipt> {
        self.send(request.into_message())
    }

    /// Counts a served request in the route statistics without recording an event: for
    /// requests a middleware samples out, so statistics still see every request.
    pub fn record_request(&self, method: &str, route: &str, status_code: u16, duration_ms: f64) {
        lock(&self.inner.shared.stats).record_request(
            method,
            route,
            u64::from(status_code),
            duration_ms,
        );
    }

    /// Records a timed operation (`$performance`); feeds operation statistics.
    pub fn track_performance(&self, perf: Performance) -> Result<Receipt> {
        self.send(perf.into_message())
    }

    /// Records a UI interaction (`$interaction`).
    pub fn track_interaction(&self, interaction: Interaction) -> Result<Receipt> {
        self.send(interaction.into_message())
    }

    /// Records an application error (`$error`).
    pub fn track_error(&self, error: ErrorEvent) -> Result<Receipt> {
        self.send(error.into_message())
    }

    /// A guard that records a `$performance` event when stopped or dropped.
    pub fn timer(&self, operation: impl Into<String>) -> Timer {
        Timer::start(self.clone(), operation.into())
    }

    /// `message` with its properties from JSON text (an object), checked and scanned under
    /// this client's depth, key-length and redaction rules in one pass and kept as text (see
    /// [`Message::with_properties_json`], which checks without the rules, so the pipeline
    /// reads the text a second time).
    pub fn with_properties_json(&self, message: Message, json: String) -> Result<Message> {
        message.with_properties_text(json, &self.inner.scan_rules())
    }

    /// A writer for properties a binding converts from its own dictionary straight to JSON
    /// text (see [`crate::Message::with_written_properties`]), applying this client's
    /// depth, key-length and redaction rules as it writes.
    pub fn object_writer(&self) -> crate::event::ObjectWriter<'_> {
        crate::event::ObjectWriter::new(self.inner.scan_rules())
    }

    /// Ingests a JSON message, a JSON array of messages, or a Segment batch
    /// (`{"batch": [...], "sentAt": ...}`). Valid items are accepted, invalid ones reported by
    /// index. Batch-level problems (not JSON, too large, too many messages) reject the whole
    /// request.
    pub fn ingest(&self, bytes: &[u8]) -> Result<IngestReport> {
        ingest::ingest(&self.inner, bytes, None, false)
    }

    /// Like [`Sonde::ingest`], with the message type to assume where `type` is absent (for
    /// endpoints such as `/v1/track`).
    pub fn ingest_as(&self, bytes: &[u8], default_type: MessageType) -> Result<IngestReport> {
        ingest::ingest(&self.inner, bytes, Some(default_type), false)
    }

    /// [`Sonde::ingest`] for what senders outside the process post to the public collector:
    /// stored and counted like any event, but an `$api_request` never counts as one of this
    /// process's own requests (forged ones would skew the route statistics and fire alerts),
    /// and new event names from outside take at most half of `max_event_names`, so a flood of
    /// names cannot push this process's own into `__other__`.
    pub fn collect(&self, bytes: &[u8], default_type: Option<MessageType>) -> Result<IngestReport> {
        ingest::ingest(&self.inner, bytes, default_type, true)
    }

    /// Dry run of [`Sonde::ingest`]: the same parsing and checks, per item, with nothing
    /// recorded or queued (no sampling, no hook, no counters).
    pub fn validate_request(
        &self,
        bytes: &[u8],
        default_type: Option<MessageType>,
    ) -> Result<IngestReport> {
        ingest::validate_request(&self.inner, bytes, default_type)
    }

    /// Dry run: every check the pipeline would make, nothing recorded.
    pub fn validate(&self, message: &Message) -> Checked {
        let now = self.inner.shared.clock.now_ms();
        let mut m = message.clone();
        self.inner.normalize(&mut m, Origin::Local, now);
        // Properties kept as text are read as the pipeline reads them.
        let unreadable = self.inner.prepare_raw(&mut m).err().unwrap_or_default();
        let mut checked = self
            .inner
            .validator
            .validate(&m, now, Some(&self.inner.library));
        checked.errors.splice(0..0, unreadable);
        checked
    }

    fn super_properties_mut(&self) -> std::sync::RwLockWriteGuard<'_, Properties> {
        self.inner
            .super_properties
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the context entries every later locally tracked event gets where its own
    /// context has no such key (the browser's page, user agent, screen: set when they
    /// change rather than sent with each event).
    pub fn set_context_defaults(&self, defaults: Properties) {
        *self
            .inner
            .context_defaults
            .write()
            .unwrap_or_else(PoisonError::into_inner) = defaults;
    }

    /// Adds super properties to every later `track`, `page` and `screen`.
    pub fn register(&self, properties: Properties) {
        self.super_properties_mut().extend(properties);
    }

    /// Removes one super property.
    pub fn unregister(&self, key: &str) {
        crate::event::remove_key(&mut self.super_properties_mut(), key);
    }

    /// The current super properties.
    pub fn super_properties(&self) -> Properties {
        self.inner
            .super_properties
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether sending can wait for room in a full buffer (overflow policy `block`): then
    /// no host may send or ingest on an event loop.
    pub fn sends_may_wait(&self) -> bool {
        matches!(self.inner.overflow, OverflowPolicy::Block(_))
    }

    /// The validator in force (limits, built-in schemas, tracking plan): what a stored event
    /// changed through the store API is checked against again.
    pub fn validator(&self) -> &Validator {
        &self.inner.validator
    }

    /// Changes a stored event's properties (`replace`: all of them, else merged) as this
    /// client would have tracked them: the patch is redacted first (a PATCH must not store a
    /// password the pipeline would have hidden), then the event is validated again.
    /// `None` when no event has that id.
    pub fn update_stored(
        &self,
        store: &dyn crate::store::Store,
        message_id: &str,
        patch: &Properties,
        replace: bool,
    ) -> Result<Option<Value>> {
        let mut patch = patch.clone();
        self.inner.redactor.redact_properties(&mut patch);
        store.update(
            message_id,
            &patch,
            replace,
            &self.inner.validator,
            self.now().as_millis(),
        )
    }

    /// The client's clock, now.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.inner.shared.clock.now_ms())
    }

    /// What tracking calls do with an event they cannot accept ([`Config::invalid_policy`]).
    pub fn invalid_policy(&self) -> crate::config::InvalidPolicy {
        self.inner.invalid_policy
    }

    /// Counts an event a host-side `before_send` hook dropped (bindings whose hook runs in
    /// the host language before the event reaches the core).
    pub fn record_filtered(&self) {
        self.inner
            .shared
            .buffer()
            .record_drop(DropReason::BeforeSend);
    }

    /// What happens to IP addresses (`ip_policy`), for the request recorder.
    pub fn ip_policy(&self) -> crate::config::IpPolicy {
        self.inner.ip_policy
    }

    /// Whether this client is disabled: it validates and sends nothing.
    pub fn is_disabled(&self) -> bool {
        self.inner.disabled
    }

    /// The anonymous id used for events without a user or anonymous id.
    pub fn anonymous_id(&self) -> &str {
        &self.inner.anonymous_id
    }

    /// Delivers everything accepted so far, waiting at most `timeout` (worker delivery).
    /// In manual delivery, marks everything as due and returns at once: the host drains
    /// with [`Sonde::take_batch`].
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        delivery::flush(&self.inner.shared, self.inner.mode, timeout)
    }

    /// Stops accepting events and delivers what is buffered within `timeout`; whatever is
    /// left then is dropped as `shutdown_timeout` and the call returns a `timeout` error.
    /// Its statistics leave the store it shared with other instances. Later calls return at
    /// once.
    pub fn shutdown(&self, timeout: Duration) -> Result<()> {
        let result = self.inner.shutdown(timeout);
        // A stopped instance is no longer live: the others stop counting it at once rather
        // than when its row ages out.
        self.forget_instance();
        result
    }

    /// Stops accepting events and makes everything buffered due now, without giving up on
    /// any of it: a manual-delivery host keeps draining with [`Sonde::take_batch`] and then
    /// calls [`Sonde::shutdown`], which drops only what is still undelivered.
    pub fn close(&self) {
        let shared = &self.inner.shared;
        let mut buf = shared.buffer();
        shared.close(&mut buf);
    }

    /// Whether `shutdown` was called (or the client dropped).
    pub fn is_shut_down(&self) -> bool {
        self.inner.shared.is_closed()
    }

    /// Every statistic as JSON text, as `stats().to_json()` writes it. The browser writes it
    /// straight from the live statistics (its snapshot has nothing a host adds), leaving the
    /// snapshot's maps out of its `.wasm`.
    pub fn stats_json(&self) -> String {
        #[cfg(target_arch = "wasm32")]
        {
            let shared = &self.inner.shared;
            let counters = shared.buffer().counters();
            let now = shared.clock.now_ms();
            lock(&shared.stats).live_json(&counters, now)
        }
        #[cfg(not(target_arch = "wasm32"))]
        self.stats().to_json()
    }

    /// A consistent snapshot of every statistic.
    pub fn stats(&self) -> StatsSnapshot {
        let shared = &self.inner.shared;
        let counters = shared.buffer().counters();
        let now = shared.clock.now_ms();
        #[cfg_attr(target_arch = "wasm32", allow(unused_mut))]
        let mut snapshot = lock(&shared.stats).snapshot(counters, now);
        #[cfg(not(target_arch = "wasm32"))]
        {
            for sink in &shared.sinks {
                if let Some((endpoint, outbox)) = sink.outbox_stats() {
                    snapshot.outboxes.insert(endpoint, outbox);
                }
            }
            self.add_predecessor(&mut snapshot);
        }
        #[cfg(all(feature = "http-sink", not(target_arch = "wasm32")))]
        if let Some(otlp) = &self.inner.otlp {
            snapshot
                .exports
                .entry(otlp.endpoint().to_owned())
                .or_default()
                .add(&otlp.stats());
        }
        snapshot
    }

    /// Whether this client pushes its metrics to an OTLP endpoint.
    #[cfg(not(target_arch = "wasm32"))]
    fn exports_metrics(&self) -> bool {
        #[cfg(all(feature = "http-sink", not(target_arch = "wasm32")))]
        return self.inner.otlp.is_some();
        #[cfg(not(all(feature = "http-sink", not(target_arch = "wasm32"))))]
        return false;
    }

    /// Pushes the statistics to the OTLP endpoint when its interval has passed (the worker
    /// calls this at every tick).
    #[cfg(not(target_arch = "wasm32"))]
    fn export_metrics_if_due(&self) {
        #[cfg(all(feature = "http-sink", not(target_arch = "wasm32")))]
        if let Some(otlp) = &self.inner.otlp {
            otlp.export_if_due(|| self.stats());
        }
    }

    /// Evaluates the alert rules now over a fresh host sample (feature `host-metrics`,
    /// native targets) and the application metrics of the window since the previous
    /// evaluation; sends a `$alert` event for each transition and calls the alert callbacks.
    pub fn evaluate_alerts(&self) -> Result<Vec<AlertTransition>> {
        let snapshot = self.stats();
        let now = self.inner.shared.clock.now_ms();
        let transitions = {
            let mut rt = lock(&self.inner.alerts);
            let app = rt.app.update(&snapshot, self.inner.queue_caps);
            #[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
            let gauges = rt.sample_host().map(|h| h.gauges()).unwrap_or_default();
            #[cfg(not(all(feature = "host-metrics", not(target_arch = "wasm32"))))]
            let gauges = std::collections::BTreeMap::<String, f64>::new();
            let transitions = rt.engine.evaluate(now, |name| {
                gauges.get(name).or_else(|| app.get(name)).copied()
            });
            #[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
            if !gauges.is_empty() {
                lock(&self.inner.shared.stats).set_gauges(gauges);
            }
            transitions
        };
        for t in &transitions {
            self.send(t.to_message())?;
            for callback in &self.inner.alert_callbacks {
                callback(t);
            }
        }
        Ok(transitions)
    }

    /// The alerts firing now.
    pub fn alerts(&self) -> Vec<ActiveAlert> {
        lock(&self.inner.alerts).engine.active()
    }

    /// The latest alert transitions, newest first, at most `limit`.
    pub fn alert_history(&self, limit: usize) -> Vec<AlertTransition> {
        lock(&self.inner.alerts).engine.history(limit)
    }

    /// A host sample now. `unsupported` on wasm32 and without the `host-metrics` feature
    /// (or with `host_metrics` turned off).
    pub fn system_metrics(&self) -> Result<crate::host::SystemMetrics> {
        #[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
        {
            if let Some(snapshot) = lock(&self.inner.alerts).sample_host() {
                return Ok(snapshot);
            }
        }
        Err(Error::new(
            ErrorKind::Unsupported,
            "host metrics need the host-metrics feature on a native target",
        ))
    }

    /// Manual delivery: the next due batch, if any.
    pub fn take_batch(&self) -> Result<Option<OutgoingBatch>> {
        self.inner.require_manual()?;
        let shared = &self.inner.shared;
        let now_ms = shared.mono_ms();
        let sent_at = Timestamp::from_millis(shared.clock.now_ms());
        let mut buf = shared.buffer();
        let Some(batch) = buf.take_parked(now_ms) else {
            return Ok(None);
        };
        let mut payload = String::with_capacity(batch.bytes() + batch.events.len() + 48);
        payload.push_str("{\"batch\":");
        crate::sink::push_json_array(&batch.events, &mut payload);
        payload.push_str(",\"sentAt\":\"");
        payload.push_str(&sent_at.to_string());
        payload.push_str("\"}");
        Ok(Some(OutgoingBatch {
            id: batch.id,
            attempt: batch.attempts + 1,
            events: batch.events.len(),
            payload,
        }))
    }

    /// Manual delivery: the batch arrived. Returns false for an unknown id.
    pub fn ack(&self, batch_id: u64) -> Result<bool> {
        self.inner.require_manual()?;
        Ok(self.inner.settle(batch_id, None, None).is_some())
    }

    /// Manual delivery: the batch failed. Retryable failures come back from
    /// [`Sonde::take_batch`] after a backoff; the others are dropped as `retry_exhausted`.
    /// Returns the retry delay, or `None` when the batch was dropped or unknown.
    pub fn nack(&self, batch_id: u64, retryable: bool) -> Result<Option<Duration>> {
        self.nack_after(batch_id, retryable, None)
    }

    /// As [`Sonde::nack`], with the server's `Retry-After`: a retried batch waits at least
    /// that long (at most an hour), or its backoff when that is longer.
    pub fn nack_after(
        &self,
        batch_id: u64,
        retryable: bool,
        retry_after: Option<Duration>,
    ) -> Result<Option<Duration>> {
        self.inner.require_manual()?;
        let retry_after_ms = retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Ok(
            match self.inner.settle(batch_id, Some(retryable), retry_after_ms) {
                Some(crate::buffer::Completion::Retrying { delay_ms }) => {
                    Some(Duration::from_millis(delay_ms))
                }
                _ => None,
            },
        )
    }

    /// Manual delivery: how long until a batch is due (zero when one is due now, `None` when
    /// nothing is buffered). Hosts set their timer with it.
    pub fn next_batch_in(&self) -> Option<Duration> {
        let shared = &self.inner.shared;
        let now = shared.mono_ms();
        let buf = shared.buffer();
        if buf.is_ready(now) {
            return Some(Duration::ZERO);
        }
        buf.next_deadline()
            .map(|d| Duration::from_millis(d.saturating_sub(now)))
    }
}

/// Properties from JSON, for examples and tests: `props(json!({...}))`.
pub fn props(value: Value) -> Properties {
    match value {
        Value::Object(m) => m,
        _ => Properties::new(),
    }
}
