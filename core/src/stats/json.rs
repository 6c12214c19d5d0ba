//! A statistics snapshot as JSON text, written field by field: the same bytes serde's
//! derive writes (a test compares them on every shape), without the serializer code the
//! derive instantiates, which was about a tenth of the browser's WebAssembly. Reading a
//! snapshot back still goes through serde (`StatsSnapshot::from_json`).

use std::collections::BTreeMap;

use super::ddsketch::DDSketch;
use super::StatusClasses;
use super::{Counters, DropReason, Latency, OperationStats, Rates, RouteStats, StatsSnapshot};
use crate::event::json::{write_f64, write_str, write_timestamp, write_u64};

/// An object being written: `{`, then `"key":value` pairs, then `}`.
pub(super) struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Writes the key; the caller writes the value into the returned buffer.
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(key, self.out);
        self.out.push(b':');
        self.out
    }

    pub fn u64(&mut self, key: &str, v: u64) {
        write_u64(v, self.key(key));
    }

    pub fn f64(&mut self, key: &str, v: f64) {
        write_f64(v, self.key(key));
    }

    pub fn opt_f64(&mut self, key: &str, v: Option<f64>) {
        match v {
            Some(v) => self.f64(key, v),
            None => self.key(key).extend_from_slice(b"null"),
        }
    }

    pub fn str(&mut self, key: &str, v: &str) {
        write_str(v, self.key(key));
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Writes `map` as an object whose values `write` writes.
fn map<V>(out: &mut Vec<u8>, map: &BTreeMap<String, V>, write: impl Fn(&V, &mut Vec<u8>)) {
    let mut o = Object::new(out);
    for (key, value) in map {
        write(value, o.key(key));
    }
    o.end();
}

pub(super) fn snapshot(s: &StatsSnapshot) -> String {
    let mut out = Vec::with_capacity(512);
    let mut o = Object::new(&mut out);
    write_timestamp(s.taken_at, o.key("taken_at"));
    counters(&s.counters, o.key("counters"));
    map(o.key("events"), &s.events, |n, out| write_u64(*n, out));
    map(o.key("routes"), &s.routes, route);
    map(o.key("operations"), &s.operations, operation);
    rates(&s.rates, o.key("rates"));
    #[cfg(not(target_arch = "wasm32"))]
    {
        map(o.key("gauges"), &s.gauges, |v, out| write_f64(*v, out));
        if !s.outboxes.is_empty() {
            let _ = serde_json::to_writer(o.key("outboxes"), &s.outboxes);
        }
    }
    // The browser has no host gauges: the same shape, always empty.
    #[cfg(target_arch = "wasm32")]
    o.key("gauges").extend_from_slice(b"{}");
    o.end();
    // Every piece above is valid UTF-8 (escaped strings and ASCII).
    String::from_utf8(out).unwrap_or_default()
}

/// The JSON `snapshot` writes for `collector.snapshot(counters, now_ms)`, written from the
/// live statistics without building the snapshot: the snapshot's path (its three B-tree
/// maps' inserts, walks and drops) was 4.4 KB of the browser's `.wasm` gzip, which only ever
/// wants the text.
/// Without a host's gauges, outboxes or exports (the browser has none).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(super) fn live(c: &super::StatsCollector, counters: &Counters, now_ms: i64) -> String {
    let mut out = Vec::with_capacity(512);
    let mut o = Object::new(&mut out);
    write_timestamp(
        crate::event::Timestamp::from_millis(now_ms),
        o.key("taken_at"),
    );
    self::counters(counters, o.key("counters"));
    let mut events = Object::new(o.key("events"));
    for (name, n) in sorted(c.events.iter().map(|(k, v)| (k.clone(), v))) {
        events.u64(&name, *n);
    }
    events.end();
    let routes = c.routes.iter().flat_map(|(route, methods)| {
        methods
            .iter()
            .map(move |(method, e)| (format!("{method} {route}"), (method, route, e)))
    });
    let mut written = Object::new(o.key("routes"));
    for (key, (method, route_name, e)) in sorted(routes) {
        route(&e.stats(method, route_name), written.key(&key));
    }
    written.end();
    let mut operations = Object::new(o.key("operations"));
    for (name, e) in sorted(c.operations.iter().map(|(k, v)| (k.clone(), v))) {
        operation(&e.stats(&name), operations.key(&name));
    }
    operations.end();
    rates(&c.rates_at(now_ms), o.key("rates"));
    o.key("gauges").extend_from_slice(b"{}");
    o.end();
    String::from_utf8(out).unwrap_or_default()
}

/// `items` in key order, kept sorted as they arrive: no sort's code in the `.wasm`, and the
/// items are capped (1,000 names and 500 routes by default), so inserting in place stays
/// well under a millisecond.
fn sorted<V>(items: impl Iterator<Item = (String, V)>) -> Vec<(String, V)> {
    let mut out: Vec<(String, V)> = Vec::new();
    for (key, value) in items {
        let at = out.partition_point(|(k, _)| *k < key);
        out.insert(at, (key, value));
    }
    out
}

fn counters(c: &Counters, out: &mut Vec<u8>) {
    let mut o = Object::new(out);
    o.u64("received", c.received);
    o.u64("accepted", c.accepted);
    o.u64("delivered", c.delivered);
    o.u64("queued", c.queued);
    o.u64("queued_bytes", c.queued_bytes);
    o.u64("in_flight", c.in_flight);
    let mut dropped = Object::new(o.key("dropped"));
    for reason in DropReason::ALL {
        dropped.u64(reason.as_str(), c.dropped.get(reason));
    }
    dropped.end();
    o.u64("plan_violations", c.plan_violations);
    o.u64("batches_delivered", c.batches_delivered);
    o.u64("batches_failed", c.batches_failed);
    o.u64("retries", c.retries);
    o.end();
}

