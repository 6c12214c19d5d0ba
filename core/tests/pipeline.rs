//! The client through its public API: delivery, retries, fan-out, overflow, shutdown,
//! hooks, sampling, timers, manual delivery and concurrency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sonde_core::sink::{CallbackSink, JsonLinesSink, MemorySink, SinkError};
use sonde_core::{
    props, ApiRequest, Config, DeliveryMode, Disposition, ErrorKind, ManualClock, Message,
    OverflowPolicy, Performance, Sonde, TrackingPlan,
};

const SECOND: Duration = Duration::from_secs(1);

/// Polls until `cond` holds (at most 10 s), so timing on a loaded machine cannot flake.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn fast() -> Config {
    Config::default()
        .flush_interval(Duration::from_millis(20))
        .retry_backoff(Duration::from_millis(2), Duration::from_millis(10))
}

/// A sink that blocks until released (one message per batch), then succeeds.
fn blocked_sink() -> (CallbackSink, mpsc::Sender<()>) {
    let (release, gate) = mpsc::channel::<()>();
    let gate = Mutex::new(gate);
    let sink = CallbackSink::new("blocked", move |_b: &sonde_core::sink::SinkBatch<'_>| {
        gate.lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| SinkError::retryable("never released"))
    });
    (sink, release)
}

#[test]
fn worker_delivers_and_accounts() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(fast().sink(sink.clone())).unwrap();
    for i in 0..250 {
        sonde.track("Tick", props(json!({"i": i}))).unwrap();
    }
    sonde.flush(5 * SECOND).unwrap();
    let c = sonde.stats().counters;
    assert_eq!(
        (c.received, c.accepted, c.delivered, c.queued, c.in_flight),
        (250, 250, 250, 0, 0)
    );
    assert!(c.is_balanced());
    let order: Vec<i64> = sink
        .values()
        .iter()
        .map(|v| v["properties"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(
        order,
        (0..250).collect::<Vec<_>>(),
        "delivery keeps accept order"
    );
    assert!(
        sink.batches().iter().all(|&(_, _, n)| n <= 100),
        "batch_size respected"
    );
}

#[test]
fn interval_flush_without_explicit_flush() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(fast().sink(sink.clone())).unwrap();
    sonde.track("Once", Default::default()).unwrap();
    wait_for("the interval flush", || !sink.is_empty());
    assert_eq!(sink.len(), 1, "the interval alone delivers");
}

#[test]
fn retryable_failures_are_retried_with_backoff() {
    let sink = MemorySink::new();
    sink.fail_next(2, true);
    let sonde = Sonde::new(fast().sink(sink.clone())).unwrap();
    sonde.track("A", Default::default()).unwrap();
    sonde.flush(5 * SECOND).unwrap();
    let c = sonde.stats().counters;
    assert_eq!((c.delivered, c.retries), (1, 2));
    assert_eq!(sink.attempts(), 3);
    assert_eq!(sink.batches()[0].1, 3, "third attempt succeeded");
}

#[test]
fn retries_exhaust_then_drop_with_reason() {
    let sink = MemorySink::new();
    sink.fail_next(1000, true);
    let sonde = Sonde::new(fast().sink(sink.clone()).max_retries(2)).unwrap();
    sonde.track("A", Default::default()).unwrap();
    sonde.track("B", Default::default()).unwrap();
    sonde.flush(5 * SECOND).unwrap();
    let c = sonde.stats().counters;
    assert_eq!(c.dropped.retry_exhausted, 2);
    assert_eq!(c.delivered, 0);
    assert!(c.is_balanced());
}

#[test]
fn permanent_failures_are_not_retried() {
    let sink = MemorySink::new();
    sink.fail_next(1, false);
    let sonde = Sonde::new(fast().sink(sink.clone())).unwrap();
    sonde.track("A", Default::default()).unwrap();
    sonde.flush(5 * SECOND).unwrap();
    assert_eq!(sonde.stats().counters.dropped.retry_exhausted, 1);
    assert_eq!(sink.attempts(), 1);
}

#[test]
fn fan_out_retries_only_the_failing_sink() {
    let healthy = MemorySink::new();
    let flaky = MemorySink::new();
    flaky.fail_next(2, true);
    let sonde = Sonde::new(fast().sink(healthy.clone()).sink(flaky.clone())).unwrap();
    sonde.track("A", Default::default()).unwrap();
    sonde.flush(5 * SECOND).unwrap();
    assert_eq!(healthy.len(), 1, "no duplicates for the healthy sink");
    assert_eq!(healthy.attempts(), 1);
    assert_eq!(flaky.len(), 1);
    assert_eq!(sonde.stats().counters.delivered, 1);
}

