//! `EngineSlot`: the client's current engine. `reconfigure` swaps in a new one while other
//! threads may still be using the old one, and the child of a fork installs a fresh one
//! without touching locks that parent threads (absent in the child) may have held.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::engine::Engine;

/// Holds the current engine. A replaced engine is freed when the last call that loaded it
/// ends, so reconfiguring many times keeps one engine, not one per change.
pub struct EngineSlot {
    current: ArcSwap<Engine>,
}

/// The engine a call uses, held for the length of the call (a lock-free load).
pub type EngineGuard = Guard<Arc<Engine>>;

impl EngineSlot {
    pub fn new(engine: Engine) -> Self {
        Self {
            current: ArcSwap::from_pointee(engine),
        }
    }

    /// The current engine.
    pub fn load(&self) -> EngineGuard {
        self.current.load()
    }

    /// The current engine as an owned handle, for work that outlives a borrow of the client.
    pub fn load_full(&self) -> Arc<Engine> {
        self.current.load_full()
    }

    /// Installs `engine`; returns the one it replaced, freed when its last user lets go.
    pub fn replace(&self, engine: Engine) -> Arc<Engine> {
        self.current.swap(Arc::new(engine))
    }

    /// In the child of a fork: installs `engine` and leaks the previous one on purpose:
    /// dropping it would join a worker thread and take locks that do not exist here.
    pub fn replace_after_fork(&self, engine: Engine) {
        std::mem::forget(self.current.swap(Arc::new(engine)));
    }
}
