//! The durable outbox (`outbox="outbox.db"`): the HTTP destination writes each batch to a
//! SQLite file (WAL; a commit survives `kill -9`) and a sender thread of its own POSTs the
//! rows oldest first, deleting each once the collector answered for good. A collector
//! outage or a restart loses nothing within `outbox_max_bytes`; past it the oldest rows are
//! dropped and counted (`outbox_full`).
//!
//! Several processes may share one file (forked workers): a sender claims a row with a
//! lease (the request timeout plus a margin) in one `UPDATE ... RETURNING`, so no two send
//! the same row at once, and a row claimed by a process that died is sent again once its
//! lease ends. Delivery is at least once; Sonde's collector stores each `messageId` once.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};

use super::transport::Transport;
use crate::buffer::retry_delay_ms;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::ids::IdGenerator;
use crate::sink::{BufferedEvent, SinkError};
use crate::stats::{DropReason, OutboxStats};
use crate::store::open_wal;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT    NOT NULL,
    events      TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    bytes       INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_destination ON outbox (destination, id);
";

/// How often an idle sender looks for rows it was not told about (another process's, or a
/// lease that ended).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// A lease outlasts the request it covers by this much.
const LEASE_MARGIN_MS: u64 = 5_000;

/// Retry waits of the sender: the client's backoff (initial, max).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

/// The file and what the sender thread and the sink share.
pub(super) struct Outbox {
    conn: Mutex<Connection>,
    /// Rows of this destination (format and endpoint) among those of others in the file.
    destination: String,
    max_bytes: u64,
    state: Mutex<SenderState>,
    /// Wakes the sender (new row, stop) and flush waiters (progress).
    changed: Condvar,
    clock: SystemClock,
}

#[derive(Default)]
struct SenderState {
    stop: bool,
    /// A flush asks the sender to retry now rather than after its backoff.
    retry_now: bool,
    /// This process's sender is claiming or sending a row (set before the claim, so a
    /// flush never takes our own leased row for another sender's).
    sending: bool,
    stats: OutboxStats,
}

/// Rows of this destination in the file, and how many no sender holds now.
struct Pending {
    batches: u64,
    events: u64,
    bytes: u64,
    claimable: u64,
}

/// A claimed row.
struct Row {
    id: i64,
    events: Vec<BufferedEvent>,
}

fn outbox_error(what: &str, e: &rusqlite::Error) -> Error {
    Error::new(ErrorKind::StoreFailed, format!("outbox: {what}: {e}"))
}

