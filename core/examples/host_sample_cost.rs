//! Cost of a full host sample as the sampler takes it in production (every figure fresh,
//! CPU counters included): 20 samples 250 ms apart, median and worst reported.
//! `cargo run --release -p sonde-core --example host_sample_cost --features host-metrics`

use std::time::{Duration, Instant};

use sonde_core::host::HostSampler;

fn main() {
    let mut sampler = HostSampler::new().expect("sysinfo");
    let mut costs = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(250));
        let started = Instant::now();
        let snapshot = sampler.sample();
        costs.push(started.elapsed());
        assert!(snapshot.cpu_percent.is_some());
    }
    costs.sort();
    let median = costs[costs.len() / 2];
    let worst = costs[costs.len() - 1];
    let share = median.as_secs_f64() / 10.0 * 100.0;
    println!("full sample: median {median:?}, worst {worst:?}");
    println!("at the default 10 s interval: {share:.4}% of one core");
}
