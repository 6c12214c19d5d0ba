//! The PostgreSQL store (feature `postgres`): several processes and hosts on one database
//! server. Synchronous (the `postgres` crate) on the caller's thread, like the SQLite store:
//! writes on one connection, reads on another so a long aggregate never holds up the sink.
//!
//! Schema (version [`SCHEMA_VERSION`], migrations run once under an advisory lock when
//! several instances start together):
//! - `sonde_events`, partitioned by week of event time (`ts`, ms since the epoch): partitions
//!   are created ahead (this week and the next two) and on demand for any week a batch
//!   reaches; retention drops whole partitions. Indexes serve the query API (time; event,
//!   user, anonymous id, session, type, each with time and id for keyset pages).
//! - `sonde_message_ids`, one row per stored `messageId` (not partitioned): a unique key on
//!   a partitioned table must include the partition key, so dedupe lives here and holds
//!   across resends whatever their timestamp.
//!
//! Property objects are `jsonb`. PostgreSQL's `jsonb` cannot hold U+0000: such a character
//! in a string is stored as U+FFFD (the SQLite store keeps it).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls};
use serde_json::{Map, Value};

use super::query::{page_clauses, Cursor};
use super::row::Row;
use super::{
    Aggregates, Bucket, EventPage, EventQuery, Instance, PublishedInstance, SeriesPoint, Store,
    TimeRange, WriteReport, INSTANCE_RETENTION_MS,
};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::event::{Properties, Timestamp};
use crate::stats::{DDSketch, Latency, StatsSnapshot};
use crate::validate::Validator;

/// The schema this code writes; databases from newer versions are refused.
pub const SCHEMA_VERSION: i32 = 2;

/// Migrations, in order: entry `i` takes a database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["
CREATE SEQUENCE sonde_event_ids;
CREATE TABLE sonde_events (
    id           bigint NOT NULL DEFAULT nextval('sonde_event_ids'),
    message_id   text   NOT NULL,
    type         text   NOT NULL,
    event        text,
    name         text,
    user_id      text,
    anonymous_id text,
    session_id   text,
    group_id     text,
    previous_id  text,
    ts           bigint NOT NULL,
    received_at  bigint,
    sent_at      bigint,
    properties   jsonb  NOT NULL,
    traits       jsonb  NOT NULL,
    context      jsonb  NOT NULL,
    extra        jsonb  NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX sonde_events_ts        ON sonde_events (ts, id);
CREATE INDEX sonde_events_type      ON sonde_events (type, ts, id);
CREATE INDEX sonde_events_event     ON sonde_events (event, ts, id) WHERE event IS NOT NULL;
CREATE INDEX sonde_events_user      ON sonde_events (user_id, ts, id) WHERE user_id IS NOT NULL;
CREATE INDEX sonde_events_anonymous ON sonde_events (anonymous_id, ts, id) WHERE anonymous_id IS NOT NULL;
CREATE INDEX sonde_events_session   ON sonde_events (session_id, ts, id) WHERE session_id IS NOT NULL;
CREATE INDEX sonde_events_message   ON sonde_events (message_id);
CREATE TABLE sonde_message_ids (
    message_id text   PRIMARY KEY,
    ts         bigint NOT NULL
);
CREATE INDEX sonde_message_ids_ts ON sonde_message_ids (ts);
", "
CREATE TABLE sonde_instances (
    id         text    PRIMARY KEY,
    host       text    NOT NULL,
    pid        bigint  NOT NULL,
    started_at bigint  NOT NULL,
    last_seen  bigint  NOT NULL,
    snapshot   text    NOT NULL
);
"];

/// Advisory lock keys (any constant; these spell "sonde" and a purpose).
const MIGRATION_LOCK: i64 = 0x736f_6e64_6501;
const PARTITION_LOCK: i64 = 0x736f_6e64_6502;

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;
/// 1970-01-05, the first Monday: weeks start on Mondays (UTC).
const FIRST_MONDAY_MS: i64 = 4 * DAY_MS;
/// Partitions created ahead of the current week.
const WEEKS_AHEAD: i64 = 2;
/// Rows written into a partition before this store first analyzes it; each later analyze
/// waits for twice as many.
const FIRST_ANALYZE_ROWS: u64 = 10_000;

/// Columns read back, in this order, by every query.
const COLUMNS: &str = "id, ts, message_id, type, event, name, user_id, anonymous_id, session_id, \
                       group_id, previous_id, received_at, sent_at, properties, traits, context, extra";

fn store_error(what: &str, e: &postgres::Error) -> Error {
    Error::new(ErrorKind::StoreFailed, format!("{what}: {}", detail_of(e)))
}

/// The server's own message (with its detail): the client's summary is only "db error".
fn detail_of(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None => e.to_string(),
    }
}

