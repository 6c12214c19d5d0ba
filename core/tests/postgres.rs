//! What only the PostgreSQL store does (the shared behaviour runs on both backends in
//! store.rs and the API vectors): weekly partitions dropped by retention, dedupe across
//! partitions, instances starting and writing together, reconnecting, schema versions.
#![cfg(feature = "postgres")]

use std::sync::{Arc, Barrier};

use serde_json::json;
use sonde_core::store::{EventQuery, PostgresStore, Store, WriteMethod};
use sonde_core::Timestamp;

mod support;

const WEEK: i64 = 7 * 86_400_000;
/// Monday 2027-01-11 00:00 UTC.
const MONDAY: i64 = 1_799_625_600_000;

fn event(id: &str, ts: i64) -> String {
    json!({"type": "track", "event": "E", "messageId": id, "userId": "u",
        "timestamp": Timestamp::from_millis(ts).to_string(), "properties": {"n": 1}})
    .to_string()
}

fn write(store: &dyn Store, lines: &[String]) -> (u64, u64) {
    let report = store.write(&mut lines.iter().map(String::as_str)).unwrap();
    (report.inserted, report.deduplicated)
}

fn sql(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

fn partitions(url: &str) -> Vec<String> {
    let mut names: Vec<String> = sql(url)
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'sonde_events'::regclass",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    names.sort();
    names
}

#[test]
fn retention_drops_whole_weeks_and_trims_the_one_it_falls_in() {
    let url = support::postgres_database("retention");
    let store = PostgresStore::open(&url).unwrap();
    // Two events in each of four weeks.
    let lines: Vec<String> = (0..4)
        .flat_map(|w| [0, WEEK / 2].map(move |offset| (w, offset)))
        .map(|(w, offset)| event(&format!("w{w}-{offset}"), MONDAY + w * WEEK + offset))
        .collect();
    assert_eq!(write(&store, &lines), (8, 0));
    for w in ["w20270111", "w20270118", "w20270125", "w20270201"] {
        assert!(
            partitions(&url).contains(&format!("sonde_events_{w}")),
            "{w}"
        );
    }
    // Up to the middle of the third week: two weeks dropped whole, one event of the third.
    let purged = store
        .purge_older_than(Timestamp::from_millis(MONDAY + 2 * WEEK + 1))
        .unwrap();
    assert_eq!(purged, 5);
    let left = partitions(&url);
    assert!(
        !left.contains(&"sonde_events_w20270111".to_owned()),
        "{left:?}"
    );
    assert!(
        !left.contains(&"sonde_events_w20270118".to_owned()),
        "{left:?}"
    );
    assert_eq!(store.len().unwrap(), 3);
    // A purged event may come back (its id was forgotten with it), into a new partition.
    assert_eq!(write(&store, &lines[..1]), (1, 0));
    assert!(partitions(&url).contains(&"sonde_events_w20270111".to_owned()));
}

#[test]
fn dedupe_holds_across_partitions_and_within_a_batch() {
    for method in [WriteMethod::Unnest, WriteMethod::Copy] {
        dedupe_with(method);
    }
}

fn dedupe_with(method: WriteMethod) {
    let url = support::postgres_database("dedupe");
    let store = PostgresStore::open_with(&url, method).unwrap();
    assert_eq!(write(&store, &[event("a", MONDAY)]), (1, 0));
    // The same id resent with another week's timestamp, and twice in one batch.
    let resend = [
        event("a", MONDAY + 3 * WEEK),
        event("b", MONDAY),
        event("b", MONDAY + 1),
    ];
    assert_eq!(write(&store, &resend), (1, 2));
    assert_eq!(store.len().unwrap(), 2);
    assert_eq!(store.deduplicated(), 2);
    // The first of a batch's duplicates is the one kept.
    let b = store.get("b").unwrap().unwrap();
    assert_eq!(
        b["timestamp"],
        json!(Timestamp::from_millis(MONDAY).to_string())
    );
}

#[test]
fn instances_starting_and_writing_together() {
    let url = support::postgres_database("together");
    // Four instances open a new database at once: one migrates, none fails.
    let barrier = Arc::new(Barrier::new(4));
    let stores: Vec<PostgresStore> = (0..4)
        .map(|_| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                PostgresStore::open(&url)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap().unwrap())
        .collect();
    // Each migration ran once: as many rows as versions.
    let row = sql(&url)
        .query_one(
            "SELECT COUNT(*), COUNT(DISTINCT version), MAX(version)::bigint FROM sonde_schema",
            &[],
        )
        .unwrap();
    let (rows, versions, latest): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((rows, versions), (latest, latest));
    // Each writes 500 events, 250 of them shared with every other, in batches of 50.
    let barrier = Arc::new(Barrier::new(4));
    let inserted: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(n, store)| {
                let barrier = Arc::clone(&barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let lines: Vec<String> = (0..500)
                        .map(|i| {
                            let id = if i % 2 == 0 {
                                format!("shared-{i}")
                            } else {
                                format!("own-{n}-{i}")
                            };
                            event(&id, MONDAY + i)
                        })
                        .collect();
                    lines.chunks(50).map(|c| write(store, c).0).sum::<u64>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(inserted, 250 + 4 * 250);
    assert_eq!(stores[0].len().unwrap(), 250 + 4 * 250);
}

#[test]
fn a_dropped_connection_is_replaced_on_the_next_call() {
    let url = support::postgres_database("reconnect");
    let store = PostgresStore::open(&url).unwrap();
    assert_eq!(write(&store, &[event("before", MONDAY)]), (1, 0));
    // The server ends every session on the database (a restart, a failover, an idle cut).
    let database = url.rsplit('/').next().unwrap().to_owned();
    let mut admin = sql(&url.replace(&format!("/{database}"), "/postgres"));
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&database],
        )
        .unwrap();
    // Termination is asynchronous: wait until the session is gone, or the calls below may
    // still meet it alive and a later one meet it dead.
    let gone = (0..200).any(|_| {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                &[&database],
            )
            .unwrap()
            .get(0);
        n == 0 || {
            std::thread::sleep(std::time::Duration::from_millis(25));
            false
        }
    });
    assert!(gone, "the session outlived pg_terminate_backend");
    // The call that meets the dead connection fails (the pipeline retries it); the next works.
    let _ = store.write(&mut std::iter::once(event("after", MONDAY).as_str()));
    let _ = store.query(&EventQuery::default());
    let (inserted, deduplicated) = write(&store, &[event("after", MONDAY)]);
    assert_eq!(inserted + deduplicated, 1);
    assert!(store.get("after").unwrap().is_some());
    assert_eq!(store.query(&EventQuery::default()).unwrap().events.len(), 2);
}

