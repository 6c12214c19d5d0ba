//! The SQLite store (feature `sqlite`): CRUD, every filter, keyset pagination against a full
//! scan, dedupe, retention, erasure, errors, concurrent threads and processes, and a process
//! killed while writing.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sonde_core::store::{
    EventQuery, Order, PostgresStore, SqliteStore, Store, StoreSink, TimeRange, WriteMethod,
};

mod support;
use sonde_core::{props, Config, Message, MessageType, Sonde, Timestamp};

const T0: i64 = 1_800_000_000_000;

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sonde-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("events.db")
}

/// 60 events: 3 users, 4 event names, 2 sessions, one per second; every 5th is a page view.
fn sample() -> Vec<Value> {
    (0..60)
        .map(|i| {
            let kind = if i % 5 == 0 { "page" } else { "track" };
            let mut m = json!({
                "type": kind,
                "messageId": format!("m-{i:03}"),
                "userId": format!("u{}", i % 3),
                "sessionId": format!("s{}", i % 2),
                "timestamp": Timestamp::from_millis(T0 + i * 1000).to_string(),
                "properties": {"plan": if i % 4 == 0 { "pro" } else { "free" }, "n": i, "vip": i % 7 == 0},
                "context": {"ip": "10.0.0.1"}
            });
            if kind == "track" {
                m["event"] = json!(["Signed Up", "Signed In", "Order Completed", "Order Refunded"][(i % 4) as usize]);
            } else {
                m["name"] = json!("Home");
            }
            m
        })
        .collect()
}

/// Every backend the store tests run against: SQLite in memory (with its default partition
/// size, and with partitions of 7 rows so that every query, page and delete crosses
/// partitions, sealed and open), and fresh databases on the PostgreSQL server `make test`
/// starts, written with each way of sending batches.
fn backends(test: &str) -> Vec<Box<dyn Store>> {
    let postgres = |method| {
        let url = support::postgres_database(test);
        Box::new(PostgresStore::open_with(&url, method).unwrap()) as Box<dyn Store>
    };
    vec![
        Box::new(SqliteStore::open_in_memory().unwrap()),
        Box::new(
            SqliteStore::open_in_memory()
                .unwrap()
                .with_partition_rows(7),
        ),
        postgres(WriteMethod::Unnest),
        postgres(WriteMethod::Copy),
    ]
}

/// Each backend holding the sample.
fn stores_with_sample(test: &str) -> Vec<Box<dyn Store>> {
    let lines: Vec<String> = sample().iter().map(Value::to_string).collect();
    let stores = backends(test);
    for store in &stores {
        let report = store.write(&mut lines.iter().map(String::as_str)).unwrap();
        assert_eq!((report.inserted, report.deduplicated), (60, 0));
    }
    stores
}

fn ids(page: &[Value]) -> Vec<String> {
    page.iter()
        .map(|m| m["messageId"].as_str().unwrap().to_owned())
        .collect()
}

