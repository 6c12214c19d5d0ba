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

criterion_group!(benches, bench_sketch, bench_snapshot);
criterion_main!(benches);
