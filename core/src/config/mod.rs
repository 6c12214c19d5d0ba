//! Client configuration: an options struct with defaults and consuming setters.
//! Bindings map their native options onto it in one place; [`Config::check`] rejects
//! out-of-range values with every problem listed.

#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
mod destinations;
mod environment;
mod options;
mod units;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::alert::{AlertRule, AlertTransition};
use crate::clock::SharedClock;
use crate::error::{Error, ErrorKind, Violation};
use crate::event::json::number_text;
use crate::event::{Library, Message};
use crate::platform::MaybeSendSync;
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
pub use destinations::{Destinations, DESTINATION_OPTIONS};
pub use environment::{
    options_from_environment, server_options, EnvironmentOptions, VariableKind,
    COLLECTOR_VARIABLES, ENVIRONMENT_VARIABLES,
};
pub use options::{merge_option_changes, snake_case_keys, snake_case_name, OPTION_NAMES};
pub use units::{
    options_in_milliseconds, options_in_seconds, renamed_in_milliseconds, renamed_in_seconds,
    with_unit_problems, SECONDS_OPTIONS,
};

use crate::codes;
use crate::sink::Sink;
use crate::validate::{Limits, TrackingPlan};

/// What the buffer does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Evict the oldest buffered event (counted as `queue_full`) to make room.
    DropOldest,
    /// Refuse the new event (counted as `queue_full`).
    DropNewest,
    /// Wait up to the timeout for room, then refuse (native only).
    Block(Duration),
}

/// Who moves batches from the buffer to the sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// A named worker thread owned by the client (native default).
    Worker,
    /// The host calls `take_batch` / `ack` / `nack` (wasm32, or hosts with their own loop).
    Manual,
}

/// What happens to IP addresses in `context.ip` and the `client.address` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpPolicy {
    /// Leave addresses as they are.
    Keep,
    /// Zero the last octet of IPv4 and the last 80 bits of IPv6.
    Anonymize,
    /// Remove addresses.
    Drop,
}

/// What a tracking call does with an event it cannot accept (invalid, too large, or sent
/// after shutdown): the binding applies it where the event is tracked, so validation stays
/// at the call whatever the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidPolicy {
    /// Raise (throw) the error with every violation and its code.
    Raise,
    /// Log it, report it to the error callback, count it, and return without raising.
    Warn,
    /// Count it and return without raising or logging.
    Drop,
}

impl InvalidPolicy {
    /// The option's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            InvalidPolicy::Raise => "raise",
            InvalidPolicy::Warn => "warn",
            InvalidPolicy::Drop => "drop",
        }
    }
}

/// A `before_send` hook: returns the (possibly changed) message, or `None` to drop it
/// (counted as `before_send`).
pub trait BeforeSendFn: Fn(Message) -> Option<Message> + MaybeSendSync {}
impl<F: Fn(Message) -> Option<Message> + MaybeSendSync> BeforeSendFn for F {}

/// A shared `before_send` hook.
pub type BeforeSend = Arc<dyn BeforeSendFn>;

/// Property keys whose values are replaced by `[REDACTED]` unless configured otherwise.
pub const DEFAULT_REDACT_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "authorization",
    "auth",
    "cookie",
    "set_cookie",
    "session_token",
    "api_key",
    "apikey",
    "private_key",
    "credit_card",
    "card_number",
    "cvv",
    "ssn",
];

/// The default event cap: high enough never to bind before the byte cap for real events.
pub const DEFAULT_MAX_QUEUE_EVENTS: usize = 1_000_000;

/// The default byte cap: a burst of 100,000 typical events (about 350 bytes of JSON each)
/// waits whole while the store catches up, in 64 MiB at most. A page keeps less: its
/// batches leave every few seconds and the offline queue keeps what could not.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = if cfg!(target_arch = "wasm32") {
    4 << 20
} else {
    64 << 20
};

