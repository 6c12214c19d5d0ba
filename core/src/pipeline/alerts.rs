//! Alert evaluation for a client: host samples and application metrics in, alert rules
//! evaluated, `$alert` events sent through the pipeline and callbacks called.

use crate::alert::{AlertEngine, AppMetrics};
#[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
use crate::host::{HostSampler, HostSnapshot};

/// What a client keeps between evaluations.
pub(super) struct AlertRuntime {
    pub engine: AlertEngine,
    pub app: AppMetrics,
    /// Created on first use, so clients that never evaluate pay nothing.
    #[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
    pub sampler: Option<HostSampler>,
    #[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
    pub host_metrics: bool,
}

impl AlertRuntime {
    pub fn new(engine: AlertEngine, #[allow(unused_variables)] host_metrics: bool) -> Self {
        Self {
            engine,
            app: AppMetrics::default(),
            #[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
            sampler: None,
            #[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
            host_metrics,
        }
    }

    /// A host sample, when the platform and the configuration allow one.
    #[cfg(all(feature = "host-metrics", not(target_arch = "wasm32")))]
    pub fn sample_host(&mut self) -> Option<HostSnapshot> {
        if !self.host_metrics {
            return None;
        }
        if self.sampler.is_none() {
            self.sampler = HostSampler::new().ok();
        }
        self.sampler.as_mut().map(HostSampler::sample)
    }
}
