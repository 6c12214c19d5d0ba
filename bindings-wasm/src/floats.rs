//! The page's number text as the core's, for the numbers its fast paths leave (to read:
//! past 2^53 or 10^±22; to write: past three decimals or 2^33): `parseFloat` and
//! `Number.prototype.toExponential`, so std's parser and serde_json's formatter, with their
//! tables, stay out of the `.wasm`. ECMAScript rounds decimal text to the nearest double and
//! writes the shortest digits that read back, as they do.

use sonde_core::event::{set_float_text, FloatText};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    type JsNumber;

    /// `x.toExponential()`: no argument, so as many digits as it takes and no more.
    #[wasm_bindgen(method, js_name = toExponential)]
    fn to_exponential(this: &JsNumber) -> String;
}

fn exponential(x: f64) -> String {
    JsValue::from_f64(x)
        .unchecked_into::<JsNumber>()
        .to_exponential()
}

/// Makes the page's number text the core's (idempotent).
pub fn register() {
    set_float_text(FloatText {
        parse: js_sys::Number::parse_float,
        exponential,
    });
}
