//! The HTTP destination against a scripted collector on 127.0.0.1: what each answer (2xx,
//! per-item rejection, 413, 429 with Retry-After, 400, no server) does to delivery and to
//! the drop counters, the body each format sends, and the durable outbox through an outage,
//! a restart and its byte cap.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use serde_json::{json, Value};
use sonde_core::sink::{ForwardFormat, HttpSink, HttpSinkOptions};
use sonde_core::{props, Config, Message, Properties, Sonde};

/// One request the collector received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
    at: Instant,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn batch(&self) -> &[Value] {
        self.body["batch"].as_array().map_or(&[], Vec::as_slice)
    }
}

/// What the collector answers: status, extra headers, body.
type Reply = (u16, Vec<(&'static str, String)>, String);
type Script = dyn Fn(&Received, usize) -> Reply + Send + Sync;

/// A collector that answers each request as `script` says (given the request and how many
/// came before it) and keeps every request.
struct Collector {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Collector {
    fn start(script: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/batch", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let kept = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = Arc::clone(&kept);
                let script = Arc::clone(&script);
                std::thread::spawn(move || serve(stream, &kept, &*script));
            }
        });
        Self { url, received }
    }

    fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Answers requests on one kept-alive connection until the client closes it.
fn serve(stream: TcpStream, kept: &Mutex<Vec<Received>>, script: &Script) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut raw = vec![0; length];
        reader.read_exact(&mut raw).unwrap();
        let gzipped = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
        let mut text = String::new();
        if gzipped {
            GzDecoder::new(&raw[..]).read_to_string(&mut text).unwrap();
        } else {
            text = String::from_utf8(raw).unwrap();
        }
        let request = Received {
            path,
            headers,
            body: serde_json::from_str(&text).unwrap(),
            at: Instant::now(),
        };
        let count = {
            let mut all = kept.lock().unwrap();
            all.push(request.clone());
            all.len() - 1
        };
        let (status, extra, body) = script(&request, count);
        let mut head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if out.write_all(head.as_bytes()).is_err() || out.write_all(body.as_bytes()).is_err() {
            return;
        }
    }
}

fn ok() -> Reply {
    (200, vec![], r#"{"success":true}"#.to_owned())
}

fn client(options: HttpSinkOptions, retries: u32) -> Sonde {
    let config = Config::default()
        .flush_interval(Duration::from_millis(20))
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(20))
        .max_retries(retries)
        .sink(HttpSink::new(options).unwrap());
    Sonde::new(config).unwrap()
}

fn track_n(sonde: &Sonde, n: usize) {
    for i in 0..n {
        sonde
            .track(
                "Order Completed",
                props(json!({"i": i, "note": "x".repeat(20)})),
            )
            .unwrap();
    }
}

const FLUSH: Duration = Duration::from_secs(10);

#[test]
fn segment_batches_carry_the_events_sent_at_and_the_write_key() {
    let collector = Collector::start(|_, _| ok());
    let mut options = HttpSinkOptions::new(&collector.url);
    options.write_key = Some("wk_live".to_owned());
    let sonde = client(options, 3);
    track_n(&sonde, 3);
    sonde.flush(FLUSH).unwrap();
    let requests = collector.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/batch");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    // base64("wk_live:")
    assert_eq!(r.header("authorization"), Some("Basic d2tfbGl2ZTo="));
    assert!(r.header("user-agent").unwrap().starts_with("sonde/"));
    assert_eq!(r.batch().len(), 3);
    assert_eq!(r.batch()[2]["properties"]["i"], 2);
    assert_eq!(r.batch()[0]["type"], "track");
    assert!(r.body["sentAt"].as_str().unwrap().ends_with('Z'));
    let c = sonde.stats().counters;
    assert_eq!((c.delivered, c.dropped.total()), (3, 0));
}

#[test]
fn items_the_collector_rejects_are_dropped_and_the_rest_delivered() {
    let collector = Collector::start(|_, _| {
        let items = json!({"accepted": 2, "rejected": 1, "items": [
            {"index": 0, "status": "accepted"},
            {"index": 1, "status": "rejected", "errors": []},
            {"index": 2, "status": "accepted"}]});
        (200, vec![], items.to_string())
    });
    let sonde = client(HttpSinkOptions::new(&collector.url), 3);
    track_n(&sonde, 3);
    sonde.flush(FLUSH).unwrap();
    let c = sonde.stats().counters;
    assert_eq!((c.delivered, c.dropped.rejected, c.retries), (2, 1, 0));
    assert_eq!(
        c.received,
        c.delivered + c.dropped.total() + c.queued + c.in_flight
    );
    assert_eq!(collector.requests().len(), 1);
}

