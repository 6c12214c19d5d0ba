//! Cost of one host sample (feature `host-metrics`).
//! `cargo bench -p sonde-core --features host-metrics --bench host`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use sonde_core::host::HostSampler;

fn bench_sample(c: &mut Criterion) {
    let mut sampler = HostSampler::new().expect("sysinfo");
    c.bench_function("host/sample", |b| b.iter(|| black_box(sampler.sample())));
}

criterion_group!(benches, bench_sample);
criterion_main!(benches);
