//! Options as a JSON object (snake_case keys), the one mapping every binding and the shared
//! test vectors use: Python keyword arguments and JS option objects arrive here as JSON.
//! Unknown keys and bad values are reported together, each with its own violation.

use crate::event::json::shown;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{Config, DeliveryMode, InvalidPolicy, IpPolicy, OverflowPolicy};
use crate::codes;
use crate::error::{Error, ErrorKind, Violation};
use crate::validate::{Limits, TrackingPlan};

/// Every option name `Config::from_options` accepts.
pub const OPTION_NAMES: &[&str] = &[
    "library",
    "limits",
    "tracking_plan",
    "sample_rate",
    "sample_rates",
    "redact_keys",
    "ip_policy",
    "max_queue_events",
    "max_queue_bytes",
    "overflow",
    "block_timeout_ms",
    "batch_size",
    "batch_bytes",
    "flush_interval_ms",
    "max_retries",
    "retry_initial_backoff_ms",
    "retry_max_backoff_ms",
    "delivery",
    "drop_timeout_ms",
    "max_event_names",
    "max_routes",
    "anonymous_id",
    "random_seed",
    "super_properties",
    "alert_rules",
    "alert_history_limit",
    "host_metrics",
    "metrics_interval_ms",
    "disabled",
    "debug",
    "on_invalid",
    "require_person",
];

/// An option name as JS spells it (`flushIntervalMs`) in the core's spelling
/// (`flush_interval_ms`); snake_case names pass unchanged.
pub fn snake_case_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Option changes merged into `options` the way run-time reconfiguration applies them:
/// `null` removes an option, any other value sets it. When a change names an option that
/// cannot change (`is_fixed`: destinations, a binding's own options), nothing is merged
/// and every such name is returned, in order.
pub fn merge_option_changes(
    options: &mut Map<String, Value>,
    changes: &Map<String, Value>,
    is_fixed: impl Fn(&str) -> bool,
) -> Result<(), Vec<String>> {
    let fixed: Vec<String> = changes.keys().filter(|k| is_fixed(k)).cloned().collect();
    if !fixed.is_empty() {
        return Err(fixed);
    }
    for (key, value) in changes {
        if value.is_null() {
            options.remove(key);
        } else {
            options.insert(key.clone(), value.clone());
        }
    }
    Ok(())
}

/// An options object with its keys in the core's spelling (see [`snake_case_name`]).
pub fn snake_case_keys(options: Map<String, Value>) -> Map<String, Value> {
    // Inserted one by one rather than collected: collecting sorts (code the browser pays for).
    let mut out = Map::new();
    for (k, v) in options {
        out.insert(snake_case_name(&k), v);
    }
    out
}

struct Reader<'a> {
    problems: &'a mut Vec<Violation>,
}

impl Reader<'_> {
    fn bad(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Violation::new(
            format!("/{key}"),
            codes::INVALID_OPTION,
            message,
        ));
    }

    fn uint(&mut self, key: &str, v: &Value) -> Option<u64> {
        let n = v.as_u64();
        if n.is_none() {
            self.bad(
                key,
                format!("{key} must be a non-negative integer, got {}", shown(v)),
            );
        }
        n
    }

    fn usize(&mut self, key: &str, v: &Value) -> Option<usize> {
        self.uint(key, v).and_then(|n| usize::try_from(n).ok())
    }

    fn float(&mut self, key: &str, v: &Value) -> Option<f64> {
        let n = v.as_f64();
        if n.is_none() {
            self.bad(key, format!("{key} must be a number, got {}", shown(v)));
        }
        n
    }

    fn string(&mut self, key: &str, v: &Value) -> Option<String> {
        let s = v.as_str().map(str::to_owned);
        if s.is_none() {
            self.bad(key, format!("{key} must be a string, got {}", shown(v)));
        }
        s
    }

    fn millis(&mut self, key: &str, v: &Value) -> Option<Duration> {
        self.uint(key, v).map(Duration::from_millis)
    }
}

impl Config {
    /// Builds a config from a JSON options object (see [`OPTION_NAMES`]); sinks, hooks and
    /// clocks are not JSON and are set with the builder methods afterwards.
    pub fn from_options(options: &Value) -> Result<Config, Error> {
        let mut config = Config::default();
        config.apply_options(options)?;
        Ok(config)
    }

