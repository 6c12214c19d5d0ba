//! Event store figures for BENCHMARKS.md, SQLite and PostgreSQL in the same run: insert
//! throughput (batches of 100 and 500) with this process's CPU per event, track() to
//! committed through the pipeline, query latency on 1,000,000 stored events (a filtered
//! first page, a deep keyset page, a property filter), and for SQLite the bytes on disk.
//! `scripts/with-postgres.sh cargo run --release -p sonde-core --example store_bench --features sqlite,postgres`
//! (PostgreSQL needs the server that script starts; without `TEST_POSTGRES_URL` only SQLite
//! runs).

use std::time::{Duration, Instant};

use std::sync::Arc;

use serde_json::json;
use sonde_core::store::{EventQuery, PostgresStore, SqliteStore, Store, StoreSink, WriteMethod};
use sonde_core::{Config, Message, OverflowPolicy, Sonde, Timestamp};

#[path = "../benches/workload.rs"]
mod workload;
// A fresh database on the server scripts/with-postgres.sh starts, as the store tests get one.
#[path = "../tests/support/mod.rs"]
mod support;
use workload::six_properties;

const T0: i64 = 1_800_000_000_000;

const NAMES: [&str; 4] = [
    "Order Completed",
    "Signed In",
    "Viewed Item",
    "Added To Cart",
];

fn event(i: usize) -> String {
    json!({
        "type": "track",
        "event": NAMES[i % 4],
        "messageId": format!("01938f3e-0000-7000-8000-{i:012}"),
        "userId": format!("user-{}", i % 1000),
        "sessionId": format!("session-{}", i / 20),
        "timestamp": Timestamp::from_millis(T0 + i as i64 * 100).to_string(),
        "receivedAt": Timestamp::from_millis(T0 + i as i64 * 100 + 40).to_string(),
        "properties": six_properties(i),
        "context": {"library": {"name": "sonde-python", "version": "0.1.0"}, "ip": "10.0.0.1",
                    "userAgent": "Mozilla/5.0 (X11; Linux x86_64)", "page": {"path": "/checkout"}}
    })
    .to_string()
}

