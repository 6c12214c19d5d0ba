use proptest::prelude::*;

use super::*;

fn limits(
    max_events: usize,
    max_bytes: usize,
    batch_size: usize,
    evict_oldest: bool,
) -> BufferLimits {
    BufferLimits {
        max_events,
        max_bytes,
        batch_size,
        batch_bytes: 64 * 1024,
        flush_interval_ms: 1000,
        max_retries: 2,
        backoff_initial_ms: 10,
        backoff_max_ms: 100,
        evict_oldest,
    }
}

fn event(n: usize) -> Box<str> {
    format!("{{\"n\":\"{}\"}}", "x".repeat(n)).into_boxed_str()
}

#[derive(Debug, Clone)]
enum Op {
    Push(usize),
    Take,
    Succeed,
    Fail(bool),
    Tick(u64),
    Flush,
    Abandon,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..200).prop_map(Op::Push),
        2 => Just(Op::Take),
        2 => Just(Op::Succeed),
        1 => any::<bool>().prop_map(Op::Fail),
        1 => (0u64..2000).prop_map(Op::Tick),
        1 => Just(Op::Flush),
        1 => Just(Op::Abandon),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Accounting always adds up, caps are never exceeded, and delivery keeps accept order.
    #[test]
    fn invariants_hold(ops in proptest::collection::vec(op(), 1..300), evict in any::<bool>(), batch_size in 1usize..20) {
        let mut b = Buffer::new(limits(25, 2000, batch_size, evict), 1);
        let mut now = 0u64;
        let mut out: Vec<PendingBatch> = Vec::new();
        let mut delivered_seqs: Vec<u64> = Vec::new();
        for op in ops {
            match op {
                Op::Push(n) => match b.push(event(n), now) {
                    Ok(_) => {}
                    Err(e) => {
                        b.reject(e);
                    }
                },
                Op::Take => {
                    if let Some(batch) = b.take(now) {
                        prop_assert!(batch.events.len() <= batch_size);
                        prop_assert!(batch.events.windows(2).all(|w| w[0].seq < w[1].seq));
                        out.push(batch);
                    }
                }
                Op::Succeed => {
                    if let Some(batch) = out.pop() {
                        let seqs: Vec<u64> = batch.events.iter().map(|e| e.seq).collect();
                        if b.complete(batch, None, now, 0.5) == Completion::Delivered {
                            delivered_seqs.extend(seqs);
                        }
                    }
                }
                Op::Fail(retryable) => {
                    if let Some(batch) = out.pop() {
                        b.complete(batch, Some(retryable), now, 0.5);
                    }
                }
                Op::Tick(ms) => now += ms,
                Op::Flush => { b.request_flush(); }
                Op::Abandon => b.abandon(),
            }
            let c = b.counters();
            prop_assert!(c.is_balanced(), "{c:?}");
            prop_assert!(b.queued_len() <= 25);
            prop_assert!(b.queued_bytes() <= 2000);
            // What the sink saw succeed is exactly what the counters call delivered, and
            // no event reached the sink twice.
            prop_assert_eq!(c.delivered, delivered_seqs.len() as u64);
            let mut unique = delivered_seqs.clone();
            unique.sort_unstable();
            unique.dedup();
            prop_assert_eq!(unique.len(), delivered_seqs.len(), "an event delivered twice");
        }
    }

    /// With a single consumer, delivery order equals accept order and nothing is lost when
    /// every batch eventually succeeds.
    #[test]
    fn ordered_and_lossless(sizes in proptest::collection::vec(0usize..100, 1..200), fail_every in 2usize..7) {
        let mut b = Buffer::new(limits(10_000, 1 << 20, 7, false), 1);
        for n in &sizes {
            prop_assert!(b.push(event(*n), 0).is_ok());
        }
        b.request_flush();
        let mut now = 0u64;
        let mut seqs = Vec::new();
        let mut attempt = 0usize;
        while !b.is_idle() {
            match b.take(now) {
                Some(batch) => {
                    attempt += 1;
                    if attempt.is_multiple_of(fail_every) && batch.attempts == 0 {
                        b.complete(batch, Some(true), now, 0.0);
                    } else {
                        seqs.extend(batch.events.iter().map(|e| e.seq));
                        b.complete(batch, None, now, 0.0);
                    }
                }
                None => now = b.next_deadline().unwrap_or(now + 1).max(now + 1),
            }
        }
        let expected: Vec<u64> = (1..=sizes.len() as u64).collect();
        prop_assert_eq!(seqs, expected);
        let c = b.counters();
        prop_assert_eq!(c.delivered, sizes.len() as u64);
        prop_assert!(c.is_balanced());
    }
}

