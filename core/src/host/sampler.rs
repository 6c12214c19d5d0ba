//! Host and process figures from sysinfo (feature `host-metrics`, native targets), with the
//! container's cgroup limits taken into account.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sysinfo::{
    CpuRefreshKind, Disks, MemoryRefreshKind, Networks, Pid, ProcessRefreshKind, ProcessesToUpdate,
    RefreshKind, System, MINIMUM_CPU_UPDATE_INTERVAL,
};

use super::CgroupV2;
use crate::error::{Error, ErrorKind};

/// File systems that are not storage: skipped in disk usage.
const PSEUDO_FILESYSTEMS: &[&str] = &[
    "tmpfs",
    "devtmpfs",
    "ramfs",
    "squashfs",
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "hugetlbfs",
    "debugfs",
    "tracefs",
    "securityfs",
    "pstore",
    "bpf",
    "autofs",
    "fusectl",
    "configfs",
    "nsfs",
];

/// Usage of one mounted file system.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskUsage {
    /// Where it is mounted.
    pub mount: String,
    /// Its file system type.
    pub file_system: String,
    /// Size in bytes.
    pub total_bytes: u64,
    /// Bytes available to unprivileged users.
    pub available_bytes: u64,
    /// Used share of the size, 0 to 100.
    pub used_percent: f64,
}

/// This process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessUsage {
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// CPU use as a percentage of one core (may exceed 100 with several threads busy);
    /// `None` until two samples exist.
    pub cpu_percent: Option<f64>,
    /// Threads, where the platform reports them.
    pub threads: Option<usize>,
    /// Open file descriptors, where the platform reports them.
    pub open_files: Option<usize>,
}

/// The container's limits and usage (cgroup v2), when there is a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerUsage {
    /// `memory.max`, `None` without a limit.
    pub memory_limit_bytes: Option<u64>,
    /// `memory.current`.
    pub memory_used_bytes: Option<u64>,
    /// Memory used as a percentage of the limit.
    pub memory_percent: Option<f64>,
    /// CPUs the quota allows, `None` without a quota.
    pub cpus: Option<f64>,
    /// CPU used as a percentage of the quota (or of all host CPUs without one); `None`
    /// until two samples exist.
    pub cpu_percent: Option<f64>,
}

/// One reading of the host. Percentages are 0 to 100; `memory_percent` and `cpu_percent`
/// are based on the container's limits when it has some.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostSnapshot {
    /// CPU use, all cores; `None` until two samples are far enough apart to measure it
    /// (never the meaningless 0.0 of a first reading).
    pub cpu_percent: Option<f64>,
    /// CPU use per core (empty until measurable).
    pub cpu_per_core: Vec<f64>,
    /// Logical CPUs of the host.
    pub cpu_count: usize,
    /// 1, 5 and 15 minute load averages, where the platform has them.
    pub load_average: Option<[f64; 3]>,
    /// Memory of the host.
    pub memory_total_bytes: u64,
    /// Memory available for new allocations.
    pub memory_available_bytes: u64,
    /// Memory in use.
    pub memory_used_bytes: u64,
    /// Memory in use, percent (of the container's limit when set).
    pub memory_percent: f64,
    /// Swap size.
    pub swap_total_bytes: u64,
    /// Swap in use.
    pub swap_used_bytes: u64,
    /// Real file systems.
    pub disks: Vec<DiskUsage>,
    /// The fullest file system, percent.
    pub disk_percent: Option<f64>,
    /// Bytes received per second over all interfaces since the previous sample.
    pub network_rx_bytes_per_sec: Option<f64>,
    /// Bytes sent per second over all interfaces since the previous sample.
    pub network_tx_bytes_per_sec: Option<f64>,
    /// This process.
    pub process: ProcessUsage,
    /// The container, when this process runs in a cgroup v2 with files to read.
    pub container: Option<ContainerUsage>,
}

