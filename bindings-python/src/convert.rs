//! Python values to and from JSON values, converted at once at the boundary so nothing of
//! Python's stays behind for its garbage collector (and the core runs without the GIL).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// Deeper nesting is refused rather than risking the native stack.
const MAX_DEPTH: usize = 64;

/// A Python value as JSON: `None`, `bool`, `int`, `float` (finite), `str`, `dict` with
/// string keys, `list`/`tuple`; dates, times, UUIDs and decimals become their text.
pub fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    value_at(obj, 0, &mut String::new())
}

/// A `dict` as a JSON object (properties, traits, context, options).
pub fn to_object(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Map<String, Value>> {
    match obj.cast::<PyDict>() {
        Ok(dict) => dict_at(dict, 0, &mut String::new()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be a dict, got {}",
            type_name(obj)
        ))),
    }
}

/// An optional `dict` argument: `None` is an empty object.
pub fn optional_object(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Map<String, Value>> {
    match obj {
        Some(o) if !o.is_none() => to_object(o, what),
        _ => Ok(Map::new()),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

fn value_at(obj: &Bound<'_, PyAny>, depth: usize, path: &mut String) -> PyResult<Value> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: True is an int in Python.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(n) = i.extract::<i64>() {
            return Ok(Value::from(n));
        }
        if let Ok(n) = i.extract::<u64>() {
            return Ok(Value::from(n));
        }
        return Err(PyValueError::new_err(format!(
            "{}: integer {i} does not fit in 64 bits",
            shown(path)
        )));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "{}: {} is not a JSON number (NaN or infinite)",
                    shown(path),
                    f.value()
                ))
            });
    }
    if depth >= MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "{}: nested deeper than {MAX_DEPTH} levels",
            shown(path)
        )));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return dict_at(d, depth + 1, path).map(Value::Object);
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return sequence(l.iter(), depth, path);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return sequence(t.iter(), depth, path);
    }
    // datetime, date, time: ISO 8601; UUID, Decimal, Path: their text.
    if obj.hasattr("isoformat")? {
        return Ok(Value::String(obj.call_method0("isoformat")?.extract()?));
    }
    let module: String = obj
        .get_type()
        .getattr("__module__")
        .and_then(|m| m.extract())
        .unwrap_or_default();
    if matches!(
        module.as_str(),
        "uuid" | "decimal" | "pathlib" | "ipaddress"
    ) {
        return Ok(Value::String(obj.str()?.to_str()?.to_owned()));
    }
    Err(PyTypeError::new_err(format!(
        "{}: a {} cannot be sent as JSON (use str, int, float, bool, None, dict, list)",
        shown(path),
        type_name(obj)
    )))
}

fn sequence<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    depth: usize,
    path: &mut String,
) -> PyResult<Value> {
    let mut out = Vec::new();
    for (i, item) in items.enumerate() {
        let len = path.len();
        path.push('/');
        path.push_str(&i.to_string());
        out.push(value_at(&item, depth + 1, path)?);
        path.truncate(len);
    }
    Ok(Value::Array(out))
}

fn dict_at(d: &Bound<'_, PyDict>, depth: usize, path: &mut String) -> PyResult<Map<String, Value>> {
    let mut out = Map::new();
    for (k, v) in d.iter() {
        let Ok(key) = k.cast::<PyString>() else {
            return Err(PyTypeError::new_err(format!(
                "{}: keys must be str, got {}",
                shown(path),
                type_name(&k)
            )));
        };
        let key = key.to_str()?;
        let len = path.len();
        path.push('/');
        path.push_str(key);
        let value = value_at(&v, depth, path)?;
        path.truncate(len);
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

fn shown(path: &str) -> &str {
    if path.is_empty() {
        "value"
    } else {
        path
    }
}

/// A JSON value as plain Python objects.
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_python(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// Anything serializable (stats, reports, aggregates) as plain Python objects.
pub fn serialized<'py>(
    py: Python<'py>,
    value: &impl serde::Serialize,
) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value)
        .map_err(|e| crate::errors::internal(format!("cannot convert a result: {e}")))?;
    to_python(py, &json)
}
