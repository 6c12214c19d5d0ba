//! One unit of time per runtime: Python options are in seconds (`flush_interval=1.5`), JS
//! options in milliseconds (`flushIntervalMs: 1500`, `httpTimeoutMs: 10000`). The core's own
//! names carry their unit (`flush_interval_ms`, `http_timeout` in seconds); these functions
//! rename a runtime's options into them, and refuse the other runtime's spelling with a
//! message saying what to write instead.

use crate::event::json::shown;
use serde_json::{Map, Number, Value};

use crate::codes;
use crate::error::{Error, ErrorKind, Violation};

/// Duration options a seconds runtime names without the `_ms` (its name, the core's name).
pub const SECONDS_OPTIONS: &[(&str, &str)] = &[
    ("flush_interval", "flush_interval_ms"),
    ("block_timeout", "block_timeout_ms"),
    ("retry_initial_backoff", "retry_initial_backoff_ms"),
    ("retry_max_backoff", "retry_max_backoff_ms"),
    ("drop_timeout", "drop_timeout_ms"),
    ("metrics_interval", "metrics_interval_ms"),
    ("otlp_interval", "otlp_interval_ms"),
];

/// Duration options the core takes in seconds, named with `_ms` by a milliseconds runtime.
const SECONDS_IN_CORE: &[(&str, &str)] = &[("http_timeout_ms", "http_timeout")];

fn refuse(problems: &mut Vec<Violation>, path: String, message: String) {
    problems.push(Violation::new(path, codes::INVALID_OPTION, message));
}

/// The problems found while renaming, reported together with what the next step finds
/// (every violation at once): `next`'s error gets them first, or they are the error.
pub fn with_unit_problems<T>(problems: Vec<Violation>, next: Result<T, Error>) -> Result<T, Error> {
    if problems.is_empty() {
        return next;
    }
    let mut all = problems;
    if let Err(e) = next {
        all.extend(e.into_violations());
    }
    Err(Error::with_violations(ErrorKind::InvalidConfig, all))
}

/// Python's spelling to the core's: `flush_interval` (seconds, fractions allowed) becomes
/// `flush_interval_ms`; a `*_ms` duration option is refused, naming the seconds one.
/// `null` (removal at reconfiguration) passes through renamed.
pub fn options_in_seconds(options: Map<String, Value>) -> Result<Map<String, Value>, Error> {
    let (out, problems) = renamed_in_seconds(options);
    with_unit_problems(problems, Ok(out))
}

/// [`options_in_seconds`], returning the problems beside what could be renamed.
pub fn renamed_in_seconds(options: Map<String, Value>) -> (Map<String, Value>, Vec<Violation>) {
    let mut out = Map::new();
    let mut problems = Vec::new();
    for (key, value) in options {
        if let Some((seconds, _)) = SECONDS_OPTIONS.iter().find(|(_, ms)| *ms == key) {
            refuse(
                &mut problems,
                format!("/{key}"),
                format!("options are in seconds here: pass {seconds}= (a number of seconds) instead of {key}"),
            );
            continue;
        }
        match SECONDS_OPTIONS.iter().find(|(s, _)| *s == key) {
            Some((_, ms)) => match value {
                Value::Null => {
                    out.insert((*ms).to_owned(), Value::Null);
                }
                v => match v.as_f64().filter(|x| x.is_finite() && *x >= 0.0) {
                    Some(seconds) => {
                        let millis = (seconds * 1000.0).round() as u64;
                        out.insert((*ms).to_owned(), Value::Number(millis.into()));
                    }
                    None => refuse(
                        &mut problems,
                        format!("/{key}"),
                        format!(
                            "{key} must be a non-negative number of seconds, got {}",
                            shown(&v)
                        ),
                    ),
                },
            },
            None => {
                out.insert(key, value);
            }
        }
    }
    (out, problems)
}

