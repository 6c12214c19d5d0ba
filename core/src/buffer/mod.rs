//! The bounded buffer and its delivery state machine.
//!
//! Pure state, no threads and no clock: callers pass the time in. The native worker and the
//! wasm host drive the same machine, so batching, retry and accounting behave the same
//! everywhere. Every event that enters is in exactly one place at any time (queued, in
//! flight, delivered, or dropped with a reason), and the counters say so in the same
//! critical section that moves it.

use std::collections::VecDeque;

use crate::config::{Config, OverflowPolicy};
use crate::notice::Notices;
use crate::sink::BufferedEvent;
use crate::stats::{Counters, DropReason};

/// Why events cut off by the shutdown deadline were lost.
const SHUTDOWN_DETAIL: &str = "not delivered before the shutdown deadline";

/// Batches the host may hold unacknowledged at once in manual delivery.
pub const MAX_IN_FLIGHT: usize = 8;

/// The longest a server's `Retry-After` can hold a batch back (one hour): a larger hint is
/// a misconfigured server, not a reason to keep events waiting for a day.
pub const RETRY_AFTER_CAP_MS: u64 = 3_600_000;

/// The wait before retrying after the `failures`-th failure in a row: exponential from
/// `initial_ms` up to `max_ms` with "equal jitter" (half fixed, half random from `jitter` in
/// [0, 1), so retries never bunch at zero), and never shorter than the server's
/// `retry_after_ms`, itself capped at [`RETRY_AFTER_CAP_MS`].
pub(crate) fn retry_delay_ms(
    initial_ms: u64,
    max_ms: u64,
    failures: u32,
    jitter: f64,
    retry_after_ms: Option<u64>,
) -> u64 {
    let exp = failures.saturating_sub(1).min(30);
    let base = initial_ms.saturating_mul(1u64 << exp).min(max_ms);
    let backoff_ms = base / 2 + (base as f64 / 2.0 * jitter.clamp(0.0, 1.0)) as u64;
    backoff_ms.max(retry_after_ms.unwrap_or(0).min(RETRY_AFTER_CAP_MS))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BufferLimits {
    pub max_events: usize,
    pub max_bytes: usize,
    pub batch_size: usize,
    pub batch_bytes: usize,
    pub flush_interval_ms: u64,
    pub max_retries: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    pub evict_oldest: bool,
}

impl BufferLimits {
    pub fn from_config(c: &Config) -> Self {
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            max_events: c.max_queue_events,
            max_bytes: c.max_queue_bytes,
            batch_size: c.batch_size,
            batch_bytes: c.batch_bytes,
            flush_interval_ms: ms(c.flush_interval),
            max_retries: c.max_retries,
            backoff_initial_ms: ms(c.retry_initial_backoff),
            backoff_max_ms: ms(c.retry_max_backoff),
            evict_oldest: c.overflow == OverflowPolicy::DropOldest,
        }
    }
}

/// A batch taken for delivery. Its events stay accounted as in flight until
/// [`Buffer::complete`] receives it back.
#[derive(Debug)]
pub(crate) struct PendingBatch {
    pub id: u64,
    pub events: Vec<BufferedEvent>,
    /// Attempts made so far (0 before the first).
    pub attempts: u32,
    /// Sinks (bit per sink) that still have to accept this batch.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // used by the native worker
    pub pending_sinks: u64,
    /// Events a sink refused one by one (index in `events`, reason), never retried; the
    /// first reason given for an event is the one counted.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // used by the native worker
    pub refused: Vec<(usize, DropReason)>,
    /// The last failure a sink gave, for the report if the batch is dropped.
    pub last_error: Option<String>,
    not_before_ms: u64,
}

impl PendingBatch {
    /// Records events a sink refused for good.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // used by the native worker
    pub fn refuse(&mut self, index: usize, reason: DropReason) {
        if index < self.events.len() && !self.refused.iter().any(|(i, _)| *i == index) {
            self.refused.push((index, reason));
        }
    }

    fn first_seq(&self) -> u64 {
        self.events.first().map_or(u64::MAX, |e| e.seq)
    }

