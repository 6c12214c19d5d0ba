//! `EngineSlot`: the one place `unsafe` lives in the binding. The client's engine sits behind
//! an atomic pointer so that `reconfigure` can swap in a new one while other threads use the
//! old one, and the child of a fork can install a fresh one without touching locks other
//! parent threads may have held.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::engine::Engine;

/// An engine pointer from `Box::into_raw`, kept to be freed when the slot is dropped.
struct Retired(*mut Engine);

// SAFETY: the pointer is only dereferenced as `&Engine` (which is Sync) and freed once, in
// `EngineSlot::take_all`.
unsafe impl Send for Retired {}

/// Holds the current engine; engines it replaced stay alive (idle) until the slot is dropped,
/// since a call that loaded one just before a swap may still be using it.
pub struct EngineSlot {
    current: AtomicPtr<Engine>,
    retired: Mutex<Vec<Retired>>,
}

impl EngineSlot {
    pub fn new(engine: Engine) -> Self {
        Self {
            current: AtomicPtr::new(Box::into_raw(Box::new(engine))),
            retired: Mutex::new(Vec::new()),
        }
    }

    /// The current engine.
    pub fn get(&self) -> &Engine {
        // SAFETY: the pointer always comes from `Box::into_raw` (never null while `&self`
        // exists: only `take_all`, which needs `&mut self`, nulls it) and every engine it ever
        // pointed to stays allocated until `take_all`.
        unsafe { &*self.current.load(Ordering::Acquire) }
    }

    /// Installs `engine`; returns the one it replaced, which stays allocated (retired) for as
    /// long as the slot.
    pub fn replace(&self, engine: Engine) -> &Engine {
        let old = self
            .current
            .swap(Box::into_raw(Box::new(engine)), Ordering::AcqRel);
        self.retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Retired(old));
        // SAFETY: `old` came from `Box::into_raw` and is freed only by `take_all`.
        unsafe { &*old }
    }

    /// In the child of a fork: installs `engine` without touching the previous one or the
    /// retired list (their locks may be held by parent threads that do not exist here). The
    /// previous engine is leaked on purpose.
    pub fn replace_after_fork(&self, engine: Engine) {
        self.current
            .store(Box::into_raw(Box::new(engine)), Ordering::Release);
    }

    /// Every engine the slot owns (the current one first), emptying it.
    pub fn take_all(&mut self) -> Vec<Engine> {
        let current = std::mem::replace(self.current.get_mut(), std::ptr::null_mut());
        if current.is_null() {
            return Vec::new();
        }
        let retired = std::mem::take(
            self.retired
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        // SAFETY: every pointer came from `Box::into_raw` and is turned back into a box only
        // here, once (the slot is empty afterwards); `&mut self` means no call is using any.
        std::iter::once(current)
            .chain(retired.into_iter().map(|r| r.0))
            .map(|e| *unsafe { Box::from_raw(e) })
            .collect()
    }
}