#[test]
fn a_panicking_sink_does_not_stop_delivery() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let sink = CallbackSink::new("boom", move |_b: &sonde_core::sink::SinkBatch<'_>| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("sink bug");
        }
        Ok(())
    });
    let sonde = Sonde::new(fast().sink(sink).batch_size(1)).unwrap();
    sonde.track("A", Default::default()).unwrap();
    sonde.flush(5 * SECOND).unwrap();
    sonde.track("B", Default::default()).unwrap();
    sonde.flush(5 * SECOND).unwrap();
    let c = sonde.stats().counters;
    assert_eq!((c.dropped.retry_exhausted, c.delivered), (1, 1));
}

#[test]
fn shutdown_delivers_everything_within_the_timeout() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(
        Config::default()
            .sink(sink.clone())
            .flush_interval(60 * SECOND),
    )
    .unwrap();
    for i in 0..1000 {
        sonde.track("E", props(json!({"i": i}))).unwrap();
    }
    sonde.shutdown(5 * SECOND).unwrap();
    assert_eq!(sink.len(), 1000);
    let err = sonde.track("Late", Default::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ShutDown);
    assert!(sonde.shutdown(SECOND).is_ok(), "idempotent");
}

#[test]
fn shutdown_past_the_timeout_drops_with_a_reason() {
    let (sink, release) = blocked_sink();
    let sonde = Sonde::new(fast().sink(sink).batch_size(10)).unwrap();
    for _ in 0..50 {
        sonde.track("E", Default::default()).unwrap();
    }
    wait_for("the first batch to reach the sink", || {
        sonde.stats().counters.in_flight == 10
    });
    let err = sonde.shutdown(Duration::from_millis(100)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let c = sonde.stats().counters;
    assert!(c.is_balanced(), "{c:?}");
    assert_eq!(
        c.dropped.shutdown_timeout, 40,
        "all but the batch inside the sink"
    );
    assert_eq!(c.in_flight, 10);
    release.send(()).unwrap();
    wait_for("the stuck batch to finish", || {
        sonde.stats().counters.in_flight == 0
    });
    let c = sonde.stats().counters;
    assert_eq!((c.delivered, c.in_flight), (10, 0));
    assert!(c.is_balanced());
}

#[test]
fn drop_newest_refuses_when_full() {
    let (sink, release) = blocked_sink();
    let sonde = Sonde::new(
        fast()
            .sink(sink)
            .batch_size(1)
            .max_queue_events(5)
            .overflow(OverflowPolicy::DropNewest),
    )
    .unwrap();
    sonde.track("first", Default::default()).unwrap();
    wait_for("the worker to take it and block", || {
        sonde.stats().counters.in_flight == 1
    });
    let dispositions: Vec<Disposition> = (0..8)
        .map(|_| sonde.track("E", Default::default()).unwrap().disposition)
        .collect();
    assert_eq!(
        dispositions
            .iter()
            .filter(|d| **d == Disposition::Queued)
            .count(),
        5
    );
    assert_eq!(
        dispositions
            .iter()
            .filter(|d| **d == Disposition::QueueFull)
            .count(),
        3
    );
    for _ in 0..10 {
        let _ = release.send(());
    }
    sonde.flush(5 * SECOND).unwrap();
    let c = sonde.stats().counters;
    assert_eq!((c.delivered, c.dropped.queue_full), (6, 3));
    assert!(c.is_balanced());
}

#[test]
fn ingested_events_are_never_evicted_a_full_buffer_refuses_newcomers() {
    // Under drop_oldest, local tracking makes room by dropping the oldest; events ingested
    // from other processes were acknowledged to their senders, so they stay, and the
    // newcomers are refused as queue_full (their senders retry).
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .max_queue_events(3)
            .overflow(OverflowPolicy::DropOldest),
    )
    .unwrap();
    let batch: Vec<Value> = (0..5)
        .map(|i| json!({"type": "track", "event": "E", "userId": "u", "properties": {"i": i}}))
        .collect();
    let report = sonde
        .ingest(json!({ "batch": batch }).to_string().as_bytes())
        .unwrap();
    let statuses: Vec<String> = report
        .items
        .iter()
        .map(|i| format!("{:?}", i.status))
        .collect();
    assert_eq!(
        statuses,
        ["Accepted", "Accepted", "Accepted", "QueueFull", "QueueFull"]
    );
    assert_eq!(kept(&sonde), vec![0, 1, 2]);
}

/// The `i` property of each event a manual-delivery client holds, in order.
fn kept(sonde: &Sonde) -> Vec<i64> {
    sonde.flush(SECOND).unwrap();
    let batch = sonde.take_batch().unwrap().unwrap();
    let payload: Value = serde_json::from_str(&batch.payload).unwrap();
    payload["batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["properties"]["i"].as_i64().unwrap())
        .collect()
}

#[test]
fn drop_oldest_evicts_the_oldest() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .max_queue_events(3)
            .overflow(OverflowPolicy::DropOldest),
    )
    .unwrap();
    drop(sink);
    for i in 0..5 {
        sonde.track("E", props(json!({"i": i}))).unwrap();
    }
    assert_eq!(kept(&sonde), vec![2, 3, 4]);
    assert_eq!(sonde.stats().counters.dropped.queue_full, 2);
}

