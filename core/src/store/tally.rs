//! [`Aggregates`] computed in one pass over stored rows. The SQLite store used to ask its
//! file seventeen questions (counts by type and name, the series, a series for each of the
//! ten most frequent names, people per bucket, distinct ids, route and operation latencies),
//! each a scan of the range; one scan feeding this tally answers them all.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use super::aggregate::{Aggregates, Bucket, SeriesPoint};
use crate::event::Timestamp;
use crate::stats::{DDSketch, Latency};

/// The anonymous id of events about nobody in particular (server requests): not a person.
const PERSONLESS: &str = "$personless";

/// One stored event, as much of it as aggregates read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TallyRow<'a> {
    pub ts: i64,
    pub kind: &'a str,
    pub event: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub anonymous_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    /// The properties' JSON, for `$api_request` and `$performance` events only.
    pub properties: Option<&'a str>,
}

/// The properties latencies are read from.
#[derive(Deserialize)]
struct Timed<'a> {
    #[serde(rename = "http.request.method", borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(rename = "http.route", borrow, default)]
    route: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    operation: Option<Cow<'a, str>>,
    #[serde(default)]
    duration_ms: Option<f64>,
}

/// Distinct strings, allocated once each.
#[derive(Default)]
struct Distinct(HashSet<Box<str>>);

impl Distinct {
    fn add(&mut self, value: &str) {
        if !self.0.contains(value) {
            self.0.insert(value.into());
        }
    }
}

/// Aggregates being accumulated.
pub(crate) struct Tally {
    width: i64,
    total: u64,
    by_type: BTreeMap<String, u64>,
    by_event: BTreeMap<String, u64>,
    series: BTreeMap<i64, u64>,
    series_by_event: HashMap<String, BTreeMap<i64, u64>>,
    people: BTreeMap<i64, Distinct>,
    users: Distinct,
    anonymous: Distinct,
    sessions: Distinct,
    routes: BTreeMap<String, DDSketch>,
    operations: BTreeMap<String, DDSketch>,
}

impl Tally {
    pub fn new(bucket: Bucket) -> Self {
        Self {
            width: bucket.millis(),
            total: 0,
            by_type: BTreeMap::new(),
            by_event: BTreeMap::new(),
            series: BTreeMap::new(),
            series_by_event: HashMap::new(),
            people: BTreeMap::new(),
            users: Distinct::default(),
            anonymous: Distinct::default(),
            sessions: Distinct::default(),
            routes: BTreeMap::new(),
            operations: BTreeMap::new(),
        }
    }

    pub fn add(&mut self, row: TallyRow<'_>) {
        let bucket = row.ts - row.ts.rem_euclid(self.width);
        self.total += 1;
        *self.by_type.entry(row.kind.to_owned()).or_default() += 1;
        *self.series.entry(bucket).or_default() += 1;
        if row.kind == "track" {
            let name = row.event.unwrap_or_default();
            *self.by_event.entry(name.to_owned()).or_default() += 1;
            *self
                .series_by_event
                .entry(name.to_owned())
                .or_default()
                .entry(bucket)
                .or_default() += 1;
        }
        let anonymous = row.anonymous_id.filter(|id| *id != PERSONLESS);
        if let Some(person) = row.user_id.or(anonymous) {
            self.people.entry(bucket).or_default().add(person);
        }
        match row.user_id {
            Some(user) => self.users.add(user),
            None => {
                if let Some(id) = anonymous {
                    self.anonymous.add(id);
                }
            }
        }
        if let Some(session) = row.session_id {
            self.sessions.add(session);
        }
        if let Some(timed) = row
            .properties
            .and_then(|text| serde_json::from_str::<Timed<'_>>(text).ok())
        {
            let Some(ms) = timed.duration_ms else { return };
            match row.event {
                Some("$api_request") => {
                    if let (Some(method), Some(route)) = (timed.method, timed.route) {
                        self.routes
                            .entry(format!("{method} {route}"))
                            .or_default()
                            .add(ms);
                    }
                }
                Some("$performance") => {
                    if let Some(operation) = timed.operation {
                        self.operations
                            .entry(operation.into_owned())
                            .or_default()
                            .add(ms);
                    }
                }
                _ => {}
            }
        }
    }

    pub fn finish(mut self) -> Aggregates {
        let points = |counts: &BTreeMap<i64, u64>| -> Vec<SeriesPoint> {
            counts
                .iter()
                .map(|(start, count)| SeriesPoint {
                    start: Timestamp::from_millis(*start),
                    count: *count,
                })
                .collect()
        };
        let series_by_event = super::top_names(&self.by_event)
            .into_iter()
            .map(|name| {
                let counts = self.series_by_event.remove(&name).unwrap_or_default();
                (name, points(&counts))
            })
            .collect();
        let people = self
            .people
            .iter()
            .map(|(start, people)| (*start, people.0.len() as u64))
            .collect();
        let latencies = |sketches: BTreeMap<String, DDSketch>| {
            sketches
                .into_iter()
                .map(|(key, sketch)| (key, Latency::from_sketch(sketch)))
                .collect()
        };
        Aggregates {
            total: self.total,
            series: points(&self.series),
            series_by_event,
            people_series: points(&people),
            unique_users: self.users.0.len() as u64,
            unique_anonymous: self.anonymous.0.len() as u64,
            unique_sessions: self.sessions.0.len() as u64,
            routes: latencies(self.routes),
            operations: latencies(self.operations),
            by_type: self.by_type,
            by_event: self.by_event,
        }
    }
}
