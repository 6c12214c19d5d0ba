//! Application metrics for alert rules, over the window since the previous evaluation:
//! statistics are cumulative, so each evaluation compares with the last snapshot it saw
//! (latency sketches subtract exactly, see [`DDSketch::since`]).

use std::collections::HashMap;

use crate::stats::{Counters, DDSketch, StatsSnapshot};

#[derive(Debug, Clone)]
struct Seen {
    count: u64,
    errors: u64,
    sketch: DDSketch,
}

/// Turns consecutive statistics snapshots into metrics named for alert rules:
/// `api.p95_ms`, `api.p99_ms`, `api.error_percent`, `api.requests`,
/// `route.p95_ms:GET /items/{id}` (likewise `p99_ms`, `error_percent`, `requests`),
/// `operation.p95_ms:db.query` (likewise), `buffer.drop_percent`, `queue.fill_percent`.
#[derive(Debug, Default)]
pub struct AppMetrics {
    routes: HashMap<String, Seen>,
    operations: HashMap<String, Seen>,
    counters: Counters,
}

impl AppMetrics {
    /// The metrics of the window since the previous call (the first call covers everything
    /// since start), remembering `snapshot` for the next one.
    pub fn update(
        &mut self,
        snapshot: &StatsSnapshot,
        (max_queue_events, max_queue_bytes): (usize, usize),
    ) -> HashMap<String, f64> {
        let mut out = HashMap::new();
        let mut all = DDSketch::default();
        let (mut requests, mut errors) = (0u64, 0u64);
        for (key, r) in &snapshot.routes {
            let window = window_of(&mut self.routes, key, r.count, r.errors, &r.latency.sketch);
            requests += window.count;
            errors += window.errors;
            // Sketches of one accuracy always merge.
            let _ = all.merge(&window.sketch);
            put_window(&mut out, &format!("route.{{}}:{key}"), &window);
        }
        put_window(
            &mut out,
            "api.{}",
            &Seen {
                count: requests,
                errors,
                sketch: all,
            },
        );
        for (key, o) in &snapshot.operations {
            let window = window_of(
                &mut self.operations,
                key,
                o.count,
                o.errors,
                &o.latency.sketch,
            );
            put_window(&mut out, &format!("operation.{{}}:{key}"), &window);
        }
        let c = &snapshot.counters;
        let received = c.received.saturating_sub(self.counters.received);
        let dropped = c
            .dropped
            .total()
            .saturating_sub(self.counters.dropped.total());
        out.insert("buffer.drop_percent".to_owned(), percent(dropped, received));
        out.insert(
            "queue.fill_percent".to_owned(),
            // Whichever cap is nearer: bytes bind first for real events.
            percent(c.queued, max_queue_events as u64)
                .max(percent(c.queued_bytes, max_queue_bytes as u64)),
        );
        self.counters = c.clone();
        out
    }
}

/// The window of one route or operation, remembering the current totals.
fn window_of(
    seen: &mut HashMap<String, Seen>,
    key: &str,
    count: u64,
    errors: u64,
    sketch: &DDSketch,
) -> Seen {
    let window = match seen.get(key) {
        Some(prev) => Seen {
            count: count.saturating_sub(prev.count),
            errors: errors.saturating_sub(prev.errors),
            sketch: sketch.since(&prev.sketch),
        },
        None => Seen {
            count,
            errors,
            sketch: sketch.clone(),
        },
    };
    seen.insert(
        key.to_owned(),
        Seen {
            count,
            errors,
            sketch: sketch.clone(),
        },
    );
    window
}

/// `pattern` has one `{}` where the measure's name goes (`p95_ms`, ...).
fn put_window(out: &mut HashMap<String, f64>, pattern: &str, w: &Seen) {
    let name = |measure: &str| pattern.replacen("{}", measure, 1);
    out.insert(name("requests"), w.count as f64);
    out.insert(name("error_percent"), percent(w.errors, w.count));
    if let Some(p95) = w.sketch.quantile(0.95) {
        out.insert(name("p95_ms"), p95);
    }
    if let Some(p99) = w.sketch.quantile(0.99) {
        out.insert(name("p99_ms"), p99);
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64 * 100.0
    }
}
