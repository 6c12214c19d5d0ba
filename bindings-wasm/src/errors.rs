//! The one place core errors become JavaScript `Error` objects: `name` "SondeError", `code`
//! the core's stable code, `violations` every problem (`{path, code, message}`).

use wasm_bindgen::JsValue;

/// A core error as a JS `Error` with `code` and `violations`.
pub fn to_js(e: &sonde_core::Error) -> JsValue {
    let error = js_sys::Error::new(&e.to_string());
    error.set_name("SondeError");
    let violations: Vec<serde_json::Value> = e
        .violations()
        .iter()
        .map(|v| serde_json::json!({"path": v.path, "code": v.code, "message": v.message}))
        .collect();
    let list = js_sys::JSON::parse(&serde_json::Value::Array(violations).to_string())
        .unwrap_or_else(|_| js_sys::Array::new().into());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &e.code().into());
    let _ = js_sys::Reflect::set(&error, &"violations".into(), &list);
    error.into()
}
