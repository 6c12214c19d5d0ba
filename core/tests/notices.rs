//! What a client tells its host: lost events (evicted, refused, failed for good, cut off
//! by the shutdown deadline) with the events themselves, deliveries in debug mode, and the
//! disabled client that validates and sends nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sonde_core::sink::{CallbackSink, MemorySink, SinkError};
use sonde_core::{
    props, Config, Disposition, DropReason, ErrorKind, InvalidPolicy, Notice, OverflowPolicy,
    Sonde, TrackingPlan,
};

fn recorder() -> (
    Arc<Mutex<Vec<Notice>>>,
    impl Fn(&Notice) + Send + Sync + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&seen);
    (seen, move |n: &Notice| into.lock().unwrap().push(n.clone()))
}

fn lost(notices: &[Notice]) -> Vec<(DropReason, usize)> {
    notices
        .iter()
        .filter_map(|n| match n {
            Notice::Lost(l) => {
                assert!(l.events.len() <= sonde_core::NOTICE_SAMPLE);
                assert_eq!(
                    l.events.len() as u64,
                    l.count.min(sonde_core::NOTICE_SAMPLE as u64)
                );
                Some((l.reason, l.count as usize))
            }
            Notice::Delivered { .. } => None,
        })
        .collect()
}

#[test]
fn evicted_events_are_reported_with_their_json() {
    let (seen, hook) = recorder();
    let (sink, release) = {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = Mutex::new(rx);
        let sink = CallbackSink::new("slow", move |_b: &sonde_core::sink::SinkBatch<'_>| {
            let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
            Ok(())
        });
        (sink, tx)
    };
    let sonde = Sonde::new(
        Config::default()
            .sink(sink)
            .max_queue_events(2)
            .batch_size(1)
            .overflow(OverflowPolicy::DropOldest)
            .on_notice(hook),
    )
    .unwrap();
    for i in 0..6 {
        sonde.track(format!("E{i}"), props(json!({}))).unwrap();
    }
    for _ in 0..6 {
        let _ = release.send(());
    }
    sonde.shutdown(Duration::from_secs(10)).unwrap();
    let notices = seen.lock().unwrap().clone();
    let evicted: usize = lost(&notices)
        .iter()
        .filter(|(r, _)| *r == DropReason::QueueFull)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(evicted as u64, sonde.stats().counters.dropped.queue_full);
    assert!(evicted >= 1);
    let Some(Notice::Lost(first)) = notices.first() else {
        panic!("no loss reported: {notices:?}")
    };
    assert!(
        first.events[0].contains("\"event\":\"E"),
        "{}",
        first.events[0]
    );
    assert_eq!(first.to_error().kind(), ErrorKind::QueueFull);
}

#[test]
fn a_flood_of_evictions_is_a_few_reports_with_a_sample_not_one_per_event() {
    let (seen, hook) = recorder();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let rx = Mutex::new(rx);
    let stalled = CallbackSink::new("stalled", move |_b: &sonde_core::sink::SinkBatch<'_>| {
        let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
        Ok(())
    });
    let sonde = Sonde::new(
        Config::default()
            .sink(stalled)
            .max_queue_events(10)
            .batch_size(1)
            .on_notice(hook),
    )
    .unwrap();
    for i in 0..20_000 {
        sonde.track(format!("E{i}"), props(json!({}))).unwrap();
    }
    let _ = tx.send(());
    drop(tx);
    // The worker delivers what is left and goes idle before the shutdown, well inside the
    // second the later evictions are held for: shutting down must still tell them.
    let idle = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < idle {
        let c = sonde.stats().counters;
        if c.queued == 0 && c.in_flight == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = sonde.shutdown(Duration::from_secs(10));
    let notices = seen.lock().unwrap().clone();
    let evictions: Vec<usize> = lost(&notices)
        .iter()
        .filter(|(r, _)| *r == DropReason::QueueFull)
        .map(|(_, n)| *n)
        .collect();
    // Every eviction counted, in one report a second at most (the loop takes well under a
    // few seconds), the first one at once.
    assert_eq!(
        evictions.iter().sum::<usize>() as u64,
        sonde.stats().counters.dropped.queue_full
    );
    assert!(evictions.len() <= 5, "{evictions:?}");
    assert_eq!(evictions[0], 1, "{evictions:?}");
}

#[test]
fn a_batch_that_keeps_failing_is_reported_with_the_sinks_error() {
    let (seen, hook) = recorder();
    let sink = CallbackSink::new("flaky", |_b: &sonde_core::sink::SinkBatch<'_>| {
        Err(SinkError::retryable("connection refused"))
    });
    let sonde = Sonde::new(
        Config::default()
            .sink(sink)
            .max_retries(1)
            .retry_backoff(Duration::from_millis(1), Duration::from_millis(2))
            .on_notice(hook),
    )
    .unwrap();
    sonde
        .track("Signed Up", props(json!({"plan": "pro"})))
        .unwrap();
    sonde
        .track("Signed Up", props(json!({"plan": "team"})))
        .unwrap();
    let _ = sonde.flush(Duration::from_secs(5));
    let notices = seen.lock().unwrap().clone();
    assert_eq!(lost(&notices), [(DropReason::RetryExhausted, 2)]);
    let Notice::Lost(loss) = &notices[0] else {
        unreachable!()
    };
    assert!(
        loss.detail.contains("flaky: connection refused"),
        "{}",
        loss.detail
    );
    assert_eq!(loss.to_error().kind(), ErrorKind::SinkFailed);
    assert!(loss.events[1].contains("\"plan\":\"team\""));
}

