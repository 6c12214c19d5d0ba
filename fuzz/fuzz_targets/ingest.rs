//! Ingest parsing and validation of any bytes a collector may receive: as the application's
//! own ingest, as the public collector, and as a dry run. Errors are fine; a panic is not.
#![no_main]

#[path = "common/client.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use sonde_core::MessageType;

fuzz_target!(|data: &[u8]| {
    let sonde = common::client();
    let _ = sonde.validate_request(data, None);
    let _ = sonde.ingest(data);
    let _ = sonde.collect(data, Some(MessageType::Track));
    common::drain_one(sonde);
});