#[test]
fn block_policy_waits_for_room() {
    let (sink, release) = blocked_sink();
    let sonde = Sonde::new(
        fast()
            .sink(sink)
            .batch_size(1)
            .max_queue_events(2)
            .overflow(OverflowPolicy::Block(Duration::from_secs(5))),
    )
    .unwrap();
    sonde.track("E", Default::default()).unwrap();
    wait_for("the worker to take it and block", || {
        sonde.stats().counters.in_flight == 1
    });
    for _ in 0..2 {
        sonde.track("E", Default::default()).unwrap();
    }
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..10 {
            let _ = release.send(());
        }
    });
    let started = Instant::now();
    let r = sonde.track("waits", Default::default()).unwrap();
    assert_eq!(r.disposition, Disposition::Queued);
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "it had to wait"
    );
    releaser.join().unwrap();
    sonde.flush(5 * SECOND).unwrap();
    assert_eq!(sonde.stats().counters.delivered, 4);
}

#[test]
fn block_policy_gives_up_after_its_timeout() {
    let (sink, _release) = blocked_sink();
    let sonde = Sonde::new(
        fast()
            .sink(sink)
            .batch_size(1)
            .max_queue_events(1)
            .overflow(OverflowPolicy::Block(Duration::from_millis(30)))
            .drop_timeout(Duration::from_millis(10)),
    )
    .unwrap();
    sonde.track("E", Default::default()).unwrap();
    wait_for("the worker to take it and block", || {
        sonde.stats().counters.in_flight == 1
    });
    sonde.track("E", Default::default()).unwrap();
    let r = sonde.track("E", Default::default()).unwrap();
    assert_eq!(r.disposition, Disposition::QueueFull);
}

#[test]
fn before_send_changes_or_drops() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(fast().sink(sink.clone()).before_send(|mut m: Message| {
        if m.event.as_deref() == Some("Secret") {
            return None;
        }
        m.properties.insert("enriched".into(), json!(true));
        Some(m)
    }))
    .unwrap();
    assert_eq!(
        sonde
            .track("Secret", Default::default())
            .unwrap()
            .disposition,
        Disposition::Filtered
    );
    sonde.track("Open", Default::default()).unwrap();
    sonde.flush(5 * SECOND).unwrap();
    assert_eq!(sink.values()[0]["properties"]["enriched"], json!(true));
    assert_eq!(sonde.stats().counters.dropped.before_send, 1);
}

#[test]
fn a_hook_cannot_strip_the_id_or_time() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(fast().sink(sink.clone()).before_send(|mut m: Message| {
        m.message_id = None;
        m.timestamp = None;
        Some(m)
    }))
    .unwrap();
    let receipt = sonde.track("A", Default::default()).unwrap();
    sonde.flush(5 * SECOND).unwrap();
    let delivered = &sink.values()[0];
    assert_eq!(delivered["messageId"], json!(receipt.message_id));
    assert!(delivered["timestamp"].is_string());
}

#[test]
fn sampling_is_deterministic_and_counted() {
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .sample_rate(0.3),
    )
    .unwrap();
    let mut kept = 0;
    for i in 0..2000 {
        let m = Message::track("E", Default::default()).with_message_id(format!("id-{i}"));
        if sonde.send(m.clone()).unwrap().disposition == Disposition::Queued {
            kept += 1;
        }
    }
    assert!((500..700).contains(&kept), "about 30% kept: {kept}");
    let c = sonde.stats().counters;
    assert_eq!(c.dropped.sampled + c.accepted, 2000);
    // Same ids, same decisions, in another client.
    let again = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .sample_rate(0.3),
    )
    .unwrap();
    let kept_again = (0..2000)
        .filter(|i| {
            let m = Message::track("E", Default::default()).with_message_id(format!("id-{i}"));
            again.send(m).unwrap().disposition == Disposition::Queued
        })
        .count();
    assert_eq!(kept, kept_again);
}

