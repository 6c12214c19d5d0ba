//! Node binding for Sonde (napi-rs). The addon exports `NativeSonde` (and the HTTP layer:
//! `NativeRecorder`, `NativeHttpApi`); `index.js` builds the
//! public API on it (promises, timing helpers, middleware, exit hooks). Conversion and
//! delegation to sonde-core only; errors become JS `Error` objects in `errors.rs`.

mod client;
mod errors;
mod hot;
mod http;
mod js_sink;
mod slot;

pub use client::NativeSonde;
pub use http::{anonymize, NativeHttpApi, NativeRecorder};