#[test]
fn a_413_splits_the_batch_and_a_lone_oversize_event_is_dropped() {
    // More than two events, or any event marked huge, is too large.
    let collector = Collector::start(|r, _| {
        let huge = r.batch().iter().any(|e| e["properties"]["huge"] == true);
        if r.batch().len() > 2 || huge {
            (413, vec![], r#"{"code":"payload_too_large"}"#.to_owned())
        } else {
            ok()
        }
    });
    let sonde = client(HttpSinkOptions::new(&collector.url), 3);
    track_n(&sonde, 2);
    sonde.track("Big", props(json!({"huge": true}))).unwrap();
    track_n(&sonde, 2);
    sonde.flush(FLUSH).unwrap();
    let c = sonde.stats().counters;
    assert_eq!((c.delivered, c.dropped.oversize, c.retries), (4, 1, 0));
    let delivered: usize = collector
        .requests()
        .iter()
        .filter(|r| {
            r.batch().len() <= 2 && !r.batch().iter().any(|e| e["properties"]["huge"] == true)
        })
        .map(|r| r.batch().len())
        .sum();
    assert_eq!(delivered, 4, "each good event was taken exactly once");
}

#[test]
fn a_429_is_retried_no_sooner_than_retry_after() {
    let collector = Collector::start(|_, n| {
        if n == 0 {
            (429, vec![("retry-after", "1".to_owned())], "{}".to_owned())
        } else {
            ok()
        }
    });
    let sonde = client(HttpSinkOptions::new(&collector.url), 3);
    track_n(&sonde, 2);
    sonde.flush(FLUSH).unwrap();
    let requests = collector.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].at - requests[0].at;
    assert!(
        waited >= Duration::from_millis(990),
        "retried after {waited:?}"
    );
    let c = sonde.stats().counters;
    assert_eq!((c.delivered, c.retries, c.dropped.total()), (2, 1, 0));
}

#[test]
fn a_503_and_a_500_are_retried_until_taken() {
    let collector = Collector::start(|_, n| match n {
        0 => (503, vec![], "{}".to_owned()),
        1 => (500, vec![], "{}".to_owned()),
        _ => ok(),
    });
    let sonde = client(HttpSinkOptions::new(&collector.url), 3);
    track_n(&sonde, 4);
    sonde.flush(FLUSH).unwrap();
    let c = sonde.stats().counters;
    assert_eq!((c.delivered, c.retries), (4, 2));
    assert_eq!(collector.requests().len(), 3);
}

