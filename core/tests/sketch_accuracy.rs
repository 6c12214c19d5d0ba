//! DDSketch quantiles against exact quantiles on skewed data: within 1% relative error,
//! before and after merging and a JSON round trip.

use sonde_core::ids::IdGenerator;
use sonde_core::stats::DDSketch;

fn normal(rng: &IdGenerator) -> f64 {
    // Box-Muller.
    let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn lognormal(n: usize, seed: u64) -> Vec<f64> {
    let rng = IdGenerator::new(seed);
    (0..n).map(|_| (3.0 + 1.2 * normal(&rng)).exp()).collect()
}

fn bimodal(n: usize, seed: u64) -> Vec<f64> {
    let rng = IdGenerator::new(seed);
    (0..n)
        .map(|_| {
            if rng.next_f64() < 0.8 {
                (2.0 + 0.3 * normal(&rng)).exp() // fast path around 7 ms
            } else {
                (7.0 + 0.5 * normal(&rng)).exp() // slow path around 1 s
            }
        })
        .collect()
}

/// The same rank rule as the sketch: the value at index floor(q * (n - 1)).
fn exact(sorted: &[f64], q: f64) -> f64 {
    sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
}

fn check(values: &[f64], sketch: &DDSketch, label: &str) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    for q in [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0] {
        let want = exact(&sorted, q);
        let got = sketch.quantile(q).unwrap();
        let err = (got - want).abs() / want;
        assert!(
            err <= 0.01,
            "{label} q={q}: sketch {got}, exact {want}, error {err}"
        );
    }
    assert_eq!(sketch.count(), values.len() as u64);
    assert_eq!(sketch.min(), Some(sorted[0]));
    assert_eq!(sketch.max(), sorted.last().copied());
}

#[test]
fn lognormal_and_bimodal_within_one_percent() {
    for (label, data) in [
        ("lognormal", lognormal(200_000, 11)),
        ("bimodal", bimodal(200_000, 12)),
    ] {
        let mut sketch = DDSketch::default();
        data.iter().for_each(|&v| sketch.add(v));
        check(&data, &sketch, label);
    }
}

#[test]
fn merged_sketches_are_as_accurate_as_one() {
    let a = lognormal(50_000, 21);
    let b = bimodal(70_000, 22);
    let mut sa = DDSketch::default();
    let mut sb = DDSketch::default();
    a.iter().for_each(|&v| sa.add(v));
    b.iter().for_each(|&v| sb.add(v));
    let sb: DDSketch = serde_json::from_str(&serde_json::to_string(&sb).unwrap()).unwrap();
    sa.merge(&sb).unwrap();
    let all: Vec<f64> = a.iter().chain(&b).copied().collect();
    check(&all, &sa, "merged");
    let mut whole = DDSketch::default();
    all.iter().for_each(|&v| whole.add(v));
    for q in [0.5, 0.9, 0.99] {
        assert_eq!(
            sa.quantile(q),
            whole.quantile(q),
            "merge is exact, not approximate"
        );
    }
}

#[test]
fn different_accuracies_do_not_merge() {
    let mut a = DDSketch::new(0.01, 2048);
    let b = DDSketch::new(0.02, 2048);
    assert_eq!(a.merge(&b).unwrap_err().code(), "invalid_config");
}
