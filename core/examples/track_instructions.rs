//! A fixed workload for `valgrind --tool=callgrind`, whose instruction counts repeat exactly
//! run to run (wall time on a shared 2-core machine does not):
//! `valgrind --tool=callgrind target/release/examples/track_instructions [build|track|ingest|api|plan]`
//! The per-event figure of `track` is (track − build) / N; `ingest` ingests N messages in
//! batches of 500 (the benchmark's batch); `api` sends N `$api_request` events as the HTTP
//! middleware records them (validated against their built-in schema); `plan` tracks N events
//! whose properties arrive as JSON text (as from Node and the browser) under a tracking plan;
//! `store` writes N delivered events (JSON text as the buffer holds them) into a fresh SQLite
//! file in batches of 500, as the store's sink does (built with the `sqlite` feature).

use std::hint::black_box;
use std::time::Duration;

use sonde_core::validate::TrackingPlan;
use sonde_core::{ApiRequest, Config, DeliveryMode, Message, Properties, Sonde};

#[path = "../benches/workload.rs"]
mod workload;
use workload::{batch_json, six_properties};

const N: usize = 20_000;

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let track = mode != "build";
    let mut config = Config::default()
        .delivery(DeliveryMode::Manual)
        .flush_interval(Duration::from_secs(3600));
    if mode == "plan" {
        let plan = r#"{"events": {"Order Completed": {"required": ["plan", "revenue"],
            "properties": {"plan": {"enum": ["free", "pro"]}, "revenue": {"type": "number",
            "minimum": 0}, "currency": {"type": "string", "maxLength": 3},
            "items": {"type": "integer"}}}}}"#;
        config = config.tracking_plan(TrackingPlan::from_json_str(plan).expect("plan"));
    }
    let sonde = Sonde::new(config).expect("config");
    if mode == "plan" {
        for i in 0..N {
            let text = format!(
                r#"{{"plan":"pro","revenue":42.5,"currency":"EUR","items":{i},"coupon":null,"first_order":true}}"#
            );
            let message =
                Message::track("Order Completed", Properties::new()).with_user_id("user-7");
            let message = sonde
                .with_properties_json(message, text)
                .expect("an object");
            black_box(sonde.send(message).expect("valid"));
        }
        return;
    }
    if mode == "ingest" {
        let bodies: Vec<Vec<u8>> = (0..N / 500).map(|b| batch_json(500, b * 500)).collect();
        for body in &bodies {
            black_box(sonde.ingest(body).expect("valid batch"));
        }
        return;
    }
    #[cfg(feature = "sqlite")]
    if mode == "store" {
        store_events();
        return;
    }
    if mode == "api" {
        for i in 0..N {
            let request = ApiRequest {
                path: Some(format!("/items/{i}")),
                client_address: Some("203.0.113.7".into()),
                user_agent: Some("curl/8.5.0".into()),
                response_body_size: Some(17),
                ..ApiRequest::new("GET", "/items/{id}", 200, 1.25)
            };
            black_box(sonde.send(request.into_message()).expect("valid"));
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

/// N `track` events' JSON text written in batches of 500 (read `write_all`'s inclusive
/// count: building the text is outside it).
#[cfg(feature = "sqlite")]
fn store_events() {
    use sonde_core::store::SqliteStore;
    let events: Vec<String> = (0..N)
        .map(|i| {
            serde_json::json!({
                "type": "track",
                "event": "Order Completed",
                "messageId": format!("01938f3e-0000-7000-8000-{i:012}"),
                "userId": format!("user-{}", i % 1000),
                "anonymousId": format!("anon-{}", i % 1000),
                "timestamp": "2026-11-30T12:00:00.000Z",
                "receivedAt": "2026-11-30T12:00:00.040Z",
                "properties": six_properties(i),
                "context": {"library": {"name": "sonde-python", "version": "0.1.0"}}
            })
            .to_string()
        })
        .collect();
    let path = std::env::temp_dir().join(format!("track-instructions-{}.db", std::process::id()));
    let store = SqliteStore::open(&path).expect("store");
    write_all(&store, &events);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[cfg(feature = "sqlite")]
#[inline(never)]
fn write_all(store: &sonde_core::store::SqliteStore, events: &[String]) {
    use sonde_core::store::Store;
    for batch in events.chunks(500) {
        let mut texts = batch.iter().map(String::as_str);
        black_box(store.write(&mut texts).expect("written"));
    }
}
