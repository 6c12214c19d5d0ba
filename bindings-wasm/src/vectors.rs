//! Entry points only the shared-vector test build exports (feature `vectors`,
//! `make wasm-vectors`): they let the page run every vector kind through the same core the
//! package ships — Segment-format ingest, statistics merging, alert rules over a series,
//! and event-store query parsing. Pages track through `NativeSonde`'s API instead, and the
//! shipped `.wasm` leaves these out (ingest alone is ~13 KB gzip).

use serde_json::Value;
use sonde_core::alert::AlertEngine;
use sonde_core::store::EventQuery;
use sonde_core::StatsSnapshot;
use wasm_bindgen::prelude::*;

use crate::client::NativeSonde;
use crate::errors::to_js;

type Result<T> = std::result::Result<T, JsValue>;

fn internal(e: impl std::fmt::Display) -> JsValue {
    js_sys::Error::new(&e.to_string()).into()
}

fn parse(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(internal)
}

#[wasm_bindgen]
impl NativeSonde {
    /// A Segment-format request body (one message or `{batch: [...]}`), validated and
    /// buffered like local events; the per-item report as JSON text. `dry_run` validates
    /// only (nothing is buffered or counted).
    pub fn ingest(&self, body: &str, dry_run: Option<bool>) -> Result<String> {
        let report = if dry_run.unwrap_or(false) {
            self.sonde.validate_request(body.as_bytes(), None)
        } else {
            self.sonde.ingest(body.as_bytes())
        };
        let report = report.map_err(|e| to_js(&e))?;
        serde_json::to_string(&report).map_err(internal)
    }
}

/// Two `stats()` snapshots (JSON text) merged, as JSON text.
#[wasm_bindgen(js_name = mergeStats)]
pub fn merge_stats(a: &str, b: &str) -> Result<String> {
    crate::register_page_engines();
    let mut merged = StatsSnapshot::from_json(a).map_err(|e| to_js(&e))?;
    let other = StatsSnapshot::from_json(b).map_err(|e| to_js(&e))?;
    merged.merge(&other).map_err(|e| to_js(&e))?;
    Ok(merged.to_json())
}

/// Alert rules (the JSON rule form) evaluated at each `{t_ms, metrics}` point of `series`;
/// the transitions as `[{t_ms, rule, state}]` JSON text.
#[wasm_bindgen(js_name = alertTransitions)]
pub fn alert_transitions(rules: &str, series: &str) -> Result<String> {
    crate::register_page_engines();
    let rules = AlertEngine::rules_from_json(&parse(rules)?).map_err(|e| to_js(&e))?;
    let mut engine = AlertEngine::new(rules, 100).map_err(|e| to_js(&e))?;
    let mut out = Vec::new();
    for point in parse(series)?.as_array().into_iter().flatten() {
        let t_ms = point["t_ms"].as_i64().unwrap_or_default();
        let metrics = &point["metrics"];
        for t in engine.evaluate(t_ms, |m| metrics.get(m).and_then(Value::as_f64)) {
            let t = serde_json::to_value(&t).map_err(internal)?;
            out.push(serde_json::json!({"t_ms": t_ms, "rule": t["rule"], "state": t["state"]}));
        }
    }
    Ok(Value::Array(out).to_string())
}

/// Reads an event-store query (snake_case fields); throws `invalid_query` with every
/// problem. (The page has no store; this is the query reading every binding shares.)
#[wasm_bindgen(js_name = checkEventQuery)]
pub fn check_event_query(query: &str) -> Result<()> {
    crate::register_page_engines();
    EventQuery::from_value(&parse(query)?)
        .map(|_| ())
        .map_err(|e| to_js(&e))
}