/// The URL without its password, for messages and `location()`.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The start of the week (Monday 00:00 UTC) that holds `ts`.
fn week_of(ts: i64) -> i64 {
    (ts - FIRST_MONDAY_MS).div_euclid(WEEK_MS) * WEEK_MS + FIRST_MONDAY_MS
}

/// `sonde_events_w20261130` for the week starting 2026-11-30.
fn partition_name(week: i64) -> String {
    let date: String = Timestamp::from_millis(week)
        .to_string()
        .chars()
        .take_while(|c| *c != 'T')
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("sonde_events_w{date}")
}

/// JSON text with every `\u0000` escape (the only way U+0000 appears in JSON) replaced by
/// `\ufffd`, which `jsonb` can hold. An escaped backslash followed by `u0000` is left alone.
fn without_nul(json: &str) -> Cow<'_, str> {
    if !json.contains("\\u0000") {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(i) = rest.find("\\u0000") {
        let before = &rest[..i];
        let backslashes = before.bytes().rev().take_while(|b| *b == b'\\').count();
        out.push_str(before);
        out.push_str(if backslashes % 2 == 0 {
            "\\ufffd"
        } else {
            "\\u0000"
        });
        rest = &rest[i + 6..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The PostgreSQL store. Open one per process (or per client): each holds two connections.
pub struct PostgresStore {
    url: String,
    writer: Mutex<Client>,
    reader: Mutex<Client>,
    /// Week starts whose partition is known to exist.
    partitions: Mutex<BTreeSet<i64>>,
    /// Per week: rows this store wrote since it last analyzed the partition, and how many
    /// more trigger the next `ANALYZE`.
    unanalyzed: Mutex<BTreeMap<i64, (u64, u64)>>,
    deduplicated: AtomicU64,
    write_method: WriteMethod,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &redacted(&self.url))
            .finish_non_exhaustive()
    }
}

fn connect(url: &str) -> Result<Client, Error> {
    Client::connect(url, NoTls).map_err(|e| {
        Error::new(
            ErrorKind::StoreFailed,
            format!("connecting to {}: {}", redacted(url), detail_of(&e)),
        )
    })
}

impl PostgresStore {
    /// Connects, brings the schema up to date and creates the partitions ahead.
    pub fn open(url: &str) -> Result<Self, Error> {
        Self::open_with(url, WriteMethod::default())
    }

    /// [`PostgresStore::open`] with a chosen way of sending batches (for measuring).
    pub fn open_with(url: &str, write_method: WriteMethod) -> Result<Self, Error> {
        let mut writer = connect(url)?;
        migrate(&mut writer).map_err(|e| {
            Error::new(
                ErrorKind::StoreFailed,
                format!("opening {}: {}", redacted(url), e.message()),
            )
        })?;
        let reader = connect(url)?;
        let store = Self {
            url: url.to_owned(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            partitions: Mutex::new(BTreeSet::new()),
            unanalyzed: Mutex::new(BTreeMap::new()),
            deduplicated: AtomicU64::new(0),
            write_method,
        };
        let this_week = week_of(SystemClock::new().now_ms());
        let ahead: Vec<i64> = (0..=WEEKS_AHEAD).map(|w| this_week + w * WEEK_MS).collect();
        store.ensure_partitions(&mut *store.writer()?, &ahead)?;
        Ok(store)
    }

    /// A connection, reconnected if the server closed the previous one (a restart, an
    /// idle timeout): the next call works again without reopening the store.
    fn live<'a>(&self, slot: &'a Mutex<Client>) -> Result<MutexGuard<'a, Client>, Error> {
        let mut client = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if client.is_closed() {
            *client = connect(&self.url)?;
        }
        Ok(client)
    }

    fn writer(&self) -> Result<MutexGuard<'_, Client>, Error> {
        self.live(&self.writer)
    }

    fn reader(&self) -> Result<MutexGuard<'_, Client>, Error> {
        self.live(&self.reader)
    }

    /// Creates the partitions of `weeks` that are not known to exist, each in its own
    /// short transaction under an advisory lock (instances creating the same week wait for
    /// each other instead of failing).
    fn ensure_partitions(&self, client: &mut Client, weeks: &[i64]) -> Result<(), Error> {
        let mut known = self
            .partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for &week in weeks {
            if known.contains(&week) {
                continue;
            }
            let fail = |e: postgres::Error| store_error("creating a partition", &e);
            let mut tx = client.transaction().map_err(fail)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
                .map_err(fail)?;
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF sonde_events FOR VALUES FROM ({week}) TO ({})",
                partition_name(week),
                week + WEEK_MS
            ))
            .map_err(fail)?;
            tx.commit().map_err(fail)?;
            known.insert(week);
        }
        Ok(())
    }

    /// Analyzes a partition once this store has written enough rows into it since the last
    /// time (10,000, then twice as many each time). A new week's partition has no planner
    /// statistics until autovacuum gets to it (up to a minute, longer under load), and
    /// without them PostgreSQL may sort every row of an event name to answer a first page
    /// (measured: 0.4 s instead of 0.3 ms at 1M rows). A failed analyze is left to
    /// autovacuum.
    fn analyze_when_grown(&self, client: &mut Client, rows: &[Row<'_>]) {
        let mut due = Vec::new();
        {
            let mut unanalyzed = self
                .unanalyzed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for r in rows {
                let entry = unanalyzed
                    .entry(week_of(r.ts))
                    .or_insert((0, FIRST_ANALYZE_ROWS));
                entry.0 += 1;
                if entry.0 == entry.1 {
                    due.push(week_of(r.ts));
                }
            }
            for week in &due {
                if let Some(entry) = unanalyzed.get_mut(week) {
                    *entry = (0, entry.1.saturating_mul(2));
                }
            }
        }
        for week in due {
            let _ = client.batch_execute(&format!("ANALYZE {}", partition_name(week)));
        }
    }

    /// Partitions and the event-time range each holds, oldest first.
    fn partition_bounds(&self, client: &mut Client) -> Result<Vec<(String, i64, i64)>, Error> {
        let rows = client
            .query(
                "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i \
                 JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'sonde_events'::regclass",
                &[],
            )
            .map_err(|e| store_error("listing partitions", &e))?;
        let mut out = Vec::new();
        for row in rows {
            let name: String = row.get(0);
            let bound: String = row.get(1);
            // FOR VALUES FROM ('1764547200000') TO ('1765152000000')
            let numbers: Vec<i64> = bound
                .split(|c: char| !(c.is_ascii_digit() || c == '-'))
                .filter_map(|s| s.parse().ok())
                .collect();
            if let [from, to] = numbers[..] {
                out.push((name, from, to));
            }
        }
        out.sort_by_key(|p| p.1);
        Ok(out)
    }
}

