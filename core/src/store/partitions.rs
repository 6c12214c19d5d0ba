//! The SQLite store's storage shape: events live in partition tables of a bounded number of
//! rows. New events are appended to the one open partition, which carries a single index
//! (time); when it fills up it is sealed: its other secondary indexes are built in bulk
//! (SQLite sorts once instead of maintaining six B-trees row by row, measured 15 → ~3 µs of
//! CPU per event written) and a new open partition begins. Queries run over every partition
//! and merge; the open one is small enough to scan. `message_ids` maps every stored
//! `messageId` to its row id, which dedupes across partitions and finds an event's
//! partition by id range.

use rusqlite::{Connection, OptionalExtension};

use crate::error::Error;

use super::sqlite::store_error;

/// Rows a partition takes before it is sealed: small enough that a query scans the open one
/// within a few milliseconds, large enough that 1M events make about thirty partitions.
pub const PARTITION_ROWS: u64 = 32_768;

/// The catalog and the dedupe map (schema version 3).
pub(super) const CATALOG_SCHEMA: &str = "
CREATE TABLE partitions (
    id       INTEGER PRIMARY KEY,
    name     TEXT    NOT NULL UNIQUE,
    first_id INTEGER NOT NULL,
    rows     INTEGER NOT NULL,
    min_ts   INTEGER,
    max_ts   INTEGER,
    sealed   INTEGER NOT NULL
);
CREATE TABLE message_ids (
    message_id TEXT    PRIMARY KEY,
    id         INTEGER NOT NULL
) WITHOUT ROWID;
";

/// One partition as the catalog describes it.
#[derive(Debug, Clone)]
pub(super) struct Partition {
    pub id: i64,
    /// Its table.
    pub name: String,
    /// Row ids in it start here and are given in order.
    pub first_id: i64,
    /// Rows written into it (deletions are not subtracted).
    pub rows: i64,
    /// Bounds of the event times written into it; `None` when nothing was.
    pub min_ts: Option<i64>,
    pub max_ts: Option<i64>,
    pub sealed: bool,
}

impl Partition {
    /// Whether it may hold events with a time in `[from, to)`: always for the open one (a
    /// query needs at least one source), else by its bounds.
    pub fn may_hold(&self, from: Option<i64>, to: Option<i64>) -> bool {
        !self.sealed || self.overlaps(from, to)
    }

    /// Whether events with a time in `[from, to)` were written into it, by its bounds
    /// (open or sealed; without bounds nothing was).
    pub fn overlaps(&self, from: Option<i64>, to: Option<i64>) -> bool {
        match (self.min_ts, self.max_ts) {
            (Some(min), Some(max)) => from.is_none_or(|f| max >= f) && to.is_none_or(|t| min < t),
            _ => false,
        }
    }

    /// The id the next row written into it gets.
    pub fn next_id(&self) -> i64 {
        self.first_id + self.rows
    }
}

fn partition_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Partition> {
    Ok(Partition {
        id: r.get(0)?,
        name: r.get(1)?,
        first_id: r.get(2)?,
        rows: r.get(3)?,
        min_ts: r.get(4)?,
        max_ts: r.get(5)?,
        sealed: r.get::<_, i64>(6)? != 0,
    })
}

const PARTITION_COLUMNS: &str = "id, name, first_id, rows, min_ts, max_ts, sealed";

/// Every partition, oldest first. Read inside the transaction that uses them, so the tables
/// named are the ones the snapshot holds.
pub(super) fn partitions(conn: &Connection) -> Result<Vec<Partition>, Error> {
    let fail = |e| store_error("reading the partitions", e);
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {PARTITION_COLUMNS} FROM partitions ORDER BY first_id"
        ))
        .map_err(fail)?;
    let rows = stmt.query_map([], partition_of).map_err(fail)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(fail)
}

/// The open partition.
pub(super) fn open_partition(conn: &Connection) -> Result<Partition, Error> {
    conn.query_row(
        &format!("SELECT {PARTITION_COLUMNS} FROM partitions WHERE sealed = 0"),
        [],
        partition_of,
    )
    .map_err(|e| store_error("reading the open partition", e))
}

/// The partition holding row `id`, if any.
pub(super) fn partition_holding(conn: &Connection, id: i64) -> Result<Option<String>, Error> {
    conn.prepare_cached(
        "SELECT name FROM partitions WHERE first_id <= ?1 ORDER BY first_id DESC LIMIT 1",
    )
    .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
    .map_err(|e| store_error("finding an event's partition", e))
}

/// The row id and partition of a stored `messageId`.
pub(super) fn locate(conn: &Connection, message_id: &str) -> Result<Option<(String, i64)>, Error> {
    let id: Option<i64> = conn
        .prepare_cached("SELECT id FROM message_ids WHERE message_id = ?1")
        .and_then(|mut s| s.query_row([message_id], |r| r.get(0)).optional())
        .map_err(|e| store_error("finding an event", e))?;
    let Some(id) = id else { return Ok(None) };
    Ok(partition_holding(conn, id)?.map(|name| (name, id)))
}

