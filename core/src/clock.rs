//! The one source of time. `SystemTime::now()` and `Instant::now()` panic on
//! wasm32-unknown-unknown, so nothing in the core calls them except [`SystemClock`], which
//! only exists on native targets; the browser binding supplies its own [`Clock`].

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::platform::MaybeSendSync;

/// Wall-clock and monotonic time.
pub trait Clock: MaybeSendSync {
    /// Milliseconds since the Unix epoch (UTC), for event timestamps.
    fn now_ms(&self) -> i64;
    /// Nanoseconds from an arbitrary origin that never goes backwards, for durations.
    fn monotonic_ns(&self) -> u64;
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clocks (native targets only).
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug)]
pub struct SystemClock {
    origin: std::time::Instant,
}

#[cfg(not(target_arch = "wasm32"))]
impl SystemClock {
    /// The system clocks.
    pub fn new() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            // A clock set before 1970: report the epoch rather than fail.
            Err(_) => 0,
        }
    }

    fn monotonic_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A clock that only moves when told to: for tests, replayed vectors and hosts that push time in.
#[derive(Debug, Default)]
pub struct ManualClock {
    wall_ms: AtomicI64,
    mono_ns: AtomicU64,
}

impl ManualClock {
    /// A clock at `start_ms` (wall) and 0 (monotonic).
    pub fn new(start_ms: i64) -> Self {
        Self {
            wall_ms: AtomicI64::new(start_ms),
            mono_ns: AtomicU64::new(0),
        }
    }

    /// Moves both clocks forward.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.wall_ms.fetch_add(ms, Ordering::SeqCst);
        self.mono_ns.fetch_add(ns, Ordering::SeqCst);
    }

    /// Sets the wall clock (the monotonic clock is unaffected, as with a real clock change).
    pub fn set_ms(&self, ms: i64) {
        self.wall_ms.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.wall_ms.load(Ordering::SeqCst)
    }

    fn monotonic_ns(&self) -> u64 {
        self.mono_ns.load(Ordering::SeqCst)
    }
}

/// The default clock of this platform, or `None` where the host must provide one (wasm32).
pub fn platform_clock() -> Option<SharedClock> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        Some(Arc::new(SystemClock::new()))
    }
    #[cfg(target_arch = "wasm32")]
    {
        None
    }
}
