use std::collections::HashMap;

use super::*;
use crate::validate::{Limits, Validator};

/// Replays `(time in seconds, value)` and returns `(time, state)` transitions.
fn replay(engine: &mut AlertEngine, metric: &str, series: &[(i64, f64)]) -> Vec<(i64, AlertState)> {
    let mut out = Vec::new();
    for &(t, v) in series {
        let values: HashMap<&str, f64> = [(metric, v)].into();
        for tr in engine.evaluate(t * 1000, |m| values.get(m).copied()) {
            out.push((t, tr.state));
        }
    }
    out
}

fn cpu_rule() -> AlertRule {
    AlertRule::new("cpu", "host.cpu_percent", Op::Gt, 90.0)
        .for_ms(60_000)
        .clear(80.0)
        .cooldown_ms(120_000)
}

#[test]
fn fires_only_after_the_condition_held_for_its_duration() {
    let mut e = AlertEngine::new(vec![cpu_rule()], 10).unwrap();
    let got = replay(
        &mut e,
        "host.cpu_percent",
        &[
            (0, 95.0),
            (30, 96.0),
            (50, 85.0),
            (60, 97.0),
            (110, 97.0),
            (120, 97.0),
        ],
    );
    // The dip at 50 s restarts the wait: 60 s of holding ends at 120 s.
    assert_eq!(got, vec![(120, AlertState::Fired)]);
    assert_eq!(e.active().len(), 1);
    assert_eq!(e.active()[0].since, Timestamp::from_millis(120_000));
}

#[test]
fn resolves_only_past_the_clear_threshold_and_never_flaps() {
    let mut e = AlertEngine::new(vec![cpu_rule().for_ms(0)], 10).unwrap();
    let series = [
        (0, 91.0),
        (10, 89.0),
        (20, 91.0),
        (30, 85.0),
        (40, 95.0),
        (50, 80.0),
        (60, 79.9),
    ];
    let got = replay(&mut e, "host.cpu_percent", &series);
    assert_eq!(
        got,
        vec![(0, AlertState::Fired), (60, AlertState::Resolved)]
    );
    assert!(e.active().is_empty());
}

#[test]
fn cooldown_holds_back_the_next_firing() {
    let mut e = AlertEngine::new(vec![cpu_rule().for_ms(0)], 10).unwrap();
    let series = [
        (0, 95.0),
        (10, 70.0),
        (20, 95.0),
        (100, 95.0),
        (130, 95.0),
        (140, 70.0),
    ];
    let got = replay(&mut e, "host.cpu_percent", &series);
    // Resolved at 10 s: no new firing before 130 s.
    assert_eq!(
        got,
        vec![
            (0, AlertState::Fired),
            (10, AlertState::Resolved),
            (130, AlertState::Fired),
            (140, AlertState::Resolved)
        ]
    );
}

#[test]
fn low_side_rules_mirror_high_side_ones() {
    let rule = AlertRule::new("free_disk_low", "host.disk_free_percent", Op::Lt, 10.0).clear(15.0);
    let mut e = AlertEngine::new(vec![rule], 10).unwrap();
    let got = replay(
        &mut e,
        "host.disk_free_percent",
        &[(0, 12.0), (10, 9.0), (20, 12.0), (30, 15.0), (40, 16.0)],
    );
    assert_eq!(
        got,
        vec![(10, AlertState::Fired), (40, AlertState::Resolved)]
    );
}

#[test]
fn rules_are_independent_and_missing_metrics_change_nothing() {
    let mut e = AlertEngine::new(
        vec![
            AlertRule::new("a", "m.a", Op::Ge, 1.0),
            AlertRule::new("b", "m.b", Op::Ge, 1.0),
        ],
        10,
    )
    .unwrap();
    let only_a: HashMap<&str, f64> = [("m.a", 1.0)].into();
    let first = e.evaluate(0, |m| only_a.get(m).copied());
    assert_eq!(
        first.iter().map(|t| t.rule.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    let none = e.evaluate(1000, |_| None);
    assert!(none.is_empty());
    let nan = e.evaluate(2000, |_| Some(f64::NAN));
    assert!(nan.is_empty());
    assert_eq!(e.active().len(), 1, "a stays firing without data");
}

#[test]
fn history_is_bounded_newest_first() {
    let mut e = AlertEngine::new(
        vec![AlertRule::new("r", "m", Op::Gt, 1.0).cooldown_ms(0)],
        3,
    )
    .unwrap();
    for i in 0..10 {
        let v = if i % 2 == 0 { 2.0 } else { 0.0 };
        e.evaluate(i * 1000, |_| Some(v));
    }
    let h = e.history(10);
    assert_eq!(h.len(), 3);
    assert_eq!(h[0].at, Timestamp::from_millis(9000));
    assert_eq!(h[0].state, AlertState::Resolved);
    assert_eq!(e.history(1).len(), 1);
}

#[test]
fn transitions_are_valid_alert_events() {
    let validator = Validator::new(Limits::default(), None);
    let mut e = AlertEngine::new(default_rules(), 10).unwrap();
    let fired = e.evaluate(1_800_000_000_000, |m| {
        (m == "host.memory_percent").then_some(93.5)
    });
    assert_eq!(fired.len(), 1);
    let m = fired[0].to_message().with_user_id("host");
    let checked = validator.check(&m, 1_800_000_000_000);
    assert!(checked.is_valid(), "{:?}", checked.errors);
    assert_eq!(m.properties["state"], "fired");
    assert_eq!(m.properties["value"], 93.5);
}

#[test]
fn rules_from_json_report_every_problem() {
    let good = AlertEngine::rules_from_json(&serde_json::json!([
        {"name": "cpu", "metric": "host.cpu_percent", "op": ">", "threshold": 90, "for_ms": 60000, "clear": 80}
    ]))
    .unwrap();
    assert_eq!(good[0], cpu_rule().cooldown_ms(DEFAULT_COOLDOWN_MS));
    let err = AlertEngine::rules_from_json(&serde_json::json!([
        {"name": "", "metric": "m", "op": "=>", "threshold": "high"},
        {"name": "x", "metric": "m", "op": ">", "threshold": 5, "clear": 9, "for": 3}
    ]))
    .unwrap_err();
    let paths: Vec<&str> = err.violations().iter().map(|v| v.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/0/name", "/0/op", "/0/threshold", "/1/for", "/1/clear"]
    );
    let dup = AlertEngine::new(vec![cpu_rule(), cpu_rule()], 1).unwrap_err();
    assert_eq!(dup.violations()[0].path, "/1/name");
}