    /// How every binding starts its client's configuration: `options` (snake_case) applied
    /// on top of this config, reporting the binding as the `library` (name, version) unless
    /// the options name one.
    pub fn for_binding(
        mut self,
        options: &Map<String, Value>,
        library: (&str, &str),
    ) -> Result<Config, Error> {
        self.apply_options(&Value::Object(options.clone()))?;
        if !options.contains_key("library") {
            self.library.name = library.0.to_owned();
            self.library.version = library.1.to_owned();
        }
        Ok(self)
    }

    /// Applies a JSON options object on top of this config.
    pub fn apply_options(&mut self, options: &Value) -> Result<(), Error> {
        let mut problems = Vec::new();
        let Value::Object(map) = options else {
            return Err(Error::with_violations(
                ErrorKind::InvalidConfig,
                vec![Violation::new(
                    "",
                    codes::INVALID_OPTION,
                    "options must be an object",
                )],
            ));
        };
        let mut r = Reader {
            problems: &mut problems,
        };
        let mut block_timeout = None;
        for (key, v) in map {
            let k = key.as_str();
            match k {
                "library" => match (v.get("name").and_then(Value::as_str), v.get("version").and_then(Value::as_str)) {
                    (Some(name), Some(version)) => {
                        self.library.name = name.to_owned();
                        self.library.version = version.to_owned();
                    }
                    _ => r.bad(k, "library must be {\"name\": string, \"version\": string}"),
                },
                "limits" => {
                    if let Some(l) = read_limits(v, &mut r) {
                        self.limits = l;
                    }
                }
                "tracking_plan" => match v {
                    Value::Null => self.tracking_plan = None,
                    _ => match TrackingPlan::from_value(v) {
                        Ok(plan) => self.tracking_plan = Some(plan),
                        Err(e) => {
                            for mut violation in e.into_violations() {
                                violation.path = format!("/tracking_plan{}", violation.path);
                                r.problems.push(violation);
                            }
                        }
                    },
                },
                "sample_rate" => {
                    if let Some(x) = r.float(k, v) {
                        self.sample_rate = x;
                    }
                }
                "sample_rates" => match v {
                    Value::Object(rates) => {
                        for (name, rate) in rates {
                            if let Some(x) = r.float(k, rate) {
                                self.sample_rates.insert(name.clone(), x);
                            }
                        }
                    }
                    _ => r.bad(k, "sample_rates must map event names to rates"),
                },
                "redact_keys" => match v.as_array() {
                    Some(items) if items.iter().all(Value::is_string) => {
                        self.redact_keys = items.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect();
                    }
                    _ => r.bad(k, "redact_keys must be an array of strings"),
                },
                "ip_policy" => match v.as_str() {
                    Some("keep") => self.ip_policy = IpPolicy::Keep,
                    Some("anonymize") => self.ip_policy = IpPolicy::Anonymize,
                    Some("drop") => self.ip_policy = IpPolicy::Drop,
                    _ => r.bad(k, format!("ip_policy must be \"keep\", \"anonymize\" or \"drop\", got {}", shown(v))),
                },
                "max_queue_events" => {
                    if let Some(n) = r.usize(k, v) {
                        self.max_queue_events = n;
                    }
                }
                "max_queue_bytes" => {
                    if let Some(n) = r.usize(k, v) {
                        self.max_queue_bytes = n;
                    }
                }
                "overflow" => match v.as_str() {
                    Some("drop_oldest") => self.overflow = OverflowPolicy::DropOldest,
                    Some("drop_newest") => self.overflow = OverflowPolicy::DropNewest,
                    Some("block") => self.overflow = OverflowPolicy::Block(Duration::from_millis(100)),
                    _ => r.bad(k, format!("overflow must be \"drop_oldest\", \"drop_newest\" or \"block\", got {}", shown(v))),
                },
                "block_timeout_ms" => block_timeout = r.millis(k, v),
                "batch_size" => {
                    if let Some(n) = r.usize(k, v) {
                        self.batch_size = n;
                    }
                }
                "batch_bytes" => {
                    if let Some(n) = r.usize(k, v) {
                        self.batch_bytes = n;
                    }
                }
                "flush_interval_ms" => {
                    if let Some(d) = r.millis(k, v) {
                        self.flush_interval = d;
                    }
                }
                "max_retries" => {
                    if let Some(n) = r.uint(k, v) {
                        self.max_retries = u32::try_from(n).unwrap_or(u32::MAX);
                    }
                }
                "retry_initial_backoff_ms" => {
                    if let Some(d) = r.millis(k, v) {
                        self.retry_initial_backoff = d;
                    }
                }
                "retry_max_backoff_ms" => {
                    if let Some(d) = r.millis(k, v) {
                        self.retry_max_backoff = d;
                    }
                }
                "delivery" => match v.as_str() {
                    Some("worker") => self.delivery = DeliveryMode::Worker,
                    Some("manual") => self.delivery = DeliveryMode::Manual,
                    _ => r.bad(k, format!("delivery must be \"worker\" or \"manual\", got {}", shown(v))),
                },
                "drop_timeout_ms" => {
                    if let Some(d) = r.millis(k, v) {
                        self.drop_timeout = d;
                    }
                }
                "max_event_names" => {
                    if let Some(n) = r.usize(k, v) {
                        self.max_event_names = n;
                    }
                }
                "max_routes" => {
                    if let Some(n) = r.usize(k, v) {
                        self.max_routes = n;
                    }
                }
                "anonymous_id" => self.anonymous_id = r.string(k, v),
                "random_seed" => self.random_seed = r.uint(k, v),
                "super_properties" => match v {
                    Value::Object(p) => self.super_properties = p.clone(),
                    _ => r.bad(k, "super_properties must be an object"),
                },
                // Nothing evaluates alerts or samples the host in the browser: refused there
                // rather than accepted and ignored (and their code left out of the `.wasm`).
                #[cfg(target_arch = "wasm32")]
                "alert_rules" | "alert_history_limit" | "metrics_interval_ms" | "host_metrics" => {
                    r.bad(k, format!("{k} is not available in the browser: alerts and host metrics run in server runtimes"));
                }
                #[cfg(not(target_arch = "wasm32"))]
                "alert_rules" => match crate::alert::AlertEngine::rules_from_json(v) {
                    Ok(rules) => self.alert_rules = rules,
                    Err(e) => {
                        for mut violation in e.into_violations() {
                            violation.path = format!("/alert_rules{}", violation.path);
                            r.problems.push(violation);
                        }
                    }
                },
                #[cfg(not(target_arch = "wasm32"))]
                "alert_history_limit" => {
                    if let Some(n) = r.usize(k, v) {
                        self.alert_history_limit = n;
                    }
                }
                "disabled" => match v.as_bool() {
                    Some(b) => self.disabled = b,
                    None => r.bad(k, format!("disabled must be true or false, got {}", shown(v))),
                },
                "require_person" => match v.as_bool() {
                    Some(b) => self.require_person = b,
                    None => r.bad(k, format!("require_person must be true or false, got {}", shown(v))),
                },
                "debug" => match v.as_bool() {
                    Some(b) => self.debug = b,
                    None => r.bad(k, format!("debug must be true or false, got {}", shown(v))),
                },
                "on_invalid" => match v.as_str() {
                    Some("raise") => self.on_invalid = Some(InvalidPolicy::Raise),
                    Some("warn") => self.on_invalid = Some(InvalidPolicy::Warn),
                    Some("drop") => self.on_invalid = Some(InvalidPolicy::Drop),
                    _ => r.bad(k, format!("on_invalid must be \"raise\", \"warn\" or \"drop\", got {}", shown(v))),
                },
                #[cfg(not(target_arch = "wasm32"))]
                "metrics_interval_ms" => {
                    if let Some(d) = r.millis(k, v) {
                        self.metrics_interval = d;
                    }
                }
                #[cfg(not(target_arch = "wasm32"))]
                "host_metrics" => match v.as_bool() {
                    Some(b) => self.host_metrics = b,
                    None => r.bad(k, "host_metrics must be a boolean"),
                },
                other => r.bad(other, format!("unknown option {}", crate::event::json::quoted(other))),
            }
        }
        if let Some(t) = block_timeout {
            match self.overflow {
                OverflowPolicy::Block(_) => self.overflow = OverflowPolicy::Block(t),
                _ => r.bad(
                    "block_timeout_ms",
                    "block_timeout_ms needs overflow = \"block\"",
                ),
            }
        }
        if problems.is_empty() {
            self.check()
        } else {
            // Range problems too, so the caller sees everything in one error.
            if let Err(e) = self.check() {
                problems.extend(e.into_violations());
            }
            Err(Error::with_violations(ErrorKind::InvalidConfig, problems))
        }
    }
}

