//! The embedded SQLite store (feature `sqlite`): one file, WAL mode, batched inserts in one
//! transaction, dedupe by `messageId`, keyset pagination; events in partitions whose
//! indexes are built when they fill up (`partitions.rs`).
//!
//! Durability: `journal_mode=WAL` with `synchronous=NORMAL` (checkpoints every ~40 MB). A committed batch survives a
//! crash of the process (it is in the WAL); a power loss may lose the last transactions
//! written since the last checkpoint, but never corrupts the file. That is the usual choice
//! for analytics: `FULL` would add an fsync per batch for little benefit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, ErrorCode, OpenFlags, TransactionBehavior};
use serde_json::{Map, Value};

use super::partitions::{self, Partition, PARTITION_ROWS};
use super::query::{page_clauses, Cursor};
use super::row::Row;
use super::tally::{Tally, TallyRow};
use super::{
    Aggregates, Bucket, EventPage, EventQuery, Instance, Order, PublishedInstance, Store,
    TimeRange, WriteReport, INSTANCE_RETENTION_MS,
};
use crate::error::{Error, ErrorKind};
use crate::event::{Properties, Timestamp};
use crate::stats::StatsSnapshot;
use crate::validate::Validator;

/// The schema this code writes; files from newer versions are refused.
pub const SCHEMA_VERSION: i64 = 3;

/// Migrations written as SQL, in order: entry `i` takes a file from version `i` to `i + 1`;
/// the step to version 3 (partitions) is [`partitions::migrate_to_partitions`].
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    message_id   TEXT    NOT NULL UNIQUE,
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
    properties   TEXT    NOT NULL DEFAULT '{}',
    traits       TEXT    NOT NULL DEFAULT '{}',
    context      TEXT    NOT NULL DEFAULT '{}',
    extra        TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX events_ts        ON events (ts, id);
CREATE INDEX events_type      ON events (type, ts, id);
CREATE INDEX events_event     ON events (event, ts, id) WHERE event IS NOT NULL;
CREATE INDEX events_user      ON events (user_id, ts, id) WHERE user_id IS NOT NULL;
CREATE INDEX events_anonymous ON events (anonymous_id, ts, id) WHERE anonymous_id IS NOT NULL;
CREATE INDEX events_session   ON events (session_id, ts, id) WHERE session_id IS NOT NULL;
",
    "
CREATE TABLE instances (
    id         TEXT    PRIMARY KEY,
    host       TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    snapshot   TEXT    NOT NULL
);
",
];

/// Columns read back, in this order, by every query.
const COLUMNS: &str = "id, ts, message_id, type, event, name, user_id, anonymous_id, session_id, \
                       group_id, previous_id, received_at, sent_at, properties, traits, context, extra";

/// Prepared statements kept per connection: a page prepares one per partition it reads
/// (their SQL names the table), more than rusqlite's default of 16 once a store has grown.
const STATEMENT_CACHE: usize = 256;

/// How long a writer waits for another one before reporting the database as locked.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn store_error(what: &str, e: rusqlite::Error) -> Error {
    let detail = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            format!(
                "the database stayed locked past the {} s busy timeout",
                BUSY_TIMEOUT.as_secs()
            )
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            "the file is not a SQLite database or is corrupt".to_owned()
        }
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            format!("the file cannot be opened for writing ({e})")
        }
        _ => e.to_string(),
    };
    Error::new(ErrorKind::StoreFailed, format!("{what}: {detail}"))
}

