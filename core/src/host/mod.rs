//! Host facts the engine needs without any platform crate: today the container's cgroup v2
//! limits, so percentages can be based on the container and not on the host it runs on.
//! (The sampler of CPU, memory, disk and network figures lands with the `host-metrics`
//! feature.)

mod cgroup;

pub use cgroup::CgroupV2;
