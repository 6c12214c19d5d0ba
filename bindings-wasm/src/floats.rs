//! The page's `parseFloat` as the core's parser for the number text its fast path leaves
//! (more than 15 digits, or powers of ten beyond 10^22), so std's exact parser and its
//! tables stay out of the `.wasm`. ECMAScript rounds decimal text to the nearest double, as
//! std does.

use sonde_core::event::set_float_parser;

/// Makes the page's `parseFloat` the core's float parser (idempotent).
pub fn register() {
    set_float_parser(js_sys::Number::parse_float);
}
