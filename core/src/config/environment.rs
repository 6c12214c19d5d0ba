//! Options from `SONDE_*` environment variables, the ones that differ between deployments,
//! read by the server bindings (Python, Node) beneath their explicit options (which win).
//! One table, documented in the README; names the collector reads are known too, so setting
//! them never warns, and any other `SONDE_*` name is reported as unknown (a typo there
//! would otherwise be silently ignored).

use serde_json::{Map, Number, Value};

use crate::codes;
use crate::error::{Error, ErrorKind, Violation};

/// How a variable's text becomes an option value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariableKind {
    /// Taken as it is.
    Text,
    /// A number (`0.25`).
    Number,
    /// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`, any case.
    Flag,
}

/// Every variable a client reads: (variable, option, kind).
pub const ENVIRONMENT_VARIABLES: &[(&str, &str, VariableKind)] = &[
    ("SONDE_DISABLED", "disabled", VariableKind::Flag),
    ("SONDE_DEBUG", "debug", VariableKind::Flag),
    ("SONDE_ON_INVALID", "on_invalid", VariableKind::Text),
    ("SONDE_STORE", "store", VariableKind::Text),
    ("SONDE_ENDPOINT", "endpoint", VariableKind::Text),
    ("SONDE_WRITE_KEY", "write_key", VariableKind::Text),
    ("SONDE_SAMPLE_RATE", "sample_rate", VariableKind::Number),
];

/// Variables only the collector service reads (`sonde-collector --help`).
pub const COLLECTOR_VARIABLES: &[&str] = &[
    "SONDE_LISTEN",
    "SONDE_API_KEY",
    "SONDE_ALLOW_UNAUTHENTICATED",
    "SONDE_METRICS_TOKEN",
    "SONDE_OPEN_METRICS",
    "SONDE_CORS_ORIGINS",
    "SONDE_FORWARD",
    "SONDE_FORWARD_FORMAT",
    "SONDE_FORWARD_WRITE_KEY",
    "SONDE_FORWARD_OUTBOX",
    "SONDE_MOUNT",
    "SONDE_OPTIONS",
    "SONDE_SHUTDOWN_TIMEOUT_MS",
];

/// What the environment says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvironmentOptions {
    /// Options (snake_case) from the variables that are set and not empty.
    pub options: Map<String, Value>,
    /// One line per `SONDE_*` variable nobody reads.
    pub warnings: Vec<String>,
}

/// Reads the `SONDE_*` variables among `vars` (the process environment, as pairs). A value
/// that cannot be read is an `invalid_config` error naming the variable, every one at once.
pub fn options_from_environment(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<EnvironmentOptions, Error> {
    let mut out = EnvironmentOptions::default();
    let mut problems = Vec::new();
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with("SONDE_"))
        .collect();
    vars.sort();
    for (name, text) in vars {
        let Some((_, option, kind)) = ENVIRONMENT_VARIABLES.iter().find(|(n, ..)| *n == name)
        else {
            if !COLLECTOR_VARIABLES.contains(&name.as_str()) {
                let known: Vec<&str> = ENVIRONMENT_VARIABLES.iter().map(|(n, ..)| *n).collect();
                out.warnings.push(format!(
                    "{name} is not a Sonde setting and is ignored (known: {})",
                    known.join(", ")
                ));
            }
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let value = match kind {
            VariableKind::Text => Some(Value::String(text.to_owned())),
            VariableKind::Number => text
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number),
            VariableKind::Flag => match text.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(Value::Bool(true)),
                "0" | "false" | "no" | "off" => Some(Value::Bool(false)),
                _ => None,
            },
        };
        match value {
            Some(value) => {
                out.options.insert((*option).to_owned(), value);
            }
            None => {
                let expected = match kind {
                    VariableKind::Number => "a number",
                    _ => "1, true, yes, on, 0, false, no or off",
                };
                problems.push(Violation::new(
                    format!("/{name}"),
                    codes::INVALID_OPTION,
                    format!(
                        "{name} must be {expected}, got {}",
                        crate::event::json::quoted(text)
                    ),
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::with_violations(ErrorKind::InvalidConfig, problems))
    }
}

/// A server binding's (Python, Node) options, complete: the explicit ones over what the
/// environment says (explicit options win, one by one); a person required of every event
/// (`require_person`) unless a process-wide `anonymous_id` was chosen; and, under a test
/// runner, invalid events raising unless `on_invalid` says otherwise (tests must not miss
/// a tracking mistake).
pub fn server_options(
    explicit: Map<String, Value>,
    environment: Map<String, Value>,
    under_test_runner: bool,
) -> Map<String, Value> {
    let mut options = environment;
    for (k, v) in explicit {
        options.insert(k, v);
    }
    if !options.contains_key("anonymous_id") {
        options.entry("require_person").or_insert(Value::Bool(true));
    }
    if under_test_runner {
        options
            .entry("on_invalid")
            .or_insert_with(|| Value::String("raise".to_owned()));
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_the_documented_variables_with_their_types() {
        let env = options_from_environment(vars(&[
            ("SONDE_DISABLED", "True"),
            ("SONDE_DEBUG", "0"),
            ("SONDE_SAMPLE_RATE", "0.25"),
            ("SONDE_STORE", "postgresql://db/x"),
            ("SONDE_WRITE_KEY", " wk "),
            ("SONDE_ENDPOINT", ""),
            ("PATH", "/bin"),
        ]))
        .unwrap();
        assert_eq!(
            Value::Object(env.options),
            json!({"disabled": true, "debug": false, "sample_rate": 0.25,
                   "store": "postgresql://db/x", "write_key": "wk"})
        );
        assert!(env.warnings.is_empty());
    }

    #[test]
    fn unknown_names_warn_and_collector_names_do_not() {
        let env = options_from_environment(vars(&[
            ("SONDE_SAMPLERATE", "0.5"),
            ("SONDE_API_KEY", "k"),
            ("SONDE_OPTIONS", "{}"),
        ]))
        .unwrap();
        assert!(env.options.is_empty());
        assert_eq!(env.warnings.len(), 1);
        assert!(env.warnings[0].starts_with("SONDE_SAMPLERATE is not a Sonde setting"));
    }

    #[test]
    fn every_bad_value_is_named() {
        let err = options_from_environment(vars(&[
            ("SONDE_SAMPLE_RATE", "half"),
            ("SONDE_DISABLED", "maybe"),
        ]))
        .unwrap_err();
        let paths: Vec<&str> = err.violations().iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, ["/SONDE_DISABLED", "/SONDE_SAMPLE_RATE"]);
        assert!(err
            .violations()
            .iter()
            .all(|v| v.code == codes::INVALID_OPTION));
    }

    #[test]
    fn explicit_options_win_and_servers_get_their_defaults() {
        let object = |v: Value| v.as_object().cloned().unwrap_or_default();
        let merged = server_options(
            object(json!({"store": "a.db"})),
            object(json!({"store": "b.db", "disabled": true})),
            false,
        );
        assert_eq!(
            Value::Object(merged),
            json!({"store": "a.db", "disabled": true, "require_person": true})
        );
        let tested = server_options(
            object(json!({"anonymous_id": "p", "on_invalid": "warn"})),
            Map::new(),
            true,
        );
        assert_eq!(
            Value::Object(tested),
            json!({"anonymous_id": "p", "on_invalid": "warn"})
        );
        let tested = server_options(Map::new(), Map::new(), true);
        assert_eq!(
            Value::Object(tested),
            json!({"require_person": true, "on_invalid": "raise"})
        );
    }
}