impl HostSnapshot {
    /// The figures as named gauges (`host.cpu_percent`, `process.rss_bytes`, ...): what
    /// alert rules read and what the statistics snapshot carries. Unknown figures are left out.
    pub fn gauges(&self) -> BTreeMap<String, f64> {
        let c = self.container.as_ref();
        let figures: [(&str, Option<f64>); 15] = [
            ("host.cpu_percent", self.cpu_percent),
            ("host.memory_percent", Some(self.memory_percent)),
            (
                "host.memory_used_bytes",
                Some(self.memory_used_bytes as f64),
            ),
            ("host.disk_percent", self.disk_percent),
            ("host.load_1m", self.load_average.map(|l| l[0])),
            ("host.swap_used_bytes", Some(self.swap_used_bytes as f64)),
            (
                "host.network_rx_bytes_per_sec",
                self.network_rx_bytes_per_sec,
            ),
            (
                "host.network_tx_bytes_per_sec",
                self.network_tx_bytes_per_sec,
            ),
            ("process.rss_bytes", Some(self.process.rss_bytes as f64)),
            ("process.cpu_percent", self.process.cpu_percent),
            ("process.threads", self.process.threads.map(|n| n as f64)),
            (
                "process.open_files",
                self.process.open_files.map(|n| n as f64),
            ),
            ("container.memory_percent", c.and_then(|c| c.memory_percent)),
            ("container.cpu_percent", c.and_then(|c| c.cpu_percent)),
            ("container.cpus", c.and_then(|c| c.cpus)),
        ];
        figures
            .into_iter()
            .filter_map(|(name, v)| v.filter(|v| v.is_finite()).map(|v| (name.to_owned(), v)))
            .collect()
    }

    /// One gauge by name, for alert rules.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.gauges().get(name).copied()
    }
}

/// Takes [`HostSnapshot`]s, keeping what is needed to turn counters into rates.
pub struct HostSampler {
    system: System,
    disks: Disks,
    networks: Networks,
    pid: Option<Pid>,
    last_refresh: Instant,
    cpu_ready: bool,
    last_cgroup_cpu: Option<(Instant, u64)>,
    samples: u64,
}

impl std::fmt::Debug for HostSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostSampler")
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

fn unsupported(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Unsupported, format!("{what}: {e}"))
}

