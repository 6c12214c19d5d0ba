//! A tour of sonde-core: tracks product and performance events, shows a validation error,
//! flushes to a JSON-lines file, and prints the statistics.
//!
//! `cargo run -p sonde-example -- [path/to/events.jsonl]`

use std::time::Duration;

use serde_json::json;
use sonde_core::sink::{ConsoleSink, JsonLinesSink};
use sonde_core::{props, ApiRequest, Config, Message, Sonde};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/sonde-example/events.jsonl".to_owned());
    let _ = std::fs::remove_file(&path);
    let sonde = Sonde::new(
        Config::default()
            .sink(JsonLinesSink::new(&path, 10 * 1024 * 1024, 3))
            .sink(ConsoleSink::pretty())
            .flush_interval(Duration::from_millis(200)),
    )?;
    sonde.register(props(json!({"app_version": "1.4.2"})));

    sonde.track(
        "Signed Up",
        props(json!({"plan": "pro", "password": "hunter2"})),
    )?;
    sonde.send(
        Message::track(
            "Order Completed",
            props(json!({"revenue": 42.5, "currency": "EUR"})),
        )
        .with_user_id("user-7"),
    )?;
    sonde.identify("user-7", props(json!({"email": "ada@example.com"})))?;
    for (i, status) in [200u16, 200, 201, 404, 500, 200].into_iter().enumerate() {
        sonde.track_api_request(ApiRequest::new(
            "GET",
            "/items/{id}",
            status,
            3.0 + i as f64 * 7.5,
        ))?;
    }
    {
        let mut timer = sonde.timer("load_catalog");
        timer.set("items", 120);
        std::thread::sleep(Duration::from_millis(5));
        timer.stop()?;
    }

    // Bad input is refused with every violation listed.
    match sonde.track("", props(json!({"nested": {"a": {"b": 1}}}))) {
        Ok(_) => println!("unexpected: empty event name accepted"),
        Err(e) => {
            println!("rejected ({}):", e.code());
            for v in e.violations() {
                println!("  {v}");
            }
        }
    }

    sonde.flush(Duration::from_secs(5))?;
    let stats = sonde.stats();
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "counters": stats.counters,
            "events": stats.events,
            "routes": stats.routes.values().map(|r| json!({
                "route": format!("{} {}", r.method, r.route),
                "count": r.count, "errors": r.errors,
                "p50_ms": r.latency.p50, "p95_ms": r.latency.p95,
            })).collect::<Vec<_>>(),
            "operations": stats.operations.keys().collect::<Vec<_>>(),
        }))?
    );
    sonde.shutdown(Duration::from_secs(5))?;
    let lines = std::fs::read_to_string(&path)?.lines().count();
    println!("wrote {lines} events to {path}");
    Ok(())
}
