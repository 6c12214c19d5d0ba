//! Alert rules through the client: application metrics of the latest window, `$alert`
//! events through the pipeline, callbacks, active alerts and history.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sonde_core::alert::{AlertRule, AlertState, Op};
use sonde_core::{ApiRequest, Config, DeliveryMode, ManualClock, Sonde};

fn client(rules: Vec<AlertRule>, calls: Arc<AtomicUsize>) -> (Sonde, Arc<ManualClock>) {
    client_with(Config::default(), rules, calls)
}

fn client_with(
    config: Config,
    rules: Vec<AlertRule>,
    calls: Arc<AtomicUsize>,
) -> (Sonde, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let sonde = Sonde::new(
        config
            .delivery(DeliveryMode::Manual)
            .clock(clock.clone())
            .host_metrics(false)
            .alert_rules(rules)
            .on_alert(move |_| {
                calls.fetch_add(1, Ordering::SeqCst);
            }),
    )
    .unwrap();
    (sonde, clock)
}

fn requests(sonde: &Sonde, n: usize, status: u16, ms: f64) {
    for _ in 0..n {
        sonde
            .track_api_request(ApiRequest::new("GET", "/pay/{id}", status, ms))
            .unwrap();
    }
}

fn alert_events(sonde: &Sonde) -> Vec<Value> {
    sonde.flush(Duration::from_secs(1)).unwrap();
    let mut out = Vec::new();
    while let Some(batch) = sonde.take_batch().unwrap() {
        let payload: Value = serde_json::from_str(&batch.payload).unwrap();
        out.extend(
            payload["batch"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["event"] == "$alert")
                .cloned(),
        );
        sonde.ack(batch.id).unwrap();
    }
    out
}

#[test]
fn latency_and_error_rules_fire_and_resolve_on_recent_windows() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (sonde, clock) = client(
        vec![
            AlertRule::new("slow", "api.p95_ms", Op::Gt, 500.0)
                .clear(300.0)
                .cooldown_ms(0),
            AlertRule::new("errors", "route.error_percent:GET /pay/{id}", Op::Gt, 5.0)
                .cooldown_ms(0),
        ],
        calls.clone(),
    );
    requests(&sonde, 90, 200, 800.0);
    requests(&sonde, 10, 503, 900.0);
    let fired = sonde.evaluate_alerts().unwrap();
    assert_eq!(
        fired
            .iter()
            .map(|t| (t.rule.as_str(), t.state))
            .collect::<Vec<_>>(),
        [("slow", AlertState::Fired), ("errors", AlertState::Fired)]
    );
    assert_eq!(sonde.alerts().len(), 2);
    let events = alert_events(&sonde);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["properties"]["rule"], "slow");
    assert_eq!(events[0]["properties"]["state"], "fired");

    // The next window is fast and clean: the cumulative figures would still be bad, the
    // window's are not.
    clock.advance(Duration::from_secs(10));
    requests(&sonde, 200, 200, 20.0);
    let resolved = sonde.evaluate_alerts().unwrap();
    assert_eq!(
        resolved.iter().map(|t| t.state).collect::<Vec<_>>(),
        [AlertState::Resolved, AlertState::Resolved]
    );
    assert!(sonde.alerts().is_empty());
    assert_eq!(alert_events(&sonde).len(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let history = sonde.alert_history(10);
    assert_eq!(history.len(), 4);
    assert_eq!(history[0].state, AlertState::Resolved, "newest first");
}

#[test]
fn quiet_windows_change_nothing_and_queue_fill_is_watched() {
    let calls = Arc::new(AtomicUsize::new(0));
    // Ten waiting request events hold about 0.4% of a 1 MiB buffer: the byte cap is the
    // nearer one, and the fill rule fires on it.
    let (sonde, _) = client_with(
        Config::default().max_queue_bytes(1 << 20),
        vec![
            AlertRule::new("slow", "api.p95_ms", Op::Gt, 500.0),
            AlertRule::new("queue", "queue.fill_percent", Op::Ge, 0.05),
        ],
        calls,
    );
    requests(&sonde, 10, 200, 900.0);
    let first = sonde.evaluate_alerts().unwrap();
    assert_eq!(first.len(), 2, "{first:?}");
    // No requests in the next window: latency has no value, the slow alert stays as it is.
    let second = sonde.evaluate_alerts().unwrap();
    assert!(second.iter().all(|t| t.rule != "slow"), "{second:?}");
    assert!(sonde.alerts().iter().any(|a| a.rule == "slow"));
}

#[test]
fn rules_come_from_options_too() {
    let config = Config::from_options(&serde_json::json!({
        "alert_rules": [{"name": "cpu", "metric": "host.cpu_percent", "op": ">", "threshold": 90}],
        "alert_history_limit": 5,
        "host_metrics": false
    }))
    .unwrap();
    assert_eq!(config.alert_rules.len(), 1);
    let err =
        Config::from_options(&serde_json::json!({"alert_rules": [{"name": "x"}]})).unwrap_err();
    assert!(
        err.violations()
            .iter()
            .all(|v| v.path.starts_with("/alert_rules/0/")),
        "{err}"
    );
}

#[cfg(feature = "host-metrics")]
#[test]
fn system_metrics_sample_the_host() {
    let sonde = Sonde::new(Config::default().delivery(DeliveryMode::Manual)).unwrap();
    let s = sonde.system_metrics().unwrap();
    assert!(s.memory_total_bytes > 0);
    let off = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .host_metrics(false),
    )
    .unwrap();
    assert_eq!(off.system_metrics().unwrap_err().code(), "unsupported");
}

