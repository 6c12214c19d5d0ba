//! Hot paths of the pipeline: `track` of a typical event, and `ingest` of a 500-message batch.
//! `cargo bench -p sonde-core --bench pipeline`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sonde_core::{Config, DeliveryMode, Sonde};

#[path = "workload.rs"]
mod workload;
use workload::{batch_json, six_properties};

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

fn bench_track(c: &mut Criterion) {
    let sonde = client();
    let mut group = c.benchmark_group("track");
    group.throughput(Throughput::Elements(1));
    // Building the properties is the caller's cost; it is measured alone so the figure
    // for `track` is the difference of the two (see BENCHMARKS.md).
    group.bench_function("build_6_properties", |b| {
        b.iter(|| black_box(six_properties(3)))
    });
    group.bench_function("build_and_track_6_properties", |b| {
        b.iter(|| black_box(sonde.track("Order Completed", six_properties(3))))
    });
    group.finish();
}

fn bench_ingest(c: &mut Criterion) {
    let bytes = batch_json(500, 0);
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
