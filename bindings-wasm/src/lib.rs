//! Browser binding for Sonde (wasm-bindgen). Not built yet: the browser issue fills this
//! crate. It exists so the workspace layout is final and CI checks it for wasm32 from the start.

pub use sonde_core::Library;
