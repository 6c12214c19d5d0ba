//! Statistics snapshots from another process: decoding, merging (twice, with itself) and
//! writing back. Hostile sketches must be refused, never panic or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sonde_core::StatsSnapshot;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(snapshot) = StatsSnapshot::from_json(text) {
        let mut merged = snapshot.clone();
        if merged.merge(&snapshot).is_ok() {
            let _ = merged.merge(&snapshot);
        }
        let _ = StatsSnapshot::from_json(&merged.to_json());
    }
});