/// Opens (or creates) a SQLite file in WAL mode for one writer among several processes:
/// the store's and the HTTP destination's outbox. `what` prefixes errors.
pub(crate) fn open_wal(path: &Path, what: &str) -> Result<Connection, Error> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| store_error(what, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| store_error(what, e))?;
    // journal_mode answers with a row, so it is read rather than executed. While another
    // connection switches a new file to WAL, SQLite answers BUSY at once, without the busy
    // handler: several processes opening one new file retry here, within the timeout.
    let started = std::time::Instant::now();
    loop {
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) && started.elapsed() < BUSY_TIMEOUT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(store_error(what, e)),
        }
    }
    // Checkpoints (and their fsync) every ~40 MB of WAL instead of SQLite's 4 MB: measured
    // 1.4x the insert rate; the WAL file grows to about that size between checkpoints.
    // synchronous=NORMAL in WAL mode: a commit survives the process being killed (not a
    // power cut), which is the durability the store and the outbox promise.
    conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=10000;")
        .map_err(|e| store_error(what, e))?;
    Ok(conn)
}

/// The SQLite store. One connection per store value; open several (threads, processes) on
/// the same file: WAL lets readers and a writer work at once, and writers wait for each
/// other up to [`BUSY_TIMEOUT`].
pub struct SqliteStore {
    /// Writes (the sink, updates, deletes).
    conn: Mutex<Connection>,
    /// Reads, for a file store.
    reader: Option<Mutex<Connection>>,
    path: PathBuf,
    deduplicated: AtomicU64,
    /// Rows after which this writer seals the open partition.
    partition_rows: u64,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the file and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let what = format!("opening {}", path.display());
        let conn = open_wal(&path, &what)?;
        let mut store = Self::prepare(conn, path, &what)?;
        // Reads (queries, aggregates) on a connection of their own: in WAL mode they never
        // wait for the sink's writes, nor make the sink wait (events would pile up and
        // drop as queue_full behind a long aggregate).
        let reader = open_wal(&store.path, &what)?;
        reader.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        store.reader = Some(Mutex::new(reader));
        Ok(store)
    }

    /// A store that lives in memory (tests, throwaway processes).
    pub fn open_in_memory() -> Result<Self, Error> {
        let conn = Connection::open_in_memory().map_err(|e| store_error("opening in memory", e))?;
        Self::prepare(conn, PathBuf::from(":memory:"), "opening in memory")
    }

    fn prepare(conn: Connection, path: PathBuf, what: &str) -> Result<Self, Error> {
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        migrate(&conn).map_err(|e| match e.kind() {
            ErrorKind::StoreFailed => {
                Error::new(ErrorKind::StoreFailed, format!("{what}: {}", e.message()))
            }
            _ => e,
        })?;
        Ok(Self {
            conn: Mutex::new(conn),
            reader: None,
            path,
            deduplicated: AtomicU64::new(0),
            partition_rows: PARTITION_ROWS,
        })
    }

    /// Seals partitions after `rows` rows instead of [`PARTITION_ROWS`] (tests use a few
    /// rows so that every query crosses partitions). At least 1.
    pub fn with_partition_rows(mut self, rows: u64) -> Self {
        self.partition_rows = rows.max(1);
        self
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection reads use: the reader of a file store; an in-memory store has only
    /// the one connection (another would be another database).
    fn read_conn(&self) -> MutexGuard<'_, Connection> {
        match &self.reader {
            Some(reader) => reader.lock().unwrap_or_else(PoisonError::into_inner),
            None => self.conn(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn migrate(conn: &Connection) -> Result<(), Error> {
    let read_version = |conn: &Connection| -> Result<i64, Error> {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| store_error("reading the schema version", e))
    };
    let newer = |version: i64| {
        Error::new(
            ErrorKind::StoreFailed,
            format!(
                "the file has schema version {version}, written by a newer Sonde; this one reads up to {SCHEMA_VERSION}"
            ),
        )
    };
    let version = read_version(conn)?;
    if version > SCHEMA_VERSION {
        return Err(newer(version));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    // Several processes may open a new file at once: take the write lock, then look again.
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| store_error("migrating", e))?;
    let result = (|| {
        let version = read_version(conn)?;
        if version > SCHEMA_VERSION {
            return Err(newer(version));
        }
        for (i, step) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            let next = i as i64 + 1;
            conn.execute_batch(&format!("{step} PRAGMA user_version = {next};"))
                .map_err(|e| store_error(&format!("migrating to schema version {next}"), e))?;
        }
        if version < 3 {
            partitions::migrate_to_partitions(conn)?;
            conn.execute_batch("PRAGMA user_version = 3;")
                .map_err(|e| store_error("migrating to schema version 3", e))?;
        }
        Ok(())
    })();
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end)
        .map_err(|e| store_error("migrating", e))?;
    result
}

