//! A JS function as a sink: called on the main thread with each batch (JSON text), its
//! promise awaited from the worker thread. A call the worker stopped waiting for (past the
//! sink timeout) is not repeated while it may still deliver: the batch's retry waits for
//! that same call, so a slow sink never receives a batch twice.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use sonde_core::sink::{CallbackSink, SinkBatch, SinkError};

/// The JS function (`index.js` makes every sink async, so it always returns a promise).
pub type JsSink = ThreadsafeFunction<String, Promise<()>, String, Status, false, true>;

/// Where a call of the JS sink is.
enum Stage {
    /// Queued for the main thread; the promise comes through the channel.
    Queued(Receiver<Result<Promise<()>, String>>),
    /// Running: its promise has not settled.
    Running(Promise<()>),
}

/// A call the worker stopped waiting for, and the batch it carries.
struct Unsettled {
    batch: u64,
    stage: Stage,
}

/// The sink; `timeout` bounds each wait of the worker for one call.
pub fn js_sink(sink: Arc<JsSink>, timeout: Duration) -> CallbackSink {
    let unsettled: Mutex<Option<Unsettled>> = Mutex::new(None);
    CallbackSink::new("javascript", move |batch: &SinkBatch<'_>| {
        let mut slot = unsettled.lock().unwrap_or_else(PoisonError::into_inner);
        let stage = match slot.take() {
            // The earlier call of this batch may still deliver it: wait for that one.
            Some(earlier) if earlier.batch == batch.id => earlier.stage,
            _ => call(&sink, batch)?,
        };
        match settle(stage, timeout) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(SinkError::retryable(format!(
                "the JS sink failed: {reason}"
            ))),
            Err(stage) => {
                *slot = Some(Unsettled {
                    batch: batch.id,
                    stage,
                });
                Err(SinkError::retryable(format!(
                    "the JS sink did not finish within {} ms; the retry waits for that call",
                    timeout.as_millis()
                )))
            }
        }
    })
}

fn call(sink: &JsSink, batch: &SinkBatch<'_>) -> Result<Stage, SinkError> {
    let (done, wait) = std::sync::mpsc::channel();
    let status = sink.call_with_return_value(
        batch.to_json_array(),
        ThreadsafeFunctionCallMode::Blocking,
        move |result: napi::Result<Promise<()>>, _env| {
            let _ = done.send(result.map_err(|e| e.reason.clone()));
            Ok(())
        },
    );
    if status != Status::Ok {
        return Err(SinkError::retryable(format!(
            "the JS sink is closing ({status})"
        )));
    }
    Ok(Stage::Queued(wait))
}

/// Waits up to `timeout` for the call to settle: its outcome, or the stage it is still in.
fn settle(mut stage: Stage, timeout: Duration) -> Result<Result<(), String>, Stage> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        stage = match stage {
            Stage::Queued(wait) => match wait.recv_timeout(left) {
                Ok(Ok(promise)) => Stage::Running(promise),
                Ok(Err(reason)) => return Ok(Err(reason)),
                Err(RecvTimeoutError::Timeout) => return Err(Stage::Queued(wait)),
                Err(RecvTimeoutError::Disconnected) => {
                    return Ok(Err("the JS sink was not called (closing)".to_owned()))
                }
            },
            Stage::Running(mut promise) => {
                return match poll_until(&mut promise, deadline) {
                    Some(Ok(())) => Ok(Ok(())),
                    Some(Err(e)) => Ok(Err(e.reason.clone())),
                    None => Err(Stage::Running(promise)),
                };
            }
        };
    }
}

/// Wakes the worker thread parked on a promise.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, parking between polls, until it is ready or `deadline`.
fn poll_until<F: Future + Unpin>(future: &mut F, deadline: Instant) -> Option<F::Output> {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = Pin::new(&mut *future).poll(&mut cx) {
            return Some(out);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::park_timeout(deadline - now);
    }
}