#[test]
fn clear_errors_for_bad_servers_and_newer_schemas() {
    let err = PostgresStore::open("postgresql://sonde:secret@127.0.0.1:1/none").unwrap_err();
    assert_eq!(err.code(), "store_failed");
    assert!(
        err.message()
            .contains("connecting to postgresql://sonde:***@127.0.0.1:1/none"),
        "{err}"
    );
    assert!(!err.message().contains("secret"), "{err}");

    // A database that does not exist: the server's reason, not the client's "db error".
    let url = support::postgres_database("missing");
    let missing = format!("{}_not_there", url);
    let err = PostgresStore::open(&missing).unwrap_err();
    assert!(err.message().contains("does not exist"), "{err}");

    let url = support::postgres_database("newer");
    drop(PostgresStore::open(&url).unwrap());
    sql(&url)
        .execute("INSERT INTO sonde_schema (version) VALUES (99)", &[])
        .unwrap();
    let err = PostgresStore::open(&url).unwrap_err();
    assert!(err.message().contains("newer Sonde"), "{err}");
}

#[test]
fn nul_characters_are_kept_as_replacement_characters() {
    for method in [WriteMethod::Unnest, WriteMethod::Copy] {
        nul_with(method);
    }
}

fn nul_with(method: WriteMethod) {
    let url = support::postgres_database("nul");
    let store = PostgresStore::open_with(&url, method).unwrap();
    let line = json!({"type": "track", "event": "E", "messageId": "nul", "userId": "u",
        "timestamp": Timestamp::from_millis(MONDAY).to_string(), "properties": {"s": "a\u{0}b"}})
    .to_string();
    assert_eq!(write(&store, &[line]), (1, 0));
    let stored = store.get("nul").unwrap().unwrap();
    assert_eq!(stored["properties"]["s"], json!("a\u{fffd}b"));
}

#[test]
fn a_partition_is_analyzed_once_it_has_grown() {
    // Without planner statistics a new week's first page can sort every row of an event.
    let url = support::postgres_database("analyze");
    let store = PostgresStore::open(&url).unwrap();
    let analyzed = || -> bool {
        sql(&url)
            .query_one(
                "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables \
                 WHERE relname = 'sonde_events_w20270111'",
                &[],
            )
            .map(|r| r.get(0))
            .unwrap_or(false)
    };
    let lines: Vec<String> = (0..9_999)
        .map(|i| event(&format!("a{i}"), MONDAY + i))
        .collect();
    for chunk in lines.chunks(500) {
        write(&store, chunk);
    }
    assert!(!analyzed(), "analyzed before 10,000 rows");
    write(&store, &[event("the-10000th", MONDAY)]);
    // The statistics collector reports asynchronously.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !analyzed() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(analyzed(), "not analyzed at 10,000 rows");
}
