//! Alert rules: a threshold held for a duration fires once, resolves once when the value
//! crosses the clear threshold (hysteresis, so a value hovering at the threshold never
//! flaps), and a resolved rule waits out its cooldown before it can fire again.
//!
//! The engine is pure: the caller passes the time and a way to read metrics by name, so the
//! same rules run over host metrics on native targets and over application statistics
//! everywhere, and tests replay series with a controlled clock (`tests/vectors/alerts/`).
//! Metric names are dotted (`host.cpu_percent`, `api.p95_ms`, `route.p95_ms:GET /items/{id}`);
//! the engine treats them as opaque keys.

mod app;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::codes;
use crate::error::{Error, ErrorKind, Violation};
use crate::event::{reserved, Message, Properties, Timestamp};

pub use app::AppMetrics;

/// Comparison of a metric with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    /// The operator from its symbol.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            _ => return None,
        })
    }

    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
        }
    }

    /// Rules on the high side clear below `clear`; rules on the low side clear above it.
    fn is_high(self) -> bool {
        matches!(self, Op::Gt | Op::Ge)
    }
}

/// One rule. JSON form (snake_case, like every option):
/// `{"name", "metric", "op": ">", "threshold", "for_ms"?, "clear"?, "cooldown_ms"?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    /// Unique name, reported in `$alert` events.
    pub name: String,
    /// The metric it watches.
    pub metric: String,
    /// How the metric is compared with the threshold.
    pub op: Op,
    /// The firing threshold.
    pub threshold: f64,
    /// How long the condition must hold before the rule fires (0: at once).
    pub for_ms: i64,
    /// A firing rule resolves once the value is past this on the other side of the threshold
    /// (below it for `>`/`>=`, above it for `<`/`<=`). Defaults to the threshold.
    pub clear: f64,
    /// After resolving, the rule cannot fire again for this long.
    pub cooldown_ms: i64,
}

/// Cooldown when a rule does not say: five minutes.
pub const DEFAULT_COOLDOWN_MS: i64 = 300_000;

impl AlertRule {
    /// A rule that fires at once and clears at its threshold.
    pub fn new(name: impl Into<String>, metric: impl Into<String>, op: Op, threshold: f64) -> Self {
        Self {
            name: name.into(),
            metric: metric.into(),
            op,
            threshold,
            for_ms: 0,
            clear: threshold,
            cooldown_ms: DEFAULT_COOLDOWN_MS,
        }
    }

    /// Sets how long the condition must hold.
    pub fn for_ms(mut self, ms: i64) -> Self {
        self.for_ms = ms;
        self
    }

    /// Sets the clear threshold.
    pub fn clear(mut self, clear: f64) -> Self {
        self.clear = clear;
        self
    }

    /// Sets the cooldown.
    pub fn cooldown_ms(mut self, ms: i64) -> Self {
        self.cooldown_ms = ms;
        self
    }

    /// Reads a rule from JSON, reporting every problem with its path under `at`.
    pub fn from_value(doc: &Value, at: &str) -> Result<Self, Vec<Violation>> {
        let mut problems = Vec::new();
        let mut bad = |field: &str, message: String| {
            problems.push(Violation::new(
                format!("{at}/{field}"),
                codes::INVALID_OPTION,
                message,
            ));
        };
        let Value::Object(obj) = doc else {
            return Err(vec![Violation::new(
                at,
                codes::INVALID_OPTION,
                "an alert rule must be an object",
            )]);
        };
        let text = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let number = |k: &str| obj.get(k).and_then(Value::as_f64).filter(|f| f.is_finite());
        let millis = |k: &str| obj.get(k).and_then(Value::as_i64).filter(|n| *n >= 0);
        let name = text("name");
        if name.is_none() {
            bad("name", "name must be a non-empty string".into());
        }
        let metric = text("metric");
        if metric.is_none() {
            bad("metric", "metric must be a non-empty string".into());
        }
        let op = text("op").and_then(Op::parse);
        if op.is_none() {
            bad("op", "op must be one of >, >=, <, <=".into());
        }
        let threshold = number("threshold");
        if threshold.is_none() {
            bad("threshold", "threshold must be a finite number".into());
        }
        for key in ["for_ms", "cooldown_ms"] {
            if obj.contains_key(key) && millis(key).is_none() {
                bad(
                    key,
                    format!("{key} must be a non-negative integer of milliseconds"),
                );
            }
        }
        if obj.contains_key("clear") && number("clear").is_none() {
            bad("clear", "clear must be a finite number".into());
        }
        for key in obj.keys() {
            if ![
                "name",
                "metric",
                "op",
                "threshold",
                "for_ms",
                "clear",
                "cooldown_ms",
            ]
            .contains(&key.as_str())
            {
                bad(
                    key,
                    format!(
                        "unknown alert rule field {}",
                        crate::event::json::quoted(key)
                    ),
                );
            }
        }
        if let (Some(op), Some(threshold), Some(clear)) = (op, threshold, number("clear")) {
            let wrong_side = if op.is_high() {
                clear > threshold
            } else {
                clear < threshold
            };
            if wrong_side {
                let side = if op.is_high() {
                    "at or below"
                } else {
                    "at or above"
                };
                bad(
                    "clear",
                    format!(
                        "clear must be {side} the threshold ({}), got {}",
                        crate::event::json::number_text(threshold),
                        crate::event::json::number_text(clear)
                    ),
                );
            }
        }
        match (name, metric, op, threshold) {
            (Some(name), Some(metric), Some(op), Some(threshold)) if problems.is_empty() => {
                Ok(AlertRule {
                    name: name.to_owned(),
                    metric: metric.to_owned(),
                    op,
                    threshold,
                    for_ms: millis("for_ms").unwrap_or(0),
                    clear: number("clear").unwrap_or(threshold),
                    cooldown_ms: millis("cooldown_ms").unwrap_or(DEFAULT_COOLDOWN_MS),
                })
            }
            _ => Err(problems),
        }
    }

