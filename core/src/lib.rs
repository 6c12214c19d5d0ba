//! # sonde-core
//!
//! One engine for product analytics and performance monitoring, embedded in-process in
//! Python, Node and browser runtimes. It validates events (Segment Spec shape), buffers them
//! with a bounded queue, delivers them in batches to sinks, and keeps mergeable statistics.
//!
//! ```
//! use std::time::Duration;
//! use serde_json::json;
//! use sonde_core::{props, Config, Sonde, sink::MemorySink};
//!
//! let sink = MemorySink::new();
//! let sonde = Sonde::new(Config::default().sink(sink.clone())).unwrap();
//! sonde.track("Signed Up", props(json!({"plan": "pro"}))).unwrap();
//! sonde.flush(Duration::from_secs(5)).unwrap();
//! assert_eq!(sink.len(), 1);
//! assert_eq!(sonde.stats().counters.delivered, 1);
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented
    )
)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// wasm32 has no threads: host objects (JS clocks, hooks) are not Send, and an Arc of them is fine.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

pub mod address;
pub mod alert;
mod buffer;
pub mod clock;
pub mod codes;
pub mod config;
pub mod error;
pub mod event;
pub mod host;
#[cfg(all(feature = "http", not(target_arch = "wasm32")))]
pub mod http;
pub mod ids;
pub mod notice;
mod pipeline;
pub mod platform;
pub mod sink;
pub mod stats;
pub mod store;
pub mod validate;

/// The README's Rust snippets run as doc tests, so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

pub use buffer::MAX_IN_FLIGHT;
pub use clock::{Clock, ManualClock, SharedClock};
pub use config::{Config, DeliveryMode, InvalidPolicy, IpPolicy, OverflowPolicy};
pub use error::{Error, ErrorKind, Result, Violation};
pub use event::reserved::{ApiRequest, ErrorEvent, Interaction, Performance};
pub use event::{
    Library, Message, MessageType, ObjectWriter, Properties, Timestamp, WrittenObject,
};
pub use notice::{LogThrottle, LostEvents, Notice, NOTICE_INTERVAL_MS, NOTICE_SAMPLE};
pub use pipeline::{
    props, ClusterStats, Disposition, IngestItem, IngestReport, InstanceStats, ItemStatus,
    OutgoingBatch, Receipt, Sonde, Timer, REDACTED,
};
pub use stats::{DropReason, ExportStats, OutboxDrops, OutboxStats, StatsSnapshot};
pub use validate::{Checked, Limits, PlanMode, TrackingPlan, Validator};