fn migrate(client: &mut Client) -> Result<(), Error> {
    let fail = |e: postgres::Error| store_error("migrating", &e);
    let mut tx = client.transaction().map_err(fail)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(fail)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS sonde_schema (version integer NOT NULL)")
        .map_err(fail)?;
    let version: i32 = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM sonde_schema", &[])
        .map_err(fail)?
        .get(0);
    if version > SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::StoreFailed,
            format!(
                "the database has schema version {version}, written by a newer Sonde; this one reads up to {SCHEMA_VERSION}"
            ),
        ));
    }
    for (i, step) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        let next = i as i32 + 1;
        tx.batch_execute(step)
            .map_err(|e| store_error(&format!("migrating to schema version {next}"), &e))?;
        tx.execute("INSERT INTO sonde_schema (version) VALUES ($1)", &[&next])
            .map_err(fail)?;
    }
    tx.commit().map_err(fail)
}

/// Rebuilds the stored message as Segment JSON.
fn message_of(r: &postgres::Row) -> Value {
    let mut m = Map::new();
    let put = |m: &mut Map<String, Value>, k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.to_owned(), Value::String(v));
        }
    };
    m.insert("type".into(), Value::String(r.get(3)));
    put(&mut m, "event", r.get(4));
    put(&mut m, "name", r.get(5));
    m.insert("messageId".into(), Value::String(r.get(2)));
    put(&mut m, "userId", r.get(6));
    put(&mut m, "anonymousId", r.get(7));
    put(&mut m, "sessionId", r.get(8));
    put(&mut m, "groupId", r.get(9));
    put(&mut m, "previousId", r.get(10));
    let time = |ms: Option<i64>| ms.map(|t| Timestamp::from_millis(t).to_string());
    put(&mut m, "timestamp", time(Some(r.get(1))));
    put(&mut m, "receivedAt", time(r.get(11)));
    put(&mut m, "sentAt", time(r.get(12)));
    for (i, key) in [(13, "properties"), (14, "traits"), (15, "context")] {
        let v: Value = r.get(i);
        // Empty traits are left out, as the pipeline writes them only when it has some.
        if key != "traits" || v.as_object().is_some_and(|o| !o.is_empty()) {
            m.insert(key.to_owned(), v);
        }
    }
    if let Value::Object(extra) = r.get::<_, Value>(16) {
        for (k, v) in extra {
            m.entry(k).or_insert(v);
        }
    }
    Value::Object(m)
}

type Params = Vec<Box<dyn ToSql + Sync>>;

