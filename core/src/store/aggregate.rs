//! Aggregates over stored events in a time range.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::Timestamp;
use crate::stats::Latency;

/// The width of a time-series bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
}

impl Bucket {
    /// A bucket by name (`"minute"`, `"hour"`, `"day"`), as bindings receive it.
    pub fn from_name(name: &str) -> Result<Self, crate::Error> {
        match name {
            "minute" => Ok(Bucket::Minute),
            "hour" => Ok(Bucket::Hour),
            "day" => Ok(Bucket::Day),
            other => Err(crate::Error::invalid_config(format!(
                "bucket must be \"minute\", \"hour\" or \"day\", got {other:?}"
            ))),
        }
    }

    /// The width in milliseconds.
    pub const fn millis(self) -> i64 {
        match self {
            Bucket::Minute => 60_000,
            Bucket::Hour => 3_600_000,
            Bucket::Day => 86_400_000,
        }
    }
}

/// How many event names get a series of their own in [`Aggregates::series_by_event`].
pub const SERIES_NAMES: usize = 10;

/// One time-series point: events whose time falls in `[start, start + bucket)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// The bucket's start.
    pub start: Timestamp,
    /// Events in it.
    pub count: u64,
}

/// Counts, series, unique visitors and latency quantiles over a time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregates {
    /// Events in the range.
    pub total: u64,
    /// Events per message type.
    pub by_type: BTreeMap<String, u64>,
    /// `track` events per event name.
    pub by_event: BTreeMap<String, u64>,
    /// Events per bucket, oldest first; empty buckets are left out.
    pub series: Vec<SeriesPoint>,
    /// `track` events per bucket for each of the ten most frequent names in the range.
    #[serde(default)]
    pub series_by_event: BTreeMap<String, Vec<SeriesPoint>>,
    /// Distinct people per bucket: user ids, and anonymous ids of events without one.
    #[serde(default)]
    pub people_series: Vec<SeriesPoint>,
    /// Distinct user ids.
    pub unique_users: u64,
    /// Distinct anonymous ids of events without a user id.
    pub unique_anonymous: u64,
    /// Distinct session ids.
    pub unique_sessions: u64,
    /// `duration_ms` of stored `$api_request` events per `"METHOD route"`.
    pub routes: BTreeMap<String, Latency>,
    /// `duration_ms` of stored `$performance` events per operation.
    pub operations: BTreeMap<String, Latency>,
}