#[test]
fn timers_record_performance_events() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .clock(clock.clone()),
    )
    .unwrap();
    let mut t = sonde.timer("db.query");
    t.set("rows", 3);
    clock.advance(Duration::from_millis(12));
    t.stop().unwrap();
    let t = sonde.timer("db.query");
    clock.advance(Duration::from_millis(30));
    t.fail("TimeoutError").unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _t = sonde.timer("panics");
        panic!("inside the timed block");
    }));
    assert!(caught.is_err());
    {
        let _t = sonde.timer("dropped");
    }
    let s = sonde.stats();
    let q = &s.operations["db.query"];
    assert_eq!((q.count, q.errors), (2, 1));
    assert_eq!(q.latency.min, Some(12.0));
    assert_eq!(q.latency.max, Some(30.0));
    assert_eq!(s.operations["panics"].errors, 1);
    assert_eq!(s.operations["dropped"].errors, 0);
    sonde.flush(SECOND).unwrap();
    let payload: Value =
        serde_json::from_str(&sonde.take_batch().unwrap().unwrap().payload).unwrap();
    let first = &payload["batch"][0]["properties"];
    assert_eq!(first["rows"], json!(3));
    assert_eq!(first["success"], json!(true));
    assert_eq!(
        payload["batch"][1]["properties"]["error.type"],
        json!("TimeoutError")
    );
}

#[test]
fn manual_delivery_honours_retry_after_within_its_cap() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .clock(clock.clone())
            .batch_size(1)
            .max_retries(5)
            .retry_backoff(Duration::from_millis(100), Duration::from_secs(1)),
    )
    .unwrap();
    sonde.track("E", props(json!({}))).unwrap();
    let batch = sonde.take_batch().unwrap().unwrap();
    // The server asked for 7 s: longer than the backoff, so it wins.
    let delay = sonde
        .nack_after(batch.id, true, Some(Duration::from_secs(7)))
        .unwrap()
        .unwrap();
    assert_eq!(delay, Duration::from_secs(7));
    clock.advance(Duration::from_millis(6_999));
    assert!(
        sonde.take_batch().unwrap().is_none(),
        "not before Retry-After"
    );
    clock.advance(Duration::from_millis(1));
    let again = sonde.take_batch().unwrap().unwrap();
    // A hint shorter than the backoff does not shorten it.
    let delay = sonde
        .nack_after(again.id, true, Some(Duration::from_millis(1)))
        .unwrap()
        .unwrap();
    assert!(delay >= Duration::from_millis(100), "{delay:?}");
    clock.advance(delay);
    let third = sonde.take_batch().unwrap().unwrap();
    // A day is capped at an hour.
    let delay = sonde
        .nack_after(third.id, true, Some(Duration::from_secs(86_400)))
        .unwrap()
        .unwrap();
    assert_eq!(delay, Duration::from_secs(3_600));
}

#[test]
fn manual_delivery_take_ack_nack() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .clock(clock.clone())
            .batch_size(2)
            .retry_backoff(Duration::from_millis(100), Duration::from_secs(1)),
    )
    .unwrap();
    assert!(sonde.take_batch().unwrap().is_none());
    for i in 0..3 {
        sonde.track("E", props(json!({"i": i}))).unwrap();
    }
    assert_eq!(
        sonde.next_batch_in(),
        Some(Duration::ZERO),
        "two events fill a batch"
    );
    let b1 = sonde.take_batch().unwrap().unwrap();
    assert_eq!((b1.events, b1.attempt), (2, 1));
    let delay = sonde.nack(b1.id, true).unwrap().unwrap();
    assert!(
        delay >= Duration::from_millis(50) && delay <= Duration::from_millis(100),
        "{delay:?}"
    );
    assert!(
        sonde.take_batch().unwrap().is_none(),
        "waits for the backoff, and keeps order"
    );
    clock.advance(delay);
    let retry = sonde.take_batch().unwrap().unwrap();
    assert_eq!((retry.id, retry.attempt), (b1.id, 2));
    assert!(sonde.ack(retry.id).unwrap());
    assert!(!sonde.ack(retry.id).unwrap(), "unknown once settled");
    let wait = sonde.next_batch_in().unwrap();
    assert!(
        wait > Duration::ZERO && wait < SECOND,
        "the last event waits for the interval: {wait:?}"
    );
    assert!(sonde.take_batch().unwrap().is_none());
    clock.advance(wait);
    let b2 = sonde.take_batch().unwrap().unwrap();
    assert_eq!(b2.events, 1);
    assert_eq!(sonde.nack(b2.id, false).unwrap(), None);
    let c = sonde.stats().counters;
    assert_eq!(
        (c.delivered, c.dropped.retry_exhausted, c.retries),
        (2, 1, 1)
    );
    assert!(c.is_balanced());
    // A payload is a Segment batch another Sonde can ingest.
    sonde.track("again", Default::default()).unwrap();
    sonde.flush(SECOND).unwrap();
    let b3 = sonde.take_batch().unwrap().unwrap();
    let collector = Sonde::new(Config::default().delivery(DeliveryMode::Manual)).unwrap();
    assert_eq!(collector.ingest(b3.payload.as_bytes()).unwrap().accepted, 1);
}

