//! The event store: where delivered events are kept and queried, and where instances that
//! share it publish their statistics. [`Store`] is the seam for databases; [`SqliteStore`]
//! (feature `sqlite`, native targets) is the embedded default, one file and no server;
//! `PostgresStore` (feature `postgres`) serves several hosts.

mod aggregate;
mod instances;
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
mod partitions;
#[cfg(all(feature = "postgres", not(target_arch = "wasm32")))]
mod postgres;
mod query;
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
mod row;
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
mod sqlite;
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
mod tally;

use serde_json::Value;

pub use aggregate::{Aggregates, Bucket, SeriesPoint, SERIES_NAMES};
pub use instances::{Instance, PublishedInstance, INSTANCE_RETENTION_MS};
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
pub use partitions::PARTITION_ROWS;
#[cfg(all(feature = "postgres", not(target_arch = "wasm32")))]
pub use postgres::{PostgresStore, WriteMethod};
pub use query::{Deletion, EventPage, EventQuery, Order, TimeRange, MAX_LIMIT};
#[cfg(feature = "http-sink")]
pub(crate) use sqlite::open_wal;
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
pub use sqlite::{SqliteStore, BUSY_TIMEOUT, SCHEMA_VERSION};

use crate::error::{Error, ErrorKind};
use crate::event::{Properties, Timestamp};
use crate::sink::{Sink, SinkBatch, SinkError};
use crate::validate::Validator;

/// Where a store is: the `store` option, a SQLite file path or a PostgreSQL URL
/// (`postgresql://` or `postgres://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file.
    File(std::path::PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl StoreLocation {
    /// A URL with a PostgreSQL scheme, else a file path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("postgresql://") || text.starts_with("postgres://") {
            Self::Postgres(text.to_owned())
        } else {
            Self::File(text.into())
        }
    }

    /// Opens (or creates) the store and brings its schema up to date.
    #[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
    pub fn open(&self) -> Result<std::sync::Arc<dyn Store>, Error> {
        match self {
            Self::File(path) => Ok(std::sync::Arc::new(SqliteStore::open(path)?)),
            #[cfg(feature = "postgres")]
            Self::Postgres(url) => Ok(std::sync::Arc::new(PostgresStore::open(url)?)),
            #[cfg(not(feature = "postgres"))]
            Self::Postgres(_) => Err(Error::new(
                ErrorKind::InvalidConfig,
                "this build has no PostgreSQL store (sonde-core feature `postgres`)",
            )),
        }
    }
}

