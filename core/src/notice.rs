//! What a client tells its host about events it lost after accepting them (and, in debug
//! mode, about deliveries): the material for the bindings' logging and error callbacks
//! (`on_error`, `onError`), so a failure does not stay invisible until someone reads
//! `stats()`. The buffer collects notices while it holds its lock; the client hands them
//! to the hook once the lock is released, at most once per [`NOTICE_INTERVAL_MS`]: a flood
//! that evicts an event per call is one report a second, not one per event (measured
//! before: 800,000 log lines for a 1M-event flood), and each report keeps at most
//! [`NOTICE_SAMPLE`] of its events.

use crate::error::{Error, ErrorKind};
use crate::stats::DropReason;

/// The shortest time between two handovers of notices to the host.
pub const NOTICE_INTERVAL_MS: u64 = 1_000;

/// The most events one notice carries; `LostEvents::count` has them all.
pub const NOTICE_SAMPLE: usize = 100;

/// At most one log line per key (an error code, say) and [`NOTICE_INTERVAL_MS`], for
/// messages a binding writes per call (an invalid event under `on_invalid="warn"`): a hot
/// loop of mistakes is a line a second that says how many it stands for, not a line each.
#[derive(Debug, Default)]
pub struct LogThrottle {
    /// Per key: when a line was last written, and how many were held back since.
    seen: std::collections::HashMap<String, (u64, u64)>,
}

impl LogThrottle {
    /// Whether a line for `key` may be written at `now_ms` (monotonic); if so, how many were
    /// held back since the previous one. A held-back line is counted.
    pub fn admit(&mut self, key: &str, now_ms: u64) -> Option<u64> {
        match self.seen.get_mut(key) {
            Some((at, held)) if now_ms < at.saturating_add(NOTICE_INTERVAL_MS) => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                let before = *held;
                *at = now_ms;
                *held = 0;
                Some(before)
            }
            None => {
                self.seen.insert(key.to_owned(), (now_ms, 0));
                Some(0)
            }
        }
    }
}

/// Events dropped together for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostEvents {
    /// Why, as counted in the statistics.
    pub reason: DropReason,
    /// What went wrong, for people (a sink's last error, say).
    pub detail: String,
    /// How many events were lost.
    pub count: u64,
    /// The first [`NOTICE_SAMPLE`] of them, as the JSON they would have been delivered as.
    pub events: Vec<Box<str>>,
}

impl LostEvents {
    /// The loss as an error: its kind and code follow the reason.
    pub fn to_error(&self) -> Error {
        let kind = match self.reason {
            DropReason::QueueFull => ErrorKind::QueueFull,
            DropReason::Oversize => ErrorKind::PayloadTooLarge,
            DropReason::ShutdownTimeout => ErrorKind::Timeout,
            DropReason::Invalid => ErrorKind::InvalidEvent,
            _ => ErrorKind::SinkFailed,
        };
        let count = self.count;
        let plural = if count == 1 { "" } else { "s" };
        Error::new(
            kind,
            format!(
                "{count} event{plural} dropped ({}): {}",
                self.reason.as_str(),
                self.detail
            ),
        )
    }
}

/// One thing the host is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Accepted events that will never be delivered.
    Lost(LostEvents),
    /// A batch every sink took (debug mode only).
    Delivered {
        /// The batch's id.
        batch: u64,
        /// How many events it held.
        events: usize,
    },
}

impl Notice {
    /// The notice as JSON text for a JS host: `{"kind":"lost","reason","code","message",
    /// "events":[...]}` (the events as delivered) or `{"kind":"delivered","batch","events"}`.
    pub fn to_json(&self) -> String {
        match self {
            Notice::Delivered { batch, events } => {
                format!("{{\"kind\":\"delivered\",\"batch\":{batch},\"events\":{events}}}")
            }
            Notice::Lost(lost) => {
                let error = lost.to_error();
                let mut out = String::with_capacity(
                    128 + lost.events.iter().map(|e| e.len() + 1).sum::<usize>(),
                );
                out.push_str("{\"kind\":\"lost\",\"reason\":");
                out.push_str(&crate::event::json::quoted(lost.reason.as_str()));
                out.push_str(",\"code\":");
                out.push_str(&crate::event::json::quoted(error.code()));
                out.push_str(",\"message\":");
                out.push_str(&crate::event::json::quoted(&error.to_string()));
                out.push_str(&format!(",\"count\":{}", lost.count));
                out.push_str(",\"events\":[");
                for (i, event) in lost.events.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(event);
                }
                out.push_str("]}");
                out
            }
        }
    }
}