impl Outbox {
    /// Opens (or creates) the file for `destination`.
    pub fn open(path: &Path, destination: String, max_bytes: u64) -> Result<Arc<Self>, Error> {
        let conn = open_wal(path, &format!("opening the outbox {}", path.display()))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| outbox_error("creating its table", &e))?;
        Ok(Arc::new(Self {
            conn: Mutex::new(conn),
            destination,
            max_bytes,
            state: Mutex::new(SenderState::default()),
            changed: Condvar::new(),
            clock: SystemClock::new(),
        }))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn state(&self) -> MutexGuard<'_, SenderState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Writes a batch (one row, events one per line: compact JSON has no raw newline), then
    /// drops the oldest rows while the destination is over its byte cap: never the new one,
    /// nor one out with a sender, so the file can exceed the cap by those two.
    pub fn append(&self, events: &[BufferedEvent]) -> Result<(), SinkError> {
        let mut text = String::with_capacity(events.iter().map(|e| e.json.len() + 1).sum());
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.push_str(&e.json);
        }
        let evicted = self
            .write(&text, events.len())
            .map_err(|e| SinkError::retryable(format!("the outbox cannot take the batch: {e}")))?;
        let mut state = self.state();
        state.stats.dropped.outbox_full += evicted;
        drop(state);
        self.changed.notify_all();
        Ok(())
    }

    fn write(&self, text: &str, count: usize) -> rusqlite::Result<u64> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO outbox (destination, events, count, bytes) VALUES (?1, ?2, ?3, ?4)",
            params![self.destination, text, count as i64, text.len() as i64],
        )?;
        let newest = tx.last_insert_rowid();
        let mut total: i64 = tx.query_row(
            "SELECT COALESCE(SUM(bytes), 0) FROM outbox WHERE destination = ?1",
            params![self.destination],
            |r| r.get(0),
        )?;
        let mut evicted = 0u64;
        let now = self.now_ms();
        while u64::try_from(total).unwrap_or(0) > self.max_bytes {
            let oldest: Option<(i64, i64, i64)> = tx
                .query_row(
                    "SELECT id, count, bytes FROM outbox WHERE destination = ?1 AND lease_until <= ?2 \
                     AND id < ?3 ORDER BY id LIMIT 1",
                    params![self.destination, now, newest],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((id, n, bytes)) = oldest else {
                break;
            };
            tx.execute("DELETE FROM outbox WHERE id = ?1", params![id])?;
            evicted += u64::try_from(n).unwrap_or(0);
            total -= bytes;
        }
        tx.commit()?;
        Ok(evicted)
    }

    /// Claims the oldest row nobody holds, for `lease_ms`.
    fn claim(&self, lease_ms: u64) -> rusqlite::Result<Option<Row>> {
        let now = self.now_ms();
        let until = now.saturating_add(i64::try_from(lease_ms).unwrap_or(i64::MAX));
        let row: Option<(i64, String)> = self
            .conn()
            .query_row(
                "UPDATE outbox SET lease_until = ?1 WHERE id = (SELECT id FROM outbox \
                 WHERE destination = ?2 AND lease_until <= ?3 ORDER BY id LIMIT 1) \
                 RETURNING id, events",
                params![until, self.destination, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(row.map(|(id, text)| Row {
            id,
            events: text
                .split('\n')
                .map(|json| BufferedEvent {
                    seq: 0,
                    enqueued_ms: 0,
                    json: json.into(),
                })
                .collect(),
        }))
    }

    fn remove(&self, id: i64) -> rusqlite::Result<()> {
        self.conn()
            .execute("DELETE FROM outbox WHERE id = ?1", params![id])
            .map(|_| ())
    }

    fn release(&self, id: i64) -> rusqlite::Result<()> {
        self.conn()
            .execute(
                "UPDATE outbox SET lease_until = 0 WHERE id = ?1",
                params![id],
            )
            .map(|_| ())
    }

    /// What waits in the file for this destination (every process's rows).
    fn pending(&self) -> rusqlite::Result<Pending> {
        self.conn().query_row(
            "SELECT COUNT(*), COALESCE(SUM(count), 0), COALESCE(SUM(bytes), 0), \
             COALESCE(SUM(lease_until <= ?2), 0) FROM outbox WHERE destination = ?1",
            params![self.destination, self.now_ms()],
            |r| {
                let n = |i: usize| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                Ok(Pending {
                    batches: n(0)?,
                    events: n(1)?,
                    bytes: n(2)?,
                    claimable: n(3)?,
                })
            },
        )
    }

    /// The statistics, with the pending figures read from the file.
    pub fn stats(&self) -> OutboxStats {
        let mut stats = self.state().stats.clone();
        match self.pending() {
            Ok(pending) => {
                stats.pending_batches = pending.batches;
                stats.pending_events = pending.events;
                stats.pending_bytes = pending.bytes;
            }
            Err(e) => stats.last_error = Some(format!("outbox: reading it: {e}")),
        }
        stats
    }

    /// Has the sender try at once, then waits until the file holds no row of this
    /// destination, a send fails (an outage: the rows are safe, and waiting for its end is
    /// not a flush's job), or `timeout` passed.
    pub fn wait_drained(&self, timeout: Duration) -> Result<(), SinkError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        let failures_before = state.stats.retries;
        state.retry_now = true;
        self.changed.notify_all();
        loop {
            drop(state);
            let pending = self
                .pending()
                .map_err(|e| SinkError::retryable(format!("outbox: reading it: {e}")))?;
            state = self.state();
            if pending.batches == 0 {
                return Ok(());
            }
            if state.stop {
                return Err(SinkError::retryable(format!(
                    "{} batches wait in the outbox for the next start (the client shut down)",
                    pending.batches
                )));
            }
            if pending.claimable == 0 && !state.sending {
                // Every pending row is out with another process's sender (a client that
                // replaced this one, or another worker): its to deliver, not ours.
                return Err(SinkError::retryable(format!(
                    "{} batches are being sent by another sender of the outbox",
                    pending.batches
                )));
            }
            if state.stats.retries > failures_before {
                return Err(SinkError::retryable(format!(
                    "{} batches wait in the outbox: {}",
                    pending.batches,
                    state
                        .stats
                        .last_error
                        .as_deref()
                        .unwrap_or("sending failed")
                )));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SinkError::retryable(format!(
                    "{} batches still in the outbox after {timeout:?}",
                    pending.batches
                )));
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            state = match self.changed.wait_timeout(state, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Tells the sender to stop after its current request.
    pub fn stop(&self) {
        self.state().stop = true;
        self.changed.notify_all();
    }

    /// Sleeps up to `wait`; true when told to stop. A flush ends it early, and with
    /// `for_new_rows` so does a new row.
    fn pause(&self, wait: Duration, for_new_rows: bool) -> bool {
        let deadline = Instant::now() + wait;
        let mut state = self.state();
        loop {
            if state.stop {
                return true;
            }
            if state.retry_now {
                state.retry_now = false;
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = match self.changed.wait_timeout(state, deadline - now) {
                Ok((guard, timeout)) => {
                    if for_new_rows && !timeout.timed_out() {
                        return guard.stop;
                    }
                    guard
                }
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    fn record(&self, update: impl FnOnce(&mut SenderState)) {
        update(&mut self.state());
        self.changed.notify_all();
    }
}

/// The sender thread: rows oldest first, each sent until the collector answers for good.
pub(super) fn run_sender(outbox: &Outbox, transport: &Transport, backoff: Backoff) {
    let jitter = IdGenerator::from_entropy(std::process::id().into());
    let lease_ms = u64::try_from(transport.options().timeout.as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(LEASE_MARGIN_MS);
    let mut failures: u32 = 0;
    loop {
        if outbox.state().stop {
            return;
        }
        outbox.state().sending = true;
        let row = match outbox.claim(lease_ms) {
            Ok(Some(row)) => row,
            Ok(None) => {
                outbox.state().sending = false;
                if outbox.pause(IDLE_POLL, true) {
                    return;
                }
                continue;
            }
            Err(e) => {
                outbox.record(|s| {
                    s.sending = false;
                    s.stats.last_error = Some(format!("outbox: claiming a batch: {e}"));
                });
                if outbox.pause(IDLE_POLL, false) {
                    return;
                }
                continue;
            }
        };
        let count = row.events.len() as u64;
        // `sending` ends with the row removed or released, in each arm's record.
        match transport.send_all(&row.events) {
            Ok(refused) => {
                failures = 0;
                let removed = outbox.remove(row.id);
                outbox.record(|s| {
                    s.sending = false;
                    if let Err(e) = removed {
                        // Still in the outbox: it goes again (the collector keeps each
                        // messageId once) and is counted when it leaves for good.
                        s.stats.last_error = Some(format!("outbox: removing a sent batch: {e}"));
                        return;
                    }
                    s.stats.last_error = None;
                    s.stats.sent += count - refused.len() as u64;
                    for r in refused {
                        match r.reason {
                            DropReason::Oversize => s.stats.dropped.oversize += 1,
                            _ => s.stats.dropped.rejected += 1,
                        }
                    }
                });
            }
            Err(e) if !e.retryable => {
                let _ = outbox.remove(row.id);
                outbox.record(|s| {
                    s.sending = false;
                    s.stats.dropped.rejected += count;
                    s.stats.last_error = Some(e.message);
                });
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let released = outbox.release(row.id);
                outbox.record(|s| {
                    s.sending = false;
                    s.stats.retries += 1;
                    s.stats.last_error = Some(match released {
                        Ok(()) => e.message.clone(),
                        Err(r) => format!("{}; releasing the batch: {r}", e.message),
                    });
                });
                let wait = retry_wait(backoff, failures, jitter.next_f64(), e.retry_after_ms);
                if outbox.pause(wait, false) {
                    return;
                }
            }
        }
    }
}

/// The client's backoff, never shorter than the server's `Retry-After`.
fn retry_wait(
    backoff: Backoff,
    failures: u32,
    jitter: f64,
    retry_after_ms: Option<u64>,
) -> Duration {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(retry_delay_ms(
        ms(backoff.initial),
        ms(backoff.max),
        failures,
        jitter,
        retry_after_ms,
    ))
}
