//! The one place core errors become JavaScript `Error` objects: `name` "SondeError", `code`
//! the core's stable code, `violations` every problem (`{path, code, message}`).

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

/// `target[key] = value`; setting a property on a fresh plain object cannot fail.
pub(crate) fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &key.into(), value);
}

/// A core error as a JS `Error` with `code` and `violations`.
pub fn to_js(e: &sonde_core::Error) -> JsValue {
    let error = js_sys::Error::new(&e.to_string());
    error.set_name("SondeError");
    // Built as objects, not JSON text: `Value`'s `Display` would bring core::fmt's pretty
    // printer into the module.
    let list = Array::new();
    for v in e.violations() {
        let item = Object::new();
        set(&item, "path", &v.path.as_str().into());
        set(&item, "code", &v.code.as_str().into());
        set(&item, "message", &v.message.as_str().into());
        list.push(&item);
    }
    set(&error, "code", &e.code().into());
    set(&error, "violations", &list);
    error.into()
}