#[test]
fn manual_close_refuses_new_events_and_keeps_the_buffered_ones_for_the_host() {
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .batch_size(2),
    )
    .unwrap();
    for i in 0..3 {
        sonde.track("E", props(json!({"i": i}))).unwrap();
    }
    sonde.close();
    assert_eq!(
        sonde.track("late", Default::default()).unwrap_err().kind(),
        ErrorKind::ShutDown
    );
    assert_eq!(
        sonde.next_batch_in(),
        Some(Duration::ZERO),
        "all due at once"
    );
    let mut delivered = 0;
    while let Some(batch) = sonde.take_batch().unwrap() {
        delivered += batch.events;
        assert!(sonde.ack(batch.id).unwrap());
    }
    assert_eq!(delivered, 3);
    sonde.shutdown(Duration::ZERO).unwrap();
    let c = sonde.stats().counters;
    assert_eq!((c.delivered, c.dropped.total()), (3, 0));
}

#[test]
fn manual_calls_are_refused_with_a_worker() {
    let sonde = Sonde::new(fast().sink(MemorySink::new())).unwrap();
    assert_eq!(
        sonde.take_batch().unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

#[test]
fn ingest_corrects_client_clock_skew() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .clock(clock.clone()),
    )
    .unwrap();
    // The client's clock is 1 hour behind: it stamped the event 5 s before sending.
    let body = json!({"batch": [{"type": "track", "event": "A", "userId": "u",
        "timestamp": "2027-01-15T07:59:55.000Z"}], "sentAt": "2027-01-15T08:00:00.000Z"});
    sonde.ingest(body.to_string().as_bytes()).unwrap();
    sonde.flush(SECOND).unwrap();
    let payload: Value =
        serde_json::from_str(&sonde.take_batch().unwrap().unwrap().payload).unwrap();
    let m = &payload["batch"][0];
    let received = sonde_core::Timestamp::from_millis(1_800_000_000_000);
    assert_eq!(m["receivedAt"], json!(received.to_string()));
    let corrected = sonde_core::Timestamp::from_millis(1_800_000_000_000 - 5_000);
    assert_eq!(m["timestamp"], json!(corrected.to_string()));
}

#[test]
fn many_threads_track_at_once() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(fast().sink(sink.clone()).max_queue_events(100_000)).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = sonde.clone();
            std::thread::spawn(move || {
                for i in 0..5000 {
                    s.track("E", props(json!({"t": t, "i": i}))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    sonde.shutdown(10 * SECOND).unwrap();
    let c = sonde.stats().counters;
    assert_eq!((c.received, c.delivered), (40_000, 40_000));
    let mut last = [-1i64; 8];
    for v in sink.values() {
        let t = v["properties"]["t"].as_u64().unwrap() as usize;
        let i = v["properties"]["i"].as_i64().unwrap();
        assert!(i > last[t], "per-thread order preserved");
        last[t] = i;
    }
}

#[test]
fn dropping_the_last_handle_flushes() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(
        Config::default()
            .sink(sink.clone())
            .flush_interval(60 * SECOND),
    )
    .unwrap();
    let clone = sonde.clone();
    sonde.track("A", Default::default()).unwrap();
    drop(sonde);
    assert_eq!(sink.len(), 0, "a clone is still alive");
    drop(clone);
    assert_eq!(sink.len(), 1);
}

#[test]
fn statistics_follow_requests_operations_and_plans() {
    let plan = TrackingPlan::from_json_str(
        r#"{"mode": "warn", "events": {"Paid": {"required": ["amount"]}}}"#,
    )
    .unwrap();
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .tracking_plan(plan),
    )
    .unwrap();
    for (status, ms) in [(200, 10.0), (200, 20.0), (503, 900.0), (302, 5.0)] {
        sonde
            .track_api_request(ApiRequest::new("GET", "/pay/{id}", status, ms))
            .unwrap();
    }
    sonde
        .track_performance(Performance::new("charge", 40.0, false))
        .unwrap();
    let r = sonde.track("Paid", Default::default()).unwrap();
    assert_eq!(r.warnings.len(), 1);
    let s = sonde.stats();
    let route = &s.routes["GET /pay/{id}"];
    assert_eq!(
        (
            route.count,
            route.errors,
            route.status.success,
            route.status.redirect,
            route.status.server_error
        ),
        (4, 1, 2, 1, 1)
    );
    assert_eq!(route.latency.max, Some(900.0));
    assert_eq!(s.operations["charge"].errors, 1);
    assert_eq!(s.counters.plan_violations, 1);
    assert_eq!(s.events["$api_request"], 4);
    assert_eq!(s.rates.events_1m, 6);
    let back = sonde_core::StatsSnapshot::from_json(&s.to_json()).unwrap();
    assert_eq!(back, s);

    // A status sent as 200.0 is a valid integer and counts like 200.
    let float_status = props(json!({"http.request.method": "GET", "http.route": "/float",
        "http.response.status_code": 200.0, "duration_ms": 1}));
    sonde
        .send(Message::track("$api_request", float_status).with_user_id("u"))
        .unwrap();
    assert_eq!(sonde.stats().routes["GET /float"].status.success, 1);
}

#[test]
fn the_public_collector_never_writes_this_process_request_statistics() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(fast().sink(sink.clone()).max_event_names(10)).unwrap();
    sonde.track("Own Event", Default::default()).unwrap();
    // From outside: a forged slow, failing request and a flood of new names.
    let mut batch = vec![
        json!({"type": "track", "event": "$api_request", "userId": "x",
        "properties": {"http.request.method": "GET", "http.route": "/admin",
        "http.response.status_code": 500, "duration_ms": 90000}}),
    ];
    for i in 0..20 {
        batch.push(json!({"type": "track", "event": format!("Flood {i}"), "userId": "x"}));
    }
    let report = sonde
        .collect(json!({ "batch": batch }).to_string().as_bytes(), None)
        .unwrap();
    assert_eq!(report.accepted, 21, "stored like any event");
    sonde
        .track_api_request(ApiRequest::new("GET", "/own", 200, 3.0))
        .unwrap();
    sonde.track("Own Later", Default::default()).unwrap();
    let s = sonde.stats();
    assert_eq!(s.routes.keys().collect::<Vec<_>>(), ["GET /own"]);
    // Names from outside take at most half of max_event_names; the process's own still fit.
    assert!(s.events.contains_key("Own Later"), "{:?}", s.events);
    assert!(s.events["__other__"] >= 16, "{:?}", s.events);
    sonde.flush(5 * SECOND).unwrap();
    assert_eq!(sink.events().len(), 24);
    // The application's own ingest() is trusted: its requests count.
    let own = json!({"type": "track", "event": "$api_request", "userId": "u", "properties": {
        "http.request.method": "POST", "http.route": "/queue", "http.response.status_code": 200,
        "duration_ms": 2}});
    sonde.ingest(own.to_string().as_bytes()).unwrap();
    assert_eq!(sonde.stats().routes["POST /queue"].count, 1);
}