#[test]
fn a_400_is_not_retried_and_every_event_is_dropped_as_rejected() {
    let collector = Collector::start(|_, _| (400, vec![], r#"{"code":"invalid"}"#.to_owned()));
    let sonde = client(HttpSinkOptions::new(&collector.url), 5);
    track_n(&sonde, 3);
    sonde.flush(FLUSH).unwrap();
    let c = sonde.stats().counters;
    assert_eq!((c.delivered, c.dropped.rejected, c.retries), (0, 3, 0));
    assert_eq!(collector.requests().len(), 1);
}

#[test]
fn no_server_is_retried_then_counted_as_retry_exhausted() {
    // A port nothing listens on: bind, note it, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sonde = client(
        HttpSinkOptions::new(format!("http://127.0.0.1:{port}/v1/batch")),
        2,
    );
    track_n(&sonde, 2);
    sonde.flush(FLUSH).unwrap();
    let c = sonde.stats().counters;
    assert_eq!(
        (c.delivered, c.dropped.retry_exhausted, c.retries),
        (0, 2, 2)
    );
}

#[test]
fn posthog_batches_map_each_type_and_carry_the_api_key() {
    let collector = Collector::start(|_, _| (200, vec![], r#"{"status":1}"#.to_owned()));
    let mut options = HttpSinkOptions::new(&collector.url);
    options.format = ForwardFormat::PostHog;
    options.write_key = Some("phc_key".to_owned());
    let sonde = client(options, 3);
    let p = |v: Value| -> Properties { props(v) };
    sonde
        .send(
            Message::track("Signed Up", p(json!({"plan": "pro"})))
                .with_user_id("u1")
                .with_anonymous_id("a1"),
        )
        .unwrap();
    sonde
        .send(
            Message::page(
                Some("Home".to_owned()),
                p(json!({"url": "https://x.test/"})),
            )
            .with_anonymous_id("a1"),
        )
        .unwrap();
    sonde
        .send(Message::identify("u1", p(json!({"email": "u@x.test"}))))
        .unwrap();
    sonde
        .send(Message::group("acme", p(json!({"name": "Acme"}))).with_user_id("u1"))
        .unwrap();
    sonde.send(Message::alias("u1", "a1")).unwrap();
    sonde.flush(FLUSH).unwrap();
    let requests = collector.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0].body;
    assert_eq!(body["api_key"], "phc_key");
    assert_eq!(requests[0].header("authorization"), None);
    let batch = requests[0].batch();
    assert_eq!(batch.len(), 5);
    let track = &batch[0];
    assert_eq!(track["event"], "Signed Up");
    assert_eq!(track["distinct_id"], "u1");
    assert_eq!(track["properties"]["plan"], "pro");
    assert_eq!(track["properties"]["$anon_distinct_id"], "a1");
    assert_eq!(track["properties"]["$lib"], "sonde");
    assert_eq!(track["uuid"].as_str().unwrap().len(), 36);
    assert!(track["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(batch[1]["event"], "$pageview");
    assert_eq!(batch[1]["distinct_id"], "a1");
    assert_eq!(batch[1]["properties"]["$current_url"], "https://x.test/");
    assert_eq!(batch[2]["event"], "$identify");
    assert_eq!(batch[2]["properties"]["$set"]["email"], "u@x.test");
    assert_eq!(batch[3]["event"], "$groupidentify");
    assert_eq!(batch[3]["properties"]["$group_type"], "company");
    assert_eq!(batch[3]["properties"]["$group_key"], "acme");
    assert_eq!(batch[3]["properties"]["$group_set"]["name"], "Acme");
    assert_eq!(batch[4]["event"], "$create_alias");
    assert_eq!(batch[4]["distinct_id"], "a1");
    assert_eq!(batch[4]["properties"]["alias"], "u1");
    assert_eq!(sonde.stats().counters.delivered, 5);
}

#[test]
fn personless_events_reach_posthog_without_a_person_profile() {
    let collector = Collector::start(|_, _| (200, vec![], r#"{"status":1}"#.to_owned()));
    let mut options = HttpSinkOptions::new(&collector.url);
    options.format = ForwardFormat::PostHog;
    let mut config = Config::default()
        .flush_interval(Duration::from_millis(20))
        .sink(HttpSink::new(options).unwrap());
    config.require_person = true;
    let sonde = Sonde::new(config).unwrap();
    let receipt = sonde
        .track_api_request(sonde_core::ApiRequest::new("GET", "/items", 200, 3.0))
        .unwrap();
    sonde.flush(FLUSH).unwrap();
    let requests = collector.requests();
    let batch = requests[0].batch();
    assert_eq!(batch[0]["distinct_id"], receipt.message_id.as_str());
    assert_eq!(batch[0]["properties"]["$process_person_profile"], false);
}

#[test]
fn a_store_beside_the_http_destination_keeps_its_events_when_the_collector_refuses() {
    let collector = Collector::start(|_, _| {
        let items = json!({"items": [{"index": 0, "status": "rejected"}, {"index": 1, "status": "accepted"}]});
        (200, vec![], items.to_string())
    });
    let memory = sonde_core::sink::MemorySink::new();
    let config = Config::default()
        .flush_interval(Duration::from_millis(20))
        .sink(memory.clone())
        .sink(HttpSink::new(HttpSinkOptions::new(&collector.url)).unwrap());
    let sonde = Sonde::new(config).unwrap();
    track_n(&sonde, 2);
    sonde.flush(FLUSH).unwrap();
    assert_eq!(memory.events().len(), 2, "the local sink took both");
    let c = sonde.stats().counters;
    // An event counts as delivered only when every destination took it.
    assert_eq!((c.delivered, c.dropped.rejected), (1, 1));
}

/// The `i` of every event a collector took, per request it answered 2xx, in order.
type Taken = Arc<Mutex<Vec<Vec<i64>>>>;

/// A collector that answers 503 until `up` is set, then takes everything.
fn flaky_collector() -> (Collector, Arc<AtomicBool>, Taken) {
    let up = Arc::new(AtomicBool::new(false));
    let taken: Taken = Arc::default();
    let (switch, kept) = (Arc::clone(&up), Arc::clone(&taken));
    let collector = Collector::start(move |r, _| {
        if switch.load(Ordering::SeqCst) {
            let batch = r
                .batch()
                .iter()
                .map(|e| e["properties"]["i"].as_i64().unwrap());
            kept.lock().unwrap().push(batch.collect());
            ok()
        } else {
            (503, vec![], r#"{"code":"down"}"#.to_owned())
        }
    });
    (collector, up, taken)
}

fn with_outbox(url: &str, path: &std::path::Path, max_bytes: Option<u64>) -> Sonde {
    let mut options = HttpSinkOptions::new(url);
    options.outbox = Some(path.to_path_buf());
    if let Some(max) = max_bytes {
        options.outbox_max_bytes = max;
    }
    options.backoff = (Duration::from_millis(5), Duration::from_millis(50));
    let config = Config::default()
        .flush_interval(Duration::from_millis(20))
        .batch_size(5)
        .sink(HttpSink::new(options).unwrap());
    Sonde::new(config).unwrap()
}

/// Every `i` the collector took, sorted.
fn all_taken(taken: &Taken) -> Vec<i64> {
    let mut seen: Vec<i64> = taken.lock().unwrap().iter().flatten().copied().collect();
    seen.sort_unstable();
    seen
}

fn temp_outbox(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sonde-outbox-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("outbox.db")
}

#[test]
fn the_outbox_keeps_batches_through_an_outage_and_sends_them_once_after() {
    let (collector, up, taken) = flaky_collector();
    let path = temp_outbox("outage");
    let sonde = with_outbox(&collector.url, &path, None);
    track_n(&sonde, 30);
    // The flush returns once the events are in the outbox: waiting out an outage is not its job.
    sonde.flush(FLUSH).unwrap();
    let stats = sonde.stats();
    assert_eq!(stats.counters.delivered, 30, "durably in the outbox");
    let outbox = &stats.outboxes[&collector.url];
    assert_eq!(
        (outbox.pending_events, outbox.pending_batches, outbox.sent),
        (30, 6, 0)
    );
    assert!(outbox.retries > 0 && outbox.last_error.as_deref().unwrap().contains("503"));
    up.store(true, Ordering::SeqCst);
    sonde.flush(FLUSH).unwrap();
    let outbox = &sonde.stats().outboxes[&collector.url];
    assert_eq!(
        (
            outbox.pending_events,
            outbox.sent,
            outbox.last_error.clone()
        ),
        (0, 30, None)
    );
    assert_eq!(all_taken(&taken), (0..30).collect::<Vec<_>>());
    sonde.shutdown(FLUSH).unwrap();
}

#[test]
fn a_new_process_sends_what_the_last_one_left_in_the_outbox_first() {
    let (collector, up, taken) = flaky_collector();
    let path = temp_outbox("restart");
    let first = with_outbox(&collector.url, &path, None);
    track_n(&first, 20);
    first.flush(FLUSH).unwrap();
    first.shutdown(FLUSH).unwrap();
    drop(first);
    // Its worker stops right after shutdown returns, with one last try of the outbox (a
    // 503 here); a sender still running when the collector comes back could send an old
    // row while the new process sends a newer one.
    std::thread::sleep(Duration::from_millis(300));
    up.store(true, Ordering::SeqCst);
    let second = with_outbox(&collector.url, &path, None);
    second
        .track("Order Completed", props(json!({"i": 20})))
        .unwrap();
    second.flush(FLUSH).unwrap();
    assert_eq!(all_taken(&taken), (0..21).collect::<Vec<_>>());
    let first_sent = taken.lock().unwrap()[0][0];
    assert_eq!(first_sent, 0, "the old batches go first");
    // The first client's stopping worker may still send some rows (its last flush asks for
    // a try); either way each event reached the collector once and none is left.
    let outbox = &second.stats().outboxes[&collector.url];
    assert_eq!(outbox.pending_events, 0, "{outbox:?}");
}

#[test]
fn past_its_cap_the_outbox_drops_the_oldest_and_counts_them() {
    let (collector, up, taken) = flaky_collector();
    let path = temp_outbox("cap");
    // About three batches of five events fit.
    let sonde = with_outbox(&collector.url, &path, Some(6_000));
    track_n(&sonde, 100);
    sonde.flush(FLUSH).unwrap();
    let outbox = sonde.stats().outboxes[&collector.url].clone();
    assert!(outbox.dropped.outbox_full > 0, "{outbox:?}");
    assert_eq!(outbox.pending_events + outbox.dropped.outbox_full, 100);
    // The newest batch and one out with the sender are never evicted.
    assert!(outbox.pending_bytes <= 6_000 + 2 * 2_500, "{outbox:?}");
    up.store(true, Ordering::SeqCst);
    sonde.flush(FLUSH).unwrap();
    let sent = all_taken(&taken);
    assert_eq!(sent.len() as u64, outbox.pending_events);
    assert!(
        sent.ends_with(&[95, 96, 97, 98, 99]),
        "the newest are kept: {sent:?}"
    );
    let after = &sonde.stats().outboxes[&collector.url];
    assert_eq!(after.sent + after.dropped.outbox_full, 100);
}

#[test]
fn an_unusable_outbox_path_fails_construction_with_a_clear_error() {
    let mut options = HttpSinkOptions::new("http://127.0.0.1:9/v1/batch");
    options.outbox = Some("/nonexistent-dir/sub/outbox.db".into());
    let e = HttpSink::new(options).unwrap_err();
    assert!(e.message().contains("outbox"), "{}", e.message());
}