#[test]
fn what_the_shutdown_deadline_cuts_off_is_reported() {
    let (seen, hook) = recorder();
    let sink = CallbackSink::new("down", |_b: &sonde_core::sink::SinkBatch<'_>| {
        Err(SinkError::retryable("down"))
    });
    let sonde = Sonde::new(
        Config::default()
            .sink(sink)
            .retry_backoff(Duration::from_secs(5), Duration::from_secs(5))
            .on_notice(hook),
    )
    .unwrap();
    for _ in 0..3 {
        sonde.track("Late", props(json!({}))).unwrap();
    }
    assert!(sonde.shutdown(Duration::from_millis(200)).is_err());
    let total: usize = lost(&seen.lock().unwrap())
        .iter()
        .filter(|(r, _)| *r == DropReason::ShutdownTimeout)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(total, 3);
}

#[test]
fn debug_mode_reports_deliveries_and_quiet_mode_does_not() {
    for debug in [false, true] {
        let (seen, hook) = recorder();
        let mut config = Config::default().sink(MemorySink::new()).on_notice(hook);
        config.debug = debug;
        let sonde = Sonde::new(config).unwrap();
        sonde.track("A", props(json!({}))).unwrap();
        sonde.flush(Duration::from_secs(5)).unwrap();
        let delivered = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|n| matches!(n, Notice::Delivered { events: 1, .. }))
            .count();
        assert_eq!(delivered, usize::from(debug));
    }
}

#[test]
fn a_disabled_client_validates_and_sends_nothing() {
    let sink = MemorySink::new();
    let plan = TrackingPlan::from_value(&json!({"events": {"Signed Up": {
        "properties": {"plan": {"type": "string"}}, "required": ["plan"]}}}))
    .unwrap();
    let config = Config::from_options(&json!({"disabled": true}))
        .unwrap()
        .sink(sink.clone())
        .tracking_plan(plan);
    let sonde = Sonde::new(config).unwrap();
    assert!(sonde.is_disabled());
    let receipt = sonde
        .track("Signed Up", props(json!({"plan": "pro"})))
        .unwrap();
    assert_eq!(receipt.disposition, Disposition::Disabled);
    let err = sonde.track("Signed Up", props(json!({}))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidEvent);
    sonde.shutdown(Duration::from_secs(5)).unwrap();
    assert!(sink.events().is_empty());
    assert_eq!(sonde.stats().counters.delivered, 0);
}

#[test]
fn invalid_policy_defaults_to_raise_where_mistakes_must_show() {
    let policy =
        |options: serde_json::Value| Config::from_options(&options).unwrap().invalid_policy();
    assert_eq!(policy(json!({})), InvalidPolicy::Warn);
    assert_eq!(policy(json!({"disabled": true})), InvalidPolicy::Raise);
    assert_eq!(policy(json!({"debug": true})), InvalidPolicy::Raise);
    assert_eq!(
        policy(json!({"debug": true, "on_invalid": "drop"})),
        InvalidPolicy::Drop
    );
    let err =
        Config::from_options(&json!({"on_invalid": "ignore", "disabled": "yes"})).unwrap_err();
    let paths: Vec<&str> = err.violations().iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["/disabled", "/on_invalid"]);
}

#[test]
fn notices_as_json_for_js_hosts() {
    let lost = Notice::Lost(sonde_core::LostEvents {
        reason: DropReason::RetryExhausted,
        detail: "http: 500".to_owned(),
        count: 1,
        events: vec!["{\"event\":\"A\"}".into()],
    });
    let value: serde_json::Value = serde_json::from_str(&lost.to_json()).unwrap();
    assert_eq!(value["kind"], "lost");
    assert_eq!(value["reason"], "retry_exhausted");
    assert_eq!(value["code"], "sink_failed");
    assert_eq!(value["events"], json!([{"event": "A"}]));
    let delivered = Notice::Delivered {
        batch: 3,
        events: 2,
    };
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&delivered.to_json()).unwrap(),
        json!({"kind": "delivered", "batch": 3, "events": 2})
    );
}

#[test]
fn a_server_client_requires_a_person_and_marks_its_own_events_personless() {
    let sink = MemorySink::new();
    let config = Config::from_options(&json!({"require_person": true}))
        .unwrap()
        .sink(sink.clone());
    let sonde = Sonde::new(config).unwrap();
    let err = sonde.track("Signed Up", props(json!({}))).unwrap_err();
    assert_eq!(err.violations()[0].code, "missing_identity");
    assert!(err.violations()[0].message.contains("name the person"));
    sonde
        .track_api_request(sonde_core::ApiRequest::new("GET", "/", 200, 1.0))
        .unwrap();
    sonde
        .send(sonde_core::Message::track("Paid", props(json!({}))).with_user_id("u1"))
        .unwrap();
    sonde.flush(Duration::from_secs(5)).unwrap();
    let ids: Vec<(Option<String>, Option<String>)> = sink
        .values()
        .iter()
        .map(|e| {
            (
                e["userId"].as_str().map(str::to_owned),
                e["anonymousId"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            (None, Some("$personless".to_owned())),
            (Some("u1".to_owned()), None)
        ]
    );
    // Without require_person (a browser, a single-user app) the process id is used.
    let quiet = Sonde::new(Config::default().sink(MemorySink::new())).unwrap();
    assert!(quiet.track("Signed Up", props(json!({}))).is_ok());
}