    pub fn bytes(&self) -> usize {
        self.events.iter().map(|e| e.json.len()).sum()
    }
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: u64,
    len: u64,
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // used by the native worker
    first_seq: u64,
}

/// Result of offering an event to a full buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// No room and the policy does not evict; the caller may wait or drop.
    Full,
    /// Larger than the whole buffer: can never fit.
    Oversize,
    /// The buffer is closed (shut down).
    Closed,
}

/// What a delivery attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completion {
    Delivered,
    Retrying { delay_ms: u64 },
    Dropped(DropReason),
}

#[derive(Debug)]
pub(crate) struct Buffer {
    limits: BufferLimits,
    all_sinks: u64,
    queue: VecDeque<BufferedEvent>,
    queued_bytes: usize,
    next_seq: u64,
    next_batch_id: u64,
    /// Failed batches waiting for their backoff, oldest events first; nothing newer goes
    /// out before them (order).
    retrying: VecDeque<PendingBatch>,
    /// Batches out for delivery (worker or host holds the events).
    in_flight: Vec<InFlight>,
    /// Manual delivery: batches handed to the host as JSON, kept here until ack/nack.
    parked: Vec<PendingBatch>,
    flush_target: u64,
    closed: bool,
    abandoned: bool,
    /// The worker is asleep waiting for work. Producers wake it only then: a condvar
    /// notify is a syscall, too dear to pay on every event.
    pub worker_waiting: bool,
    counters: Counters,
    /// Losses (and in debug mode deliveries) to tell the host once the lock is released.
    pub notices: Notices,
}

impl Buffer {
    pub fn new(limits: BufferLimits, sink_count: usize) -> Self {
        let all_sinks = match sink_count {
            0 => 0,
            n if n >= 64 => u64::MAX,
            n => (1u64 << n) - 1,
        };
        Self {
            limits,
            all_sinks,
            queue: VecDeque::new(),
            queued_bytes: 0,
            next_seq: 1,
            next_batch_id: 1,
            retrying: VecDeque::new(),
            in_flight: Vec::new(),
            parked: Vec::new(),
            flush_target: 0,
            closed: false,
            abandoned: false,
            worker_waiting: false,
            counters: Counters::default(),
            notices: Notices::default(),
        }
    }

    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // used by the native worker
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Counts an event that never reached the buffer.
    pub fn record_drop(&mut self, reason: DropReason) {
        self.counters.received += 1;
        self.counters.dropped.add(reason, 1);
    }

    pub fn record_plan_violations(&mut self, n: u64) {
        self.counters.plan_violations += n;
    }

    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // used by the native worker
    pub fn has_room_for(&self, bytes: usize) -> bool {
        self.has_room(bytes) || bytes > self.limits.max_bytes
    }

    /// What a queued event counts against `max_bytes`: its JSON and its queue slot, so the
    /// cap bounds the buffer's memory rather than only its text (for small events the
    /// slot is a tenth of it).
    pub fn charge(json_len: usize) -> usize {
        json_len + std::mem::size_of::<BufferedEvent>()
    }

    fn has_room(&self, bytes: usize) -> bool {
        self.queue.len() < self.limits.max_events
            && self.queued_bytes + bytes <= self.limits.max_bytes
    }

    /// Offers one serialized event. On `Err` nothing is counted yet (tests settle it
    /// with [`Buffer::reject`]; the client uses [`Buffer::offer`]).
    #[cfg(test)]
    pub fn push(&mut self, json: Box<str>, now_ms: u64) -> Result<u64, PushError> {
        self.try_push(json, now_ms, self.limits.evict_oldest)
            .map_err(|(e, _)| e)
    }

    /// Offers one event and settles a refusal at once: counted as dropped, and the event
    /// reported as lost. With `keep` nothing queued is evicted to make room, whatever the
    /// overflow policy: for events ingested from other processes, which were acknowledged
    /// to their senders, so a full buffer refuses the newcomer (the sender retries) instead
    /// of losing one it already answered for.
    pub fn offer(&mut self, json: Box<str>, now_ms: u64, keep: bool) -> Result<u64, PushError> {
        let evict = self.limits.evict_oldest && !keep;
        self.try_push(json, now_ms, evict).map_err(|(e, json)| {
            if let Some(reason) = self.reject(e) {
                let detail = if reason == DropReason::QueueFull {
                    "the buffer was full: the new event was refused"
                } else {
                    "the event is larger than the whole buffer"
                };
                self.notices.lose(reason, || detail.to_owned(), [json]);
            }
            e
        })
    }