impl HostSampler {
    /// Primes the counters (CPU use needs two readings some time apart).
    pub fn new() -> Result<Self, Error> {
        let refresh = RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_usage())
            .with_memory(MemoryRefreshKind::everything());
        let mut system =
            System::new_with_specifics(refresh).map_err(|e| unsupported("host metrics", e))?;
        let pid = sysinfo::get_current_pid().ok();
        system.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        if let Some(pid) = pid {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing()
                    .with_cpu()
                    .with_memory()
                    .with_tasks(),
            );
        }
        let disks = Disks::new_with_refreshed_list().map_err(|e| unsupported("disks", e))?;
        let networks =
            Networks::new_with_refreshed_list().map_err(|e| unsupported("networks", e))?;
        let last_cgroup_cpu = CgroupV2::read_own()
            .and_then(|c| c.cpu_usage_usec)
            .map(|u| (Instant::now(), u));
        Ok(Self {
            system,
            disks,
            networks,
            pid,
            last_refresh: Instant::now(),
            cpu_ready: false,
            last_cgroup_cpu,
            samples: 0,
        })
    }

    /// Reads every figure now.
    pub fn sample(&mut self) -> HostSnapshot {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last_refresh);
        // Too soon after the previous reading, CPU figures would be noise: keep the
        // previous ones (sysinfo keeps them when not refreshed).
        if elapsed >= MINIMUM_CPU_UPDATE_INTERVAL {
            self.system
                .refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
            if let Some(pid) = self.pid {
                self.system.refresh_processes_specifics(
                    ProcessesToUpdate::Some(&[pid]),
                    false,
                    ProcessRefreshKind::nothing()
                        .with_cpu()
                        .with_memory()
                        .with_tasks(),
                );
            }
            self.cpu_ready = true;
        }
        self.system.refresh_memory();
        self.disks.refresh(true);
        self.networks.refresh(true);
        let secs = elapsed.as_secs_f64();
        self.last_refresh = now;
        self.samples += 1;

        let cpus = self.system.cpus();
        let (cpu_percent, cpu_per_core) = if self.cpu_ready {
            (
                Some(f64::from(self.system.global_cpu_usage()).clamp(0.0, 100.0)),
                cpus.iter()
                    .map(|c| f64::from(c.usage()).clamp(0.0, 100.0))
                    .collect(),
            )
        } else {
            (None, Vec::new())
        };
        let total = self.system.total_memory();
        let available = self.system.available_memory();
        let used = total.saturating_sub(available);
        let disks: Vec<DiskUsage> = self
            .disks
            .iter()
            .filter(|d| d.total_space() > 0)
            .filter(|d| !PSEUDO_FILESYSTEMS.contains(&d.file_system().to_string_lossy().as_ref()))
            .map(|d| DiskUsage {
                mount: d.mount_point().to_string_lossy().into_owned(),
                file_system: d.file_system().to_string_lossy().into_owned(),
                total_bytes: d.total_space(),
                available_bytes: d.available_space(),
                used_percent: percent(
                    d.total_space().saturating_sub(d.available_space()),
                    d.total_space(),
                ),
            })
            .collect();
        let disk_percent = disks.iter().map(|d| d.used_percent).reduce(f64::max);
        let (rx, tx) = self.networks.values().fold((0u64, 0u64), |(r, t), n| {
            (r + n.received(), t + n.transmitted())
        });
        let per_sec = |bytes: u64| (self.samples > 1 && secs > 0.0).then(|| bytes as f64 / secs);
        let process = self.pid.and_then(|pid| self.system.process(pid));
        let process = ProcessUsage {
            rss_bytes: process.map_or(0, |p| p.memory()),
            cpu_percent: process
                .filter(|_| self.cpu_ready)
                .map(|p| f64::from(p.cpu_usage())),
            threads: process.and_then(|p| p.tasks()).map(|t| t.len().max(1)),
            open_files: process.and_then(|p| p.open_files()),
        };
        let container = CgroupV2::read_own().map(|c| {
            let cpus_allowed = c.effective_cpus();
            let cpu_percent = match (self.last_cgroup_cpu, c.cpu_usage_usec) {
                (Some((then, before)), Some(usage)) => {
                    let wall_us = now.duration_since(then).as_secs_f64() * 1e6;
                    let capacity = cpus_allowed.unwrap_or(cpus.len().max(1) as f64);
                    (wall_us > 0.0 && usage >= before).then(|| {
                        ((usage - before) as f64 / (wall_us * capacity) * 100.0).clamp(0.0, 100.0)
                    })
                }
                _ => None,
            };
            self.last_cgroup_cpu = c.cpu_usage_usec.map(|u| (now, u));
            ContainerUsage {
                memory_limit_bytes: c.memory_max_bytes,
                memory_used_bytes: c.memory_current_bytes,
                memory_percent: c.memory_percent(),
                cpus: cpus_allowed,
                cpu_percent,
            }
        });
        let memory_percent = container
            .as_ref()
            .and_then(|c| c.memory_percent)
            .unwrap_or_else(|| percent(used, total));
        let cpu_percent = container
            .as_ref()
            .filter(|c| c.cpus.is_some())
            .and_then(|c| c.cpu_percent)
            .or(cpu_percent);
        HostSnapshot {
            cpu_percent,
            cpu_per_core,
            cpu_count: cpus.len(),
            load_average: System::load_average()
                .ok()
                .map(|l| [l.one, l.five, l.fifteen]),
            memory_total_bytes: total,
            memory_available_bytes: available,
            memory_used_bytes: used,
            memory_percent,
            swap_total_bytes: self.system.total_swap(),
            swap_used_bytes: self.system.used_swap(),
            disks,
            disk_percent,
            network_rx_bytes_per_sec: per_sec(rx),
            network_tx_bytes_per_sec: per_sec(tx),
            process,
            container,
        }
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64 * 100.0).clamp(0.0, 100.0)
    }
}