fn refs(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref()).collect()
}

/// SQL and parameters for the query's filters (`WHERE ...`, without order or paging).
fn filters(q: &EventQuery) -> (String, Params) {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Params = Vec::new();
    let mut eq = |column: &str, v: Option<String>, clauses: &mut Vec<String>| {
        if let Some(v) = v {
            params.push(Box::new(v));
            clauses.push(format!("{column} = ${}", params.len()));
        }
    };
    eq("type", q.kind.map(|k| k.as_str().to_owned()), &mut clauses);
    eq("event", q.event.clone(), &mut clauses);
    eq("user_id", q.user_id.clone(), &mut clauses);
    eq("anonymous_id", q.anonymous_id.clone(), &mut clauses);
    eq("session_id", q.session_id.clone(), &mut clauses);
    if let Some(prefix) = &q.event_prefix {
        params.push(Box::new(prefix.clone()));
        clauses.push(format!("starts_with(event, ${})", params.len()));
    }
    if let Some(from) = q.time.from {
        params.push(Box::new(from.as_millis()));
        clauses.push(format!("ts >= ${}", params.len()));
    }
    if let Some(to) = q.time.to {
        params.push(Box::new(to.as_millis()));
        clauses.push(format!("ts < ${}", params.len()));
    }
    for (key, value) in &q.properties {
        match value {
            // Refused by `EventQuery::check`.
            Value::Array(_) | Value::Object(_) => clauses.push("false".to_owned()),
            // jsonb equality: numbers compare as numbers (1 = 1.0), types never mix.
            scalar => {
                params.push(Box::new(key.clone()));
                params.push(Box::new(scalar.clone()));
                clauses.push(format!(
                    "properties -> ${} = ${}::jsonb",
                    params.len() - 1,
                    params.len()
                ));
            }
        }
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, params)
}

/// The arrays a batch is sent as, `unnest`ed into rows numbered in batch order.
const UNNEST: &str = "unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::text[], $10::int8[], $11::int8[], $12::int8[], $13::text[],
        $14::text[], $15::text[], $16::text[]
    ) WITH ORDINALITY AS t(message_id, type, event, name, user_id, anonymous_id, session_id,
        group_id, previous_id, ts, received_at, sent_at, properties, traits, context, extra, n)";

/// The session's staging table for [`WriteMethod::Copy`], emptied at each commit.
const STAGING: &str = "CREATE TEMP TABLE IF NOT EXISTS sonde_incoming (
    message_id text, type text, event text, name text, user_id text, anonymous_id text,
    session_id text, group_id text, previous_id text, ts bigint, received_at bigint,
    sent_at bigint, properties text, traits text, context text, extra text, n bigint
) ON COMMIT DELETE ROWS";

/// Stores the rows of `source` (columns as in [`UNNEST`], `n` the batch order) in one
/// statement: duplicates within the batch keep their first occurrence, and only ids new to
/// `sonde_message_ids` are stored (a concurrent insert of the same id waits for the other
/// transaction, then skips).
fn insert_sql(source: &str) -> String {
    format!(
        "WITH incoming AS (
    SELECT DISTINCT ON (message_id) * FROM {source} ORDER BY message_id, n
), fresh AS (
    INSERT INTO sonde_message_ids (message_id, ts)
    SELECT message_id, ts FROM incoming ORDER BY n
    ON CONFLICT DO NOTHING RETURNING message_id
)
INSERT INTO sonde_events (message_id, type, event, name, user_id, anonymous_id, session_id,
    group_id, previous_id, ts, received_at, sent_at, properties, traits, context, extra)
SELECT i.message_id, i.type, i.event, i.name, i.user_id, i.anonymous_id, i.session_id,
    i.group_id, i.previous_id, i.ts, i.received_at, i.sent_at, i.properties::jsonb,
    i.traits::jsonb, i.context::jsonb, i.extra::jsonb
FROM incoming i JOIN fresh f USING (message_id) ORDER BY i.n"
    )
}

/// How a batch reaches the server. Both are measured side by side in BENCHMARKS.md
/// (`store_bench`); the default is the faster there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMethod {
    /// One statement with the columns as arrays, `unnest`ed.
    #[default]
    Unnest,
    /// Binary `COPY` into a session staging table, then the same insert from it.
    Copy,
}

