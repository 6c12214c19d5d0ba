//! Statistics as an OTLP metrics export request (`ExportMetricsServiceRequest`, protobuf),
//! for the periodic push to an OpenTelemetry collector. Encoded by hand: a few messages of
//! `opentelemetry/proto/{collector/metrics,metrics,common,resource}/v1`, field numbers as
//! those files give them, with no code generator in the build.
//!
//! Temporality is cumulative (each export carries totals since the client started, so a
//! failed export loses nothing). Latency becomes exponential histograms at scale 5 (base
//! 2^(1/32), about 2.2% between bucket bounds): each sketch bin's count goes to the bucket
//! of its representative value, in seconds. The same metrics as `/metrics`, with
//! OpenTelemetry's names (`http.server.request.duration` with `http.request.method` and
//! `http.route`, `sonde.events.received`, ...).

use super::{catalog, DDSketch, DropReason, StatsSnapshot};

/// Exponential histogram scale: bucket bounds are powers of 2^(2^-SCALE).
pub const OTLP_SCALE: i32 = 5;

/// Who exports: resource attributes (`service.name`, ...) and the scope's version.
#[derive(Debug, Clone, Default)]
pub struct OtlpResource {
    /// Resource attributes, e.g. `("service.name", "shop")`.
    pub attributes: Vec<(String, String)>,
}

/// The export request for `stats`, cumulative since `start_ns` (Unix nanoseconds), taken
/// at `now_ns`.
pub fn export_request(
    stats: &StatsSnapshot,
    resource: &OtlpResource,
    start_ns: u64,
    now_ns: u64,
) -> Vec<u8> {
    let time = Times { start_ns, now_ns };
    let mut metrics: Vec<Vec<u8>> = Vec::new();
    let c = &stats.counters;
    for (name, description, value) in catalog::counters(c) {
        let name = format!("sonde.{}", name.replacen('_', ".", 1));
        let point = number(&[], value as f64, time);
        metrics.push(metric(&name, description, "{event}", sum(&[point])));
    }
    let drops: Vec<Vec<u8>> = DropReason::ALL
        .iter()
        .map(|r| number(&[("reason", r.as_str())], c.dropped.get(*r) as f64, time))
        .collect();
    metrics.push(metric(
        "sonde.events.dropped",
        "Events dropped, by reason.",
        "{event}",
        sum(&drops),
    ));
    let tracked: Vec<Vec<u8>> = stats
        .events
        .iter()
        .map(|(event, n)| number(&[("event", event)], *n as f64, time))
        .collect();
    metrics.push(metric(
        "sonde.events.tracked",
        "Accepted events, by name.",
        "{event}",
        sum(&tracked),
    ));
    for (name, description, value) in catalog::queue(c) {
        let name = format!("sonde.{}", name.replacen('_', ".", 1));
        let point = number(&[], value as f64, time);
        metrics.push(metric(&name, description, "1", gauge(&[point])));
    }
    for (name, value) in &stats.gauges {
        metrics.push(metric(
            &format!("sonde.{name}"),
            "Host or process gauge.",
            "1",
            gauge(&[number(&[], *value, time)]),
        ));
    }
    let mut routes: Vec<Vec<u8>> = Vec::new();
    for r in stats.routes.values() {
        let attributes = [
            key_value("http.request.method", &r.method),
            key_value("http.route", &r.route),
        ];
        for (code, sketch) in catalog::latency_by_status(r) {
            // The convention's attribute is an integer; `__other__` has none.
            let mut with_code = attributes.to_vec();
            if let Some(code) = code.and_then(|code| code.parse::<i64>().ok()) {
                with_code.push(key_int("http.response.status_code", code));
            }
            routes.push(histogram_point(&with_code, sketch, time));
        }
    }
    metrics.push(metric(
        "http.server.request.duration",
        "Duration of HTTP server requests.",
        "s",
        exponential_histogram(&routes),
    ));
    let responses: Vec<Vec<u8>> = stats
        .routes
        .values()
        .flat_map(|r| {
            catalog::status_classes(&r.status)
                .into_iter()
                .map(move |(class, n)| {
                    let attributes = [
                        ("http.request.method", r.method.as_str()),
                        ("http.route", r.route.as_str()),
                        ("status_class", class),
                    ];
                    number(&attributes, n as f64, time)
                })
        })
        .collect();
    metrics.push(metric(
        "sonde.http.server.responses",
        "HTTP responses, by status class.",
        "{response}",
        sum(&responses),
    ));
    let operations: Vec<Vec<u8>> = stats
        .operations
        .values()
        .map(|o| {
            histogram_point(
                &[key_value("operation", &o.operation)],
                &o.latency.sketch,
                time,
            )
        })
        .collect();
    metrics.push(metric(
        "sonde.operation.duration",
        "Duration of timed operations.",
        "s",
        exponential_histogram(&operations),
    ));

    let mut scope = Vec::new();
    let mut instrumentation = Vec::new();
    string(&mut instrumentation, 1, "sonde");
    string(&mut instrumentation, 2, env!("CARGO_PKG_VERSION"));
    message(&mut scope, 1, &instrumentation);
    for m in &metrics {
        message(&mut scope, 2, m);
    }
    let mut resource_message = Vec::new();
    for (k, v) in &resource.attributes {
        message(&mut resource_message, 1, &key_value(k, v));
    }
    let mut resource_metrics = Vec::new();
    message(&mut resource_metrics, 1, &resource_message);
    message(&mut resource_metrics, 2, &scope);
    let mut request = Vec::new();
    message(&mut request, 1, &resource_metrics);
    request
}