    fn cleared(&self, value: f64) -> bool {
        if self.op.is_high() {
            value < self.clear
        } else {
            value > self.clear
        }
    }
}

/// The default rules: CPU, memory and disk above 90%, API p95 above one second, 5xx above 5%.
pub fn default_rules() -> Vec<AlertRule> {
    vec![
        AlertRule::new("cpu_high", "host.cpu_percent", Op::Gt, 90.0)
            .for_ms(60_000)
            .clear(80.0),
        AlertRule::new("memory_high", "host.memory_percent", Op::Gt, 90.0).clear(85.0),
        AlertRule::new("disk_high", "host.disk_percent", Op::Gt, 90.0).clear(85.0),
        AlertRule::new("api_latency_high", "api.p95_ms", Op::Gt, 1000.0).for_ms(60_000),
        AlertRule::new("api_errors_high", "api.error_percent", Op::Gt, 5.0).for_ms(60_000),
    ]
}

/// Whether an alert started or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition held for the rule's duration.
    Fired,
    /// The value crossed the clear threshold.
    Resolved,
}

impl AlertState {
    /// `fired` or `resolved`, as in `$alert` events.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertState::Fired => "fired",
            AlertState::Resolved => "resolved",
        }
    }
}

/// A rule changing state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTransition {
    /// The rule's name.
    pub rule: String,
    /// The metric it watches.
    pub metric: String,
    /// Fired or resolved.
    pub state: AlertState,
    /// The metric's value at the transition.
    pub value: f64,
    /// The firing threshold.
    pub threshold: f64,
    /// When it happened.
    pub at: Timestamp,
}

impl AlertTransition {
    /// The `$alert` track event for this transition.
    pub fn to_message(&self) -> Message {
        let props: Properties = match json!({
            "rule": self.rule,
            "state": self.state.as_str(),
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
        }) {
            Value::Object(m) => m,
            _ => Properties::new(),
        };
        Message::track(reserved::ALERT, props).with_timestamp(self.at)
    }
}

/// A rule that is firing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    /// The rule's name.
    pub rule: String,
    /// The metric it watches.
    pub metric: String,
    /// When it fired.
    pub since: Timestamp,
    /// The latest value seen.
    pub value: f64,
    /// The firing threshold.
    pub threshold: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Idle,
    /// The condition holds since this time.
    Pending {
        since_ms: i64,
    },
    Firing {
        since_ms: i64,
        value: f64,
    },
}

#[derive(Debug, Clone)]
struct Tracked {
    rule: AlertRule,
    phase: Phase,
    cooldown_until_ms: i64,
}

/// Evaluates rules over time and keeps the active alerts and a bounded history.
#[derive(Debug, Clone)]
pub struct AlertEngine {
    rules: Vec<Tracked>,
    history: VecDeque<AlertTransition>,
    history_limit: usize,
}