#[test]
fn drop_newest_refuses_and_counts() {
    let mut b = Buffer::new(limits(2, 10_000, 10, false), 1);
    assert!(b.push(event(1), 0).is_ok());
    assert!(b.push(event(1), 0).is_ok());
    let err = b.push(event(1), 0).unwrap_err();
    assert_eq!(err, PushError::Full);
    b.reject(err);
    let c = b.counters();
    assert_eq!(c.dropped.queue_full, 1);
    assert_eq!(c.queued, 2);
    assert!(c.is_balanced());
}

#[test]
fn drop_oldest_evicts_front() {
    let mut b = Buffer::new(limits(2, 10_000, 10, true), 1);
    for _ in 0..3 {
        b.push(event(1), 0).unwrap();
    }
    b.request_flush();
    let batch = b.take(0).unwrap();
    assert_eq!(
        batch.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert_eq!(b.counters().dropped.queue_full, 1);
}

#[test]
fn retries_back_off_then_exhaust() {
    let mut b = Buffer::new(limits(10, 10_000, 10, false), 1);
    b.push(event(1), 0).unwrap();
    b.request_flush();
    let batch = b.take(0).unwrap();
    assert_eq!(
        b.complete(batch, Some(true), 0, 0.0),
        Completion::Retrying { delay_ms: 5 }
    );
    assert!(b.take(4).is_none(), "waits for the backoff");
    let batch = b.take(5).unwrap();
    assert_eq!(
        b.complete(batch, Some(true), 5, 1.0),
        Completion::Retrying { delay_ms: 20 }
    );
    let batch = b.take(25).unwrap();
    assert_eq!(
        b.complete(batch, Some(true), 25, 0.0),
        Completion::Dropped(DropReason::RetryExhausted)
    );
    let c = b.counters();
    assert_eq!(
        (c.retries, c.dropped.retry_exhausted, c.batches_failed),
        (2, 1, 1)
    );
    assert!(c.is_balanced());
}

#[test]
fn interval_and_size_trigger_batches() {
    let mut b = Buffer::new(limits(100, 100_000, 3, false), 1);
    b.push(event(1), 0).unwrap();
    assert!(!b.is_ready(999));
    assert!(b.is_ready(1000));
    b.push(event(1), 10).unwrap();
    b.push(event(1), 20).unwrap();
    assert!(b.is_ready(30), "batch size reached");
    assert_eq!(b.next_deadline(), Some(1000));
}

#[test]
fn batch_bytes_cap_is_respected() {
    let mut l = limits(100, 100_000, 100, false);
    l.batch_bytes = 100;
    let mut b = Buffer::new(l, 1);
    for _ in 0..5 {
        b.push(event(30), 0).unwrap(); // 39 bytes each
    }
    b.request_flush();
    let batch = b.take(0).unwrap();
    assert_eq!(batch.events.len(), 2);
    assert!(2 + batch.events.iter().map(|e| e.json.len() + 1).sum::<usize>() <= 100);
}

#[test]
fn abandon_drops_everything_pending() {
    let mut b = Buffer::new(limits(100, 100_000, 2, false), 1);
    for _ in 0..5 {
        b.push(event(1), 0).unwrap();
    }
    b.request_flush();
    let out = b.take(0).unwrap();
    b.abandon();
    assert_eq!(b.counters().dropped.shutdown_timeout, 3);
    assert_eq!(b.counters().in_flight, 2);
    assert_eq!(
        b.complete(out, Some(true), 0, 0.0),
        Completion::Dropped(DropReason::ShutdownTimeout)
    );
    let c = b.counters();
    assert_eq!(c.dropped.shutdown_timeout, 5);
    assert!(c.is_balanced());
    assert_eq!(b.push(event(1), 0), Err(PushError::Closed));
}