/// An update's result before it is written: the stored message (as the store read it back)
/// with `patch` merged into its properties, or replacing them, validated again. Shared by
/// the backends' `update`.
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
pub(crate) fn patched(
    stored: Value,
    patch: &Properties,
    replace: bool,
    validator: &Validator,
    now_ms: i64,
) -> Result<crate::event::Message, Error> {
    let mut problems = Vec::new();
    let Some(mut message) = crate::event::parse_message(stored, None, &mut problems) else {
        return Err(Error::with_violations(ErrorKind::StoreFailed, problems));
    };
    if replace {
        message.properties = patch.clone();
    } else {
        message
            .properties
            .extend(patch.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let checked = validator.validate(&message, now_ms, None);
    if !checked.errors.is_empty() {
        return Err(Error::with_violations(
            ErrorKind::InvalidEvent,
            checked.errors,
        ));
    }
    Ok(message)
}

/// The [`SERIES_NAMES`] most frequent names of `counts` (ties by name).
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
pub(crate) fn top_names(counts: &std::collections::BTreeMap<String, u64>) -> Vec<String> {
    let mut names: Vec<(&String, &u64)> = counts.iter().collect();
    names.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    names
        .into_iter()
        .take(SERIES_NAMES)
        .map(|(n, _)| n.clone())
        .collect()
}

/// What a batch write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// New events stored.
    pub inserted: u64,
    /// Events whose `messageId` was already stored (kept once, not an error).
    pub deduplicated: u64,
}

/// A place events are stored and queried.
pub trait Store: crate::platform::MaybeSendSync + std::fmt::Debug {
    /// Stores serialized events in one transaction: all or nothing.
    fn write(&self, events: &mut dyn Iterator<Item = &str>) -> Result<WriteReport, Error>;
    /// One event by `messageId`.
    fn get(&self, message_id: &str) -> Result<Option<Value>, Error>;
    /// A page of events.
    fn query(&self, query: &EventQuery) -> Result<EventPage, Error>;
    /// Changes an event's properties: `patch` is merged into them, or replaces them when
    /// `replace`. The result is validated again (with `validator`, at `now_ms`) and refused
    /// with every violation if it breaks a rule. Returns the updated event, `None` if no event
    /// has this id.
    fn update(
        &self,
        message_id: &str,
        patch: &Properties,
        replace: bool,
        validator: &Validator,
        now_ms: i64,
    ) -> Result<Option<Value>, Error>;

    /// Deletes one event; whether it existed.
    fn delete(&self, message_id: &str) -> Result<bool, Error>;
    /// Deletes every event the query's filters match; how many. A query without a filter
    /// is refused (`invalid_query`): deleting everything is [`Store::delete_all`].
    fn delete_where(&self, query: &EventQuery) -> Result<u64, Error>;
    /// Deletes every stored event; how many.
    fn delete_all(&self) -> Result<u64, Error>;
    /// Counts by type and event name, a time series, unique users and sessions, and latency
    /// quantiles per route and per operation, over events whose time is in `range`.
    fn aggregate(&self, range: TimeRange, bucket: Bucket) -> Result<Aggregates, Error>;
    /// Events stored.
    fn len(&self) -> Result<u64, Error>;
    /// Whether no event is stored.
    fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len()? == 0)
    }
    /// Deletes every event older than `before` (event time); how many.
    fn purge_older_than(&self, before: Timestamp) -> Result<u64, Error>;
    /// Events not stored again because their `messageId` was already there, since open.
    fn deduplicated(&self) -> u64;
    /// Where the events are, for people: a file path, or a database URL without its
    /// password.
    fn location(&self) -> String;
    /// The backend's name (`sqlite`, `postgres`): the store sink's name in statistics.
    fn backend(&self) -> &'static str;

    /// Records `instance`'s latest statistics (one row per instance, replaced each time),
    /// seen at `now_ms`, and forgets instances unseen for [`INSTANCE_RETENTION_MS`].
    fn publish_instance(
        &self,
        instance: &Instance,
        snapshot: &crate::stats::StatsSnapshot,
        now_ms: i64,
    ) -> Result<(), Error>;
    /// Instances that published at or after `since_ms`, with their latest statistics.
    fn instances(&self, since_ms: i64) -> Result<Vec<PublishedInstance>, Error>;
    /// Removes an instance's published statistics.
    fn forget_instance(&self, id: &str) -> Result<(), Error>;

    /// A bulk delete as [`Deletion::from_value`] reads it; how many were deleted.
    fn delete_matching(&self, deletion: &Deletion) -> Result<u64, Error> {
        match deletion {
            Deletion::Matching(query) => self.delete_where(query),
            Deletion::All => self.delete_all(),
        }
    }
}

/// A sink that writes delivered batches to a store: acknowledged only after commit, so a
/// failed write is retried by the pipeline and never half-applied.
pub struct StoreSink {
    store: std::sync::Arc<dyn Store>,
}

impl StoreSink {
    /// A sink writing to `store` (which the caller may keep for queries).
    pub fn new(store: std::sync::Arc<dyn Store>) -> Self {
        Self { store }
    }
}

impl Sink for StoreSink {
    fn name(&self) -> &str {
        self.store.backend()
    }

    fn deliver(&self, batch: &SinkBatch<'_>) -> Result<(), SinkError> {
        let mut lines = batch.json_lines();
        match self.store.write(&mut lines) {
            Ok(_) => Ok(()),
            // Bad rows never get better; everything else (locked, disk full, I/O) may.
            Err(e) if e.kind() == ErrorKind::InvalidEvent => {
                Err(SinkError::permanent(e.to_string()))
            }
            Err(e) => Err(SinkError::retryable(e.to_string())),
        }
    }
}