impl AlertEngine {
    /// An engine for these rules; names must be unique. `history_limit` bounds the history.
    pub fn new(rules: Vec<AlertRule>, history_limit: usize) -> Result<Self, Error> {
        let mut problems = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if rules[..i].iter().any(|r| r.name == rule.name) {
                problems.push(Violation::new(
                    format!("/{i}/name"),
                    codes::INVALID_OPTION,
                    format!(
                        "alert rule name {} is used twice",
                        crate::event::json::quoted(&rule.name)
                    ),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::with_violations(ErrorKind::InvalidConfig, problems));
        }
        Ok(Self {
            rules: rules
                .into_iter()
                .map(|rule| Tracked {
                    rule,
                    phase: Phase::Idle,
                    cooldown_until_ms: i64::MIN,
                })
                .collect(),
            history: VecDeque::new(),
            history_limit,
        })
    }

    /// Reads rules from a JSON array, reporting every problem of every rule.
    pub fn rules_from_json(doc: &Value) -> Result<Vec<AlertRule>, Error> {
        let Value::Array(items) = doc else {
            return Err(Error::with_violations(
                ErrorKind::InvalidConfig,
                vec![Violation::new(
                    "",
                    codes::INVALID_OPTION,
                    "alert rules must be an array",
                )],
            ));
        };
        let mut rules = Vec::new();
        let mut problems = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match AlertRule::from_value(item, &format!("/{i}")) {
                Ok(rule) => rules.push(rule),
                Err(p) => problems.extend(p),
            }
        }
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(Error::with_violations(ErrorKind::InvalidConfig, problems))
        }
    }

    /// Looks at every rule's metric once; returns the transitions, in rule order. A metric
    /// that is missing (or not a number) leaves its rule as it was.
    pub fn evaluate(
        &mut self,
        now_ms: i64,
        metric: impl Fn(&str) -> Option<f64>,
    ) -> Vec<AlertTransition> {
        let mut out = Vec::new();
        for t in &mut self.rules {
            let Some(value) = metric(&t.rule.metric).filter(|v| v.is_finite()) else {
                continue;
            };
            let holds = t.rule.op.holds(value, t.rule.threshold);
            let fired = |t: &Tracked, state| AlertTransition {
                rule: t.rule.name.clone(),
                metric: t.rule.metric.clone(),
                state,
                value,
                threshold: t.rule.threshold,
                at: Timestamp::from_millis(now_ms),
            };
            t.phase = match t.phase {
                Phase::Idle | Phase::Pending { .. } if !holds => Phase::Idle,
                Phase::Idle | Phase::Pending { .. } => {
                    let since_ms = match t.phase {
                        Phase::Pending { since_ms } => since_ms,
                        _ => now_ms,
                    };
                    let held = now_ms.saturating_sub(since_ms) >= t.rule.for_ms;
                    if held && now_ms >= t.cooldown_until_ms {
                        out.push(fired(t, AlertState::Fired));
                        Phase::Firing {
                            since_ms: now_ms,
                            value,
                        }
                    } else {
                        Phase::Pending { since_ms }
                    }
                }
                Phase::Firing { .. } if t.rule.cleared(value) => {
                    out.push(fired(t, AlertState::Resolved));
                    t.cooldown_until_ms = now_ms.saturating_add(t.rule.cooldown_ms);
                    Phase::Idle
                }
                Phase::Firing { since_ms, .. } => Phase::Firing { since_ms, value },
            };
        }
        for transition in &out {
            if self.history_limit > 0 {
                if self.history.len() == self.history_limit {
                    self.history.pop_front();
                }
                self.history.push_back(transition.clone());
            }
        }
        out
    }

    /// The rules firing now.
    pub fn active(&self) -> Vec<ActiveAlert> {
        self.rules
            .iter()
            .filter_map(|t| match t.phase {
                Phase::Firing { since_ms, value } => Some(ActiveAlert {
                    rule: t.rule.name.clone(),
                    metric: t.rule.metric.clone(),
                    since: Timestamp::from_millis(since_ms),
                    value,
                    threshold: t.rule.threshold,
                }),
                _ => None,
            })
            .collect()
    }

    /// The latest transitions, newest first, at most `limit`.
    pub fn history(&self, limit: usize) -> Vec<AlertTransition> {
        self.history.iter().rev().take(limit).cloned().collect()
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> impl Iterator<Item = &AlertRule> {
        self.rules.iter().map(|t| &t.rule)
    }
}

#[cfg(test)]
mod tests;
