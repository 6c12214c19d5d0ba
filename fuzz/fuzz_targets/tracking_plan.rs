//! Tracking-plan compilation (a JSON-Schema subset), and a client built from any options.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sonde_core::{Config, TrackingPlan};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = TrackingPlan::from_json_str(text);
    if let Ok(options) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = Config::from_options(&options);
    }
});
