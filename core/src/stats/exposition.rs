//! Statistics in the Prometheus text exposition format (0.0.4) and in OpenMetrics 1.0, for
//! `/metrics` and `metrics_text()`.
//!
//! Request latency follows the OpenTelemetry HTTP semantic conventions as Prometheus names
//! them: `http_server_request_duration_seconds`, a histogram labelled `http_request_method`,
//! `http_route` and `http_response_status_code`, with the buckets OpenTelemetry advises
//! ([`DURATION_BUCKETS`]), counted from the per-code latency sketch (each bucket to the
//! sketch's 1% accuracy; `_sum` and `_count` exact). `sonde_http_server_responses_total`
//! also counts responses per status class. Everything else is Sonde's own, prefixed
//! `sonde_`.

use std::fmt::Write;

use super::{catalog, DDSketch, DropReason, StatsSnapshot};
use crate::alert::ActiveAlert;

/// Histogram bucket bounds in seconds: OpenTelemetry's advice for HTTP durations.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Which text format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// Prometheus text format 0.0.4.
    Prometheus,
    /// OpenMetrics 1.0 text (what Prometheus asks for first when it can).
    OpenMetrics,
}

impl ExpositionFormat {
    /// OpenMetrics when the `Accept` header asks for it, else the Prometheus text format.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Prometheus,
        }
    }

    /// The response's `content-type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// What the exposition shows besides the merged statistics.
#[derive(Debug, Clone, Copy)]
pub struct ExpositionContext<'a> {
    /// Instances merged into the statistics (1 without a shared store).
    pub instances: usize,
    /// Alerts firing now.
    pub alerts: &'a [ActiveAlert],
}

/// Writes `stats` (and the context) in `format`.
pub fn exposition(
    stats: &StatsSnapshot,
    context: ExpositionContext<'_>,
    format: ExpositionFormat,
) -> String {
    let mut out = Writer {
        text: String::with_capacity(4096),
        format,
    };
    let c = &stats.counters;
    for (name, help, value) in catalog::counters(c) {
        let name = format!("sonde_{name}");
        out.family(&name, "counter", help);
        out.sample(&name, "_total", &[], value as f64);
    }
    out.family(
        "sonde_events_dropped",
        "counter",
        "Events dropped, by reason.",
    );
    for reason in DropReason::ALL {
        let n = c.dropped.get(reason) as f64;
        out.sample(
            "sonde_events_dropped",
            "_total",
            &[("reason", reason.as_str())],
            n,
        );
    }
    for (name, help, value) in catalog::queue(c) {
        let name = format!("sonde_{name}");
        out.family(&name, "gauge", help);
        out.sample(&name, "", &[], value as f64);
    }
    out.family(
        "sonde_events_tracked",
        "counter",
        "Accepted events, by name.",
    );
    for (event, n) in &stats.events {
        out.sample(
            "sonde_events_tracked",
            "_total",
            &[("event", event)],
            *n as f64,
        );
    }

    let duration = "http_server_request_duration_seconds";
    out.family(duration, "histogram", "Duration of HTTP server requests.");
    for r in stats.routes.values() {
        let labels = [
            ("http_request_method", r.method.as_str()),
            ("http_route", r.route.as_str()),
        ];
        for (code, sketch) in catalog::latency_by_status(r) {
            let mut with_code = labels.to_vec();
            with_code.extend(code.map(|code| ("http_response_status_code", code)));
            out.histogram(duration, &with_code, sketch);
        }
    }
    let responses = "sonde_http_server_responses";
    out.family(responses, "counter", "HTTP responses, by status class.");
    for r in stats.routes.values() {
        for (class, n) in catalog::status_classes(&r.status) {
            let labels = [
                ("http_request_method", r.method.as_str()),
                ("http_route", r.route.as_str()),
                ("status_class", class),
            ];
            out.sample(responses, "_total", &labels, n as f64);
        }
    }
    let operations = "sonde_operation_duration_seconds";
    out.family(operations, "histogram", "Duration of timed operations.");
    for o in stats.operations.values() {
        out.histogram(
            operations,
            &[("operation", o.operation.as_str())],
            &o.latency.sketch,
        );
    }
    out.family(
        "sonde_operation_errors",
        "counter",
        "Timed operations that failed.",
    );
    for o in stats.operations.values() {
        let labels = [("operation", o.operation.as_str())];
        out.sample("sonde_operation_errors", "_total", &labels, o.errors as f64);
    }

    for (gauge, value) in &stats.gauges {
        let name = format!("sonde_{}", metric_name(gauge));
        out.family(&name, "gauge", &format!("Host or process gauge {gauge}."));
        out.sample(&name, "", &[], *value);
    }
    out.family(
        "sonde_alerts_firing",
        "gauge",
        "Alerts firing now, by rule.",
    );
    for alert in context.alerts {
        let labels = [
            ("rule", alert.rule.as_str()),
            ("metric", alert.metric.as_str()),
        ];
        out.sample("sonde_alerts_firing", "", &labels, 1.0);
    }
    out.family(
        "sonde_instances",
        "gauge",
        "Instances whose statistics are merged here.",
    );
    out.sample("sonde_instances", "", &[], context.instances as f64);
    if format == ExpositionFormat::OpenMetrics {
        out.text.push_str("# EOF\n");
    }
    out.text
}