/// Rebuilds the stored message as Segment JSON.
fn message_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    let mut m = Map::new();
    let put = |m: &mut Map<String, Value>, k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), Value::String(v));
        }
    };
    m.insert("type".into(), Value::String(r.get(3)?));
    put(&mut m, "event", r.get(4)?);
    put(&mut m, "name", r.get(5)?);
    m.insert("messageId".into(), Value::String(r.get(2)?));
    put(&mut m, "userId", r.get(6)?);
    put(&mut m, "anonymousId", r.get(7)?);
    put(&mut m, "sessionId", r.get(8)?);
    put(&mut m, "groupId", r.get(9)?);
    put(&mut m, "previousId", r.get(10)?);
    let time = |ms: Option<i64>| ms.map(|t| Timestamp::from_millis(t).to_string());
    put(&mut m, "timestamp", time(Some(r.get(1)?)));
    put(&mut m, "receivedAt", time(r.get(11)?));
    put(&mut m, "sentAt", time(r.get(12)?));
    for (i, key) in [(13, "properties"), (14, "traits"), (15, "context")] {
        let text: String = r.get(i)?;
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| Value::Object(Map::new()));
        // Empty traits are left out, as the pipeline writes them only when it has some.
        if key != "traits" || v.as_object().is_some_and(|o| !o.is_empty()) {
            m.insert(key.to_owned(), v);
        }
    }
    let extra: String = r.get(16)?;
    if let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(&extra) {
        for (k, v) in extra {
            m.entry(k).or_insert(v);
        }
    }
    Ok(Value::Object(m))
}