fn route(r: &RouteStats, out: &mut Vec<u8>) {
    let mut o = Object::new(out);
    o.str("method", &r.method);
    o.str("route", &r.route);
    o.u64("count", r.count);
    o.u64("errors", r.errors);
    status(&r.status, o.key("status"));
    latency(&r.latency, o.key("latency"));
    #[cfg(not(target_arch = "wasm32"))]
    if !r.status_codes.is_empty() {
        map(o.key("status_codes"), &r.status_codes, latency);
    }
    o.end();
}

fn operation(op: &OperationStats, out: &mut Vec<u8>) {
    let mut o = Object::new(out);
    o.str("operation", &op.operation);
    o.u64("count", op.count);
    o.u64("errors", op.errors);
    latency(&op.latency, o.key("latency"));
    o.end();
}

fn status(s: &StatusClasses, out: &mut Vec<u8>) {
    let mut o = Object::new(out);
    o.u64("1xx", s.informational);
    o.u64("2xx", s.success);
    o.u64("3xx", s.redirect);
    o.u64("4xx", s.client_error);
    o.u64("5xx", s.server_error);
    o.end();
}

fn latency(l: &Latency, out: &mut Vec<u8>) {
    let mut o = Object::new(out);
    o.u64("count", l.count);
    o.opt_f64("min", l.min);
    o.opt_f64("max", l.max);
    o.opt_f64("mean", l.mean);
    o.opt_f64("p50", l.p50);
    o.opt_f64("p90", l.p90);
    o.opt_f64("p95", l.p95);
    o.opt_f64("p99", l.p99);
    sketch(&l.sketch, o.key("sketch"));
    o.end();
}

fn sketch(s: &DDSketch, out: &mut Vec<u8>) {
    s.write_json(out);
}

fn rates(r: &Rates, out: &mut Vec<u8>) {
    let mut o = Object::new(out);
    o.u64("events_1m", r.events_1m);
    o.u64("events_5m", r.events_5m);
    o.u64("events_15m", r.events_15m);
    o.f64("per_second_1m", r.per_second_1m);
    o.f64("per_second_5m", r.per_second_5m);
    o.f64("per_second_15m", r.per_second_15m);
    o.end();
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use crate::stats::StatsCollector;
    use crate::{props, ApiRequest, Config, DeliveryMode, Message, Performance, Sonde};

    fn serde_text(s: &crate::StatsSnapshot) -> String {
        serde_json::to_string(s).unwrap()
    }

    #[test]
    fn an_empty_snapshot_is_written_as_serde_writes_it() {
        let s = StatsCollector::new(10, 10).snapshot(Default::default(), 1_800_000_000_123);
        assert_eq!(s.to_json(), serde_text(&s));
    }

    #[test]
    fn the_live_writer_writes_what_the_snapshot_does() {
        let mut c = StatsCollector::new(10, 10);
        let now = 1_800_000_000_123;
        let empty = c.snapshot(Default::default(), now);
        assert_eq!(
            super::live(&c, &Default::default(), now),
            without_gauges(&empty)
        );
        for (i, status) in [200u64, 404, 500, 200, 301].iter().enumerate() {
            c.record_request("GET", "/items/{id}", *status, 1.5 * i as f64);
            c.record_request("POST", "/items", *status, 0.25);
            c.record_request("DELETE", "/a \"quoted\" route", *status, 12.0);
        }
        for n in 0..12 {
            c.record_operation(&format!("op {}", n % 3), f64::from(n), n % 2 == 0);
        }
        for name in ["Signed Up", "ü event", "Another", "Signed Up"] {
            c.record(&Message::track(name, Default::default()), now, false);
        }
        let counters = crate::stats::Counters {
            received: 7,
            accepted: 5,
            ..Default::default()
        };
        assert_eq!(
            super::live(&c, &counters, now),
            without_gauges(&c.snapshot(counters.clone(), now))
        );
    }

    /// The snapshot's text with the gauges a host would have left empty, as the browser's.
    fn without_gauges(s: &crate::StatsSnapshot) -> String {
        let mut s = s.clone();
        s.gauges.clear();
        s.to_json()
    }

    #[test]
    fn every_field_is_written_as_serde_writes_it() {
        let sonde = Sonde::new(Config::default().delivery(DeliveryMode::Manual)).unwrap();
        for (i, status) in [200u16, 201, 301, 404, 500, 503, 101].iter().enumerate() {
            let mut request = ApiRequest::new("GET", "/items/{id}", *status, 0.25 + i as f64 * 7.3);
            request.ttfb_ms = Some(0.1);
            sonde.track_api_request(request).unwrap();
        }
        sonde
            .track_api_request(ApiRequest::new("POST", "/a \"quoted\" route\n", 200, 1e-7))
            .unwrap();
        sonde
            .track_performance(Performance::new("db.query", 0.0, true))
            .unwrap();
        sonde
            .track_performance(Performance::new("ünïcode op", 123_456.789, false))
            .unwrap();
        sonde.track("Signed Up", props(json!({"n": 1}))).unwrap();
        sonde
            .send(Message::page(Some("Home".into()), Default::default()))
            .unwrap();
        let mut s = sonde.stats();
        s.gauges = BTreeMap::from([
            ("host.cpu_percent".to_owned(), 12.5),
            ("host.memory_percent".to_owned(), 100.0),
            ("not.finite".to_owned(), f64::NAN),
        ]);
        s.rates.per_second_1m = 1.0 / 3.0;
        assert_eq!(s.to_json(), serde_text(&s));
        s.gauges.remove("not.finite");
        let back = crate::StatsSnapshot::from_json(&s.to_json()).unwrap();
        assert_eq!(back.routes, s.routes);
    }
}
