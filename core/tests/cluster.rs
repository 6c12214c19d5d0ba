//! Statistics across instances sharing a store, on both backends: each publishes its
//! snapshot, any answers with the exact merge of the live ones and a breakdown, an instance
//! that stops publishing ages out, and the worker publishes at the metrics interval.
#![cfg(all(feature = "sqlite", feature = "postgres", feature = "http"))]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sonde_core::clock::{ManualClock, SharedClock};
use sonde_core::http::{Api, ApiHost, FixedHost, HttpRequest};
use sonde_core::store::{PostgresStore, SqliteStore, Store, StoreSink};
use sonde_core::{Config, Sonde};

mod support;

const T0: i64 = 1_800_000_000_000;

fn stores(test: &str) -> Vec<Arc<dyn Store>> {
    let dir = std::env::temp_dir().join(format!("sonde-cluster-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    vec![
        Arc::new(SqliteStore::open(dir.join("events.db")).unwrap()),
        Arc::new(PostgresStore::open(&support::postgres_database(test)).unwrap()),
    ]
}

/// An instance on `store` with its own clock (no alert rules, no host sampling).
fn instance(store: &Arc<dyn Store>, clock: &Arc<ManualClock>, interval: Duration) -> Sonde {
    let clock: SharedClock = clock.clone();
    Sonde::new(
        Config::default()
            .clock(clock)
            .alert_rules(Vec::new())
            .host_metrics(false)
            .metrics_interval(interval)
            .sink(StoreSink::new(Arc::clone(store)))
            .publish_stats_to(Arc::clone(store)),
    )
    .unwrap()
}

#[test]
fn any_instance_answers_for_every_live_one_and_stopped_ones_age_out() {
    for store in stores("merge") {
        let clocks: Vec<Arc<ManualClock>> =
            (0..3).map(|_| Arc::new(ManualClock::new(T0))).collect();
        let instances: Vec<Sonde> = clocks
            .iter()
            .map(|c| instance(&store, c, Duration::from_secs(10)))
            .collect();
        // Instance n serves n + 1 requests of (n + 1) * 10 ms, and tracks one event.
        let mut durations = Vec::new();
        for (n, sonde) in instances.iter().enumerate() {
            for _ in 0..=n {
                let ms = (n as f64 + 1.0) * 10.0;
                sonde.record_request("GET", "/items/{id}", 200, ms);
                durations.push(ms);
            }
            sonde
                .track("Seen", sonde_core::props(json!({"n": n})))
                .unwrap();
            sonde.publish_stats().unwrap();
        }
        let answer = instances[0].cluster_stats().unwrap();
        let route = &answer.merged.routes["GET /items/{id}"];
        assert_eq!(route.count, 6, "{}", store.backend());
        assert_eq!(answer.merged.counters.received, 3);
        assert_eq!(answer.merged.events["Seen"], 3);
        assert_eq!(answer.instances.len(), 3);
        assert_eq!(answer.instances.iter().filter(|i| i.current).count(), 1);
        assert_eq!(
            answer.instances.iter().map(|i| i.requests).sum::<u64>(),
            6,
            "the breakdown adds up"
        );
        let ids: std::collections::BTreeSet<&str> = answer
            .instances
            .iter()
            .map(|i| i.instance.id.as_str())
            .collect();
        assert_eq!(ids.len(), 3, "every instance has its own id");
        assert!(answer
            .instances
            .iter()
            .all(|i| i.instance.pid == std::process::id()));

        // Instance 2 stops publishing; 40 s later (four intervals) only 0 and 1 count.
        // (A shut-down instance leaves at once: see below.)
        for clock in &clocks[..2] {
            clock.advance(Duration::from_secs(40));
        }
        instances[1].publish_stats().unwrap();
        let answer = instances[0].cluster_stats().unwrap();
        assert_eq!(answer.instances.len(), 2, "{}", store.backend());
        assert_eq!(answer.merged.routes["GET /items/{id}"].count, 3);
        let mut instances = instances.into_iter();
        let first = instances.next().unwrap();
        for sonde in instances {
            sonde.shutdown(Duration::from_secs(5)).unwrap();
        }
        // Shut down, instance 1 is gone from the answer without waiting to age out.
        assert_eq!(first.cluster_stats().unwrap().instances.len(), 1);
        first.shutdown(Duration::from_secs(5)).unwrap();
    }
}

#[test]
fn the_api_answers_statistics_and_performance_for_every_instance() {
    let api = Api::new(&json!({"api_key": "k"})).unwrap();
    for store in stores("api") {
        let clock = Arc::new(ManualClock::new(T0));
        let hosts: Vec<FixedHost> = (0..2)
            .map(|_| FixedHost {
                sonde: instance(&store, &clock, Duration::from_secs(10)),
                store: Some(Arc::clone(&store)),
                options: serde_json::Map::new(),
            })
            .collect();
        hosts[0].sonde.record_request("GET", "/a", 200, 5.0);
        hosts[1].sonde.record_request("GET", "/a", 500, 7.0);
        hosts[1].sonde.publish_stats().unwrap();
        let get = |host: &FixedHost, path: &str| -> Value {
            let response = api.handle(
                host as &dyn ApiHost,
                &HttpRequest {
                    method: "GET".into(),
                    path: path.into(),
                    query: String::new(),
                    headers: vec![("authorization".into(), "Bearer k".into())],
                    body: Vec::new(),
                },
            );
            assert_eq!(response.status, 200, "{path}");
            response.json_body()
        };
        let statistics = get(&hosts[0], "/statistics");
        assert_eq!(statistics["live"]["routes"]["GET /a"]["count"], 2);
        assert_eq!(statistics["live"]["routes"]["GET /a"]["errors"], 1);
        let codes = &statistics["live"]["routes"]["GET /a"]["status_codes"];
        assert_eq!(
            (codes["200"]["count"].clone(), codes["500"]["max"].clone()),
            (json!(1), json!(7.0))
        );
        assert_eq!(statistics["instances"].as_array().unwrap().len(), 2);
        let performance = get(&hosts[0], "/performance");
        assert_eq!(performance["routes"]["GET /a"]["count"], 2);
        assert_eq!(performance["instances"][0]["current"], true);
        assert_eq!(performance["instances"][0]["pid"], std::process::id());
        for host in hosts {
            host.sonde.shutdown(Duration::from_secs(5)).unwrap();
        }
    }
}

#[test]
fn the_worker_publishes_at_the_metrics_interval() {
    for store in stores("worker") {
        let sonde = Sonde::new(
            Config::default()
                .alert_rules(Vec::new())
                .host_metrics(false)
                .metrics_interval(Duration::from_millis(50))
                .sink(StoreSink::new(Arc::clone(&store)))
                .publish_stats_to(Arc::clone(&store)),
        )
        .unwrap();
        sonde.record_request("GET", "/w", 200, 1.0);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut published = Vec::new();
        while published.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            published = store.instances(0).unwrap();
        }
        let mine = sonde.instance().unwrap().id.clone();
        let row = published.iter().find(|p| p.instance.id == mine);
        assert!(row.is_some(), "{}: nothing published", store.backend());
        assert_eq!(row.unwrap().snapshot.routes["GET /w"].count, 1);
        sonde.shutdown(Duration::from_secs(5)).unwrap();
    }
}