/// SQL and parameters for the query's filters (`WHERE ...`, without order or paging).
fn filters(q: &EventQuery) -> (String, Vec<SqlValue>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    let eq = |clauses: &mut Vec<String>,
              params: &mut Vec<SqlValue>,
              column: &str,
              v: &Option<String>| {
        if let Some(v) = v {
            params.push(SqlValue::Text(v.clone()));
            clauses.push(format!("{column} = ?{}", params.len()));
        }
    };
    eq(
        &mut clauses,
        &mut params,
        "type",
        &q.kind.map(|k| k.as_str().to_owned()),
    );
    eq(&mut clauses, &mut params, "event", &q.event);
    eq(&mut clauses, &mut params, "user_id", &q.user_id);
    eq(&mut clauses, &mut params, "anonymous_id", &q.anonymous_id);
    eq(&mut clauses, &mut params, "session_id", &q.session_id);
    if let Some(prefix) = &q.event_prefix {
        // A range keeps the event index usable (LIKE would not with its escapes).
        params.push(SqlValue::Text(prefix.clone()));
        let lo = params.len();
        params.push(SqlValue::Text(format!("{prefix}{}", char::MAX)));
        clauses.push(format!("event >= ?{lo} AND event < ?{}", params.len()));
    }
    if let Some(from) = q.time.from {
        params.push(SqlValue::Integer(from.as_millis()));
        clauses.push(format!("ts >= ?{}", params.len()));
    }
    if let Some(to) = q.time.to {
        params.push(SqlValue::Integer(to.as_millis()));
        clauses.push(format!("ts < ?{}", params.len()));
    }
    for (key, value) in &q.properties {
        let path = format!("$.\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""));
        params.push(SqlValue::Text(path));
        let p = params.len();
        match value {
            Value::Null => clauses.push(format!("json_type(properties, ?{p}) = 'null'")),
            Value::Bool(b) => {
                params.push(SqlValue::Integer(i64::from(*b)));
                clauses.push(format!(
                    "json_type(properties, ?{p}) IN ('true', 'false') AND json_extract(properties, ?{p}) = ?{}",
                    params.len()
                ));
            }
            Value::Number(n) => {
                params.push(match n.as_i64() {
                    Some(i) => SqlValue::Integer(i),
                    None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
                });
                clauses.push(format!(
                    "json_type(properties, ?{p}) IN ('integer', 'real') AND json_extract(properties, ?{p}) = ?{}",
                    params.len()
                ));
            }
            Value::String(s) => {
                params.push(SqlValue::Text(s.clone()));
                clauses.push(format!(
                    "json_type(properties, ?{p}) = 'text' AND json_extract(properties, ?{p}) = ?{}",
                    params.len()
                ));
            }
            // Refused by `EventQuery::check`.
            Value::Array(_) | Value::Object(_) => clauses.push("0".to_owned()),
        }
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, params)
}

impl Store for SqliteStore {
    /// Events not stored again because their `messageId` was already there, since open.
    fn deduplicated(&self) -> u64 {
        self.deduplicated.load(Ordering::Relaxed)
    }

    /// Deletes every event older than `before` (event time); how many. Partitions wholly
    /// older are dropped as tables; the one the bound cuts through is deleted from by row.
    fn purge_older_than(&self, before: Timestamp) -> Result<u64, Error> {
        let before = before.as_millis();
        self.in_write(|conn| {
            let mut purged = 0u64;
            for p in partitions::partitions(conn)? {
                if !p.may_hold(None, Some(before)) {
                    continue;
                }
                let whole = p.sealed && p.max_ts.is_some_and(|max| max < before);
                if whole {
                    // Each stored row has exactly one entry in the map: forgetting them
                    // counts the partition's events.
                    purged += forget_ids(conn, &p, "", &[])?;
                    partitions::drop_partition(conn, &p)?;
                } else {
                    purged +=
                        delete_rows(conn, &p, " WHERE ts < ?1", &[SqlValue::Integer(before)])?;
                }
            }
            Ok(purged)
        })
    }

    fn aggregate(&self, range: TimeRange, bucket: Bucket) -> Result<Aggregates, Error> {
        let fail = |e| store_error("aggregating", e);
        let mut guard = self.read_conn();
        // One snapshot for the catalog and the partitions it names.
        let tx = guard.transaction().map_err(fail)?;
        let parts = partitions::partitions(&tx)?;
        let (from, to) = range.millis();
        // One scan of the partitions that may hold the range feeds every figure; properties
        // are read only for the events latencies come from.
        let sql = format!(
            "SELECT ts, type, event, user_id, anonymous_id, session_id, \
             CASE WHEN event IN ('$api_request', '$performance') THEN properties END \
             FROM ({}) WHERE ts >= ?1 AND ts < ?2",
            union_all(&parts, from, to, |p| format!(
                "SELECT ts, type, event, user_id, anonymous_id, session_id, properties FROM {}",
                p.name
            ))
        );
        let mut stmt = tx.prepare_cached(&sql).map_err(fail)?;
        let mut rows = stmt
            .query([from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)])
            .map_err(fail)?;
        let mut tally = Tally::new(bucket);
        while let Some(r) = rows.next().map_err(fail)? {
            tally.add(TallyRow {
                ts: r.get(0).map_err(fail)?,
                kind: text_at(r, 1)?.unwrap_or_default(),
                event: text_at(r, 2)?,
                user_id: text_at(r, 3)?,
                anonymous_id: text_at(r, 4)?,
                session_id: text_at(r, 5)?,
                properties: text_at(r, 6)?,
            });
        }
        Ok(tally.finish())
    }

    /// Events stored.
    fn len(&self) -> Result<u64, Error> {
        self.read_conn()
            .query_row("SELECT COUNT(*) FROM message_ids", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(|e| store_error("counting", e))
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn publish_instance(
        &self,
        instance: &Instance,
        snapshot: &StatsSnapshot,
        now_ms: i64,
    ) -> Result<(), Error> {
        let text = serde_json::to_string(snapshot)
            .map_err(|e| Error::new(ErrorKind::StoreFailed, format!("publishing: {e}")))?;
        let conn = self.conn();
        conn.execute(
            "INSERT INTO instances (id, host, pid, started_at, last_seen, snapshot) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, snapshot = excluded.snapshot",
            rusqlite::params![
                instance.id,
                instance.host,
                instance.pid,
                instance.started_at.as_millis(),
                now_ms,
                text
            ],
        )
        .map_err(|e| store_error("publishing statistics", e))?;
        conn.execute(
            "DELETE FROM instances WHERE last_seen < ?1",
            [now_ms.saturating_sub(INSTANCE_RETENTION_MS)],
        )
        .map_err(|e| store_error("publishing statistics", e))?;
        Ok(())
    }

    fn forget_instance(&self, id: &str) -> Result<(), Error> {
        self.conn()
            .execute("DELETE FROM instances WHERE id = ?1", [id])
            .map(|_| ())
            .map_err(|e| store_error("forgetting an instance", e))
    }

    fn instances(&self, since_ms: i64) -> Result<Vec<PublishedInstance>, Error> {
        let conn = self.read_conn();
        let fail = |e| store_error("reading instances", e);
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, host, pid, started_at, last_seen, snapshot FROM instances \
                 WHERE last_seen >= ?1 ORDER BY started_at, id",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([since_ms], |r| {
                Ok((
                    Instance {
                        id: r.get(0)?,
                        host: r.get(1)?,
                        pid: r.get(2)?,
                        started_at: Timestamp::from_millis(r.get(3)?),
                    },
                    Timestamp::from_millis(r.get(4)?),
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(fail)?;
        let mut out = Vec::new();
        for row in rows {
            let (instance, last_seen, text) = row.map_err(fail)?;
            // A row this version cannot read (a newer Sonde's) is left out, not an error.
            if let Ok(snapshot) = serde_json::from_str::<StatsSnapshot>(&text) {
                out.push(PublishedInstance {
                    instance,
                    last_seen,
                    snapshot,
                });
            }
        }
        Ok(out)
    }

    fn write(&self, events: &mut dyn Iterator<Item = &str>) -> Result<WriteReport, Error> {
        let rows = events
            .map(Row::parse)
            .collect::<Result<Vec<Row<'_>>, Error>>()?;
        let fail = |e| store_error("writing", e);
        let (report, filled) = self.in_write(|conn| {
            let open = partitions::open_partition(conn)?;
            let mut report = WriteReport::default();
            let mut next = open.next_id();
            let (mut min_ts, mut max_ts) = (i64::MAX, i64::MIN);
            {
                // The dedupe map first: a messageId already stored (in any partition) is
                // not written again.
                let mut claim = conn
                    .prepare_cached("INSERT OR IGNORE INTO message_ids (message_id, id) VALUES (?1, ?2)")
                    .map_err(fail)?;
                let mut insert = conn
                    .prepare_cached(&format!(
                        "INSERT INTO {} (id, message_id, type, event, name, user_id, anonymous_id, \
                         session_id, group_id, previous_id, ts, received_at, sent_at, properties, traits, context, extra) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                        open.name
                    ))
                    .map_err(fail)?;
                for r in &rows {
                    if claim.execute(rusqlite::params![r.message_id, next]).map_err(fail)? == 0 {
                        report.deduplicated += 1;
                        continue;
                    }
                    insert
                        .execute(rusqlite::params![
                            next,
                            r.message_id,
                            r.kind,
                            r.event,
                            r.name,
                            r.user_id,
                            r.anonymous_id,
                            r.session_id,
                            r.group_id,
                            r.previous_id,
                            r.ts,
                            r.received_at,
                            r.sent_at,
                            r.properties,
                            r.traits,
                            r.context,
                            r.extra
                        ])
                        .map_err(fail)?;
                    next += 1;
                    report.inserted += 1;
                    min_ts = min_ts.min(r.ts);
                    max_ts = max_ts.max(r.ts);
                }
            }
            if report.inserted > 0 {
                conn.prepare_cached(
                    "UPDATE partitions SET rows = rows + ?2, \
                     min_ts = MIN(COALESCE(min_ts, ?3), ?3), max_ts = MAX(COALESCE(max_ts, ?4), ?4) \
                     WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(rusqlite::params![open.id, report.inserted as i64, min_ts, max_ts])
                })
                .map_err(fail)?;
            }
            Ok((report, open.rows + report.inserted as i64 >= self.partition_rows as i64))
        })?;
        self.deduplicated
            .fetch_add(report.deduplicated, Ordering::Relaxed);
        if filled {
            // In a transaction of its own: the batch above is committed whatever happens here,
            // and another writer may have sealed it meanwhile (looked at again inside).
            self.in_write(|conn| {
                let open = partitions::open_partition(conn)?;
                if open.rows >= self.partition_rows as i64 {
                    partitions::seal(conn, &open)?;
                }
                Ok(())
            })?;
        }
        Ok(report)
    }

    fn get(&self, message_id: &str) -> Result<Option<Value>, Error> {
        let mut guard = self.read_conn();
        let tx = guard.transaction().map_err(|e| store_error("reading", e))?;
        read_event(&tx, message_id).map(|found| found.map(|(_, _, event)| event))
    }

    fn query(&self, q: &EventQuery) -> Result<EventPage, Error> {
        let cursor = q.check()?;
        let (where_sql, mut params) = filters(q);
        let fail = |e| store_error("querying", e);
        let mut guard = self.read_conn();
        let tx = guard.transaction().map_err(fail)?;
        let parts = partitions::partitions(&tx)?;
        let (from, to) = q.time.millis();
        let total = if q.with_total {
            let sql = format!(
                "SELECT SUM(n) FROM ({})",
                union_all(&parts, from, to, |p| format!(
                    "SELECT COUNT(*) AS n FROM {}{where_sql}",
                    p.name
                ))
            );
            let n: Option<i64> = tx
                .query_row(&sql, params_from_iter(params.iter()), |r| r.get(0))
                .map_err(|e| store_error("counting", e))?;
            Some(n.unwrap_or(0) as u64)
        } else {
            None
        };
        // A cursor narrows the partitions too: past it in the page's order, nothing.
        let (from, to) = match (cursor, q.order) {
            (Some(c), Order::Desc) => (from, Some(to.map_or(c.ts + 1, |t| t.min(c.ts + 1)))),
            (Some(c), Order::Asc) => (Some(from.map_or(c.ts, |f| f.max(c.ts))), to),
            (None, _) => (from, to),
        };
        let first = params.len() + 1;
        if let Some(c) = cursor {
            params.push(SqlValue::Integer(c.ts));
            params.push(SqlValue::Integer(c.id));
        }
        params.push(SqlValue::Integer(q.limit as i64 + 1));
        let page = page_clauses(
            q.order,
            !where_sql.is_empty(),
            cursor.is_some(),
            first,
            |n| format!("?{n}"),
        );
        // Partitions in the page's order of their time bounds, each one's page merged in;
        // once the page is full, a partition whose bounds cannot reach past its last row
        // ends the walk (a first page usually reads one or two partitions, not every one).
        let mut sources: Vec<&Partition> = parts.iter().filter(|p| p.overlaps(from, to)).collect();
        match q.order {
            Order::Desc => sources.sort_by_key(|p| std::cmp::Reverse(p.max_ts)),
            Order::Asc => sources.sort_by_key(|p| p.min_ts),
        }
        let wanted = q.limit + 1;
        let before = |a: &(i64, i64), b: &(i64, i64)| match q.order {
            Order::Desc => b.cmp(a),
            Order::Asc => a.cmp(b),
        };
        let mut found: Vec<((i64, i64), Value)> = Vec::new();
        for p in sources {
            if let Some(((last_ts, _), _)) = found.get(wanted - 1) {
                let beyond = match q.order {
                    Order::Desc => p.max_ts.is_some_and(|max| max < *last_ts),
                    Order::Asc => p.min_ts.is_some_and(|min| min > *last_ts),
                };
                if beyond {
                    break;
                }
            }
            let mut stmt = tx
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM {}{where_sql}{page}",
                    p.name
                ))
                .map_err(fail)?;
            let mut rows = stmt.query(params_from_iter(params.iter())).map_err(fail)?;
            while let Some(r) = rows.next().map_err(fail)? {
                let key = (r.get(1).map_err(fail)?, r.get(0).map_err(fail)?);
                found.push((key, message_of(r).map_err(fail)?));
            }
            found.sort_by(|a, b| before(&a.0, &b.0));
            found.truncate(wanted);
        }
        let more = found.len() > q.limit;
        found.truncate(q.limit);
        let last = found
            .last()
            .map(|((ts, id), _)| Cursor { ts: *ts, id: *id });
        Ok(EventPage {
            events: found.into_iter().map(|(_, event)| event).collect(),
            next_cursor: last.filter(|_| more).map(Cursor::encode),
            total,
        })
    }

    fn update(
        &self,
        message_id: &str,
        patch: &Properties,
        replace: bool,
        validator: &Validator,
        now_ms: i64,
    ) -> Result<Option<Value>, Error> {
        self.in_write(|conn| {
            let Some((table, id, stored)) = read_event(conn, message_id)? else {
                return Ok(None);
            };
            let message = super::patched(stored, patch, replace, validator, now_ms)?;
            let properties = Value::Object(message.properties.clone()).to_string();
            conn.execute(
                &format!("UPDATE {table} SET properties = ?1 WHERE id = ?2"),
                rusqlite::params![properties, id],
            )
            .map_err(|e| store_error("updating", e))?;
            Ok(Some(message.to_value(None)))
        })
    }

    fn delete(&self, message_id: &str) -> Result<bool, Error> {
        let fail = |e| store_error("deleting", e);
        self.in_write(|conn| {
            let Some((table, id)) = partitions::locate(conn, message_id)? else {
                return Ok(false);
            };
            conn.execute(&format!("DELETE FROM {table} WHERE id = ?1"), [id])
                .map_err(fail)?;
            conn.execute(
                "DELETE FROM message_ids WHERE message_id = ?1",
                [message_id],
            )
            .map_err(fail)?;
            Ok(true)
        })
    }

    fn delete_where(&self, q: &EventQuery) -> Result<u64, Error> {
        q.check_filters()?;
        if !q.has_filter() {
            return Err(super::query::invalid_query(
                "",
                "a delete needs at least one filter; delete_all() deletes every event",
            ));
        }
        let (where_sql, params) = filters(q);
        let (from, to) = q.time.millis();
        self.in_write(|conn| {
            let mut deleted = 0;
            for p in partitions::partitions(conn)? {
                if p.may_hold(from, to) {
                    deleted += delete_rows(conn, &p, &where_sql, &params)?;
                }
            }
            Ok(deleted)
        })
    }

    fn delete_all(&self) -> Result<u64, Error> {
        let fail = |e| store_error("deleting", e);
        self.in_write(|conn| {
            let n: i64 = conn
                .query_row("SELECT COUNT(*) FROM message_ids", [], |r| r.get(0))
                .map_err(fail)?;
            let old = partitions::partitions(conn)?;
            let next_id = old.iter().map(Partition::next_id).max().unwrap_or(1);
            // The new open partition first, so that its number follows the old ones'.
            partitions::create_open_partition(conn, next_id)?;
            for p in &old {
                partitions::drop_partition(conn, p)?;
            }
            conn.execute_batch("DELETE FROM message_ids")
                .map_err(fail)?;
            Ok(n as u64)
        })
    }
}

impl SqliteStore {
    /// Runs `work` in a write transaction taken at once (`BEGIN IMMEDIATE`: it reads the
    /// catalog before writing, and a deferred transaction could not upgrade while another
    /// process writes), committed if it succeeds.
    fn in_write<T>(&self, work: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| store_error("writing", e))?;
        let out = work(&tx)?;
        tx.commit().map_err(|e| store_error("committing", e))?;
        Ok(out)
    }
}

