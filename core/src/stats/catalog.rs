//! The statistics every output names the same way (Prometheus `/metrics` and the OTLP
//! export): one list, so the two never drift apart.

use super::{Counters, DDSketch, RouteStats, StatusClasses};

/// Counters of the pipeline: name (Prometheus prefixes `sonde_`; OTLP prefixes `sonde.` and
/// puts a `.` after the first word: `events_received` → `sonde.events.received`), help,
/// value.
pub(super) fn counters(c: &Counters) -> [(&'static str, &'static str, u64); 7] {
    [
        (
            "events_received",
            "Events received by the pipeline.",
            c.received,
        ),
        (
            "events_accepted",
            "Events accepted into the buffer.",
            c.accepted,
        ),
        (
            "events_delivered",
            "Events every destination took.",
            c.delivered,
        ),
        (
            "batches_delivered",
            "Batches delivered.",
            c.batches_delivered,
        ),
        (
            "batches_failed",
            "Batch deliveries that failed.",
            c.batches_failed,
        ),
        ("delivery_retries", "Delivery attempts retried.", c.retries),
        (
            "plan_violations",
            "Tracking-plan warnings.",
            c.plan_violations,
        ),
    ]
}

/// Gauges of the buffer: name, help, value.
pub(super) fn queue(c: &Counters) -> [(&'static str, &'static str, u64); 3] {
    [
        ("queue_events", "Events waiting in the buffer.", c.queued),
        (
            "queue_bytes",
            "Bytes the waiting events hold in the buffer (JSON and queue slot).",
            c.queued_bytes,
        ),
        ("events_in_flight", "Events being delivered.", c.in_flight),
    ]
}

/// Responses per status class, for the `status_class` label.
pub(super) fn status_classes(s: &StatusClasses) -> [(&'static str, u64); 5] {
    [
        ("1xx", s.informational),
        ("2xx", s.success),
        ("3xx", s.redirect),
        ("4xx", s.client_error),
        ("5xx", s.server_error),
    ]
}

/// A route's latency series for `http.response.status_code`: one per status code
/// (`Some(code)`), or the whole route's (`None`) in a snapshot published by an instance that
/// kept no codes.
pub(super) fn latency_by_status(r: &RouteStats) -> impl Iterator<Item = (Option<&str>, &DDSketch)> {
    let whole = r
        .status_codes
        .is_empty()
        .then_some((None, &r.latency.sketch));
    whole.into_iter().chain(
        r.status_codes
            .iter()
            .map(|(code, latency)| (Some(code.as_str()), &latency.sketch)),
    )
}
