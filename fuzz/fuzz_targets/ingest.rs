//! Ingest parsing and validation of any bytes a collector may receive: as the application's
//! own ingest, as the public collector, and as a dry run. Errors are fine; a panic is not.
//! Ingest's own JSON reader must also refuse exactly what serde_json refuses (numbers out
//! of the f64 range aside: inside `properties`, `traits` or `context` they refuse the item,
//! not the request).
#![no_main]

#[path = "common/client.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use sonde_core::MessageType;

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
    let _ = sonde.ingest(data);
    let _ = sonde.collect(data, Some(MessageType::Track));
    common::drain_one(sonde);
});