/// JS's spelling (already snake_case) to the core's: every duration is `*_ms`, so
/// `http_timeout_ms` becomes the core's `http_timeout` seconds, in `forward` items too;
/// the seconds spelling `http_timeout` is refused, naming the milliseconds one.
pub fn options_in_milliseconds(options: Map<String, Value>) -> Result<Map<String, Value>, Error> {
    let (out, problems) = renamed_in_milliseconds(options);
    with_unit_problems(problems, Ok(out))
}

/// [`options_in_milliseconds`], returning the problems beside what could be renamed.
pub fn renamed_in_milliseconds(
    options: Map<String, Value>,
) -> (Map<String, Value>, Vec<Violation>) {
    let mut problems = Vec::new();
    let out = milliseconds_object(options, "", &mut problems);
    (out, problems)
}

fn milliseconds_object(
    options: Map<String, Value>,
    at: &str,
    problems: &mut Vec<Violation>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in options {
        if let Some((ms, _)) = SECONDS_IN_CORE.iter().find(|(_, s)| *s == key) {
            refuse(
                problems,
                format!("{at}/{key}"),
                format!("options are in milliseconds here: pass {ms} instead of {key}"),
            );
            continue;
        }
        if key == "forward" {
            let value = match value {
                Value::Array(items) => Value::Array(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| match item {
                            Value::Object(o) => Value::Object(milliseconds_object(
                                o,
                                &format!("{at}/forward/{i}"),
                                problems,
                            )),
                            other => other,
                        })
                        .collect(),
                ),
                other => other,
            };
            out.insert(key, value);
            continue;
        }
        match SECONDS_IN_CORE.iter().find(|(ms, _)| *ms == key) {
            Some((_, seconds)) => match &value {
                Value::Null => {
                    out.insert((*seconds).to_owned(), Value::Null);
                }
                v => match v
                    .as_f64()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .and_then(|ms| Number::from_f64(ms / 1000.0))
                {
                    Some(n) => {
                        out.insert((*seconds).to_owned(), Value::Number(n));
                    }
                    None => refuse(
                        problems,
                        format!("{at}/{key}"),
                        format!(
                            "{key} must be a non-negative number of milliseconds, got {}",
                            shown(v)
                        ),
                    ),
                },
            },
            None => {
                out.insert(key, value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn seconds_become_the_cores_milliseconds() {
        let out = options_in_seconds(object(json!({
            "flush_interval": 1.5, "drop_timeout": 2, "metrics_interval": null,
            "http_timeout": 10, "batch_size": 5})))
        .unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"flush_interval_ms": 1500, "drop_timeout_ms": 2000,
            "metrics_interval_ms": null, "http_timeout": 10, "batch_size": 5})
        );
    }

    #[test]
    fn the_other_runtimes_spelling_is_refused_with_the_right_one() {
        let err = options_in_seconds(object(
            json!({"flush_interval_ms": 100, "block_timeout": -1}),
        ))
        .unwrap_err();
        let messages: Vec<&str> = err
            .violations()
            .iter()
            .map(|v| v.message.as_str())
            .collect();
        assert!(
            messages.iter().any(|m| m.contains("pass flush_interval=")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("non-negative number of seconds")),
            "{messages:?}"
        );
        let err = options_in_milliseconds(object(json!({"http_timeout": 10}))).unwrap_err();
        assert!(err.violations()[0].message.contains("http_timeout_ms"));
    }

    #[test]
    fn milliseconds_become_the_cores_seconds_in_forward_items_too() {
        let out = options_in_milliseconds(object(json!({"http_timeout_ms": 2500,
            "forward": [{"endpoint": "http://x/v1/batch", "http_timeout_ms": 500}], "flush_interval_ms": 20}))).unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"http_timeout": 2.5,
            "forward": [{"endpoint": "http://x/v1/batch", "http_timeout": 0.5}], "flush_interval_ms": 20})
        );
    }
}
