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
fn a_process_finds_its_own_cgroup_from_its_membership_line() {
    // The fixtures folder stands for /sys/fs/cgroup; the membership text for /proc/self/cgroup.
    let root = fixture("");
    let own = CgroupV2::read_member("0::/limited\n", &root).expect("the limited cgroup");
    assert_eq!(own.memory_max_bytes, Some(512 << 20));
    let nested = CgroupV2::read_member("0::/unlimited/\n", &root).expect("trailing slash");
    assert_eq!(nested.memory_current_bytes, Some(2 << 30));
    // cgroup v1 membership (one line per controller, none "0::"): not v2.
    let v1 = "12:memory:/limited\n11:cpu,cpuacct:/limited\n";
    assert_eq!(CgroupV2::read_member(v1, &root), None);
    assert_eq!(CgroupV2::read_member("0::/does-not-exist\n", &root), None);
}

#[test]
fn this_machine_reads_without_panicking() {
    // What this machine has varies (a container with limits, a host, cgroup v1); the
    // fixtures above test the reading. Here: whatever is found is in range.
    if let Some(c) = CgroupV2::read_own() {
        if let Some(p) = c.memory_percent() {
            assert!((0.0..=100.0).contains(&p), "{p}");
        }
        if let Some(cpus) = c.effective_cpus() {
            assert!(cpus > 0.0);
        }
    }
}
