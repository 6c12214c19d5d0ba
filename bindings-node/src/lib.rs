//! Node binding for Sonde (napi-rs). Not built yet: the "Node package" issue fills this
//! crate. It exists so the workspace layout is final and `cargo clippy --workspace` covers it.

pub use sonde_core::Library;