    fn try_push(
        &mut self,
        json: Box<str>,
        now_ms: u64,
        evict: bool,
    ) -> Result<u64, (PushError, Box<str>)> {
        if self.closed {
            return Err((PushError::Closed, json));
        }
        let bytes = Self::charge(json.len());
        if bytes > self.limits.max_bytes {
            return Err((PushError::Oversize, json));
        }
        while !self.has_room(bytes) {
            if !evict {
                return Err((PushError::Full, json));
            }
            match self.queue.pop_front() {
                Some(old) => {
                    self.queued_bytes -= Self::charge(old.json.len());
                    self.counters.dropped.add(DropReason::QueueFull, 1);
                    self.notices.lose(
                        DropReason::QueueFull,
                        || {
                            "the buffer was full: the oldest event was dropped to make room"
                                .to_owned()
                        },
                        [old.json],
                    );
                }
                None => return Err((PushError::Oversize, json)),
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queued_bytes += bytes;
        self.counters.received += 1;
        self.counters.accepted += 1;
        self.queue.push_back(BufferedEvent {
            seq,
            enqueued_ms: now_ms,
            json,
        });
        Ok(seq)
    }

    /// Whether a producer that just queued an event should wake the worker, and if so marks
    /// the worker as woken so later producers do not notify again.
    pub fn should_wake_worker(&mut self, now_ms: u64) -> bool {
        let wake = self.worker_waiting && (self.queue.len() == 1 || self.is_ready(now_ms));
        if wake {
            self.worker_waiting = false;
        }
        wake
    }

    /// Counts an offered event that was not taken after all; the reason it was counted
    /// under, if it counts.
    pub fn reject(&mut self, why: PushError) -> Option<DropReason> {
        let reason = match why {
            PushError::Full => DropReason::QueueFull,
            PushError::Oversize => DropReason::Oversize,
            // Refused at the door: the caller gets `shut_down` and the event never counts.
            PushError::Closed => return None,
        };
        self.record_drop(reason);
        Some(reason)
    }

    /// True when a batch should go out now.
    pub fn is_ready(&self, now_ms: u64) -> bool {
        if let Some(b) = self.retrying.front() {
            return b.not_before_ms <= now_ms;
        }
        let Some(front) = self.queue.front() else {
            return false;
        };
        self.closed
            || front.seq <= self.flush_target
            || self.queue.len() >= self.limits.batch_size
            || self.queued_bytes >= self.limits.batch_bytes
            || now_ms.saturating_sub(front.enqueued_ms) >= self.limits.flush_interval_ms
    }

    /// When the next batch becomes ready if nothing else happens.
    pub fn next_deadline(&self) -> Option<u64> {
        if let Some(b) = self.retrying.front() {
            return Some(b.not_before_ms);
        }
        self.queue
            .front()
            .map(|f| f.enqueued_ms.saturating_add(self.limits.flush_interval_ms))
    }

    /// Takes the next batch if one is ready.
    pub fn take(&mut self, now_ms: u64) -> Option<PendingBatch> {
        if !self.is_ready(now_ms) || self.in_flight.len() + self.parked.len() >= MAX_IN_FLIGHT {
            return None;
        }
        let batch = match self.retrying.pop_front() {
            Some(b) => b,
            None => {
                let mut events = Vec::with_capacity(self.limits.batch_size.min(self.queue.len()));
                // Two brackets plus a comma per event: the size of the JSON array sent.
                let mut size = 2;
                while let Some(front) = self.queue.front() {
                    let next = front.json.len() + 1;
                    if !events.is_empty()
                        && (events.len() >= self.limits.batch_size
                            || size + next > self.limits.batch_bytes)
                    {
                        break;
                    }
                    let Some(e) = self.queue.pop_front() else {
                        break;
                    };
                    self.queued_bytes -= Self::charge(e.json.len());
                    size += next;
                    events.push(e);
                }
                let id = self.next_batch_id;
                self.next_batch_id += 1;
                PendingBatch {
                    id,
                    events,
                    attempts: 0,
                    pending_sinks: self.all_sinks,
                    refused: Vec::new(),
                    last_error: None,
                    not_before_ms: 0,
                }
            }
        };
        self.in_flight.push(InFlight {
            id: batch.id,
            len: batch.events.len() as u64,
            first_seq: batch.first_seq(),
        });
        Some(batch)
    }

    /// Records the outcome of an attempt. `failed` is `None` on success, or whether the
    /// failure may be retried. `jitter` in [0, 1) spreads retries.
    #[cfg(test)]
    pub fn complete(
        &mut self,
        batch: PendingBatch,
        failed: Option<bool>,
        now_ms: u64,
        jitter: f64,
    ) -> Completion {
        self.complete_after(batch, failed, now_ms, jitter, None).0
    }

    /// As [`Buffer::complete`]; a retried batch also waits at least `retry_after_ms` (the
    /// server's `Retry-After`), capped at [`RETRY_AFTER_CAP_MS`]. A delivered batch's events
    /// come back with the outcome, for the caller to free once it has released the lock:
    /// freeing 500 strings took the lock from producers for tens of microseconds.
    pub fn complete_after(
        &mut self,
        mut batch: PendingBatch,
        failed: Option<bool>,
        now_ms: u64,
        jitter: f64,
        retry_after_ms: Option<u64>,
    ) -> (Completion, Vec<BufferedEvent>) {
        self.in_flight.retain(|f| f.id != batch.id);
        batch.attempts += 1;
        let settles = failed.is_none()
            || self.abandoned
            || failed == Some(false)
            || batch.attempts > self.limits.max_retries;
        let mut n = batch.events.len() as u64;
        if settles {
            // Refused events are dropped for their own reason whatever becomes of the rest.
            let refused = std::mem::take(&mut batch.refused);
            // Highest index first, so each removal leaves the rest in place. A scan rather
            // than a sort: refusals are few, and a sort's code is ~1 KB of the browser's
            // `.wasm` gzip.
            let by_index = (0..batch.events.len())
                .rev()
                .filter_map(|index| refused.iter().find(|(i, _)| *i == index).copied());
            for (index, reason) in by_index {
                self.counters.dropped.add(reason, 1);
                n -= 1;
                if self.notices.losses {
                    let event = batch.events.remove(index).json;
                    self.notices.lose(
                        reason,
                        || "the destination refused the event".to_owned(),
                        [event],
                    );
                }
            }
        }
        let events = |batch: PendingBatch| batch.events.into_iter().map(|e| e.json);
        match failed {
            None => {
                self.counters.delivered += n;
                self.counters.batches_delivered += 1;
                self.notices.delivered(batch.id, n as usize);
                (Completion::Delivered, batch.events)
            }
            Some(_) if self.abandoned => {
                self.counters.dropped.add(DropReason::ShutdownTimeout, n);
                self.notices.lose(
                    DropReason::ShutdownTimeout,
                    || SHUTDOWN_DETAIL.to_owned(),
                    events(batch),
                );
                (Completion::Dropped(DropReason::ShutdownTimeout), Vec::new())
            }
            Some(retryable) if !retryable || batch.attempts > self.limits.max_retries => {
                self.counters.dropped.add(DropReason::RetryExhausted, n);
                self.counters.batches_failed += 1;
                let attempts = batch.attempts;
                let last_error = batch.last_error.take();
                let detail = move || match (last_error, retryable) {
                    (Some(e), true) => format!("still failing after {attempts} attempts: {e}"),
                    (Some(e), false) => format!("refused for good: {e}"),
                    (None, _) => format!("failed {attempts} times"),
                };
                self.notices
                    .lose(DropReason::RetryExhausted, detail, events(batch));
                (Completion::Dropped(DropReason::RetryExhausted), Vec::new())
            }
            Some(_) => {
                let delay_ms = retry_delay_ms(
                    self.limits.backoff_initial_ms,
                    self.limits.backoff_max_ms,
                    batch.attempts,
                    jitter,
                    retry_after_ms,
                );
                batch.not_before_ms = now_ms.saturating_add(delay_ms);
                self.counters.retries += 1;
                let first = batch.first_seq();
                let at = self.retrying.partition_point(|b| b.first_seq() < first);
                self.retrying.insert(at, batch);
                (Completion::Retrying { delay_ms }, Vec::new())
            }
        }
    }

    /// Manual delivery: takes a ready batch and keeps it until [`Buffer::settle`].
    pub fn take_parked(&mut self, now_ms: u64) -> Option<&PendingBatch> {
        let batch = self.take(now_ms)?;
        self.parked.push(batch);
        self.parked.last()
    }

    /// Manual delivery: acknowledges (`failed = None`) or rejects a parked batch.
    pub fn settle(
        &mut self,
        id: u64,
        failed: Option<bool>,
        now_ms: u64,
        jitter: f64,
        retry_after_ms: Option<u64>,
    ) -> Option<Completion> {
        let pos = self.parked.iter().position(|b| b.id == id)?;
        let batch = self.parked.swap_remove(pos);
        Some(
            self.complete_after(batch, failed, now_ms, jitter, retry_after_ms)
                .0,
        )
    }

    /// Marks every event accepted so far as due now; returns the last such sequence number.
    pub fn request_flush(&mut self) -> u64 {
        let target = self.next_seq - 1;
        self.flush_target = self.flush_target.max(target);
        target
    }

    /// The oldest sequence number not yet delivered or dropped.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))] // used by the native worker
    pub fn oldest_unresolved(&self) -> u64 {
        let mut oldest = self.queue.front().map_or(self.next_seq, |e| e.seq);
        for f in &self.in_flight {
            oldest = oldest.min(f.first_seq);
        }
        if let Some(b) = self.retrying.front() {
            oldest = oldest.min(b.first_seq());
        }
        oldest
    }

    /// True when nothing is queued, waiting or in flight.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.retrying.is_empty() && self.in_flight.is_empty()
    }

    /// Stops accepting; queued events become due at once.
    pub fn close(&mut self) {
        self.closed = true;
        self.request_flush();
    }

    /// Gives up on everything not yet delivered (shutdown deadline passed). Batches out with
    /// a sink right now are settled when they come back.
    pub fn abandon(&mut self) {
        self.closed = true;
        self.abandoned = true;
        let detail = || SHUTDOWN_DETAIL.to_owned();
        let mut dropped = self.queue.len() as u64;
        let queue = std::mem::take(&mut self.queue);
        self.notices.lose(
            DropReason::ShutdownTimeout,
            detail,
            queue.into_iter().map(|e| e.json),
        );
        self.queued_bytes = 0;
        for b in std::mem::take(&mut self.retrying) {
            dropped += b.events.len() as u64;
            self.notices.lose(
                DropReason::ShutdownTimeout,
                detail,
                b.events.into_iter().map(|e| e.json),
            );
        }
        for b in std::mem::take(&mut self.parked) {
            self.in_flight.retain(|f| f.id != b.id);
            dropped += b.events.len() as u64;
            self.notices.lose(
                DropReason::ShutdownTimeout,
                detail,
                b.events.into_iter().map(|e| e.json),
            );
        }
        self.counters
            .dropped
            .add(DropReason::ShutdownTimeout, dropped);
    }

    /// The counters, with the queue and in-flight figures filled in.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters.clone();
        c.queued = self.queue.len() as u64;
        c.queued_bytes = self.queued_bytes as u64;
        c.in_flight = self.in_flight.iter().map(|f| f.len).sum::<u64>()
            + self
                .retrying
                .iter()
                .map(|b| b.events.len() as u64)
                .sum::<u64>();
        c
    }

    #[cfg(test)]
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    #[cfg(test)]
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }
}

#[cfg(test)]
mod tests;
