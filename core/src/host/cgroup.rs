//! cgroup v2 limits and usage: `memory.max`, `memory.current`, `cpu.max`, `cpu.stat`.
//! psutil-style tools read the host's memory and CPU count inside a container; these files
//! say what the container may actually use.

/// What a cgroup v2 directory says about limits and usage. Fields are `None` when a file
/// is missing or unreadable; limits are `None` when set to `max` (no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CgroupV2 {
    /// `memory.max` in bytes.
    pub memory_max_bytes: Option<u64>,
    /// `memory.current` in bytes.
    pub memory_current_bytes: Option<u64>,
    /// The quota of `cpu.max` in microseconds per period.
    pub cpu_quota_us: Option<u64>,
    /// The period of `cpu.max` in microseconds.
    pub cpu_period_us: Option<u64>,
    /// `usage_usec` of `cpu.stat`: CPU time used, all cores together.
    pub cpu_usage_usec: Option<u64>,
}

impl CgroupV2 {
    /// Reads the files through `read` (file name → contents). `None` when this is not a
    /// cgroup v2 directory (no `cgroup.controllers`, as under cgroup v1).
    pub fn parse(read: impl Fn(&str) -> Option<String>) -> Option<Self> {
        read("cgroup.controllers")?;
        let number = |text: &str| text.trim().parse::<u64>().ok();
        let memory_max_bytes = read("memory.max").and_then(|t| number(&t));
        let memory_current_bytes = read("memory.current").and_then(|t| number(&t));
        let (cpu_quota_us, cpu_period_us) = match read("cpu.max") {
            Some(text) => {
                let mut parts = text.split_whitespace();
                let quota = parts.next().and_then(number);
                let period = parts.next().and_then(number);
                (quota, period)
            }
            None => (None, None),
        };
        let cpu_usage_usec = read("cpu.stat").and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("usage_usec "))
                .and_then(number)
        });
        Some(Self {
            memory_max_bytes,
            memory_current_bytes,
            cpu_quota_us,
            cpu_period_us,
            cpu_usage_usec,
        })
    }

    /// CPUs the quota allows (1.5 for `150000 100000`), `None` without a quota.
    pub fn effective_cpus(&self) -> Option<f64> {
        match (self.cpu_quota_us, self.cpu_period_us) {
            (Some(q), Some(p)) if p > 0 => Some(q as f64 / p as f64),
            _ => None,
        }
    }

    /// Memory used as a percentage of the limit, `None` without a limit.
    pub fn memory_percent(&self) -> Option<f64> {
        match (self.memory_current_bytes, self.memory_max_bytes) {
            (Some(used), Some(max)) if max > 0 => {
                Some((used as f64 / max as f64 * 100.0).min(100.0))
            }
            _ => None,
        }
    }

    /// Reads a cgroup v2 directory.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_dir(dir: &std::path::Path) -> Option<Self> {
        Self::parse(|name| std::fs::read_to_string(dir.join(name)).ok())
    }

    /// This process's own cgroup (from `/proc/self/cgroup`, under `/sys/fs/cgroup`), when the
    /// system uses cgroup v2.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_own() -> Option<Self> {
        let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        Self::read_member(&membership, std::path::Path::new("/sys/fs/cgroup"))
    }

    /// The cgroup a `/proc/<pid>/cgroup` text names, read under the cgroup v2 mount `root`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_member(membership: &str, root: &std::path::Path) -> Option<Self> {
        // cgroup v2 has a single line "0::/path"; cgroup v1 lists one line per hierarchy.
        let path = membership.lines().find_map(|l| l.strip_prefix("0::"))?;
        Self::read_dir(&root.join(path.trim_start_matches('/')))
    }
}