#[test]
fn a_replacing_client_continues_the_statistics_of_the_one_it_replaced() {
    for store in stores("succession") {
        let clock = Arc::new(ManualClock::new(T0));
        let old = instance(&store, &clock, Duration::from_secs(10));
        old.record_request("GET", "/a", 200, 5.0);
        old.track("Before", sonde_core::props(json!({}))).unwrap();
        old.publish_stats().unwrap();
        let new = instance(&store, &clock, Duration::from_secs(10));
        new.continue_from(&old);
        new.record_request("GET", "/a", 200, 7.0);
        new.track("After", sonde_core::props(json!({}))).unwrap();
        // While the old one drains, both count; its row is gone, so nothing counts twice.
        let both = new.cluster_stats().unwrap();
        assert_eq!(both.merged.routes["GET /a"].count, 2, "{}", store.backend());
        assert_eq!(both.merged.counters.received, 2);
        assert_eq!(both.instances.len(), 1);
        old.publish_stats().unwrap(); // a replaced client no longer publishes
        assert_eq!(new.cluster_stats().unwrap().instances.len(), 1);
        old.shutdown(Duration::from_secs(5)).unwrap();
        new.settle_predecessor();
        drop(old);
        let after = new.stats();
        assert_eq!(after.routes["GET /a"].count, 2);
        assert_eq!((after.counters.received, after.events.len()), (2, 2));
        new.shutdown(Duration::from_secs(5)).unwrap();
        let last = new.stats();
        assert_eq!(
            last.counters.delivered, 2,
            "both clients' events delivered and counted"
        );
    }
}