/// This process's CPU time (user + system, every thread).
fn cpu_time() -> Duration {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let fields: Vec<&str> = text
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// Events per second, and this process's CPU µs per event.
fn insert(store: &dyn Store, n: usize, batch: usize) -> (f64, f64) {
    let lines: Vec<String> = (0..n).map(event).collect();
    let (started, cpu) = (Instant::now(), cpu_time());
    for chunk in lines.chunks(batch) {
        store
            .write(&mut chunk.iter().map(String::as_str))
            .expect("write");
    }
    let cpu_us = (cpu_time() - cpu).as_secs_f64() * 1e6 / n as f64;
    (n as f64 / started.elapsed().as_secs_f64(), cpu_us)
}

/// Opens a new, empty store of a backend: a file in `dir`, or a database on the test server.
fn open(backend: &str, dir: &std::path::Path, name: &str) -> Arc<dyn Store> {
    open_with(backend, dir, name, WriteMethod::default())
}

fn open_with(
    backend: &str,
    dir: &std::path::Path,
    name: &str,
    method: WriteMethod,
) -> Arc<dyn Store> {
    if backend == "sqlite" {
        return Arc::new(SqliteStore::open(dir.join(format!("{name}.db"))).expect("open"));
    }
    let url = support::postgres_database(&format!("bench_{name}"));
    Arc::new(PostgresStore::open_with(&url, method).expect("open"))
}

/// Events per second from `track` to committed rows: the client's worker delivers batches
/// of 500 to a [`StoreSink`] while the caller tracks; timed until shutdown has drained all.
fn through_pipeline(store: Arc<dyn Store>, n: usize) -> f64 {
    let sonde = Sonde::new(
        Config::default()
            .batch_size(500)
            .max_queue_events(n)
            .max_queue_bytes(1 << 30)
            .overflow(OverflowPolicy::Block(Duration::from_secs(60)))
            .sink(StoreSink::new(Arc::clone(&store))),
    )
    .expect("config");
    let started = Instant::now();
    for i in 0..n {
        let message = Message::track(NAMES[i % 4], six_properties(i))
            .with_user_id(format!("user-{}", i % 1000))
            .with_session_id(format!("session-{}", i / 20));
        sonde.send(message).expect("valid");
    }
    sonde.shutdown(Duration::from_secs(600)).expect("drained");
    let rate = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(store.len().expect("len"), n as u64, "every event stored");
    rate
}

fn percentiles(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn main() {
    let dir = std::env::temp_dir().join(format!("sonde-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    if std::env::var("BENCH_MEMORY").is_ok() {
        let mem = SqliteStore::open_in_memory().expect("open");
        let (rate, _) = insert(&mem, 200_000, 500);
        println!("insert in memory, batches of 500: {rate:.0} events/s");
        return;
    }
    let mut backends = vec!["sqlite"];
    if std::env::var("TEST_POSTGRES_URL").is_ok() {
        backends.push("postgres");
    }
    for backend in backends {
        println!("== {backend}");
        bench(backend, &dir);
    }
    if std::env::var("TEST_POSTGRES_URL").is_ok() {
        // The two ways of sending a batch to PostgreSQL, back to back.
        for method in [WriteMethod::Unnest, WriteMethod::Copy] {
            for batch in [100, 500] {
                let store = open_with(
                    "postgres",
                    &dir,
                    &format!("m{batch}{method:?}").to_lowercase(),
                    method,
                );
                let (rate, cpu) = insert(&*store, 200_000, batch);
                println!("postgres {method:?}, batches of {batch}: {rate:.0} events/s, {cpu:.1} µs CPU per event in this process");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn bench(backend: &str, dir: &std::path::Path) {
    let small = open(backend, dir, "b100");
    let (rate100, cpu100) = insert(&*small, 200_000, 100);
    println!("insert, batches of 100: {rate100:.0} events/s, {cpu100:.1} µs CPU per event in this process");

    let rate = through_pipeline(open(backend, dir, "pipeline"), 200_000);
    println!("track -> worker -> store, batches of 500: {rate:.0} events/s (200000 events)");

    // BENCH_EVENTS scales the big store down for quick experiments.
    let big: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let store = open(backend, dir, "b500");
    let (rate500, cpu500) = insert(&*store, big, 500);
    println!("insert, batches of 500: {rate500:.0} events/s, {cpu500:.1} µs CPU per event in this process ({big} events)");

    // A filtered first page: one user's latest events.
    let mut first = Vec::new();
    for i in 0..300 {
        let q = EventQuery {
            user_id: Some(format!("user-{}", (i * 37) % 1000)),
            ..Default::default()
        };
        let started = Instant::now();
        let page = store.query(&q).expect("query");
        first.push(started.elapsed());
        assert_eq!(page.events.len(), 50);
    }
    let (p50, p99) = percentiles(first);
    println!("filtered first page (user, 50 events): p50 {p50:?}, p99 {p99:?}");

    // A deep page: 300,000 events into the newest-first walk.
    let mut q = EventQuery {
        limit: 1000,
        ..Default::default()
    };
    for _ in 0..300 {
        q.cursor = store.query(&q).expect("walk").next_cursor;
    }
    q.limit = 50;
    let mut deep = Vec::new();
    for _ in 0..300 {
        let started = Instant::now();
        let page = store.query(&q).expect("query");
        deep.push(started.elapsed());
        assert_eq!(page.events.len(), 50);
    }
    let (p50, p99) = percentiles(deep);
    println!("deep keyset page (300,000 in, 50 events): p50 {p50:?}, p99 {p99:?}");

    let mut prop = Vec::new();
    for _ in 0..100 {
        let q = EventQuery {
            event: Some("Signed In".into()),
            properties: vec![("plan".into(), json!("pro"))],
            ..Default::default()
        };
        let started = Instant::now();
        store.query(&q).expect("query");
        prop.push(started.elapsed());
    }
    let (p50, p99) = percentiles(prop);
    println!("event + property filter first page: p50 {p50:?}, p99 {p99:?}");

    if backend == "sqlite" {
        let count = store.len().expect("len");
        drop(store); // the last connection checkpoints the WAL into the file
        let bytes = std::fs::metadata(dir.join("b500.db")).expect("size").len();
        println!(
            "bytes on disk per event: {:.0} ({} bytes, {count} events)",
            bytes as f64 / count as f64,
            bytes
        );
    }
}
