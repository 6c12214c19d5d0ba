//! Python binding for Sonde (PyO3 + maturin). Not built yet: the "Python package and FastAPI
//! integration" issue fills this crate. It exists so the workspace layout is final and
//! `cargo clippy --workspace` covers it from the start.

pub use sonde_core::Library;
