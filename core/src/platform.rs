//! Thread-safety bounds that hold on native targets and vanish on wasm32, where host objects
//! (JS functions, clocks) are not `Send` and there are no threads to share them with.

#[cfg(not(target_arch = "wasm32"))]
mod bounds {
    /// `Send + Sync` on native targets; no bound on wasm32.
    pub trait MaybeSendSync: Send + Sync {}
    impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}
}

#[cfg(target_arch = "wasm32")]
mod bounds {
    /// `Send + Sync` on native targets; no bound on wasm32.
    pub trait MaybeSendSync {}
    impl<T: ?Sized> MaybeSendSync for T {}
}

pub use bounds::MaybeSendSync;

/// True where the core can run its own worker thread.
pub const HAS_THREADS: bool = cfg!(not(target_arch = "wasm32"));