struct Writer {
    text: String,
    format: ExpositionFormat,
}

impl Writer {
    /// `# HELP` and `# TYPE`. In the Prometheus format a counter's family carries the
    /// `_total` suffix its samples have; OpenMetrics names the family without it.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let suffix = match (self.format, kind) {
            (ExpositionFormat::Prometheus, "counter") => "_total",
            _ => "",
        };
        let _ = writeln!(self.text, "# HELP {name}{suffix} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name}{suffix} {kind}");
    }

    fn sample(&mut self, name: &str, suffix: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        self.text.push_str(suffix);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// Buckets (cumulative, in seconds), `+Inf`, `_sum` and `_count` from a sketch of
    /// milliseconds.
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], sketch: &DDSketch) {
        for bound in DURATION_BUCKETS {
            // Bounds as floats ("1.0"), OpenMetrics' canonical form.
            let le = if bound.fract() == 0.0 {
                format!("{bound:.1}")
            } else {
                number(bound)
            };
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            let n = sketch.count_at_most(bound * 1000.0);
            self.sample(name, "_bucket", &with_le, n as f64);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(name, "_bucket", &with_le, sketch.count() as f64);
        self.sample(name, "_sum", labels, sketch.sum() / 1000.0);
        self.sample(name, "_count", labels, sketch.count() as f64);
    }
}

/// A number as both formats write it (`+Inf`, `-Inf`, `NaN`; integers without a fraction).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A metric name from a gauge's name: `host.cpu_percent` → `host_cpu_percent`.
fn metric_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_escapes_follow_the_formats() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.005), "0.005");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(metric_name("host.cpu_percent"), "host_cpu_percent");
    }

    fn empty_snapshot() -> StatsSnapshot {
        super::super::StatsCollector::new(10, 10).snapshot(Default::default(), 0)
    }

    #[test]
    fn buckets_count_the_sketch_cumulatively() {
        let mut sketch = DDSketch::default();
        for ms in [3.0, 8.0, 20.0, 90.0, 4000.0] {
            sketch.add(ms);
        }
        let mut stats = empty_snapshot();
        let latency = super::super::Latency::from_sketch(sketch);
        let route = super::super::RouteStats {
            method: "GET".into(),
            route: "/a".into(),
            count: 5,
            errors: 0,
            status: super::super::StatusClasses::default(),
            latency: latency.clone(),
            status_codes: [("200".to_owned(), latency)].into(),
        };
        stats.routes.insert("GET /a".into(), route);
        let text = exposition(
            &stats,
            ExpositionContext {
                instances: 1,
                alerts: &[],
            },
            ExpositionFormat::OpenMetrics,
        );
        let bucket = |le: &str| {
            let prefix = format!(
                "http_server_request_duration_seconds_bucket{{http_request_method=\"GET\",http_route=\"/a\",http_response_status_code=\"200\",le=\"{le}\"}} "
            );
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("no bucket {le} in\n{text}"))
                .to_owned()
        };
        assert_eq!(bucket("0.005"), "1");
        assert_eq!(bucket("0.01"), "2");
        assert_eq!(bucket("0.025"), "3");
        assert_eq!(bucket("0.1"), "4");
        assert_eq!(bucket("2.5"), "4");
        assert_eq!(bucket("+Inf"), "5");
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains("# TYPE sonde_events_received counter\n"));
        assert!(text.contains("sonde_events_received_total 0\n"));
    }
}
