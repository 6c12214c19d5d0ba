//! The one place core errors become JavaScript `Error` objects: `code` is the core's stable
//! code and `violations` lists every problem (`{path, code, message}`).

use napi::bindgen_prelude::JsObjectValue;
use napi::{Env, Error, Status};

/// Throws `e` as a JS `Error` with `code` and `violations`; the returned error tells napi
/// the exception is already pending.
pub fn throw(env: &Env, e: &sonde_core::Error) -> Error {
    match to_js(env, e) {
        Ok(object) => match env.throw(object) {
            Ok(()) => Error::from_status(Status::PendingException),
            Err(failure) => failure,
        },
        Err(failure) => failure,
    }
}

fn to_js<'env>(
    env: &'env Env,
    e: &sonde_core::Error,
) -> napi::Result<napi::bindgen_prelude::Object<'env>> {
    let mut object = env.create_error(Error::new(Status::GenericFailure, e.to_string()))?;
    // The same name as the browser package's errors, so one `catch` works everywhere.
    object.set_named_property("name", "SondeError")?;
    object.set_named_property("code", e.code())?;
    let list: Vec<JsViolation> = e
        .violations()
        .iter()
        .map(|v| JsViolation {
            path: v.path.clone(),
            code: v.code.clone(),
            message: v.message.clone(),
        })
        .collect();
    object.set_named_property("violations", list)?;
    Ok(object)
}

/// One violation as a JS object.
#[napi_derive::napi(object)]
pub struct JsViolation {
    pub path: String,
    pub code: String,
    pub message: String,
}

/// Every violation as JSON.
pub fn violations(e: &sonde_core::Error) -> serde_json::Value {
    serde_json::Value::Array(
        e.violations()
            .iter()
            .map(|v| serde_json::json!({"path": v.path, "code": v.code, "message": v.message}))
            .collect(),
    )
}

/// A core error as plain data, for promises: the JS layer turns it into an `Error`.
pub fn as_data(e: &sonde_core::Error) -> serde_json::Value {
    serde_json::json!({"code": e.code(), "message": e.to_string(), "violations": violations(e)})
}

/// An argument the binding itself refuses (wrong type or shape), as a JS `TypeError` code.
pub fn invalid_argument(message: impl Into<String>) -> sonde_core::Error {
    sonde_core::Error::new(sonde_core::ErrorKind::InvalidConfig, message)
}

/// Runs work on libuv's thread pool with a panic turned into a rejected promise: napi-rs
/// catches panics in methods (`catch_unwind`), not in `Task::compute`, and a panic there
/// would abort the process.
pub fn unpanicked<T>(work: impl FnOnce() -> T) -> napi::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        napi::Error::from_reason(format!("internal error in sonde (please report it): {why}"))
    })
}