#[test]
fn jsonl_sink_end_to_end() {
    let dir = std::env::temp_dir().join(format!("sonde-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("out.jsonl");
    let sonde = Sonde::new(fast().sink(JsonLinesSink::new(&path, 0, 0))).unwrap();
    for i in 0..10 {
        sonde.track("Line", props(json!({"i": i}))).unwrap();
    }
    sonde.shutdown(5 * SECOND).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[9]["properties"]["i"], json!(9));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_configuration_is_refused_with_every_problem() {
    let err = Sonde::new(Config::default().sample_rate(3.0).batch_size(0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert_eq!(err.violations().len(), 2, "{err}");
    let err = Sonde::new(Config::default()).unwrap_err();
    assert_eq!(
        err.violations()[0].path,
        "/sinks",
        "a worker without sinks would deliver nowhere"
    );
}

#[test]
fn every_error_code_is_documented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/error-codes.md"
    ))
    .unwrap();
    for code in sonde_core::codes::ALL {
        assert!(
            doc.contains(&format!("`{code}`")),
            "{code} is not in docs/error-codes.md"
        );
    }
    for reason in sonde_core::DropReason::ALL {
        assert!(
            doc.contains(&format!("`{}`", reason.as_str())),
            "{} not documented",
            reason.as_str()
        );
    }
    for kind in [
        "invalid_event",
        "payload_too_large",
        "queue_full",
        "sink_failed",
        "store_failed",
        "invalid_config",
        "unsupported",
        "shut_down",
        "timeout",
        "io_error",
    ] {
        assert!(doc.contains(&format!("`{kind}`")), "{kind} not documented");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Whatever the batch size and however many transient sink failures, shutdown within its
    /// timeout delivers every accepted event exactly once, in accept order.
    #[test]
    fn shutdown_loses_nothing(n in 0usize..400, batch_size in 1usize..60, failures in 0u32..4) {
        let sink = MemorySink::new();
        sink.fail_next(failures, true);
        let sonde = Sonde::new(fast().sink(sink.clone()).batch_size(batch_size)).unwrap();
        for i in 0..n {
            sonde.track("E", props(json!({"i": i}))).unwrap();
        }
        sonde.shutdown(10 * SECOND).unwrap();
        let order: Vec<u64> = sink.values().iter().map(|v| v["properties"]["i"].as_u64().unwrap()).collect();
        proptest::prop_assert_eq!(order, (0..n as u64).collect::<Vec<_>>());
        let c = sonde.stats().counters;
        proptest::prop_assert_eq!((c.received, c.delivered), (n as u64, n as u64));
    }
}

#[test]
fn huge_timeouts_mean_forever_not_a_panic() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(
        fast()
            .sink(sink.clone())
            .overflow(OverflowPolicy::Block(Duration::MAX)),
    )
    .unwrap();
    sonde.track("A", Default::default()).unwrap();
    sonde.flush(Duration::MAX).unwrap();
    sonde.shutdown(Duration::MAX).unwrap();
    assert_eq!(sink.len(), 1);
}

#[test]
fn record_request_feeds_route_statistics_without_an_event() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(fast().sink(sink.clone())).expect("config");
    sonde.record_request("GET", "/items/{id}", 200, 10.0);
    sonde.record_request("GET", "/items/{id}", 503, 30.0);
    sonde
        .track_api_request(ApiRequest::new("GET", "/items/{id}", 200, 20.0))
        .expect("valid");
    sonde.flush(Duration::from_secs(5)).expect("flush");
    let stats = sonde.stats();
    let route = &stats.routes["GET /items/{id}"];
    assert_eq!(route.count, 3);
    assert_eq!(route.errors, 1);
    assert_eq!(
        stats.counters.received, 1,
        "only the tracked request is an event"
    );
    assert_eq!(sink.len(), 1);
    // Latency per status code, whose merge is the route's.
    let codes: Vec<(&str, u64)> = route
        .status_codes
        .iter()
        .map(|(code, l)| (code.as_str(), l.count))
        .collect();
    assert_eq!(codes, [("200", 2), ("503", 1)]);
    assert_eq!(route.status_codes["503"].max, Some(30.0));
    assert_eq!(route.latency.count, 3);
    assert_eq!(route.latency.max, Some(30.0));
}