/// Column `i` of `r` as borrowed text (`None` for NULL).
fn text_at<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> Result<Option<&'r str>, Error> {
    r.get_ref(i)
        .and_then(|value| value.as_str_or_null().map_err(Into::into))
        .map_err(|e| store_error("aggregating", e))
}

/// `arm(p)` for every partition that may hold events in `[from, to)`, joined by
/// `UNION ALL` (the open partition is always one of them).
fn union_all(
    parts: &[Partition],
    from: Option<i64>,
    to: Option<i64>,
    arm: impl Fn(&Partition) -> String,
) -> String {
    parts
        .iter()
        .filter(|p| p.may_hold(from, to))
        .map(arm)
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// Removes from the dedupe map the ids of partition `p`'s rows that `where_sql` matches;
/// how many.
fn forget_ids(
    conn: &Connection,
    p: &Partition,
    where_sql: &str,
    params: &[SqlValue],
) -> Result<u64, Error> {
    let n = conn
        .execute(
            &format!(
                "DELETE FROM message_ids WHERE message_id IN (SELECT message_id FROM {}{where_sql})",
                p.name
            ),
            params_from_iter(params.iter()),
        )
        .map_err(|e| store_error("deleting", e))?;
    Ok(n as u64)
}

/// Deletes the rows of partition `p` that `where_sql` matches, and their dedupe entries;
/// how many.
fn delete_rows(
    conn: &Connection,
    p: &Partition,
    where_sql: &str,
    params: &[SqlValue],
) -> Result<u64, Error> {
    let fail = |e| store_error("deleting", e);
    forget_ids(conn, p, where_sql, params)?;
    let n = conn
        .execute(
            &format!("DELETE FROM {}{where_sql}", p.name),
            params_from_iter(params.iter()),
        )
        .map_err(fail)?;
    Ok(n as u64)
}

/// A stored event by `messageId`: its partition, row id and message.
fn read_event(conn: &Connection, message_id: &str) -> Result<Option<(String, i64, Value)>, Error> {
    let Some((table, id)) = partitions::locate(conn, message_id)? else {
        return Ok(None);
    };
    let event = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM {table} WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], message_of))
        .map_err(|e| store_error("reading", e))?;
    Ok(Some((table, id, event)))
}

#[cfg(test)]
mod tests {
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    use super::*;

    #[test]
    fn reads_do_not_wait_for_the_writer() {
        let dir = std::env::temp_dir().join(format!("sonde-reader-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let store = Arc::new(SqliteStore::open(dir.join("s.db")).expect("open"));
        // The writer is busy (a sink batch, a purge) for as long as this guard lives.
        let writing = store.conn();
        let (done, finished) = mpsc::channel();
        let reader = Arc::clone(&store);
        std::thread::spawn(move || {
            let page = reader.query(&EventQuery::default()).map(|p| p.events.len());
            let aggregated = reader
                .aggregate(TimeRange::default(), Bucket::Hour)
                .map(|a| a.total);
            let _ = done.send((page, aggregated));
        });
        let answer = finished.recv_timeout(Duration::from_secs(5));
        drop(writing);
        let (page, aggregated) = answer.expect("the reads finished while the writer was busy");
        assert_eq!(
            (page.expect("query"), aggregated.expect("aggregate")),
            (0, 0)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
