//! A host snapshot on this machine returns sane values (feature `host-metrics`).
#![cfg(feature = "host-metrics")]

use std::time::{Duration, Instant};

use sonde_core::host::HostSampler;

#[test]
fn snapshots_are_sane_and_cpu_is_never_a_fake_zero() {
    let started = Instant::now();
    let mut sampler = HostSampler::new().expect("sysinfo works on Linux");
    let first = sampler.sample();
    if started.elapsed() < Duration::from_millis(150) {
        assert_eq!(
            first.cpu_percent, None,
            "too soon to measure: no made-up 0.0"
        );
        assert!(first.cpu_per_core.is_empty());
    }
    std::thread::sleep(Duration::from_millis(300));
    let s = sampler.sample();
    let cpu = s.cpu_percent.expect("measurable after 300 ms");
    assert!((0.0..=100.0).contains(&cpu), "{cpu}");
    assert_eq!(s.cpu_per_core.len(), s.cpu_count);
    assert!(s.cpu_per_core.iter().all(|c| (0.0..=100.0).contains(c)));
    assert!(s.memory_total_bytes > 0);
    assert!(s.memory_used_bytes <= s.memory_total_bytes);
    assert!((0.0..=100.0).contains(&s.memory_percent));
    assert!(s
        .disks
        .iter()
        .all(|d| d.total_bytes > 0 && (0.0..=100.0).contains(&d.used_percent)));
    assert!(s
        .disks
        .iter()
        .all(|d| d.file_system != "tmpfs" && d.file_system != "proc"));
    assert!(s.process.rss_bytes > 0);
    assert!(s.process.threads.unwrap_or(1) >= 1);
    assert!(s.network_rx_bytes_per_sec.is_some_and(|r| r >= 0.0));
    assert_eq!(s.metric("host.cpu_percent"), Some(cpu));
    assert_eq!(s.metric("host.unknown"), None);
    if let Some(c) = &s.container {
        assert!(c.memory_percent.is_none_or(|p| (0.0..=100.0).contains(&p)));
    }
    // The snapshot serializes for statistics and bindings.
    let json = serde_json::to_value(&s).unwrap();
    assert!(json["memory_total_bytes"].as_u64().unwrap() > 0);
}