/// Everything a [`crate::Sonde`] client can be told.
#[derive(Clone)]
pub struct Config {
    /// `context.library` stamped on every message.
    pub library: Library,
    /// Size and shape limits checked by validation.
    pub limits: Limits,
    /// The user's tracking plan, if any.
    pub tracking_plan: Option<TrackingPlan>,
    /// Fraction of events kept, decided deterministically from `messageId` (1.0 keeps all).
    pub sample_rate: f64,
    /// Per event name (or message type for non-track messages) sample rates.
    pub sample_rates: HashMap<String, f64>,
    /// Property keys to redact (matched case-insensitively, `-` equal to `_`, also as a
    /// `_suffix`: `user_password` matches `password`).
    pub redact_keys: Vec<String>,
    /// What happens to IP addresses (`context.ip`, `client.address`).
    pub ip_policy: IpPolicy,
    /// Buffer capacity in events: a backstop; the byte cap is the limit that binds.
    pub max_queue_events: usize,
    /// Buffer capacity in bytes: each waiting event counts its JSON plus its 32-byte queue
    /// slot, so this bounds the buffer's memory.
    pub max_queue_bytes: usize,
    /// What the buffer does when full.
    pub overflow: OverflowPolicy,
    /// A batch is sent when it reaches this many events...
    pub batch_size: usize,
    /// ...or this many bytes...
    pub batch_bytes: usize,
    /// ...or when its oldest event has waited this long.
    pub flush_interval: Duration,
    /// Retries after the first failed attempt before a batch is dropped as `retry_exhausted`.
    pub max_retries: u32,
    /// Backoff before the first retry; it doubles per attempt.
    pub retry_initial_backoff: Duration,
    /// The longest backoff between retries.
    pub retry_max_backoff: Duration,
    /// Worker thread (native default) or host-driven (wasm32).
    pub delivery: DeliveryMode,
    /// How long dropping the last client handle waits for delivery.
    pub drop_timeout: Duration,
    /// Distinct event names tracked in statistics; the rest count under `__other__`.
    pub max_event_names: usize,
    /// Distinct routes and operations tracked in statistics; the rest go to `__other__`.
    pub max_routes: usize,
    /// The anonymous id used when an event has neither `userId` nor `anonymousId`.
    /// Generated once per client when not set.
    pub anonymous_id: Option<String>,
    /// Time source; the platform clock when `None` (wasm32 hosts must set one).
    pub clock: Option<SharedClock>,
    /// Seed for generated ids; OS entropy when `None` (wasm32 hosts should pass one).
    pub random_seed: Option<u64>,
    /// Where batches go (worker delivery); each is retried on its own.
    pub sinks: Vec<Arc<dyn Sink>>,
    /// Hook run on every message before validation.
    pub before_send: Option<BeforeSend>,
    /// Super properties added to every `track`, `page` and `screen` (explicit ones win).
    pub super_properties: crate::event::Properties,
    /// Alert rules evaluated by [`crate::Sonde::evaluate_alerts`]; the defaults of
    /// [`crate::alert::default_rules`] unless replaced (none on wasm32).
    pub alert_rules: Vec<AlertRule>,
    /// How many alert transitions `alert_history` keeps.
    pub alert_history_limit: usize,
    /// Called for every alert transition.
    pub alert_callbacks: Vec<AlertCallback>,
    /// Sample host metrics (feature `host-metrics`, native targets) when alerts are evaluated.
    pub host_metrics: bool,
    /// How often the worker samples the host (feature `host-metrics`) and evaluates the alert
    /// rules (10 s), and publishes this instance's statistics to `stats_store`.
    pub metrics_interval: Duration,
    /// The store the statistics are published to, so every instance sharing it can answer
    /// with the statistics of all (set by `Destinations` with the event store).
    pub stats_store: Option<Arc<dyn crate::store::Store>>,
    /// Pushes the statistics to an OpenTelemetry collector (OTLP/HTTP) at its interval
    /// (set by `Destinations` from `otlp_endpoint`).
    #[cfg(all(feature = "http-sink", not(target_arch = "wasm32")))]
    pub otlp: Option<Arc<crate::sink::OtlpExporter>>,
    /// Validate, then send and store nothing (tests and local runs): no destination needed.
    pub disabled: bool,
    /// Events must name their person (`userId` or `anonymousId`), as Segment's server SDKs
    /// require: on a server the process's anonymous id would merge unrelated users into one.
    /// Sonde's own instrumentation events without a user are marked personless
    /// ([`crate::event::reserved::PERSONLESS_ID`]). Off by default (a browser or an app has
    /// one person); the server bindings turn it on.
    pub require_person: bool,
    /// Debug mode: notices for delivered batches too, and invalid events raise by default.
    pub debug: bool,
    /// What tracking calls do with an event they cannot accept; `None` leaves it to
    /// [`Config::invalid_policy`]'s default.
    pub on_invalid: Option<InvalidPolicy>,
    /// Told about events lost after they were accepted, and in debug mode about deliveries.
    pub on_notice: Option<NoticeHook>,
}