#[derive(Clone, Copy)]
struct Times {
    start_ns: u64,
    now_ns: u64,
}

/// `AGGREGATION_TEMPORALITY_CUMULATIVE`.
const CUMULATIVE: u64 = 2;

/// `Metric`: name 1, description 2, unit 3, then the data (its field number and bytes).
fn metric(name: &str, description: &str, unit: &str, data: (u32, Vec<u8>)) -> Vec<u8> {
    let mut m = Vec::new();
    string(&mut m, 1, name);
    string(&mut m, 2, description);
    string(&mut m, 3, unit);
    message(&mut m, data.0, &data.1);
    m
}

/// `Metric.sum` (7): monotonic, cumulative.
fn sum(points: &[Vec<u8>]) -> (u32, Vec<u8>) {
    let mut s = Vec::new();
    for p in points {
        message(&mut s, 1, p);
    }
    varint_field(&mut s, 2, CUMULATIVE);
    varint_field(&mut s, 3, 1);
    (7, s)
}

/// `Metric.gauge` (5).
fn gauge(points: &[Vec<u8>]) -> (u32, Vec<u8>) {
    let mut g = Vec::new();
    for p in points {
        message(&mut g, 1, p);
    }
    (5, g)
}

/// `Metric.exponential_histogram` (10): cumulative.
fn exponential_histogram(points: &[Vec<u8>]) -> (u32, Vec<u8>) {
    let mut h = Vec::new();
    for p in points {
        message(&mut h, 1, p);
    }
    varint_field(&mut h, 2, CUMULATIVE);
    (10, h)
}

/// `NumberDataPoint`: attributes 7, start 2, time 3, as_double 4.
fn number(attributes: &[(&str, &str)], value: f64, time: Times) -> Vec<u8> {
    let mut p = Vec::new();
    for (k, v) in attributes {
        message(&mut p, 7, &key_value(k, v));
    }
    fixed64_field(&mut p, 2, time.start_ns);
    fixed64_field(&mut p, 3, time.now_ns);
    fixed64_field(&mut p, 4, value.to_bits());
    p
}

