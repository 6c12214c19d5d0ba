//! Statistics: DDSketch insert, and a snapshot of 100 routes.
//! `cargo bench -p sonde-core --bench stats`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sonde_core::stats::DDSketch;
use sonde_core::{ApiRequest, Config, DeliveryMode, Sonde};

fn bench_sketch(c: &mut Criterion) {
    let mut group = c.benchmark_group("sketch");
    group.throughput(Throughput::Elements(1));
    let mut sketch = DDSketch::default();
    let mut x = 1.0f64;
    group.bench_function("insert", |b| {
        b.iter(|| {
            // A walk over 0.1 ms .. 10 s, so inserts hit many bins.
            x = if x > 10_000.0 { 0.1 } else { x * 1.37 };
            sketch.add(black_box(x));
        })
    });
    group.finish();
}

fn bench_snapshot(c: &mut Criterion) {
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .max_queue_events(1_000_000)
            .max_queue_bytes(1 << 30)
            .flush_interval(Duration::from_secs(3600)),
    )
    .expect("config");
    for route in 0..100 {
        for i in 0..200 {
            let status = if i % 50 == 0 { 500 } else { 200 };
            sonde
                .track_api_request(ApiRequest::new(
                    "GET",
                    format!("/r{route}/{{id}}"),
                    status,
                    1.0 + i as f64 * 3.3,
                ))
                .expect("valid");
        }
    }
    let mut group = c.benchmark_group("stats");
    group.bench_function("snapshot_100_routes", |b| {
        b.iter(|| black_box(sonde.stats()))
    });
    group.bench_function("snapshot_100_routes_json", |b| {
        b.iter(|| black_box(sonde.stats().to_json()))
    });
    group.finish();
}

fn bench_alerts(c: &mut Criterion) {
    use sonde_core::alert::{AlertEngine, AlertRule, Op};
    // 50 rules over 50 metrics, half of them hovering around their thresholds.
    let rules: Vec<AlertRule> = (0..50)
        .map(|i| {
            AlertRule::new(format!("rule{i}"), format!("metric.{i}"), Op::Gt, 50.0)
                .for_ms(30_000)
                .clear(40.0)
                .cooldown_ms(60_000)
        })
        .collect();
    let mut engine = AlertEngine::new(rules, 100).expect("rules");
    let names: Vec<String> = (0..50).map(|i| format!("metric.{i}")).collect();
    let mut now = 0i64;
    c.bench_function("alerts/evaluate_50_rules", |b| {
        b.iter(|| {
            now += 10_000;
            let phase = (now / 10_000) % 12;
            black_box(engine.evaluate(now, |m| {
                let i = names.iter().position(|n| n == m)?;
                Some(if i % 2 == 0 {
                    30.0 + phase as f64 * 5.0
                } else {
                    10.0
                })
            }))
        })
    });
}

criterion_group!(benches, bench_sketch, bench_snapshot, bench_alerts);
criterion_main!(benches);