/// A function told about events the client lost after accepting them (and, in debug mode,
/// about every delivered batch); called on the thread that noticed, never under a lock.
pub trait NoticeFn: Fn(&crate::notice::Notice) + MaybeSendSync {}
impl<F: Fn(&crate::notice::Notice) + MaybeSendSync> NoticeFn for F {}

/// A shared notice hook.
pub type NoticeHook = Arc<dyn NoticeFn>;

/// A function called for every alert transition.
pub trait AlertCallbackFn: Fn(&AlertTransition) + MaybeSendSync {}
impl<F: Fn(&AlertTransition) + MaybeSendSync> AlertCallbackFn for F {}

/// A shared alert callback.
pub type AlertCallback = Arc<dyn AlertCallbackFn>;

impl Default for Config {
    fn default() -> Self {
        Self {
            library: Library::default(),
            limits: Limits::default(),
            tracking_plan: None,
            sample_rate: 1.0,
            sample_rates: HashMap::new(),
            redact_keys: DEFAULT_REDACT_KEYS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            ip_policy: IpPolicy::Keep,
            max_queue_events: DEFAULT_MAX_QUEUE_EVENTS,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            overflow: OverflowPolicy::DropOldest,
            batch_size: 100,
            batch_bytes: 500 * 1024,
            flush_interval: Duration::from_secs(1),
            max_retries: 5,
            retry_initial_backoff: Duration::from_millis(100),
            retry_max_backoff: Duration::from_secs(30),
            delivery: if crate::platform::HAS_THREADS {
                DeliveryMode::Worker
            } else {
                DeliveryMode::Manual
            },
            drop_timeout: Duration::from_secs(2),
            max_event_names: 1000,
            max_routes: 500,
            anonymous_id: None,
            clock: None,
            random_seed: None,
            sinks: Vec::new(),
            before_send: None,
            super_properties: crate::event::Properties::new(),
            // The browser evaluates no alerts (see `apply_options`).
            #[cfg(not(target_arch = "wasm32"))]
            alert_rules: crate::alert::default_rules(),
            #[cfg(target_arch = "wasm32")]
            alert_rules: Vec::new(),
            alert_history_limit: 100,
            alert_callbacks: Vec::new(),
            host_metrics: true,
            metrics_interval: Duration::from_secs(10),
            stats_store: None,
            #[cfg(all(feature = "http-sink", not(target_arch = "wasm32")))]
            otlp: None,
            disabled: false,
            require_person: false,
            debug: false,
            on_invalid: None,
            on_notice: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("library", &self.library)
            .field("limits", &self.limits)
            .field(
                "tracking_plan",
                &self.tracking_plan.as_ref().map(|p| p.len()),
            )
            .field("sample_rate", &self.sample_rate)
            .field("max_queue_events", &self.max_queue_events)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("overflow", &self.overflow)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("delivery", &self.delivery)
            .field(
                "sinks",
                &self
                    .sinks
                    .iter()
                    .map(|s| s.name().to_owned())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The policy in force for events a tracking call cannot accept: the `on_invalid`
    /// option, or by default `raise` where a mistake must not be missed (a disabled client,
    /// which is what tests use, and debug mode) and `warn` otherwise, so production never
    /// fails a request over analytics. Bindings also pass `raise` under a test runner.
    pub fn invalid_policy(&self) -> InvalidPolicy {
        match self.on_invalid {
            Some(policy) => policy,
            None if self.disabled || self.debug => InvalidPolicy::Raise,
            None => InvalidPolicy::Warn,
        }
    }

    /// Sets [`Config::on_notice`].
    pub fn on_notice(mut self, hook: impl NoticeFn + 'static) -> Self {
        self.on_notice = Some(Arc::new(hook));
        self
    }

    /// Sets [`Config::library`].
    pub fn library(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.library = Library {
            name: name.into(),
            version: version.into(),
        };
        self
    }

    /// Sets [`Config::limits`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`Config::tracking_plan`].
    pub fn tracking_plan(mut self, plan: TrackingPlan) -> Self {
        self.tracking_plan = Some(plan);
        self
    }

    /// Sets [`Config::sample_rate`].
    pub fn sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = rate;
        self
    }

    /// Sets the sample rate of one event name (or message type).
    pub fn sample_rate_for(mut self, event: impl Into<String>, rate: f64) -> Self {
        self.sample_rates.insert(event.into(), rate);
        self
    }

    /// Replaces [`Config::redact_keys`].
    pub fn redact_keys<I: IntoIterator<Item = S>, S: Into<String>>(mut self, keys: I) -> Self {
        self.redact_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`Config::ip_policy`].
    pub fn ip_policy(mut self, policy: IpPolicy) -> Self {
        self.ip_policy = policy;
        self
    }

    /// Sets [`Config::max_queue_events`].
    pub fn max_queue_events(mut self, n: usize) -> Self {
        self.max_queue_events = n;
        self
    }

    /// Sets [`Config::max_queue_bytes`].
    pub fn max_queue_bytes(mut self, n: usize) -> Self {
        self.max_queue_bytes = n;
        self
    }

    /// Sets [`Config::overflow`].
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    /// Sets [`Config::batch_size`].
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Sets [`Config::batch_bytes`].
    pub fn batch_bytes(mut self, n: usize) -> Self {
        self.batch_bytes = n;
        self
    }

    /// Sets [`Config::flush_interval`].
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.flush_interval = d;
        self
    }

    /// Sets [`Config::max_retries`].
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets the first and the longest retry backoff.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.retry_initial_backoff = initial;
        self.retry_max_backoff = max;
        self
    }

