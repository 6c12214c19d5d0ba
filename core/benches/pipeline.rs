//! Hot paths of the pipeline: `track` of a typical event, and `ingest` of a 500-message batch.
//! `cargo bench -p sonde-core --bench pipeline`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use sonde_core::{props, Config, DeliveryMode, Properties, Sonde};

fn client() -> Sonde {
    // Manual delivery with the default 10,000-event buffer (drop_oldest): in the steady
    // state each track evicts one event, as a draining worker would free one. This measures
    // normalize + validate + redact + serialize + stats + enqueue, not a sink.
    Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .flush_interval(Duration::from_secs(3600)),
    )
    .expect("config")
}

fn six_properties() -> Properties {
    props(json!({
        "plan": "pro",
        "revenue": 42.5,
        "currency": "EUR",
        "items": 3,
        "coupon": null,
        "first_order": true
    }))
}

fn batch_json(n: usize) -> Vec<u8> {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "type": "track",
                "event": "Order Completed",
                "userId": format!("user-{i}"),
                "messageId": format!("msg-{i}"),
                "timestamp": "2026-11-26T10:00:00.000Z",
                "properties": {"plan": "pro", "revenue": 42.5, "currency": "EUR", "items": i, "coupon": null, "first_order": true},
                "context": {"ip": "10.0.0.1", "userAgent": "Mozilla/5.0 (X11; Linux x86_64)", "page": {"path": "/checkout"}}
            })
        })
        .collect();
    serde_json::to_vec(&json!({"batch": items, "sentAt": "2026-11-26T10:00:01.000Z"}))
        .expect("json")
}

fn bench_track(c: &mut Criterion) {
    let sonde = client();
    let mut group = c.benchmark_group("track");
    group.throughput(Throughput::Elements(1));
    // Building the properties is the caller's cost; it is measured alone so the figure
    // for `track` is the difference of the two (see BENCHMARKS.md).
    group.bench_function("build_6_properties", |b| {
        b.iter(|| black_box(six_properties()))
    });
    group.bench_function("build_and_track_6_properties", |b| {
        b.iter(|| black_box(sonde.track("Order Completed", six_properties())))
    });
    group.finish();
}

fn bench_ingest(c: &mut Criterion) {
    let bytes = batch_json(500);
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    let sonde = client();
    group.bench_function("ingest_batch_500", |b| {
        b.iter(|| black_box(sonde.ingest(&bytes)))
    });
    group.bench_function("parse_validate_batch_500", |b| {
        b.iter(|| black_box(sonde.validate_request(&bytes, None)))
    });
    group.finish();
}

criterion_group!(benches, bench_track, bench_ingest);
criterion_main!(benches);