/// `ExponentialHistogramDataPoint` from a sketch of milliseconds: attributes 1 (encoded
/// `KeyValue`s), start 2, time 3, count 4, sum 5, scale 6, zero_count 7, positive 8, min 12,
/// max 13.
fn histogram_point(attributes: &[Vec<u8>], sketch: &DDSketch, time: Times) -> Vec<u8> {
    let mut p = Vec::new();
    for kv in attributes {
        message(&mut p, 1, kv);
    }
    fixed64_field(&mut p, 2, time.start_ns);
    fixed64_field(&mut p, 3, time.now_ns);
    fixed64_field(&mut p, 4, sketch.count());
    fixed64_field(&mut p, 5, (sketch.sum() / 1000.0).to_bits());
    varint_field(&mut p, 6, zigzag(OTLP_SCALE));
    let (zero, bins) = sketch.bins();
    let mut zero_count = zero;
    let mut buckets: Vec<(i32, u64)> = Vec::new();
    for (ms, n) in bins {
        let seconds = ms / 1000.0;
        if seconds <= 0.0 || !seconds.is_finite() {
            zero_count += n;
            continue;
        }
        let index = bucket_index(seconds);
        match buckets.last_mut() {
            Some((last, count)) if *last == index => *count += n,
            _ => buckets.push((index, n)),
        }
    }
    fixed64_field(&mut p, 7, zero_count);
    if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
        let offset = first.0;
        let mut counts = vec![0u64; (last.0 - offset + 1) as usize];
        for (index, n) in &buckets {
            counts[(index - offset) as usize] += n;
        }
        let mut positive = Vec::new();
        varint_field(&mut positive, 1, zigzag(offset));
        let mut packed = Vec::new();
        for c in counts {
            varint(&mut packed, c);
        }
        bytes_field(&mut positive, 2, &packed);
        message(&mut p, 8, &positive);
    }
    if let (Some(min), Some(max)) = (sketch.min(), sketch.max()) {
        fixed64_field(&mut p, 12, (min / 1000.0).to_bits());
        fixed64_field(&mut p, 13, (max / 1000.0).to_bits());
    }
    p
}

/// The bucket holding `v` (> 0) at [`OTLP_SCALE`]: bucket `i` is (base^i, base^(i+1)].
pub fn bucket_index(v: f64) -> i32 {
    let scaled = v.log2() * f64::from(1u32 << OTLP_SCALE);
    (scaled.ceil() as i32) - 1
}

/// `KeyValue` with a string `AnyValue` (`string_value`, field 1).
fn key_value(key: &str, value: &str) -> Vec<u8> {
    let mut any = Vec::new();
    string(&mut any, 1, value);
    keyed(key, &any)
}

/// `KeyValue` with an integer `AnyValue` (`int_value`, field 3, a varint of the two's
/// complement).
fn key_int(key: &str, value: i64) -> Vec<u8> {
    let mut any = Vec::new();
    varint_field(&mut any, 3, value as u64);
    keyed(key, &any)
}

/// `KeyValue`: the key (field 1) and an encoded `AnyValue` (field 2).
fn keyed(key: &str, any: &[u8]) -> Vec<u8> {
    let mut kv = Vec::new();
    string(&mut kv, 1, key);
    message(&mut kv, 2, any);
    kv
}

fn zigzag(n: i32) -> u64 {
    u64::from(((n << 1) ^ (n >> 31)) as u32)
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

fn varint_field(out: &mut Vec<u8>, field: u32, n: u64) {
    key(out, field, 0);
    varint(out, n);
}

fn fixed64_field(out: &mut Vec<u8>, field: u32, n: u64) {
    key(out, field, 1);
    out.extend_from_slice(&n.to_le_bytes());
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    bytes_field(out, field, s.as_bytes());
}

fn message(out: &mut Vec<u8>, field: u32, m: &[u8]) {
    bytes_field(out, field, m);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_primitives() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-64), 127);
    }

    #[test]
    fn bucket_bounds_are_powers_of_the_base() {
        // Bucket i is (base^i, base^(i+1)]: 1.0 is the upper bound of bucket -1.
        assert_eq!(bucket_index(1.0), -1);
        assert_eq!(bucket_index(1.0001), 0);
        assert_eq!(bucket_index(2.0), 31);
        assert_eq!(bucket_index(0.5), -33);
    }
}