/// The notices a buffer collects while locked; nothing is collected unless asked.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    /// Collect losses (a hook is installed).
    pub losses: bool,
    /// Collect deliveries too (debug mode).
    pub deliveries: bool,
    pending: Vec<Notice>,
    /// When notices were last handed over (monotonic ms).
    last_told_ms: Option<u64>,
}

impl Notices {
    /// Records lost events; consecutive losses for the same reason and detail are one
    /// notice (an eviction burst is one report, not thousands). `detail` is only made when
    /// a hook listens.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn lose(
        &mut self,
        reason: DropReason,
        detail: impl FnOnce() -> String,
        events: impl IntoIterator<Item = Box<str>>,
    ) {
        if !self.losses {
            return;
        }
        let detail = detail();
        let mut events = events.into_iter();
        if let Some(Notice::Lost(last)) = self.pending.last_mut() {
            if last.reason == reason && last.detail == detail {
                add_sampled(last, events);
                return;
            }
        }
        let Some(first) = events.next() else { return };
        let mut lost = LostEvents {
            reason,
            detail,
            count: 1,
            events: vec![first],
        };
        add_sampled(&mut lost, events);
        self.pending.push(Notice::Lost(lost));
    }

    /// The browser's transport reports its own losses (the core hands batches to it and
    /// counts them delivered): nothing to collect, and no code for it in the `.wasm`.
    #[cfg(target_arch = "wasm32")]
    #[inline(always)]
    pub fn lose(
        &mut self,
        _reason: DropReason,
        _detail: impl FnOnce() -> String,
        _events: impl IntoIterator<Item = Box<str>>,
    ) {
    }

    /// Records a delivered batch (debug mode).
    pub fn delivered(&mut self, batch: u64, events: usize) {
        if self.deliveries {
            self.pending.push(Notice::Delivered { batch, events });
        }
    }

    /// Takes what was collected if it is time to tell (or `now` is forced: the client is
    /// closing); otherwise it is kept, and later losses join it.
    pub fn take_due(&mut self, now_ms: u64, force: bool) -> Vec<Notice> {
        if self.pending.is_empty() || !(force || self.due_at().is_some_and(|at| now_ms >= at)) {
            return Vec::new();
        }
        self.last_told_ms = Some(now_ms);
        std::mem::take(&mut self.pending)
    }

    /// When what is held may be told; `None` when nothing is held.
    pub fn due_at(&self) -> Option<u64> {
        if self.pending.is_empty() {
            return None;
        }
        Some(
            self.last_told_ms
                .map_or(0, |at| at.saturating_add(NOTICE_INTERVAL_MS)),
        )
    }

    /// Whether anything waits to be told.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Counts `events` into `lost`, keeping the first [`NOTICE_SAMPLE`].
#[cfg(not(target_arch = "wasm32"))]
fn add_sampled(lost: &mut LostEvents, events: impl Iterator<Item = Box<str>>) {
    for event in events {
        lost.count += 1;
        if lost.events.len() < NOTICE_SAMPLE {
            lost.events.push(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_per_key_and_interval_counting_what_was_held() {
        let mut t = LogThrottle::default();
        assert_eq!(t.admit("invalid_event", 0), Some(0));
        assert_eq!(t.admit("invalid_event", 10), None);
        assert_eq!(t.admit("invalid_event", 999), None);
        // Another key has its own interval.
        assert_eq!(t.admit("payload_too_large", 500), Some(0));
        assert_eq!(t.admit("invalid_event", NOTICE_INTERVAL_MS), Some(2));
        assert_eq!(t.admit("invalid_event", NOTICE_INTERVAL_MS + 1), None);
        assert_eq!(t.admit("invalid_event", 5 * NOTICE_INTERVAL_MS), Some(1));
    }
}
