//! The page's own `RegExp` as the engine for the schema keyword `pattern` (ECMA-262, the
//! dialect JSON Schema specifies), so the core's regex-lite stays out of the `.wasm`.

use sonde_core::validate::{set_pattern_compiler, PatternMatcher};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = RegExp)]
    type JsRegExp;

    /// `new RegExp(pattern, flags)`; a SyntaxError comes back as `Err`, never unwinds.
    #[wasm_bindgen(constructor, js_class = "RegExp", catch)]
    fn new(pattern: &str, flags: &str) -> Result<JsRegExp, JsValue>;

    #[wasm_bindgen(method)]
    fn test(this: &JsRegExp, text: &str) -> bool;
}

struct PagePattern(JsRegExp);

impl PatternMatcher for PagePattern {
    fn is_match(&self, text: &str) -> bool {
        // No `g` or `y` flag: `test` keeps no state between calls.
        self.0.test(text)
    }
}

fn compile(pattern: &str) -> Result<Box<dyn PatternMatcher>, String> {
    match JsRegExp::new(pattern, "u") {
        Ok(re) => Ok(Box::new(PagePattern(re))),
        Err(e) => Err(js_sys::Reflect::get(&e, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| "not a valid regular expression".to_owned())),
    }
}

/// Makes the page's `RegExp` the core's pattern engine (idempotent).
pub fn register() {
    set_pattern_compiler(compile);
}
