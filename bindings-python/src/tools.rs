//! Module-level helpers that need no client: merging statistics snapshots from several
//! processes (gunicorn workers) and evaluating alert rules against metrics you supply.

use pyo3::prelude::*;
use serde_json::Value;
use sonde_core::alert::AlertEngine as CoreAlertEngine;
use sonde_core::StatsSnapshot;

use crate::convert::{serialized, to_json};
use crate::errors::CoreError;

fn snapshot_of(value: &Bound<'_, PyAny>) -> PyResult<StatsSnapshot> {
    let text = serde_json::to_string(&to_json(value)?)
        .map_err(|e| crate::errors::internal(e.to_string()))?;
    Ok(StatsSnapshot::from_json(&text).map_err(CoreError)?)
}

/// Merges two `stats()` snapshots (for example from two worker processes): counters add,
/// latency sketches merge exactly, gauges keep the maximum.
#[pyfunction]
pub fn merge_stats<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut merged = snapshot_of(a)?;
    merged.merge(&snapshot_of(b)?).map_err(CoreError)?;
    serialized(py, &merged)
}

/// Alert rules evaluated against metrics you supply: `evaluate(t_ms, {"metric": value})`
/// returns the transitions (fired / resolved) at that time.
#[pyclass(module = "sonde._native", name = "AlertEngine")]
pub struct AlertEngine {
    engine: CoreAlertEngine,
}

#[pymethods]
impl AlertEngine {
    #[new]
    #[pyo3(signature = (rules, history_limit=100))]
    fn new(rules: &Bound<'_, PyAny>, history_limit: usize) -> PyResult<Self> {
        let rules = CoreAlertEngine::rules_from_json(&to_json(rules)?).map_err(CoreError)?;
        let engine = CoreAlertEngine::new(rules, history_limit).map_err(CoreError)?;
        Ok(Self { engine })
    }

    /// Evaluates every rule at `t_ms` (milliseconds, any monotonic origin).
    fn evaluate<'py>(
        &mut self,
        py: Python<'py>,
        t_ms: i64,
        metrics: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let metrics = to_json(metrics)?;
        let transitions = self
            .engine
            .evaluate(t_ms, |m| metrics.get(m).and_then(Value::as_f64));
        serialized(py, &transitions)
    }

    /// The alerts firing now.
    fn active<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialized(py, &self.engine.active())
    }
}
