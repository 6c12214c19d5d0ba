//! Python binding for Sonde (PyO3 + maturin, abi3). The package is `sonde`; this native
//! module is `sonde._native`. Conversion and delegation to sonde-core only: arguments become
//! Rust values at once, core work runs with the GIL released, core errors map to Python
//! exceptions in `errors.rs`.

mod client;
mod convert;
mod engine;
mod errors;
mod http;
mod report;
mod slot;
mod tools;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<client::Client>()?;
    m.add_class::<tools::AlertEngine>()?;
    m.add_class::<http::RequestRecorder>()?;
    m.add_class::<http::Exchange>()?;
    m.add_class::<http::HttpApi>()?;
    m.add_function(wrap_pyfunction!(tools::merge_stats, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("CORE_VERSION", sonde_core::Library::default().version)?;
    Ok(())
}