#[test]
fn a_route_keeps_sixteen_status_codes_and_the_rest_together() {
    let sonde = Sonde::new(fast().sink(MemorySink::new())).expect("config");
    for code in 200..220 {
        sonde.record_request("GET", "/codes", code, code as f64);
    }
    sonde.record_request("GET", "/codes", 7, 1.0); // not a status code
    let stats = sonde.stats();
    let route = &stats.routes["GET /codes"];
    assert_eq!(route.status_codes.len(), 17);
    assert_eq!(route.status_codes["215"].count, 1);
    assert_eq!(route.status_codes["__other__"].count, 5);
    assert!(!route.status_codes.contains_key("216"));
    let per_code: u64 = route.status_codes.values().map(|l| l.count).sum();
    assert_eq!(per_code, route.count);
    // Merging snapshots adds per code too.
    let mut twice = stats.clone();
    twice.merge(&stats).expect("merge");
    let route = &twice.routes["GET /codes"];
    assert_eq!(route.status_codes["200"].count, 2);
    assert_eq!(route.status_codes["__other__"].count, 10);
    assert_eq!(route.latency.count, 42);
    sonde.shutdown(Duration::from_secs(5)).expect("shutdown");
}

#[test]
fn properties_given_as_json_text_deliver_like_a_map() {
    let plan = TrackingPlan::from_value(&json!({
        "mode": "enforce",
        "events": {"Planned": {"type": "object", "required": ["plan"]}}
    }))
    .expect("plan");
    let sink = MemorySink::new();
    let sonde = Sonde::new(
        fast()
            .sink(sink.clone())
            .tracking_plan(plan)
            .redact_keys(["password"]),
    )
    .expect("config");
    let text = r#"{"plan":"pro","n":1.5,"nested":{"a":[1,null]},"password":"hunter2"}"#;
    let as_map: Value = serde_json::from_str(text).expect("json");
    for (name, with_text) in [("Text", true), ("Map", false)] {
        let m = Message::track(name, props(json!({}))).with_user_id("u");
        let m = if with_text {
            m.with_properties_json(text.to_owned()).expect("an object")
        } else {
            Message::track(name, props(as_map.clone())).with_user_id("u")
        };
        sonde.send(m).expect("valid");
    }
    sonde.register(props(json!({"app": "shop"})));
    let m = Message::track("Super", props(json!({})))
        .with_user_id("u")
        .with_properties_json(r#"{"plan":"free"}"#.to_owned())
        .expect("an object");
    sonde.send(m).expect("valid");
    let planned = Message::track("Planned", props(json!({})))
        .with_user_id("u")
        .with_properties_json(r#"{"other":1}"#.to_owned())
        .expect("an object");
    let refused = sonde.send(planned).expect_err("the plan reads the text");
    assert_eq!(refused.violations()[0].code, "required");
    sonde.flush(SECOND).expect("flush");
    let delivered = sink.values();
    assert_eq!(delivered[0]["properties"], delivered[1]["properties"]);
    assert_eq!(delivered[0]["properties"]["password"], "[REDACTED]");
    assert_eq!(
        delivered[2]["properties"],
        json!({"plan": "free", "app": "shop"})
    );
    for bad in ["[1]", "{\"a\":", "12"] {
        let e = Message::track("Bad", props(json!({})))
            .with_properties_json(bad.to_owned())
            .expect_err(bad);
        assert_eq!(e.violations()[0].path, "/properties");
    }
}

#[test]
fn merging_snapshots_with_huge_counts_saturates_instead_of_panicking() {
    let sonde = Sonde::new(Config::default().delivery(DeliveryMode::Manual)).unwrap();
    sonde.track("E", props(json!({}))).unwrap();
    let mut a = sonde.stats();
    a.counters.received = u64::MAX;
    a.events.insert("E".into(), u64::MAX);
    let b = sonde_core::StatsSnapshot::from_json(&a.to_json()).unwrap();
    a.merge(&b).unwrap();
    assert_eq!(a.counters.received, u64::MAX);
    assert_eq!(a.events["E"], u64::MAX);
}

#[test]
fn context_defaults_fill_what_a_local_event_lacks_and_never_touch_ingested_ones() {
    let sink = MemorySink::new();
    let sonde = Sonde::new(fast().sink(sink.clone())).unwrap();
    sonde.set_context_defaults(props(json!({"locale": "fr-FR", "page": {"path": "/a"}})));
    sonde
        .send(
            Message::track("Own Page", props(json!({})))
                .with_user_id("u1")
                .with_context(props(json!({"page": {"path": "/mine"}}))),
        )
        .unwrap();
    sonde.track("Default Page", props(json!({}))).unwrap();
    sonde
        .ingest(br#"{"type":"track","event":"Ingested","userId":"u2","context":{"ip":"10.0.0.1"}}"#)
        .unwrap();
    sonde.flush(SECOND * 5).unwrap();
    let events = sink.values();
    assert_eq!(events[0]["context"]["page"]["path"], "/mine");
    assert_eq!(events[0]["context"]["locale"], "fr-FR");
    assert_eq!(events[1]["context"]["page"]["path"], "/a");
    assert!(
        events[2]["context"].get("locale").is_none(),
        "{}",
        events[2]
    );
}

/// Properties given as JSON text (as Node and the browser give them) are checked against a
/// tracking plan and a built-in schema as their parsed object would be, by `send` and by
/// the `validate` dry run alike (the dry run checked an empty map before), and delivered as
/// the text they were.
#[test]
fn properties_kept_as_text_are_checked_by_the_plan_send_and_dry_run_alike() {
    let plan = TrackingPlan::from_json_str(
        r#"{"events": {"Signed Up": {"required": ["plan"],
            "properties": {"plan": {"enum": ["free", "pro"]}}}}}"#,
    )
    .unwrap();
    let sink = MemorySink::new();
    let sonde = Sonde::new(fast().tracking_plan(plan).sink(sink.clone())).unwrap();
    let as_text = |event: &str, json: &str| {
        let m = Message::track(event, sonde_core::Properties::new()).with_user_id("u1");
        sonde.with_properties_json(m, json.to_owned()).unwrap()
    };
    let codes = |errors: &[sonde_core::Violation]| -> Vec<(String, String)> {
        errors
            .iter()
            .map(|v| (v.path.clone(), v.code.clone()))
            .collect()
    };
    let good = as_text("Signed Up", r#"{"plan":"pro","n":1e2}"#);
    assert!(sonde.validate(&good).errors.is_empty());
    sonde.send(good).unwrap();
    for (event, json, want) in [
        (
            "Signed Up",
            r#"{"plan":"gold"}"#,
            vec![("/properties/plan", "enum")],
        ),
        (
            "Signed Up",
            r#"{"n":1}"#,
            vec![("/properties/plan", "required")],
        ),
        (
            "$performance",
            r#"{"operation":"db","success":true}"#,
            vec![("/properties/duration_ms", "required")],
        ),
    ] {
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(p, c)| ((*p).into(), (*c).into()))
            .collect();
        assert_eq!(
            codes(&sonde.validate(&as_text(event, json)).errors),
            want,
            "{json}"
        );
        let refused = sonde.send(as_text(event, json)).unwrap_err();
        assert_eq!(codes(refused.violations()), want, "{json}");
    }
    let perf = as_text(
        "$performance",
        r#"{"operation":"db","duration_ms":3,"success":true}"#,
    );
    assert!(sonde.validate(&perf).errors.is_empty());
    sonde.send(perf).unwrap();
    sonde.flush(Duration::from_secs(5)).unwrap();
    // Written as the text it was (the map would print 1e2 as 100.0).
    let lines = sink.events();
    assert!(
        lines[0].contains(r#""properties":{"plan":"pro","n":1e2}"#),
        "{}",
        lines[0]
    );
    assert_eq!(sonde.stats().operations["db"].count, 1);
}