    /// Sets [`Config::delivery`].
    pub fn delivery(mut self, mode: DeliveryMode) -> Self {
        self.delivery = mode;
        self
    }

    /// Sets [`Config::drop_timeout`].
    pub fn drop_timeout(mut self, d: Duration) -> Self {
        self.drop_timeout = d;
        self
    }

    /// Sets [`Config::anonymous_id`].
    pub fn anonymous_id(mut self, id: impl Into<String>) -> Self {
        self.anonymous_id = Some(id.into());
        self
    }

    /// Sets [`Config::clock`].
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Sets [`Config::random_seed`].
    pub fn random_seed(mut self, seed: u64) -> Self {
        self.random_seed = Some(seed);
        self
    }

    /// Adds a sink.
    pub fn sink(mut self, sink: impl Sink + 'static) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// Adds a sink the caller also keeps a handle to.
    pub fn shared_sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Sets the `before_send` hook.
    pub fn before_send<F>(mut self, hook: F) -> Self
    where
        F: Fn(Message) -> Option<Message> + MaybeSendSync + 'static,
    {
        self.before_send = Some(Arc::new(hook));
        self
    }

    /// Sets [`Config::max_event_names`].
    pub fn max_event_names(mut self, n: usize) -> Self {
        self.max_event_names = n;
        self
    }

    /// Replaces the alert rules.
    pub fn alert_rules(mut self, rules: Vec<AlertRule>) -> Self {
        self.alert_rules = rules;
        self
    }

    /// Adds a function called for every alert transition.
    pub fn on_alert<F: Fn(&AlertTransition) + MaybeSendSync + 'static>(
        mut self,
        callback: F,
    ) -> Self {
        self.alert_callbacks.push(Arc::new(callback));
        self
    }

