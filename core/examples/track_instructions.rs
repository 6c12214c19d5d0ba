//! A fixed workload for `valgrind --tool=callgrind`, whose instruction counts repeat exactly
//! run to run (wall time on a shared 2-core machine does not):
//! `valgrind --tool=callgrind target/release/examples/track_instructions [build|track|ingest]`
//! The per-event figure of `track` is (track − build) / N; `ingest` ingests N messages in
//! batches of 500 (the benchmark's batch).

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

fn batch(start: usize) -> Vec<u8> {
    let items: Vec<serde_json::Value> = (start..start + 500)
        .map(|i| {
            json!({
                "type": "track", "event": "Order Completed",
                "userId": format!("user-{i}"), "messageId": format!("msg-{i}"),
                "timestamp": "2026-11-26T10:00:00.000Z",
                "properties": {"plan": "pro", "revenue": 42.5, "currency": "EUR", "items": i, "coupon": null, "first_order": true},
                "context": {"ip": "10.0.0.1", "userAgent": "Mozilla/5.0 (X11; Linux x86_64)", "page": {"path": "/checkout"}}
            })
        })
        .collect();
    serde_json::to_vec(&json!({"batch": items, "sentAt": "2026-11-26T10:00:01.000Z"}))
        .expect("json")
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let track = mode != "build";
    let sonde = Sonde::new(
        Config::default()
            .delivery(DeliveryMode::Manual)
            .flush_interval(Duration::from_secs(3600)),
    )
    .expect("config");
    if mode == "ingest" {
        let bodies: Vec<Vec<u8>> = (0..N / 500).map(|b| batch(b * 500)).collect();
        for body in &bodies {
            black_box(sonde.ingest(body).expect("valid batch"));
        }
        return;
    }
    for i in 0..N {
        let p = six_properties(i);
        if track {
            black_box(sonde.track("Order Completed", p).expect("valid"));
        } else {
            black_box(p);
        }
    }
}