/// Creates a new, empty open partition whose ids start at `first_id`.
pub(super) fn create_open_partition(conn: &Connection, first_id: i64) -> Result<(), Error> {
    let number: i64 = conn
        .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM partitions", [], |r| {
            r.get(0)
        })
        .map_err(|e| store_error("creating a partition", e))?;
    let name = format!("events_{number}");
    // The same columns, in the same order, as every partition (and the version-2 `events`
    // table a migrated file keeps as its first partition).
    conn.execute_batch(&format!(
        "CREATE TABLE {name} (
            id           INTEGER PRIMARY KEY,
            message_id   TEXT    NOT NULL,
            type         TEXT    NOT NULL,
            event        TEXT,
            name         TEXT,
            user_id      TEXT,
            anonymous_id TEXT,
            session_id   TEXT,
            group_id     TEXT,
            previous_id  TEXT,
            ts           INTEGER NOT NULL,
            received_at  INTEGER,
            sent_at      INTEGER,
            properties   TEXT    NOT NULL DEFAULT '{{}}',
            traits       TEXT    NOT NULL DEFAULT '{{}}',
            context      TEXT    NOT NULL DEFAULT '{{}}',
            extra        TEXT    NOT NULL DEFAULT '{{}}'
        );
        CREATE INDEX {name}_ts ON {name} (ts, id);"
    ))
    .map_err(|e| store_error("creating a partition", e))?;
    conn.execute(
        "INSERT INTO partitions (id, name, first_id, rows, sealed) VALUES (?1, ?2, ?3, 0, 0)",
        rusqlite::params![number, name, first_id],
    )
    .map_err(|e| store_error("creating a partition", e))?;
    Ok(())
}

/// Drops partition `p`'s table and its catalog row (its ids in the dedupe map are the
/// caller's to forget first).
pub(super) fn drop_partition(conn: &Connection, p: &Partition) -> Result<(), Error> {
    let fail = |e| store_error("dropping a partition", e);
    conn.execute_batch(&format!("DROP TABLE {}", p.name))
        .map_err(fail)?;
    conn.execute("DELETE FROM partitions WHERE id = ?1", [p.id])
        .map_err(fail)?;
    Ok(())
}

/// Builds the sealed partition's indexes (one sort each) and opens the next partition.
/// Runs inside the caller's write transaction.
pub(super) fn seal(conn: &Connection, open: &Partition) -> Result<(), Error> {
    let name = &open.name;
    conn.execute_batch(&format!(
        "CREATE INDEX {name}_type      ON {name} (type, ts, id);
         CREATE INDEX {name}_event     ON {name} (event, ts, id) WHERE event IS NOT NULL;
         CREATE INDEX {name}_user      ON {name} (user_id, ts, id) WHERE user_id IS NOT NULL;
         CREATE INDEX {name}_anonymous ON {name} (anonymous_id, ts, id) WHERE anonymous_id IS NOT NULL;
         CREATE INDEX {name}_session   ON {name} (session_id, ts, id) WHERE session_id IS NOT NULL;"
    ))
    .map_err(|e| store_error("sealing a partition", e))?;
    conn.execute("UPDATE partitions SET sealed = 1 WHERE id = ?1", [open.id])
        .map_err(|e| store_error("sealing a partition", e))?;
    create_open_partition(conn, open.next_id())
}

/// Takes a version-2 file (one indexed `events` table) to version 3: its events become the
/// first, sealed partition (or the table goes, if empty) and a new open partition follows.
pub(super) fn migrate_to_partitions(conn: &Connection) -> Result<(), Error> {
    let fail = |e| store_error("migrating to schema version 3", e);
    conn.execute_batch(CATALOG_SCHEMA).map_err(fail)?;
    let (count, first, last, min_ts, max_ts): (
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    ) = conn
        .query_row(
            "SELECT COUNT(*), MIN(id), MAX(id), MIN(ts), MAX(ts) FROM events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .map_err(fail)?;
    if count == 0 {
        conn.execute_batch("DROP TABLE events").map_err(fail)?;
        return create_open_partition(conn, 1);
    }
    let first = first.unwrap_or(1);
    let last = last.unwrap_or(first);
    conn.execute_batch(
        "INSERT INTO message_ids (message_id, id) SELECT message_id, id FROM events",
    )
    .map_err(fail)?;
    // Ids of the old table may have gaps (deletions): its range is first..=last.
    conn.execute(
        "INSERT INTO partitions (id, name, first_id, rows, min_ts, max_ts, sealed) \
         VALUES (1, 'events', ?1, ?2, ?3, ?4, 1)",
        rusqlite::params![first, last - first + 1, min_ts, max_ts],
    )
    .map_err(fail)?;
    create_open_partition(conn, last + 1)
}
