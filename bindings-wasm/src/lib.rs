//! Browser binding for Sonde (wasm-bindgen). The module exports `NativeSonde`; the ESM
//! glue in `js/` builds the public `Sonde` API on it (transport, beacons, identity
//! persistence, autocapture). Conversion and delegation to sonde-core only: objects cross
//! as JSON text, errors become JS `Error`s with `code` and `violations`.

mod client;
mod errors;
mod floats;
mod pattern;
#[cfg(feature = "vectors")]
mod vectors;

pub use client::NativeSonde;

/// The page's engines in the core: `RegExp` for schema patterns, `parseFloat` and
/// `toExponential` for number text.
pub(crate) fn register_page_engines() {
    pattern::register();
    floats::register();
}
