//! Ingest parsing and validation of any bytes a collector may receive: as the application's
//! own ingest, as the public collector, and as a dry run. Errors are fine; a panic is not.
//! Ingest's own JSON reader must also refuse exactly what serde_json refuses (numbers out
//! of the f64 range aside: inside `properties`, `traits` or `context` they refuse the item,
//! not the request). And the core's one JSON parser (behind `object_arg`, options, plans and
//! raw objects) must build exactly serde_json's values.
#![no_main]

#[path = "common/client.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sonde_core::event::object_arg;
use sonde_core::MessageType;

/// The core's parser against serde_json's on the same text: the same object (numbers of the
/// same kind, so compared as printed), or both refuse.
fn same_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = object_arg(Some(text), "fuzzed").ok();
    let theirs = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Some(map),
        Ok(Value::Null) => Some(serde_json::Map::new()),
        Ok(_) => None,
        Err(_) if text.contains("$serde_json::private::RawValue") => return,
        Err(_) => None,
    };
    let printed = |m: &Option<serde_json::Map<String, Value>>| {
        m.as_ref().map(|m| Value::Object(m.clone()).to_string())
    };
    assert_eq!(printed(&ours), printed(&theirs), "parsed differently from serde_json");
}

fuzz_target!(|data: &[u8]| {
    let sonde = common::client();
    let checked = sonde.validate_request(data, None);
    let not_json = matches!(&checked, Err(e) if e.violations().iter().any(|v| v.code == "invalid_json"));
    match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(_) => assert!(!not_json, "refused JSON serde_json reads"),
        Err(e) if e.to_string().contains("number out of range") => {}
        // serde_json's private token for raw values makes it refuse an object that is JSON.
        Err(_) if data.windows(30).any(|w| w == b"$serde_json::private::RawValue") => {}
        Err(e) => assert!(
            not_json || matches!(&checked, Err(e) if e.code() == "batch_too_large"),
            "accepted what serde_json refuses: {e}"
        ),
    }
    same_parse(data);
    let _ = sonde.ingest(data);
    let _ = sonde.collect(data, Some(MessageType::Track));
    common::drain_one(sonde);
});
