//! A tracked event's properties as raw JSON text (the path that scans instead of parsing):
//! validation, redaction and serialization of whatever the caller passes.
#![no_main]

#[path = "common/client.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use sonde_core::{Message, Properties};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sonde = common::client();
    let message = Message::track("Fuzzed", Properties::new()).with_properties_json(text.to_owned());
    if let Ok(message) = message {
        let _ = sonde.send(message.with_user_id("u"));
    }
    common::drain_one(sonde);
});