/// Every match of `q` by walking pages of `limit`.
fn walk(store: &dyn Store, mut q: EventQuery, limit: usize) -> Vec<String> {
    q.limit = limit;
    let mut out = Vec::new();
    loop {
        let page = store.query(&q).unwrap();
        assert!(page.events.len() <= limit);
        out.extend(ids(&page.events));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

/// An independent filter over the sample.
type Filter = Box<dyn Fn(&Value) -> bool>;

/// The expected ids: an independent filter over the sample, in time order.
fn expect(filter: impl Fn(&Value) -> bool, order: Order) -> Vec<String> {
    let mut v: Vec<String> = sample()
        .iter()
        .filter(|m| filter(m))
        .map(|m| m["messageId"].as_str().unwrap().to_owned())
        .collect();
    if order == Order::Desc {
        v.reverse();
    }
    v
}

#[test]
fn get_returns_what_was_stored_and_dedupe_counts() {
    for store in stores_with_sample("get_returns_what_was_stored_and_dedupe_counts") {
        let store = &*store;
        let m = store.get("m-007").unwrap().unwrap();
        let original = &sample()[7];
        for key in [
            "type",
            "event",
            "messageId",
            "userId",
            "sessionId",
            "timestamp",
            "properties",
            "context",
        ] {
            assert_eq!(m[key], original[key], "{key}");
        }
        assert_eq!(store.get("missing").unwrap(), None);
        let again: Vec<String> = sample()[..10].iter().map(Value::to_string).collect();
        let report = store.write(&mut again.iter().map(String::as_str)).unwrap();
        assert_eq!((report.inserted, report.deduplicated), (0, 10));
        assert_eq!(store.deduplicated(), 10);
        assert_eq!(store.len().unwrap(), 60);
    }
}

/// A large batch mixing new events with one already stored and one repeated inside it:
/// counts, lookups, time order and the next write (ids stay contiguous) come out as if each
/// event had been written on its own.
#[test]
fn large_batches_dedupe_against_the_store_and_within_themselves() {
    let bulk = |i: usize| {
        json!({"type": "track", "event": "Bulk", "messageId": format!("bulk-{i:03}"),
               "userId": "u9", "timestamp": Timestamp::from_millis(T0 + 100_000 + i as i64).to_string(),
               "properties": {"i": i}})
        .to_string()
    };
    let stored = sample()[5].to_string();
    let mut lines: Vec<String> = (0..32).map(bulk).collect();
    // 31 new events and one stored before.
    lines.extend((32..48).map(bulk));
    lines.push(stored);
    lines.extend((48..63).map(bulk));
    // 31 new events, one of them twice.
    lines.extend((63..80).map(bulk));
    lines.push(bulk(70));
    lines.extend((80..94).map(bulk));
    lines.extend((94..131).map(bulk));
    assert_eq!(lines.len(), 133);
    let name = "large_batches_dedupe_against_the_store_and_within_themselves";
    for store in stores_with_sample(name) {
        let store = &*store;
        let report = store.write(&mut lines.iter().map(String::as_str)).unwrap();
        assert_eq!((report.inserted, report.deduplicated), (131, 2));
        assert_eq!(store.len().unwrap(), 60 + 131);
        let more: Vec<String> = (131..171).map(bulk).collect();
        let report = store.write(&mut more.iter().map(String::as_str)).unwrap();
        assert_eq!((report.inserted, report.deduplicated), (40, 0));
        let q = EventQuery {
            event: Some("Bulk".into()),
            order: Order::Asc,
            ..Default::default()
        };
        let want: Vec<String> = (0..171).map(|i| format!("bulk-{i:03}")).collect();
        assert_eq!(walk(store, q, 50), want);
        assert_eq!(
            store.get("bulk-070").unwrap().unwrap()["properties"]["i"],
            70
        );
        assert_eq!(store.get("m-005").unwrap().unwrap()["userId"], "u2");
    }
}

#[test]
fn every_filter_matches_an_independent_scan() {
    for store in stores_with_sample("every_filter_matches_an_independent_scan") {
        let store = &*store;
        let t = |i: i64| Timestamp::from_millis(T0 + i * 1000);
        let cases: Vec<(EventQuery, Filter)> = vec![
            (EventQuery::default(), Box::new(|_| true)),
            (
                EventQuery {
                    kind: Some(MessageType::Page),
                    ..Default::default()
                },
                Box::new(|m| m["type"] == "page"),
            ),
            (
                EventQuery {
                    event: Some("Signed In".into()),
                    ..Default::default()
                },
                Box::new(|m| m["event"] == "Signed In"),
            ),
            (
                EventQuery {
                    event_prefix: Some("Order".into()),
                    ..Default::default()
                },
                Box::new(|m| m["event"].as_str().is_some_and(|e| e.starts_with("Order"))),
            ),
            (
                EventQuery {
                    user_id: Some("u2".into()),
                    ..Default::default()
                },
                Box::new(|m| m["userId"] == "u2"),
            ),
            (
                EventQuery {
                    session_id: Some("s1".into()),
                    ..Default::default()
                },
                Box::new(|m| m["sessionId"] == "s1"),
            ),
            (
                EventQuery {
                    anonymous_id: Some("nobody".into()),
                    ..Default::default()
                },
                Box::new(|_| false),
            ),
            (
                EventQuery {
                    time: TimeRange {
                        from: Some(t(10)),
                        to: Some(t(20)),
                    },
                    ..Default::default()
                },
                Box::new(|m| (10..20).contains(&m["properties"]["n"].as_i64().unwrap())),
            ),
            (
                EventQuery {
                    properties: vec![("plan".into(), json!("pro"))],
                    ..Default::default()
                },
                Box::new(|m| m["properties"]["plan"] == "pro"),
            ),
            (
                EventQuery {
                    properties: vec![("n".into(), json!(42))],
                    ..Default::default()
                },
                Box::new(|m| m["properties"]["n"] == 42),
            ),
            (
                EventQuery {
                    properties: vec![("vip".into(), json!(true))],
                    ..Default::default()
                },
                Box::new(|m| m["properties"]["vip"] == true),
            ),
            (
                EventQuery {
                    user_id: Some("u1".into()),
                    properties: vec![("plan".into(), json!("free"))],
                    event_prefix: Some("Sign".into()),
                    ..Default::default()
                },
                Box::new(|m| {
                    m["userId"] == "u1"
                        && m["properties"]["plan"] == "free"
                        && m["event"].as_str().is_some_and(|e| e.starts_with("Sign"))
                }),
            ),
        ];
        for (i, (q, f)) in cases.into_iter().enumerate() {
            for order in [Order::Asc, Order::Desc] {
                let q = EventQuery {
                    order,
                    with_total: true,
                    ..q.clone()
                };
                let want = expect(&f, order);
                assert_eq!(walk(store, q.clone(), 7), want, "case {i} {order:?}");
                assert_eq!(
                    store.query(&q).unwrap().total,
                    Some(want.len() as u64),
                    "case {i}"
                );
            }
        }
    }
}

#[test]
fn pages_have_no_duplicates_or_gaps_while_events_arrive() {
    for store in stores_with_sample("pages_have_no_duplicates_or_gaps_while_events_arrive") {
        let store = &*store;
        let mut q = EventQuery {
            order: Order::Asc,
            limit: 9,
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut extra = 0;
        loop {
            let page = store.query(&q).unwrap();
            seen.extend(ids(&page.events));
            // New events, both before and after the cursor in time, land between pages.
            for ts in [T0 - 5000, T0 + 500_000] {
                extra += 1;
                let m = json!({"type": "track", "event": "Late", "messageId": format!("late-{extra}"), "userId": "u9",
                "timestamp": Timestamp::from_millis(ts + extra).to_string(), "properties": {}});
                store
                    .write(&mut std::iter::once(m.to_string().as_str()))
                    .unwrap();
            }
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        let original: Vec<String> = seen
            .iter()
            .filter(|id| id.starts_with("m-"))
            .cloned()
            .collect();
        assert_eq!(
            original,
            expect(|_| true, Order::Asc),
            "every original event once, in order"
        );
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "no duplicates");
    }
}

#[test]
fn delete_erasure_and_retention() {
    for store in stores_with_sample("delete_erasure_and_retention") {
        let store = &*store;
        assert!(store.delete("m-001").unwrap());
        assert!(!store.delete("m-001").unwrap());
        let erased = store
            .delete_where(&EventQuery {
                user_id: Some("u0".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(erased, 20);
        let purged = store
            .purge_older_than(Timestamp::from_millis(T0 + 30_000))
            .unwrap();
        let expected = sample()[..30]
            .iter()
            .filter(|m| m["userId"] != "u0" && m["messageId"] != "m-001")
            .count();
        assert_eq!(purged as usize, expected);
        let left = walk(store, EventQuery::default(), 100);
        assert!(left.iter().all(|id| id.as_str() >= "m-030"));
        assert_eq!(left.len(), 60 - 1 - 20 - expected);
    }
}

#[test]
fn bad_queries_are_refused_with_every_problem() {
    for store in stores_with_sample("bad_queries_are_refused_with_every_problem") {
        let store = &*store;
        let q = EventQuery {
            limit: 5000,
            cursor: Some("not-a-cursor".into()),
            time: TimeRange {
                from: Some(Timestamp::from_millis(2)),
                to: Some(Timestamp::from_millis(1)),
            },
            properties: vec![("tags".into(), json!(["a"]))],
            ..Default::default()
        };
        let err = store.query(&q).unwrap_err();
        let paths: Vec<&str> = err.violations().iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, ["/limit", "/cursor", "/time", "/properties/0"]);
        assert!(err.violations().iter().all(|v| v.code == "invalid_query"));
    }
}

#[test]
fn clear_errors_for_bad_files() {
    let dir = temp_db("errors");
    // A directory where the file should be.
    let err = SqliteStore::open(dir.parent().unwrap()).unwrap_err();
    assert_eq!(err.code(), "store_failed", "{err}");
    // A corrupt file.
    let corrupt = dir.with_file_name("corrupt.db");
    std::fs::write(&corrupt, vec![0x42u8; 8192]).unwrap();
    let err = SqliteStore::open(&corrupt).unwrap_err();
    assert!(err.message().contains("not a SQLite database"), "{err}");
    // A file from a newer Sonde.
    let newer = dir.with_file_name("newer.db");
    drop(SqliteStore::open(&newer).unwrap());
    let conn = rusqlite_version_bump(&newer);
    assert!(conn);
    let err = SqliteStore::open(&newer).unwrap_err();
    assert!(err.message().contains("newer Sonde"), "{err}");
}

/// Sets the schema version in the file header past what this code knows (`user_version`
/// is the big-endian u32 at byte 60 of a SQLite file).
fn rusqlite_version_bump(path: &std::path::Path) -> bool {
    std::fs::read(path).is_ok_and(|mut bytes| {
        bytes[60..64].copy_from_slice(&99u32.to_be_bytes());
        std::fs::write(path, bytes).is_ok()
    })
}

#[test]
fn the_pipeline_stores_through_the_sink() {
    let path = temp_db("sink");
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let sonde = Sonde::new(Config::default().sink(StoreSink::new(store.clone()))).unwrap();
    for i in 0..25 {
        sonde
            .send(Message::track("Clicked", props(json!({"i": i}))).with_user_id("u1"))
            .unwrap();
    }
    sonde.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(store.len().unwrap(), 25);
    let page = store
        .query(&EventQuery {
            properties: vec![("i".into(), json!(3))],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0]["context"]["library"]["name"], "sonde-rust");
}

#[test]
fn threads_write_the_same_file() {
    let path = temp_db("threads");
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = SqliteStore::open(&path).unwrap();
                for b in 0..10 {
                    let lines: Vec<String> = (0..50)
                        .map(|i| json!({"type": "track", "event": "E", "userId": "u", "messageId": format!("t{t}-{b}-{i}"),
                            "timestamp": "2027-01-15T08:00:00.000Z", "properties": {}}).to_string())
                        .collect();
                    store.write(&mut lines.iter().map(String::as_str)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(
        SqliteStore::open(&path).unwrap().len().unwrap(),
        4 * 10 * 50
    );
}

/// Not a test of its own: the next test runs it as a child process (`--ignored --exact`),
/// where it writes batches until killed, printing each committed batch number.
#[test]
#[ignore = "a child process of processes_write_the_same_file_and_a_killed_one_loses_no_committed_batch"]
fn child_writer() {
    let path = std::env::var("SONDE_STORE_CHILD_DB").expect("run by the parent test");
    let name = std::env::var("SONDE_STORE_CHILD_NAME").expect("run by the parent test");
    let store = SqliteStore::open(&path).unwrap();
    for b in 0.. {
        let lines: Vec<String> = (0..50)
            .map(|i| json!({"type": "track", "event": "E", "userId": "u", "messageId": format!("{name}-{b}-{i}"),
                "timestamp": "2027-01-15T08:00:00.000Z", "properties": {"pad": "x".repeat(200)}}).to_string())
            .collect();
        store.write(&mut lines.iter().map(String::as_str)).unwrap();
        println!("committed {b}");
        if b == 200 {
            break;
        }
    }
}

#[test]
fn processes_write_the_same_file_and_a_killed_one_loses_no_committed_batch() {
    let path = temp_db("processes");
    drop(SqliteStore::open(&path).unwrap());
    let spawn = |name: &str| {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SONDE_STORE_CHILD_DB", &path)
            .env("SONDE_STORE_CHILD_NAME", name)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut victim = spawn("victim");
    let mut survivor = spawn("survivor");
    // Let the victim commit a few batches, then kill it mid-stream.
    let mut committed = Vec::new();
    let mut lines = BufReader::new(victim.stdout.take().unwrap()).lines();
    while committed.len() < 5 {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(b) = line.strip_prefix("committed ") {
                    committed.push(b.parse::<u32>().unwrap());
                }
            }
            _ => break,
        }
    }
    assert_eq!(
        committed.len(),
        5,
        "the victim stopped before committing five batches"
    );
    victim.kill().unwrap(); // SIGKILL
    let _ = victim.wait();
    assert!(survivor.wait().unwrap().success());
    let store = SqliteStore::open(&path).unwrap();
    for b in &committed {
        let q = EventQuery {
            event: Some("E".into()),
            limit: 1000,
            ..Default::default()
        };
        let all = walk(&store, q, 1000);
        let prefix = format!("victim-{b}-");
        assert_eq!(
            all.iter().filter(|id| id.starts_with(&prefix)).count(),
            50,
            "batch {b} is whole"
        );
    }
    let survivor_rows = walk(&store, EventQuery::default(), 1000)
        .into_iter()
        .filter(|id| id.starts_with("survivor-"))
        .count();
    assert_eq!(survivor_rows, 201 * 50);
    // No half batch of the victim.
    let victim_rows = walk(&store, EventQuery::default(), 1000)
        .into_iter()
        .filter(|id| id.starts_with("victim-"))
        .count();
    assert_eq!(victim_rows % 50, 0);
}

#[test]
fn update_merges_or_replaces_and_validates_again() {
    use sonde_core::{Limits, TrackingPlan, Validator};
    for store in stores_with_sample("update_merges_or_replaces_and_validates_again") {
        let store = &*store;
        let plain = Validator::new(Limits::default(), None);
        let merged = store
            .update(
                "m-002",
                &props(json!({"plan": "team", "seats": 4})),
                false,
                &plain,
                T0,
            )
            .unwrap()
            .unwrap();
        assert_eq!(merged["properties"]["plan"], "team");
        assert_eq!(
            merged["properties"]["n"], 2,
            "merge keeps the other properties"
        );
        assert_eq!(
            store.get("m-002").unwrap().unwrap()["properties"]["seats"],
            4
        );
        let replaced = store
            .update("m-002", &props(json!({"only": true})), true, &plain, T0)
            .unwrap()
            .unwrap();
        assert_eq!(replaced["properties"], json!({"only": true}));
        assert_eq!(
            store
                .update("missing", &props(json!({})), false, &plain, T0)
                .unwrap(),
            None
        );
        // A tracking plan in force refuses an update that breaks it, and nothing changes.
        let plan =
            TrackingPlan::from_json_str(r#"{"events": {"Signed In": {"required": ["plan"]}}}"#)
                .unwrap();
        let strict = Validator::new(Limits::default(), Some(plan));
        let err = store
            .update("m-001", &props(json!({"n": 1})), true, &strict, T0)
            .unwrap_err();
        assert_eq!(err.code(), "invalid_event");
        assert_eq!(err.violations()[0].path, "/properties/plan");
        assert_eq!(
            store.get("m-001").unwrap().unwrap()["properties"]["plan"],
            "free"
        );
    }
}

#[test]
fn aggregates_match_an_independent_count() {
    use sonde_core::store::Bucket;
    // SQLite tallies every figure in one scan, PostgreSQL asks SQL for each: whole results
    // must agree, for every bucket width.
    let mut answers: Vec<(String, Vec<sonde_core::store::Aggregates>)> = Vec::new();
    for store in stores_with_sample("aggregates_match_an_independent_count") {
        let store = &*store;
        let extra: Vec<String> = [(200, 12.0), (200, 30.0), (500, 250.0)]
        .iter()
        .enumerate()
        .map(|(i, (status, ms))| {
            json!({"type": "track", "event": "$api_request", "messageId": format!("api-{i}"), "userId": "u0",
                "timestamp": Timestamp::from_millis(T0 + 125_000 + i as i64).to_string(),
                "properties": {"http.request.method": "GET", "http.route": "/x/{id}", "http.response.status_code": status, "duration_ms": ms}})
            .to_string()
        })
        .chain(std::iter::once(
            json!({"type": "track", "event": "$performance", "messageId": "perf-1", "anonymousId": "a-9",
                "timestamp": Timestamp::from_millis(T0 + 10).to_string(),
                "properties": {"operation": "db.query", "duration_ms": 7.5, "success": true}})
            .to_string(),
        ))
        .collect();
        store.write(&mut extra.iter().map(String::as_str)).unwrap();
        let range = TimeRange {
            from: Some(Timestamp::from_millis(T0)),
            to: Some(Timestamp::from_millis(T0 + 130_000)),
        };
        let a = store.aggregate(range, Bucket::Minute).unwrap();
        assert_eq!(a.total, 64);
        assert_eq!(a.by_type["page"], 12);
        assert_eq!(a.by_type["track"], 52);
        assert_eq!(a.by_event["Signed In"], 12);
        assert_eq!(a.by_event["$api_request"], 3);
        // T0 is 2027-01-15T08:00:00Z, a minute boundary: the 60 events one second apart and
        // the $performance event at T0 + 10 ms fall in T0's minute; the three requests at
        // T0 + 125 s in the minute starting at T0 + 120 s.
        let got: Vec<(i64, u64)> = a
            .series
            .iter()
            .map(|p| (p.start.as_millis(), p.count))
            .collect();
        assert_eq!(got, vec![(T0, 61), (T0 + 120_000, 3)]);
        assert_eq!(
            (a.unique_users, a.unique_anonymous, a.unique_sessions),
            (3, 1, 2)
        );
        let route = &a.routes["GET /x/{id}"];
        assert_eq!((route.count, route.max), (3, Some(250.0)));
        assert!((route.p50.unwrap() - 30.0).abs() / 30.0 <= 0.01);
        assert_eq!(a.operations["db.query"].count, 1);
        // Per name: each series adds up to the name's count; per bucket, distinct people.
        for (name, points) in &a.series_by_event {
            let sum: u64 = points.iter().map(|p| p.count).sum();
            assert_eq!(sum, a.by_event[name], "{name} on {}", store.backend());
        }
        let api: Vec<(i64, u64)> = a.series_by_event["$api_request"]
            .iter()
            .map(|p| (p.start.as_millis(), p.count))
            .collect();
        assert_eq!(api, vec![(T0 + 120_000, 3)]);
        let people: Vec<u64> = a.people_series.iter().map(|p| p.count).collect();
        assert_eq!(people.len(), 2);
        assert!(people[0] >= 3, "{people:?}");
        let every = [Bucket::Minute, Bucket::Hour, Bucket::Day]
            .iter()
            .map(|b| store.aggregate(TimeRange::default(), *b).unwrap())
            .chain(std::iter::once(a))
            .collect();
        answers.push((store.backend().to_owned(), every));
    }
    let (first_backend, first) = &answers[0];
    for (backend, other) in &answers[1..] {
        assert_eq!(other, first, "{backend} against {first_backend}");
    }
}

#[test]
fn personless_events_are_not_counted_as_people() {
    use sonde_core::store::Bucket;
    for store in backends("personless_events_are_not_counted_as_people") {
        let events: Vec<String> = [("p-1", "$personless"), ("p-2", "$personless"), ("p-3", "a-1")]
            .iter()
            .map(|(id, anonymous)| {
                json!({"type": "track", "event": "$api_request", "messageId": id, "anonymousId": anonymous,
                    "timestamp": Timestamp::from_millis(T0).to_string(),
                    "properties": {"http.request.method": "GET", "http.route": "/", "http.response.status_code": 200, "duration_ms": 1.0}})
                .to_string()
            })
            .collect();
        store.write(&mut events.iter().map(String::as_str)).unwrap();
        let range = TimeRange {
            from: Some(Timestamp::from_millis(T0)),
            to: Some(Timestamp::from_millis(T0 + 60_000)),
        };
        let a = store.aggregate(range, Bucket::Minute).unwrap();
        assert_eq!(a.total, 3, "{}", store.backend());
        assert_eq!(
            (a.unique_users, a.unique_anonymous),
            (0, 1),
            "{}",
            store.backend()
        );
        let people: u64 = a.people_series.iter().map(|p| p.count).sum();
        assert_eq!(people, 1, "{}", store.backend());
    }
}

/// Names of the file's partition tables and of the indexes on them, read with SQLite itself.
fn partition_layout(path: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let names = |kind: &str| -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = ?1 AND tbl_name LIKE 'events%' ORDER BY name")
            .unwrap();
        let rows = stmt.query_map([kind], |r| r.get::<_, String>(0)).unwrap();
        rows.map(Result::unwrap).collect()
    };
    (names("table"), names("index"))
}

fn track_line(id: &str, user: &str, ts: i64) -> String {
    json!({"type": "track", "event": "E", "userId": user, "messageId": id,
        "timestamp": Timestamp::from_millis(ts).to_string(), "properties": {"n": 1}})
    .to_string()
}

#[test]
fn sqlite_partitions_are_sealed_with_their_indexes_dedupe_across_them_and_purge_by_table() {
    let path = temp_db("partitions");
    let store = SqliteStore::open(&path).unwrap().with_partition_rows(10);
    let lines: Vec<String> = (0..35)
        .map(|i| track_line(&format!("m-{i}"), &format!("u{}", i % 3), T0 + i * 1000))
        .collect();
    for chunk in lines.chunks(5) {
        store.write(&mut chunk.iter().map(String::as_str)).unwrap();
    }
    // Three sealed partitions of 10 with every index, and the open one with its time index.
    let (tables, indexes) = partition_layout(&path);
    assert_eq!(tables, ["events_1", "events_2", "events_3", "events_4"]);
    for sealed in ["events_1", "events_2", "events_3"] {
        for index in ["ts", "type", "event", "user", "anonymous", "session"] {
            assert!(
                indexes.contains(&format!("{sealed}_{index}")),
                "{indexes:?}"
            );
        }
    }
    assert_eq!(
        indexes
            .iter()
            .filter(|i| i.starts_with("events_4_"))
            .collect::<Vec<_>>(),
        ["events_4_ts"]
    );
    // Sent again (a retry, another process): every one is already stored, in any partition.
    let report = store.write(&mut lines.iter().map(String::as_str)).unwrap();
    assert_eq!((report.inserted, report.deduplicated), (0, 35));
    assert_eq!(store.len().unwrap(), 35);
    // Found by id in a sealed partition and in the open one; updated and deleted there.
    assert_eq!(store.get("m-3").unwrap().unwrap()["userId"], "u0");
    assert_eq!(store.get("m-33").unwrap().unwrap()["userId"], "u0");
    assert!(store.delete("m-3").unwrap());
    assert!(store.get("m-3").unwrap().is_none());
    // A deleted event may be stored again.
    let report = store
        .write(&mut std::iter::once(lines[3].as_str()))
        .unwrap();
    assert_eq!(report.inserted, 1);
    // Purging before event 25 drops the first two partitions whole and cuts the third.
    let purged = store
        .purge_older_than(Timestamp::from_millis(T0 + 25_000))
        .unwrap();
    assert_eq!(purged, 25);
    assert_eq!(store.len().unwrap(), 10);
    let (tables, _) = partition_layout(&path);
    assert_eq!(tables, ["events_3", "events_4"]);
    // Purged events are gone from the dedupe map too: sending them again stores them.
    let report = store
        .write(&mut lines[..5].iter().map(String::as_str))
        .unwrap();
    assert_eq!(report.inserted, 5);
    let newest_first = walk(&store, EventQuery::default(), 4);
    let mut expected: Vec<String> = (25..35)
        .chain(0..5)
        .rev()
        .map(|i| format!("m-{i}"))
        .collect();
    expected.sort_by_key(|id| std::cmp::Reverse(id[2..].parse::<i64>().unwrap()));
    assert_eq!(newest_first, expected);
    // The six written since the purge filled the open partition: sealed, a fifth opened.
    let (tables, _) = partition_layout(&path);
    assert_eq!(tables, ["events_3", "events_4", "events_5"]);
    // Everything deleted: the tables go, the partition numbers keep increasing, writes go on.
    assert_eq!(store.delete_all().unwrap(), 15);
    let (tables, _) = partition_layout(&path);
    assert_eq!(tables, ["events_6"]);
    store
        .write(&mut lines[..2].iter().map(String::as_str))
        .unwrap();
    assert_eq!(walk(&store, EventQuery::default(), 10), ["m-1", "m-0"]);
}

#[test]
fn a_version_2_file_is_migrated_into_partitions() {
    let path = temp_db("migrate-v2");
    {
        // The schema version 2 wrote: one table with its unique messageId and six indexes.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (id INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
                event TEXT, name TEXT, user_id TEXT, anonymous_id TEXT, session_id TEXT, group_id TEXT,
                previous_id TEXT, ts INTEGER NOT NULL, received_at INTEGER, sent_at INTEGER,
                properties TEXT NOT NULL DEFAULT '{}', traits TEXT NOT NULL DEFAULT '{}',
                context TEXT NOT NULL DEFAULT '{}', extra TEXT NOT NULL DEFAULT '{}');
             CREATE INDEX events_ts ON events (ts, id);
             CREATE TABLE instances (id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
                started_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, snapshot TEXT NOT NULL);
             INSERT INTO events (id, message_id, type, event, user_id, ts, properties)
                VALUES (1, 'old-1', 'track', 'E', 'u1', 1800000000000, '{\"n\":1}'),
                       (3, 'old-3', 'track', 'E', 'u2', 1800000002000, '{\"n\":3}');
             PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap().with_partition_rows(2);
    assert_eq!(store.len().unwrap(), 2);
    assert_eq!(store.get("old-3").unwrap().unwrap()["properties"]["n"], 3);
    let report = store
        .write(
            &mut [
                track_line("old-1", "u1", T0),
                track_line("new-1", "u1", T0 + 1000),
                track_line("new-2", "u1", T0 + 3000),
            ]
            .iter()
            .map(String::as_str),
        )
        .unwrap();
    assert_eq!((report.inserted, report.deduplicated), (2, 1));
    let (tables, _) = partition_layout(&path);
    assert_eq!(tables, ["events", "events_2", "events_3"]);
    assert_eq!(
        walk(&store, EventQuery::default(), 2),
        ["new-2", "old-3", "new-1", "old-1"]
    );
    let user = EventQuery {
        user_id: Some("u1".into()),
        order: Order::Asc,
        ..Default::default()
    };
    assert_eq!(walk(&store, user, 1), ["old-1", "new-1", "new-2"]);
}

#[test]
fn pages_merge_partitions_whose_times_interleave() {
    // Late and early events in every partition: each partition's bounds overlap the others',
    // so a page must merge them rather than read them one after the other.
    let store = SqliteStore::open_in_memory()
        .unwrap()
        .with_partition_rows(5);
    let mut times: Vec<i64> = (0..60).map(|i| (i * 37) % 60).collect();
    times.rotate_left(7);
    let lines: Vec<String> = times
        .iter()
        .map(|t| track_line(&format!("t-{t}"), &format!("u{}", t % 2), T0 + t * 1000))
        .collect();
    for chunk in lines.chunks(4) {
        store.write(&mut chunk.iter().map(String::as_str)).unwrap();
    }
    for (order, limit) in [
        (Order::Desc, 7),
        (Order::Asc, 7),
        (Order::Desc, 1),
        (Order::Asc, 60),
    ] {
        let mut expected: Vec<i64> = (0..60).collect();
        if order == Order::Desc {
            expected.reverse();
        }
        let q = EventQuery {
            order,
            ..Default::default()
        };
        let ids: Vec<String> = expected.iter().map(|t| format!("t-{t}")).collect();
        assert_eq!(walk(&store, q, limit), ids, "{order:?} by {limit}");
        let odd = EventQuery {
            order,
            user_id: Some("u1".into()),
            time: TimeRange {
                from: Some(Timestamp::from_millis(T0 + 11_000)),
                to: Some(Timestamp::from_millis(T0 + 50_000)),
            },
            ..Default::default()
        };
        let ids: Vec<String> = expected
            .iter()
            .filter(|t| *t % 2 == 1 && (11..50).contains(*t))
            .map(|t| format!("t-{t}"))
            .collect();
        assert_eq!(
            walk(&store, odd, limit),
            ids,
            "{order:?} by {limit}, filtered"
        );
    }
}
