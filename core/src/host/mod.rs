//! Host facts: the container's cgroup v2 limits (everywhere, no platform crate), and with the
//! `host-metrics` feature on native targets a sampler of CPU, memory, disk, network and
//! process figures that bases percentages on the container's limits when it has some.

mod cgroup;
#[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
mod sampler;

pub use cgroup::CgroupV2;
#[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
pub use sampler::{ContainerUsage, DiskUsage, HostSampler, HostSnapshot, ProcessUsage};

/// What [`crate::Sonde::system_metrics`] returns: a [`HostSnapshot`] where host metrics exist.
#[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
pub type SystemMetrics = HostSnapshot;

/// What [`crate::Sonde::system_metrics`] returns; never produced without host metrics (the
/// call reports `unsupported`).
#[cfg(not(all(feature = "host-metrics", not(target_arch = "wasm32"))))]
pub type SystemMetrics = std::convert::Infallible;