fn read_limits(v: &Value, r: &mut Reader<'_>) -> Option<Limits> {
    let Value::Object(map) = v else {
        r.bad("limits", "limits must be an object");
        return None;
    };
    let mut l = Limits::default();
    let fields: &Map<String, Value> = map;
    for (key, value) in fields {
        let path = format!("limits/{key}");
        let Some(n) = r.usize(&path, value) else {
            continue;
        };
        match key.as_str() {
            "max_message_bytes" => l.max_message_bytes = n,
            "max_batch_bytes" => l.max_batch_bytes = n,
            "max_batch_messages" => l.max_batch_messages = n,
            "max_depth" => l.max_depth = n,
            "max_key_length" => l.max_key_length = n,
            "max_event_name_length" => l.max_event_name_length = n,
            "max_id_length" => l.max_id_length = n,
            "max_future_ms" => l.max_future_ms = i64::try_from(n).unwrap_or(i64::MAX),
            other => r.bad(
                &path,
                format!("unknown limit {}", crate::event::json::quoted(other)),
            ),
        }
    }
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn option_changes_merge_unless_one_is_fixed() {
        let object = |v: Value| v.as_object().cloned().unwrap_or_default();
        let mut options = object(json!({"batch_size": 10, "sample_rate": 0.5}));
        let fixed = |k: &str| k == "store" || k == "sink";
        let refused = merge_option_changes(
            &mut options,
            &object(json!({"sink": null, "batch_size": 20, "store": "x.db"})),
            fixed,
        );
        assert_eq!(refused, Err(vec!["sink".to_owned(), "store".to_owned()]));
        assert_eq!(
            options["batch_size"], 10,
            "a refused change changes nothing"
        );
        merge_option_changes(
            &mut options,
            &object(json!({"batch_size": 20, "sample_rate": null})),
            fixed,
        )
        .expect("nothing fixed");
        assert_eq!(Value::Object(options), json!({"batch_size": 20}));
    }

    #[test]
    fn maps_every_option_and_reports_every_problem() {
        let c = Config::from_options(&json!({
            "sample_rate": 0.5, "overflow": "block", "block_timeout_ms": 250,
            "delivery": "manual", "limits": {"max_depth": 4}, "ip_policy": "drop",
            "tracking_plan": {"mode": "warn", "events": {"A": {"required": ["x"]}}}
        }))
        .unwrap();
        assert_eq!(c.sample_rate, 0.5);
        assert_eq!(
            c.overflow,
            OverflowPolicy::Block(Duration::from_millis(250))
        );
        assert_eq!(c.limits.max_depth, 4);
        assert!(c.tracking_plan.is_some());

        let e = Config::from_options(&json!({
            "sample_rate": 2.0, "bogus": 1, "batch_size": "ten", "tracking_plan": {"mode": "loud"}
        }))
        .unwrap_err();
        assert_eq!(e.code(), "invalid_config");
        let paths: Vec<&str> = e.violations().iter().map(|v| v.path.as_str()).collect();
        assert!(paths.contains(&"/bogus"), "{paths:?}");
        assert!(paths.contains(&"/batch_size"), "{paths:?}");
        assert!(paths.contains(&"/tracking_plan/mode"), "{paths:?}");
        assert!(paths.contains(&"/sample_rate"), "{paths:?}");
    }

    #[test]
    fn option_names_are_all_handled() {
        for name in OPTION_NAMES {
            let e = Config::from_options(&json!({ *name: {"definitely": "wrong"} }));
            if let Err(e) = e {
                assert!(
                    !e.violations()
                        .iter()
                        .any(|v| v.message.contains("unknown option")),
                    "{name} is listed but not handled"
                );
            }
        }
    }
}
