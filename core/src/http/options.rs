//! Reading the HTTP layer's JSON options, every problem collected with its path.

use serde_json::{Map, Value};

use crate::codes::INVALID_OPTION;
use crate::error::{Error, ErrorKind, Result, Violation};

/// A problem with option `key`.
pub fn problem(key: &str, message: impl Into<String>) -> Violation {
    Violation::new(format!("/{key}"), INVALID_OPTION, message)
}

/// The options object (`null` is no options).
pub fn object(options: &Value) -> Result<Map<String, Value>> {
    match options {
        Value::Object(map) => Ok(map.clone()),
        Value::Null => Ok(Map::new()),
        _ => Err(Error::with_violations(
            ErrorKind::InvalidConfig,
            vec![Violation::new(
                "",
                INVALID_OPTION,
                "options must be an object",
            )],
        )),
    }
}

/// One string or a list of strings; `null` is none.
pub fn strings(key: &str, value: &Value, problems: &mut Vec<Violation>) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => {
            problems.push(problem(
                key,
                format!("{key} must be a string or a list of strings"),
            ));
            Vec::new()
        }
    }
}

/// `true` or `false`; `null` is the default.
pub fn flag(key: &str, value: &Value, default: bool, problems: &mut Vec<Violation>) -> bool {
    match value {
        Value::Null => default,
        Value::Bool(b) => *b,
        _ => {
            problems.push(problem(
                key,
                format!("{key} must be true or false, got {value}"),
            ));
            default
        }
    }
}

/// The result: the value, or every problem as one `invalid_config` error.
pub fn finish<T>(value: T, problems: Vec<Violation>) -> Result<T> {
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(Error::with_violations(ErrorKind::InvalidConfig, problems))
    }
}
