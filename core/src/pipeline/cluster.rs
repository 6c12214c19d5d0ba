//! Statistics across instances: a client with a store publishes its snapshot there at the
//! metrics interval, and answers for every instance that published recently (the exact
//! merge: counts add, sketches merge) with a breakdown per instance.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::Sonde;
use crate::error::Result;
use crate::event::Timestamp;
#[cfg(not(target_arch = "wasm32"))]
use crate::stats::{exposition, ExpositionContext, ExpositionFormat};
use crate::stats::{Counters, StatsSnapshot};
use crate::store::{Instance, Store};

/// How a client takes part: the store it shares and who it is there.
pub(super) struct Cluster {
    pub store: Arc<dyn Store>,
    pub instance: Instance,
    pub interval: Duration,
}

/// Instances count as live while they published within this many intervals.
const LIVE_INTERVALS: u32 = 3;

/// The statistics of every live instance sharing the store.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStats {
    /// The exact merge of every live instance's latest snapshot (this one's taken now).
    pub merged: StatsSnapshot,
    /// One entry per live instance, this one included.
    pub instances: Vec<InstanceStats>,
}

/// One instance in [`ClusterStats`].
#[derive(Debug, Clone, Serialize)]
pub struct InstanceStats {
    /// Who it is (id, host, pid, start time).
    #[serde(flatten)]
    pub instance: Instance,
    /// When its snapshot was published (now, for this instance).
    pub last_seen: Timestamp,
    /// Whether this is the instance answering.
    pub current: bool,
    /// Its event counters.
    pub counters: Counters,
    /// Requests it served (every route).
    pub requests: u64,
}

fn summary(
    instance: Instance,
    last_seen: Timestamp,
    current: bool,
    s: &StatsSnapshot,
) -> InstanceStats {
    InstanceStats {
        instance,
        last_seen,
        current,
        counters: s.counters.clone(),
        requests: s.routes.values().map(|r| r.count).sum(),
    }
}

impl Sonde {
    /// Publishes this instance's statistics to the store it shares (done by the worker at
    /// the metrics interval); nothing without a store.
    pub fn publish_stats(&self) -> Result<()> {
        if self
            .inner
            .replaced
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return Ok(()); // its successor publishes these numbers
        }
        match &self.inner.cluster {
            Some(cluster) => {
                let now = self.inner.shared.clock.now_ms();
                cluster
                    .store
                    .publish_instance(&cluster.instance, &self.stats(), now)
            }
            None => Ok(()),
        }
    }

    /// Removes this instance's published statistics from the store (it was replaced, and
    /// its successor publishes its numbers). Failures are left to ageing out.
    pub fn forget_instance(&self) {
        if let Some(cluster) = &self.inner.cluster {
            let _ = cluster.store.forget_instance(&cluster.instance.id);
        }
    }

    /// This instance, when it shares a store.
    pub fn instance(&self) -> Option<&Instance> {
        self.inner.cluster.as_ref().map(|c| &c.instance)
    }

    /// The statistics of every instance that published to the shared store within three
    /// metrics intervals, merged, with this instance's own taken now. Without a store, this
    /// instance alone.
    pub fn cluster_stats(&self) -> Result<ClusterStats> {
        let mine = self.stats();
        let now = self.inner.shared.clock.now_ms();
        let Some(cluster) = &self.inner.cluster else {
            return Ok(ClusterStats {
                merged: mine,
                instances: Vec::new(),
            });
        };
        let window = cluster.interval.saturating_mul(LIVE_INTERVALS);
        let since = now.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
        let mut instances = vec![summary(
            cluster.instance.clone(),
            Timestamp::from_millis(now),
            true,
            &mine,
        )];
        let mut merged = mine;
        for other in cluster.store.instances(since)? {
            if other.instance.id == cluster.instance.id {
                continue;
            }
            merged.merge(&other.snapshot)?;
            instances.push(summary(
                other.instance,
                other.last_seen,
                false,
                &other.snapshot,
            ));
        }
        Ok(ClusterStats { merged, instances })
    }

    /// [`Sonde::cluster_stats`] (with the alerts firing here) in the Prometheus text format
    /// or OpenMetrics, as `/metrics` serves it.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn metrics_text(&self, format: ExpositionFormat) -> Result<String> {
        let cluster = self.cluster_stats()?;
        let alerts = self.alerts();
        let context = ExpositionContext {
            instances: cluster.instances.len().max(1),
            alerts: &alerts,
        };
        Ok(exposition(&cluster.merged, context, format))
    }
}
