//! Statistics that continue when a client replaces another (a binding's run-time
//! reconfiguration builds a new client): the new one counts what the old one counted, so
//! counters never go back (Prometheus would read a drop as a reset) and `/statistics` does
//! not forget the requests served before the change.

use super::{lock, Sonde};
use crate::stats::StatsSnapshot;

/// The client a client replaced: running while it drains, then only its final numbers.
pub(super) enum Predecessor {
    Running(Sonde),
    Settled(Box<StatsSnapshot>),
}

impl Predecessor {
    /// Its statistics as a successor adds them: the outboxes' pending figures describe the
    /// shared file, which the successor reports itself, so only its own counts are added.
    fn snapshot(&self) -> StatsSnapshot {
        let mut snapshot = match self {
            Self::Running(sonde) => sonde.stats(),
            Self::Settled(snapshot) => (**snapshot).clone(),
        };
        for outbox in snapshot.outboxes.values_mut() {
            outbox.pending_batches = 0;
            outbox.pending_events = 0;
            outbox.pending_bytes = 0;
        }
        snapshot
    }
}

impl Sonde {
    /// Takes over `previous`'s statistics: from now on this client's statistics include
    /// everything `previous` counted (and, through it, its own predecessors). Call it when
    /// this client replaces `previous`, then [`Sonde::settle_predecessor`] once `previous`
    /// has delivered what it held. `previous`'s row among the instances sharing the store
    /// is removed, since this client now publishes its numbers.
    pub fn continue_from(&self, previous: &Sonde) {
        *lock(&self.inner.predecessor) = Some(Predecessor::Running(previous.clone()));
        previous
            .inner
            .replaced
            .store(true, std::sync::atomic::Ordering::Release);
        previous.forget_instance();
    }

    /// Keeps only the final statistics of the client this one replaced, releasing it.
    pub fn settle_predecessor(&self) {
        let mut slot = lock(&self.inner.predecessor);
        if let Some(Predecessor::Running(previous)) = slot.as_ref() {
            let last = previous.stats();
            previous.forget_instance();
            *slot = Some(Predecessor::Settled(Box::new(last)));
        }
    }

    /// Adds the predecessor's statistics, if any, into `snapshot`.
    pub(super) fn add_predecessor(&self, snapshot: &mut StatsSnapshot) {
        let previous = lock(&self.inner.predecessor)
            .as_ref()
            .map(Predecessor::snapshot);
        if let Some(previous) = previous {
            let taken_at = snapshot.taken_at;
            // Sketches of one accuracy always merge; a failure would only lose latency.
            let _ = snapshot.merge(&previous);
            snapshot.taken_at = taken_at;
        }
    }
}
