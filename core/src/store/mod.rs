//! The event store: where delivered events are kept and queried. [`Store`] is the seam for
//! other databases; [`SqliteStore`] (feature `sqlite`, native targets) is the embedded
//! default: one file, no server.

mod aggregate;
mod query;
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
mod row;
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
mod sqlite;

use serde_json::Value;

pub use aggregate::{Aggregates, Bucket, SeriesPoint};
pub use query::{Deletion, EventPage, EventQuery, Order, TimeRange, MAX_LIMIT};
#[cfg(feature = "http-sink")]
pub(crate) use sqlite::open_wal;
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
pub use sqlite::{SqliteStore, StoreSink, BUSY_TIMEOUT, SCHEMA_VERSION};

use crate::error::Error;
use crate::event::Properties;
use crate::validate::Validator;

/// What a batch write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// New events stored.
    pub inserted: u64,
    /// Events whose `messageId` was already stored (kept once, not an error).
    pub deduplicated: u64,
}

/// A place events are stored and queried.
pub trait Store: crate::platform::MaybeSendSync {
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
    /// A bulk delete as [`Deletion::from_value`] reads it; how many were deleted.
    fn delete_matching(&self, deletion: &Deletion) -> Result<u64, Error> {
        match deletion {
            Deletion::Matching(query) => self.delete_where(query),
            Deletion::All => self.delete_all(),
        }
    }
}
