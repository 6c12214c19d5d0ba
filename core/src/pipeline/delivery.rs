//! Moving batches from the buffer to the sinks: a named worker thread on native targets;
//! on wasm32 (no threads) the host drives the same buffer through take/ack/nack.

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use crate::buffer::Buffer;
use crate::config::DeliveryMode;
use crate::error::{Error, ErrorKind, Result};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use native::*;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::*;

fn timeout_error(what: &str, buf: &Buffer) -> Error {
    let c = buf.counters();
    Error::new(
        ErrorKind::Timeout,
        format!(
            "{what} timed out with {} events queued and {} in flight",
            c.queued, c.in_flight
        ),
    )
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
    use std::thread::{JoinHandle, ThreadId};
    use std::time::Instant;

    use super::*;
    use crate::buffer::PendingBatch;
    use crate::pipeline::lock;
    use crate::sink::SinkBatch;

    /// Longest sleep of an idle worker; it wakes earlier when notified.
    const IDLE_WAIT: Duration = Duration::from_secs(3600);

    /// How long the stopping worker gives each sink to flush.
    const SINK_FLUSH_AT_STOP: Duration = Duration::from_secs(15);

    pub(crate) struct Delivery {
        /// Wakes the worker: new work, flush, shutdown.
        wake: Condvar,
        /// Wakes flush/shutdown waiters and blocked producers: a batch finished, room freed.
        progress: Condvar,
        worker: Mutex<Option<JoinHandle<()>>>,
        worker_id: OnceLock<ThreadId>,
        /// Periodic work (alert evaluation) and its interval in milliseconds; set once.
        tick: OnceLock<(u64, Tick)>,
    }

    /// Periodic work the worker runs between batches.
    pub(crate) type Tick = Arc<dyn Fn() + Send + Sync>;

    /// Registers periodic work for the worker.
    pub(crate) fn set_tick(shared: &Shared, every: Duration, tick: Tick) {
        let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
        // Set once, by `Sonde::new`.
        let _ = shared.delivery.tick.set((ms, tick));
        shared.delivery.wake_worker();
    }

    /// Whether the calling thread is this client's worker.
    pub(crate) fn on_worker_thread(shared: &Shared) -> bool {
        shared.delivery.worker_id.get() == Some(&std::thread::current().id())
    }

    impl Delivery {
        pub fn new() -> Self {
            Self {
                wake: Condvar::new(),
                progress: Condvar::new(),
                worker: Mutex::new(None),
                worker_id: OnceLock::new(),
                tick: OnceLock::new(),
            }
        }

        pub fn wake_worker(&self) {
            self.wake.notify_one();
        }
    }

    pub(crate) fn start_worker(shared: &Arc<Shared>) -> Result<()> {
        let for_worker = Arc::clone(shared);
        let handle = std::thread::Builder::new()
            .name("sonde-worker".to_owned())
            .spawn(move || run_worker(&for_worker))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot start the delivery worker: {e}"),
                )
            })?;
        *lock(&shared.delivery.worker) = Some(handle);
        Ok(())
    }

    /// What the worker does next.
    enum Work {
        Batch(PendingBatch),
        Tick(Tick),
        Stop,
    }

    fn run_worker(shared: &Shared) {
        let _ = shared.delivery.worker_id.set(std::thread::current().id());
        // The first tick comes one interval after the tick is registered (see `next_work`).
        let mut next_tick_ms = u64::MAX;
        loop {
            let mut batch = match next_work(shared, &mut next_tick_ms) {
                Work::Batch(batch) => batch,
                Work::Tick(tick) => {
                    // Alert callbacks are user code: a panic there must not stop delivery.
                    let _ = catch_unwind(AssertUnwindSafe(|| tick()));
                    continue;
                }
                Work::Stop => {
                    // Nobody waits on this: shutdown returns once the buffer is idle.
                    for sink in &shared.sinks {
                        let _ = sink.flush(SINK_FLUSH_AT_STOP);
                        sink.close();
                    }
                    return;
                }
            };
            // Room was freed in the buffer: blocked producers may go on.
            shared.delivery.progress.notify_all();
            let (failed, retry_after_ms) = deliver(shared, &mut batch);
            let now = shared.mono_ms();
            let jitter = shared.jitter.next_f64();
            let mut buf = shared.buffer();
            let (_, spent) = buf.complete_after(batch, failed, now, jitter, retry_after_ms);
            shared.release(buf);
            shared.delivery.progress.notify_all();
            drop(spent);
        }
    }

    /// Waits for a due batch or the next tick; `Stop` once the buffer is closed and drained.
    fn next_work(shared: &Shared, next_tick_ms: &mut u64) -> Work {
        let mut buf = shared.buffer();
        loop {
            let now = shared.mono_ms();
            if let Some(batch) = buf.take(now) {
                return Work::Batch(batch);
            }
            if buf.is_closed() && buf.is_idle() {
                shared.release(buf);
                return Work::Stop;
            }
            // Notices held back by the interval are told when due, even if nothing else
            // happens by then.
            if buf.notices.due_at().is_some_and(|at| now >= at) {
                shared.release(buf);
                buf = shared.buffer();
                continue;
            }
            let tick = shared.delivery.tick.get();
            if let Some((every, tick)) = tick.filter(|_| !buf.is_closed()) {
                if *next_tick_ms == u64::MAX {
                    *next_tick_ms = now.saturating_add(*every);
                }
                if now >= *next_tick_ms {
                    *next_tick_ms = now.saturating_add(*every);
                    return Work::Tick(Arc::clone(tick));
                }
            }
            let tick_at = tick.map(|_| *next_tick_ms);
            let wait = [buf.next_deadline(), tick_at, buf.notices.due_at()]
                .into_iter()
                .flatten()
                .min()
                .map_or(IDLE_WAIT, |d| {
                    Duration::from_millis(d.saturating_sub(now).max(1))
                });
            buf.worker_waiting = true;
            buf = match shared.delivery.wake.wait_timeout(buf, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
            buf.worker_waiting = false;
        }
    }

    /// Offers the batch to every sink that has not taken it yet. `None` when all have;
    /// otherwise whether every failure may be retried, with the longest `Retry-After` a
    /// sink asked for. A panicking sink counts as a permanent failure and never takes the
    /// worker down.
    fn deliver(shared: &Shared, batch: &mut PendingBatch) -> (Option<bool>, Option<u64>) {
        let mut retryable = true;
        let mut retry_after_ms: Option<u64> = None;
        let mut refused = Vec::new();
        let view = SinkBatch {
            id: batch.id,
            attempt: batch.attempts + 1,
            events: &batch.events,
        };
        for (i, sink) in shared.sinks.iter().enumerate() {
            let bit = 1u64 << i.min(63);
            if batch.pending_sinks & bit == 0 {
                continue;
            }
            match catch_unwind(AssertUnwindSafe(|| sink.deliver_items(&view))) {
                Ok(Ok(some)) => {
                    batch.pending_sinks &= !bit;
                    refused.extend(some);
                }
                Ok(Err(e)) => {
                    retryable &= e.retryable;
                    retry_after_ms = retry_after_ms.max(e.retry_after_ms);
                    batch.last_error = Some(format!("{}: {}", sink.name(), e.message));
                }
                Err(_) => {
                    retryable = false;
                    batch.last_error = Some(format!("{}: the sink panicked", sink.name()));
                }
            }
        }
        for r in refused {
            batch.refuse(r.index, r.reason);
        }
        (
            (batch.pending_sinks != 0).then_some(retryable),
            retry_after_ms,
        )
    }

    /// `now + timeout`, where a timeout too large to represent (`Duration::MAX` from a
    /// binding's "forever") means a century rather than an overflow panic.
    fn deadline_after(timeout: Duration) -> Instant {
        let now = Instant::now();
        now.checked_add(timeout)
            .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
            .unwrap_or(now)
    }

    fn wait_until<'a>(
        shared: &'a Shared,
        mut buf: MutexGuard<'a, Buffer>,
        deadline: Instant,
        done: impl Fn(&Buffer) -> bool,
    ) -> (MutexGuard<'a, Buffer>, bool) {
        loop {
            if done(&buf) {
                return (buf, true);
            }
            let now = Instant::now();
            if now >= deadline {
                return (buf, false);
            }
            buf = match shared.delivery.progress.wait_timeout(buf, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    pub(crate) fn flush(shared: &Shared, mode: DeliveryMode, timeout: Duration) -> Result<()> {
        let deadline = deadline_after(timeout);
        let mut buf = shared.buffer();
        let target = buf.request_flush();
        if mode == DeliveryMode::Manual {
            return Ok(());
        }
        shared.delivery.wake_worker();
        let (buf, done) = wait_until(shared, buf, deadline, |b| b.oldest_unresolved() > target);
        if !done {
            return Err(timeout_error("flush", &buf));
        }
        drop(buf);
        for sink in &shared.sinks {
            let _ = sink.flush(deadline.saturating_duration_since(Instant::now()));
        }
        Ok(())
    }

    pub(crate) fn shutdown(shared: &Shared, mode: DeliveryMode, timeout: Duration) -> Result<()> {
        let deadline = deadline_after(timeout);
        let mut buf = shared.buffer();
        shared.close(&mut buf);
        shared.delivery.wake.notify_all();
        shared.delivery.progress.notify_all();
        // Every branch ends in `release`: losses held back for the notice interval are told
        // now, even when the worker had already gone idle and nothing else would tell them.
        let result = if mode == DeliveryMode::Manual {
            if buf.is_idle() {
                shared.release(buf);
                Ok(())
            } else {
                let err = timeout_error("shutdown (manual delivery, not drained)", &buf);
                buf.abandon();
                shared.release(buf);
                Err(err)
            }
        } else {
            let (mut buf2, done) = wait_until(shared, buf, deadline, Buffer::is_idle);
            if done {
                shared.release(buf2);
                Ok(())
            } else {
                let err = timeout_error("shutdown", &buf2);
                buf2.abandon();
                shared.release(buf2);
                shared.delivery.wake.notify_all();
                Err(err)
            }
        };
        // Join the worker only if it already finished; one stuck in a sink call is left
        // to end on its own rather than blocking past the timeout.
        let mut slot = lock(&shared.delivery.worker);
        if slot.as_ref().is_some_and(JoinHandle::is_finished) {
            if let Some(handle) = slot.take() {
                let _ = handle.join();
            }
        }
        result
    }

    /// The `block` overflow policy: waits up to `timeout` for room for `bytes` (or for the
    /// buffer to close) and hands the lock back; the caller then pushes or refuses.
    pub(crate) fn wait_for_room<'a>(
        shared: &'a Shared,
        buf: MutexGuard<'a, Buffer>,
        bytes: usize,
        timeout: Duration,
    ) -> MutexGuard<'a, Buffer> {
        let deadline = deadline_after(timeout);
        wait_until(shared, buf, deadline, |b| {
            b.is_closed() || b.has_room_for(bytes)
        })
        .0
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use std::sync::MutexGuard;

    use super::*;

    /// No threads: the host drives delivery, so there is nothing to wake.
    pub(crate) struct Delivery;

    impl Delivery {
        pub fn new() -> Self {
            Self
        }

        pub fn wake_worker(&self) {}
    }

    /// There is no worker thread on wasm32.
    pub(crate) fn on_worker_thread(_shared: &Shared) -> bool {
        false
    }

    pub(crate) fn start_worker(_shared: &Arc<Shared>) -> Result<()> {
        Err(Error::new(
            ErrorKind::Unsupported,
            "wasm32 has no threads for a worker",
        ))
    }

    pub(crate) fn flush(shared: &Shared, _mode: DeliveryMode, _timeout: Duration) -> Result<()> {
        shared.buffer().request_flush();
        Ok(())
    }

    pub(crate) fn shutdown(shared: &Shared, _mode: DeliveryMode, _timeout: Duration) -> Result<()> {
        let mut buf = shared.buffer();
        shared.close(&mut buf);
        if buf.is_idle() {
            return Ok(());
        }
        let err = timeout_error("shutdown (manual delivery, not drained)", &buf);
        buf.abandon();
        shared.release(buf);
        Err(err)
    }

    /// Config rejects `block` on wasm32; this only keeps the code path total.
    pub(crate) fn wait_for_room<'a>(
        _shared: &'a Shared,
        buf: MutexGuard<'a, Buffer>,
        _bytes: usize,
        _timeout: Duration,
    ) -> MutexGuard<'a, Buffer> {
        buf
    }
}