/// Sends a batch as arrays; the rows inserted.
fn write_unnest(client: &mut Client, rows: &[Row<'_>]) -> Result<u64, postgres::Error> {
    let text = |f: &dyn Fn(&Row<'_>) -> Option<String>| -> Vec<Option<String>> {
        rows.iter().map(f).collect()
    };
    let owned = |v: &Option<Cow<'_, str>>| v.as_ref().map(|s| s.to_string());
    let message_ids = text(&|r| Some(r.message_id.to_string()));
    let kinds = text(&|r| Some(r.kind.to_string()));
    let names = text(&|r| owned(&r.event));
    let screen_names = text(&|r| owned(&r.name));
    let user_ids = text(&|r| owned(&r.user_id));
    let anonymous_ids = text(&|r| owned(&r.anonymous_id));
    let session_ids = text(&|r| owned(&r.session_id));
    let group_ids = text(&|r| owned(&r.group_id));
    let previous_ids = text(&|r| owned(&r.previous_id));
    let ts: Vec<i64> = rows.iter().map(|r| r.ts).collect();
    let received: Vec<Option<i64>> = rows.iter().map(|r| r.received_at).collect();
    let sent: Vec<Option<i64>> = rows.iter().map(|r| r.sent_at).collect();
    let properties = text(&|r| Some(without_nul(r.properties).into_owned()));
    let traits = text(&|r| Some(without_nul(r.traits).into_owned()));
    let context = text(&|r| Some(without_nul(r.context).into_owned()));
    let extra = text(&|r| Some(without_nul(&r.extra).into_owned()));
    client.execute(
        &insert_sql(UNNEST),
        &[
            &message_ids,
            &kinds,
            &names,
            &screen_names,
            &user_ids,
            &anonymous_ids,
            &session_ids,
            &group_ids,
            &previous_ids,
            &ts,
            &received,
            &sent,
            &properties,
            &traits,
            &context,
            &extra,
        ],
    )
}

/// Sends a batch with binary `COPY` into the staging table, then inserts from it, in one
/// transaction; the rows inserted.
fn write_copy(client: &mut Client, rows: &[Row<'_>]) -> Result<u64, postgres::Error> {
    use postgres::binary_copy::BinaryCopyInWriter;
    use postgres::types::Type;
    let mut tx = client.transaction()?;
    tx.batch_execute(STAGING)?;
    let columns = [
        [Type::TEXT; 9].as_slice(),
        &[Type::INT8; 3],
        &[Type::TEXT; 4],
        &[Type::INT8],
    ]
    .concat();
    let mut copy = BinaryCopyInWriter::new(
        tx.copy_in("COPY sonde_incoming FROM STDIN BINARY")?,
        &columns,
    );
    for (n, r) in rows.iter().enumerate() {
        let (properties, traits, context, extra) = (
            without_nul(r.properties),
            without_nul(r.traits),
            without_nul(r.context),
            without_nul(&r.extra),
        );
        copy.write(&[
            &r.message_id.as_ref(),
            &r.kind.as_ref(),
            &r.event.as_deref(),
            &r.name.as_deref(),
            &r.user_id.as_deref(),
            &r.anonymous_id.as_deref(),
            &r.session_id.as_deref(),
            &r.group_id.as_deref(),
            &r.previous_id.as_deref(),
            &r.ts,
            &r.received_at,
            &r.sent_at,
            &properties.as_ref(),
            &traits.as_ref(),
            &context.as_ref(),
            &extra.as_ref(),
            &(n as i64),
        ])?;
    }
    copy.finish()?;
    let inserted = tx.execute(&insert_sql("sonde_incoming"), &[])?;
    tx.commit()?;
    Ok(inserted)
}

/// `sonde_events` rows deleted by `filter`, with their message ids, in one statement.
fn delete_sql(filter: &str) -> String {
    format!(
        "WITH gone AS (DELETE FROM sonde_events{filter} RETURNING message_id), \
         ids AS (DELETE FROM sonde_message_ids m USING gone g WHERE m.message_id = g.message_id) \
         SELECT COUNT(*) FROM gone"
    )
}

fn count_deleted(
    client: &mut impl GenericClient,
    sql: &str,
    params: &Params,
) -> Result<u64, Error> {
    let n: i64 = client
        .query_one(sql, &refs(params))
        .map_err(|e| store_error("deleting", &e))?
        .get(0);
    Ok(n as u64)
}

impl Store for PostgresStore {
    fn write(&self, events: &mut dyn Iterator<Item = &str>) -> Result<WriteReport, Error> {
        let rows = events
            .map(Row::parse)
            .collect::<Result<Vec<Row<'_>>, Error>>()?;
        if rows.is_empty() {
            return Ok(WriteReport::default());
        }
        let weeks: BTreeSet<i64> = rows.iter().map(|r| week_of(r.ts)).collect();
        let mut client = self.writer()?;
        self.ensure_partitions(&mut client, &weeks.into_iter().collect::<Vec<_>>())?;
        let inserted = match self.write_method {
            WriteMethod::Unnest => write_unnest(&mut client, &rows),
            WriteMethod::Copy => write_copy(&mut client, &rows),
        }
        .map_err(|e| store_error("writing", &e))?;
        self.analyze_when_grown(&mut client, &rows);
        let report = WriteReport {
            inserted,
            deduplicated: rows.len() as u64 - inserted,
        };
        self.deduplicated
            .fetch_add(report.deduplicated, Ordering::Relaxed);
        Ok(report)
    }

    fn get(&self, message_id: &str) -> Result<Option<Value>, Error> {
        let row = self
            .reader()?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM sonde_events WHERE message_id = $1"),
                &[&message_id],
            )
            .map_err(|e| store_error("reading", &e))?;
        Ok(row.as_ref().map(message_of))
    }

    fn query(&self, q: &EventQuery) -> Result<EventPage, Error> {
        let cursor = q.check()?;
        let (where_sql, mut params) = filters(q);
        let mut client = self.reader()?;
        let total = if q.with_total {
            let n: i64 = client
                .query_one(
                    &format!("SELECT COUNT(*) FROM sonde_events{where_sql}"),
                    &refs(&params),
                )
                .map_err(|e| store_error("counting", &e))?
                .get(0);
            Some(n as u64)
        } else {
            None
        };
        let first = params.len() + 1;
        if let Some(c) = cursor {
            params.push(Box::new(c.ts));
            params.push(Box::new(c.id));
        }
        params.push(Box::new(q.limit as i64 + 1));
        let page = page_clauses(
            q.order,
            !where_sql.is_empty(),
            cursor.is_some(),
            first,
            |n| format!("${n}"),
        );
        let sql = format!("SELECT {COLUMNS} FROM sonde_events{where_sql}{page}");
        let rows = client
            .query(&sql, &refs(&params))
            .map_err(|e| store_error("querying", &e))?;
        let more = rows.len() > q.limit;
        let page = &rows[..rows.len().min(q.limit)];
        let last = page.last().map(|r| Cursor {
            id: r.get(0),
            ts: r.get(1),
        });
        Ok(EventPage {
            events: page.iter().map(message_of).collect(),
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
        let mut client = self.writer()?;
        let stored = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM sonde_events WHERE message_id = $1"),
                &[&message_id],
            )
            .map_err(|e| store_error("reading", &e))?;
        let Some(stored) = stored.as_ref().map(message_of) else {
            return Ok(None);
        };
        let message = super::patched(stored, patch, replace, validator, now_ms)?;
        let properties = Value::Object(message.properties.clone()).to_string();
        client
            .execute(
                "UPDATE sonde_events SET properties = $1::text::jsonb WHERE message_id = $2",
                &[&without_nul(&properties).as_ref(), &message_id],
            )
            .map_err(|e| store_error("updating", &e))?;
        Ok(Some(message.to_value(None)))
    }

    fn delete(&self, message_id: &str) -> Result<bool, Error> {
        let params: Params = vec![Box::new(message_id.to_owned())];
        let n = count_deleted(
            &mut *self.writer()?,
            &delete_sql(" WHERE message_id = $1"),
            &params,
        )?;
        Ok(n > 0)
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
        count_deleted(&mut *self.writer()?, &delete_sql(&where_sql), &params)
    }

    fn delete_all(&self) -> Result<u64, Error> {
        let mut client = self.writer()?;
        let fail = |e: postgres::Error| store_error("deleting", &e);
        let mut tx = client.transaction().map_err(fail)?;
        let n: i64 = tx
            .query_one("SELECT COUNT(*) FROM sonde_events", &[])
            .map_err(fail)?
            .get(0);
        tx.batch_execute("TRUNCATE sonde_events, sonde_message_ids")
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(n as u64)
    }

    fn aggregate(&self, range: TimeRange, bucket: Bucket) -> Result<Aggregates, Error> {
        let mut client = self.reader()?;
        let fail = |e: postgres::Error| store_error("aggregating", &e);
        let from = range.from.map_or(i64::MIN, Timestamp::as_millis);
        let to = range.to.map_or(i64::MAX, Timestamp::as_millis);
        let mut counts = |sql: &str| -> Result<BTreeMap<String, u64>, Error> {
            let rows = client.query(sql, &[&from, &to]).map_err(fail)?;
            Ok(rows
                .iter()
                .map(|r| {
                    let key: Option<String> = r.get(0);
                    (key.unwrap_or_default(), r.get::<_, i64>(1) as u64)
                })
                .collect())
        };
        let by_type = counts(
            "SELECT type, COUNT(*) FROM sonde_events WHERE ts >= $1 AND ts < $2 GROUP BY type",
        )?;
        let by_event = counts(
            "SELECT event, COUNT(*) FROM sonde_events WHERE ts >= $1 AND ts < $2 AND type = 'track' GROUP BY event",
        )?;
        let width = bucket.millis();
        let series = client
            .query(
                "SELECT (ts - ((ts % $3) + $3) % $3) AS b, COUNT(*) FROM sonde_events \
                 WHERE ts >= $1 AND ts < $2 GROUP BY b ORDER BY b",
                &[&from, &to, &width],
            )
            .map_err(fail)?
            .iter()
            .map(|r| SeriesPoint {
                start: Timestamp::from_millis(r.get(0)),
                count: r.get::<_, i64>(1) as u64,
            })
            .collect();
        let mut points =
            |sql: &str, params: &[&(dyn ToSql + Sync)]| -> Result<Vec<SeriesPoint>, Error> {
                Ok(client
                    .query(sql, params)
                    .map_err(fail)?
                    .iter()
                    .map(|r| SeriesPoint {
                        start: Timestamp::from_millis(r.get(0)),
                        count: r.get::<_, i64>(1) as u64,
                    })
                    .collect())
            };
        let mut series_by_event = BTreeMap::new();
        for name in super::top_names(&by_event) {
            let named = points(
                "SELECT (ts - ((ts % $3) + $3) % $3) AS b, COUNT(*) FROM sonde_events \
                 WHERE ts >= $1 AND ts < $2 AND type = 'track' AND event = $4 GROUP BY b ORDER BY b",
                &[&from, &to, &width, &name],
            )?;
            series_by_event.insert(name, named);
        }
        let people_series = points(
            "SELECT (ts - ((ts % $3) + $3) % $3) AS b, COUNT(DISTINCT COALESCE(user_id, NULLIF(anonymous_id, '$personless'))) \
             FROM sonde_events WHERE ts >= $1 AND ts < $2 GROUP BY b ORDER BY b",
            &[&from, &to, &width],
        )?;
        let totals = client
            .query_one(
                "SELECT COUNT(*), COUNT(DISTINCT user_id), \
                 COUNT(DISTINCT CASE WHEN user_id IS NULL THEN NULLIF(anonymous_id, '$personless') END), COUNT(DISTINCT session_id) \
                 FROM sonde_events WHERE ts >= $1 AND ts < $2",
                &[&from, &to],
            )
            .map_err(fail)?;
        let number = "CASE WHEN jsonb_typeof(properties -> 'duration_ms') = 'number' \
                      THEN (properties ->> 'duration_ms')::float8 END";
        let mut latencies = |sql: &str| -> Result<BTreeMap<String, Latency>, Error> {
            let rows = client.query(sql, &[&from, &to]).map_err(fail)?;
            let mut sketches: BTreeMap<String, DDSketch> = BTreeMap::new();
            for r in &rows {
                if let (Some(key), Some(ms)) =
                    (r.get::<_, Option<String>>(0), r.get::<_, Option<f64>>(1))
                {
                    sketches.entry(key).or_default().add(ms);
                }
            }
            Ok(sketches
                .into_iter()
                .map(|(k, s)| (k, Latency::from_sketch(s)))
                .collect())
        };
        let routes = latencies(&format!(
            "SELECT (properties ->> 'http.request.method') || ' ' || (properties ->> 'http.route'), {number} \
             FROM sonde_events WHERE ts >= $1 AND ts < $2 AND event = '$api_request'"
        ))?;
        let operations = latencies(&format!(
            "SELECT properties ->> 'operation', {number} \
             FROM sonde_events WHERE ts >= $1 AND ts < $2 AND event = '$performance'"
        ))?;
        Ok(Aggregates {
            total: totals.get::<_, i64>(0) as u64,
            by_type,
            by_event,
            series,
            series_by_event,
            people_series,
            unique_users: totals.get::<_, i64>(1) as u64,
            unique_anonymous: totals.get::<_, i64>(2) as u64,
            unique_sessions: totals.get::<_, i64>(3) as u64,
            routes,
            operations,
        })
    }

    fn len(&self) -> Result<u64, Error> {
        let n: i64 = self
            .reader()?
            .query_one("SELECT COUNT(*) FROM sonde_events", &[])
            .map_err(|e| store_error("counting", &e))?
            .get(0);
        Ok(n as u64)
    }

    /// Whole partitions before `before` are dropped; the one it falls in loses its older rows.
    fn purge_older_than(&self, before: Timestamp) -> Result<u64, Error> {
        let before = before.as_millis();
        let mut client = self.writer()?;
        let partitions = self.partition_bounds(&mut client)?;
        let fail = |e: postgres::Error| store_error("purging", &e);
        let mut tx = client.transaction().map_err(fail)?;
        let mut purged = 0u64;
        let mut dropped = Vec::new();
        for (name, from, to) in partitions {
            if to <= before {
                let n: i64 = tx
                    .query_one(&format!("SELECT COUNT(*) FROM {name}"), &[])
                    .map_err(fail)?
                    .get(0);
                tx.batch_execute(&format!("DROP TABLE {name}"))
                    .map_err(fail)?;
                purged += n as u64;
                dropped.push(from);
            } else if from < before {
                purged += tx
                    .execute(&format!("DELETE FROM {name} WHERE ts < $1"), &[&before])
                    .map_err(fail)?;
            }
        }
        tx.execute("DELETE FROM sonde_message_ids WHERE ts < $1", &[&before])
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
        let mut known = self
            .partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for week in dropped {
            known.remove(&week);
        }
        Ok(purged)
    }

    fn deduplicated(&self) -> u64 {
        self.deduplicated.load(Ordering::Relaxed)
    }

    fn location(&self) -> String {
        redacted(&self.url)
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn publish_instance(
        &self,
        instance: &Instance,
        snapshot: &StatsSnapshot,
        now_ms: i64,
    ) -> Result<(), Error> {
        let text = serde_json::to_string(snapshot)
            .map_err(|e| Error::new(ErrorKind::StoreFailed, format!("publishing: {e}")))?;
        let fail = |e: postgres::Error| store_error("publishing statistics", &e);
        let mut client = self.writer()?;
        client
            .execute(
                "INSERT INTO sonde_instances (id, host, pid, started_at, last_seen, snapshot) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, snapshot = excluded.snapshot",
                &[
                    &instance.id,
                    &instance.host,
                    &i64::from(instance.pid),
                    &instance.started_at.as_millis(),
                    &now_ms,
                    &text,
                ],
            )
            .map_err(fail)?;
        client
            .execute(
                "DELETE FROM sonde_instances WHERE last_seen < $1",
                &[&now_ms.saturating_sub(INSTANCE_RETENTION_MS)],
            )
            .map_err(fail)?;
        Ok(())
    }

    fn forget_instance(&self, id: &str) -> Result<(), Error> {
        self.writer()?
            .execute("DELETE FROM sonde_instances WHERE id = $1", &[&id])
            .map(|_| ())
            .map_err(|e| store_error("forgetting an instance", &e))
    }

    fn instances(&self, since_ms: i64) -> Result<Vec<PublishedInstance>, Error> {
        let rows = self
            .reader()?
            .query(
                "SELECT id, host, pid, started_at, last_seen, snapshot FROM sonde_instances \
                 WHERE last_seen >= $1 ORDER BY started_at, id",
                &[&since_ms],
            )
            .map_err(|e| store_error("reading instances", &e))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                // A row this version cannot read (a newer Sonde's) is left out.
                let snapshot = serde_json::from_str::<StatsSnapshot>(r.get::<_, &str>(5)).ok()?;
                Some(PublishedInstance {
                    instance: Instance {
                        id: r.get(0),
                        host: r.get(1),
                        pid: u32::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                        started_at: Timestamp::from_millis(r.get(3)),
                    },
                    last_seen: Timestamp::from_millis(r.get(4)),
                    snapshot,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2026-11-30 is a Monday; 2026-12-06 23:59:59.999 the end of its week.
        let monday = 1_795_996_800_000;
        assert_eq!(week_of(monday), monday);
        assert_eq!(week_of(monday + WEEK_MS - 1), monday);
        assert_eq!(week_of(monday - 1), monday - WEEK_MS);
        assert_eq!(week_of(-1), FIRST_MONDAY_MS - WEEK_MS);
        assert_eq!(partition_name(monday), "sonde_events_w20261130");
    }

    #[test]
    fn nul_escapes_become_replacement_characters() {
        assert_eq!(without_nul(r#"{"a":"x"}"#), r#"{"a":"x"}"#);
        assert_eq!(without_nul(r#"{"a":"x\u0000y"}"#), r#"{"a":"x\ufffdy"}"#);
        // An escaped backslash, then the text u0000: not a NUL.
        assert_eq!(without_nul(r#"{"a":"\\u0000"}"#), r#"{"a":"\\u0000"}"#);
        assert_eq!(without_nul(r#"{"a":"\\\u0000"}"#), r#"{"a":"\\\ufffd"}"#);
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("postgresql://sonde:secret@db:5432/events?sslmode=disable"),
            "postgresql://sonde:***@db:5432/events?sslmode=disable"
        );
        assert_eq!(redacted("postgresql://db/events"), "postgresql://db/events");
        assert_eq!(redacted("postgresql://u@db/e"), "postgresql://u@db/e");
    }
}
