//! Instances (processes, on one host or several) sharing a store, and the statistics each
//! publishes there, so any of them can answer with the statistics of all.

use serde::Serialize;

use crate::event::Timestamp;
#[cfg(not(target_arch = "wasm32"))]
use crate::ids::IdGenerator;
use crate::stats::StatsSnapshot;

/// One running client: who it is and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// Random, new for every client (a forked child gets its own).
    pub id: String,
    /// The machine's host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// When the client started.
    pub started_at: Timestamp,
}

impl Instance {
    /// This process, starting now (`now_ms`). Native targets only. The id comes from OS entropy, never from the
    /// client's `random_seed`: workers forked with one seed must still differ.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn current(now_ms: i64) -> Self {
        let pid = std::process::id();
        let ids = IdGenerator::from_entropy(u64::from(pid) ^ (now_ms as u64).rotate_left(32));
        Self {
            id: ids.uuid_v4(),
            host: host_name(),
            pid,
            started_at: Timestamp::from_millis(now_ms),
        }
    }
}

/// The host name, from the kernel where it says, else the environment.
#[cfg(not(target_arch = "wasm32"))]
fn host_name() -> String {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned());
    from_kernel
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// An instance's latest published statistics, as another instance reads them.
#[derive(Debug, Clone)]
pub struct PublishedInstance {
    /// Who published.
    pub instance: Instance,
    /// When it last published.
    pub last_seen: Timestamp,
    /// What it published.
    pub snapshot: StatsSnapshot,
}

/// How long a published row is kept after its instance stopped publishing.
pub const INSTANCE_RETENTION_MS: i64 = 86_400_000;
