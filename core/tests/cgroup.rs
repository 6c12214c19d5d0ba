//! cgroup v2 parsing on fixture directories (`tests/fixtures/cgroup/`).

use std::path::PathBuf;

use sonde_core::host::CgroupV2;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/cgroup")
        .join(name)
}

#[test]
fn limits_set() {
    let c = CgroupV2::read_dir(&fixture("limited")).expect("cgroup v2");
    assert_eq!(c.memory_max_bytes, Some(512 << 20));
    assert_eq!(c.memory_current_bytes, Some(128 << 20));
    assert_eq!(c.effective_cpus(), Some(1.5));
    assert_eq!(c.memory_percent(), Some(25.0));
    assert_eq!(c.cpu_usage_usec, Some(12_345_678));
}

#[test]
fn max_means_no_limit() {
    let c = CgroupV2::read_dir(&fixture("unlimited")).expect("cgroup v2");
    assert_eq!(c.memory_max_bytes, None);
    assert_eq!(c.memory_current_bytes, Some(2 << 30));
    assert_eq!(c.effective_cpus(), None);
    assert_eq!(c.cpu_period_us, Some(100_000));
    assert_eq!(
        c.memory_percent(),
        None,
        "no limit, no container percentage"
    );
}

#[test]
fn missing_and_garbled_files_are_unknowns() {
    let c = CgroupV2::read_dir(&fixture("partial")).expect("cgroup v2");
    assert_eq!(c.memory_max_bytes, Some(1 << 30));
    assert_eq!(c.memory_current_bytes, None);
    assert_eq!(c.effective_cpus(), None);
    assert_eq!(c.cpu_usage_usec, None);
}

#[test]
fn cgroup_v1_and_absent_directories_are_not_v2() {
    assert_eq!(CgroupV2::read_dir(&fixture("v1")), None);
    assert_eq!(CgroupV2::read_dir(&fixture("does-not-exist")), None);
}

#[test]
fn this_machine_reads_without_panicking() {
    // Inside a container this finds limits; on a host without cgroup v2 it is None.
    if let Some(c) = CgroupV2::read_own() {
        if let Some(p) = c.memory_percent() {
            assert!((0.0..=100.0).contains(&p), "{p}");
        }
        if let Some(cpus) = c.effective_cpus() {
            assert!(cpus > 0.0);
        }
    }
}