#[test]
fn the_worker_evaluates_alerts_at_the_interval() {
    use sonde_core::sink::MemorySink;
    let sink = MemorySink::new();
    let fired = Arc::new(AtomicUsize::new(0));
    let seen = fired.clone();
    let sonde = Sonde::new(
        Config::default()
            .sink(sink.clone())
            .flush_interval(Duration::from_millis(20))
            .host_metrics(false)
            .metrics_interval(Duration::from_millis(20))
            .alert_rules(vec![AlertRule::new("slow", "api.p95_ms", Op::Gt, 100.0)])
            .on_alert(move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
            }),
    )
    .unwrap();
    requests(&sonde, 20, 200, 400.0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fired.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never evaluated"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(sonde.alerts().len(), 1);
    sonde.shutdown(Duration::from_secs(5)).unwrap();
    let alerts: Vec<Value> = sink
        .values()
        .into_iter()
        .filter(|m| m["event"] == "$alert")
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["properties"]["rule"], "slow");
}

#[test]
fn dropping_the_client_while_the_worker_ticks_loses_nothing() {
    use sonde_core::sink::MemorySink;
    // Many short-lived clients with a fast tick: whichever thread drops the last handle,
    // every event is delivered.
    for _ in 0..20 {
        let sink = MemorySink::new();
        let sonde = Sonde::new(
            Config::default()
                .sink(sink.clone())
                .host_metrics(false)
                .metrics_interval(Duration::from_millis(1))
                .alert_rules(vec![AlertRule::new("never", "api.p95_ms", Op::Gt, 1e12)]),
        )
        .unwrap();
        requests(&sonde, 5, 200, 1.0);
        drop(sonde);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.len() < 5 {
            assert!(
                std::time::Instant::now() < deadline,
                "events lost: {}",
                sink.len()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[cfg(feature = "host-metrics")]
#[test]
fn host_gauges_reach_the_statistics_snapshot() {
    let sonde = Sonde::new(Config::default().delivery(DeliveryMode::Manual)).unwrap();
    assert!(sonde.stats().gauges.is_empty(), "nothing sampled yet");
    sonde.evaluate_alerts().unwrap();
    let mut s = sonde.stats();
    let memory = s.gauges["host.memory_percent"];
    assert!((0.0..=100.0).contains(&memory));
    assert!(s.gauges["process.rss_bytes"] > 0.0);
    // Merging keeps the busiest host's value of each gauge.
    let mut other = s.clone();
    other.gauges.insert("host.memory_percent".into(), 101.0);
    s.merge(&other).unwrap();
    assert_eq!(s.gauges["host.memory_percent"], 101.0);
    let back = sonde_core::StatsSnapshot::from_json(&s.to_json()).unwrap();
    assert_eq!(back.gauges, s.gauges);
}
