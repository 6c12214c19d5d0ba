//! A fixed workload for `valgrind --tool=callgrind`, whose instruction counts repeat exactly
//! run to run (wall time on a shared 2-core machine does not):
//! `valgrind --tool=callgrind target/release/examples/track_instructions [build|track]`
//! The per-event figure is (track − build) / N.

use std::hint::black_box;
use std::time::Duration;

use serde_json::json;
use sonde_core::{props, Config, DeliveryMode, Properties, Sonde};

const N: usize = 20_000;

fn six_properties(i: usize) -> Properties {
    props(json!({
        "plan": "pro", "revenue": 42.5, "currency": "EUR",
        "items": i, "coupon": null, "first_order": true
    }))
}

fn main() {
    let track = std::env::args().nth(1).as_deref() != Some("build");
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .flush_interval(Duration::from_secs(3600)),
    )
    .expect("config");
    for i in 0..N {
        let p = six_properties(i);
        if track {
            black_box(sonde.track("Order Completed", p).expect("valid"));
        } else {
            black_box(p);
        }
    }
}