    /// Sets [`Config::metrics_interval`].
    pub fn metrics_interval(mut self, every: Duration) -> Self {
        self.metrics_interval = every;
        self
    }

    /// Sets [`Config::stats_store`].
    pub fn publish_stats_to(mut self, store: Arc<dyn crate::store::Store>) -> Self {
        self.stats_store = Some(store);
        self
    }

    /// Sets [`Config::host_metrics`].
    pub fn host_metrics(mut self, on: bool) -> Self {
        self.host_metrics = on;
        self
    }

    /// Sets [`Config::max_routes`].
    pub fn max_routes(mut self, n: usize) -> Self {
        self.max_routes = n;
        self
    }

    /// Checks every option; all problems are reported together.
    pub fn check(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: String| {
            problems.push(Violation::new(path, codes::INVALID_OPTION, message));
        };
        let rate_ok = |r: f64| (0.0..=1.0).contains(&r);
        if !rate_ok(self.sample_rate) {
            bad(
                "/sample_rate",
                format!(
                    "sample_rate must be within 0..=1, got {}",
                    number_text(self.sample_rate)
                ),
            );
        }
        for (name, rate) in &self.sample_rates {
            if !rate_ok(*rate) {
                bad(
                    "/sample_rates",
                    format!(
                        "sample rate for {} must be within 0..=1, got {}",
                        crate::event::json::quoted(name),
                        number_text(*rate)
                    ),
                );
            }
        }
        if self.max_queue_events == 0 {
            bad(
                "/max_queue_events",
                "max_queue_events must be at least 1".into(),
            );
        }
        if self.max_queue_bytes < 1024 {
            bad(
                "/max_queue_bytes",
                format!(
                    "max_queue_bytes must be at least 1024, got {}",
                    self.max_queue_bytes
                ),
            );
        }
        if self.batch_size == 0 || self.batch_size > self.limits.max_batch_messages {
            bad(
                "/batch_size",
                format!(
                    "batch_size must be within 1..={}, got {}",
                    self.limits.max_batch_messages, self.batch_size
                ),
            );
        }
        if self.batch_bytes < self.limits.max_message_bytes {
            bad(
                "/batch_bytes",
                format!(
                    "batch_bytes must be at least max_message_bytes ({}), got {}",
                    self.limits.max_message_bytes, self.batch_bytes
                ),
            );
        }
        if self.metrics_interval.is_zero() {
            bad(
                "/metrics_interval",
                "metrics_interval must be greater than zero".into(),
            );
        }
        if self.flush_interval.is_zero() {
            bad(
                "/flush_interval",
                "flush_interval must be greater than zero".into(),
            );
        }
        if self.retry_initial_backoff > self.retry_max_backoff {
            bad(
                "/retry_initial_backoff",
                "retry_initial_backoff must not exceed retry_max_backoff".into(),
            );
        }
        if self.sinks.len() > 64 {
            bad(
                "/sinks",
                format!("at most 64 sinks, got {}", self.sinks.len()),
            );
        }
        let l = &self.limits;
        if l.max_message_bytes == 0 || l.max_depth == 0 || l.max_key_length == 0 {
            bad("/limits", "limits must be greater than zero".into());
        }
        if l.max_message_bytes > l.max_batch_bytes {
            bad(
                "/limits/max_message_bytes",
                "max_message_bytes must not exceed max_batch_bytes".into(),
            );
        }
        if !crate::platform::HAS_THREADS {
            if self.delivery == DeliveryMode::Worker {
                bad("/delivery", "worker delivery needs threads, which wasm32 does not have; use manual delivery".into());
            }
            if matches!(self.overflow, OverflowPolicy::Block(_)) {
                bad(
                    "/overflow",
                    "the block overflow policy needs threads, which wasm32 does not have".into(),
                );
            }
            if self.clock.is_none() {
                bad(
                    "/clock",
                    "wasm32 has no system clock: the host must provide one".into(),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::with_violations(ErrorKind::InvalidConfig, problems))
        }
    }
}
