//! Python values to and from JSON values, converted at once at the boundary so nothing of
//! Python's stays behind for its garbage collector (and the core runs without the GIL).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};
use sonde_core::{codes, ErrorKind, ObjectWriter};

use crate::errors::{bad_argument, bad_type, refused_values};

/// Deeper nesting is refused rather than risking the native stack.
const MAX_DEPTH: usize = 64;

/// A Python value as JSON: `None`, `bool`, `int`, `float` (finite), `str`, `dict` with
/// string keys, `list`/`tuple`; dates, times, UUIDs and decimals become their text.
pub fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    value_at(obj, 0, &Path::Root)
}

/// A `dict` as a JSON object (properties, traits, context, options). Errors point into it
/// under its name (`/properties/price`), as the core's violations do.
pub fn to_object(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Map<String, Value>> {
    match obj.cast::<PyDict>() {
        Ok(dict) => dict_at(dict, 0, &Path::Key(&Path::Root, what))
            .map_err(|first| every_refusal(dict, what, first)),
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

/// A `dict` written straight to JSON text (the properties of event calls): the same types,
/// conversions and errors as [`to_object`], without building a map the core would only
/// serialize again.
pub fn write_object(
    obj: &Bound<'_, PyAny>,
    what: &str,
    writer: &mut ObjectWriter<'_>,
) -> PyResult<()> {
    match obj.cast::<PyDict>() {
        Ok(dict) => write_dict(dict, 0, &Path::Key(&Path::Root, what), writer)
            .map_err(|first| every_refusal(dict, what, first)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be a dict, got {}",
            type_name(obj)
        ))),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

/// What a Python value is, as JSON sees it.
enum Kind<'py> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(Bound<'py, PyString>),
    Dict(Bound<'py, PyDict>),
    List(Bound<'py, PyList>),
    Tuple(Bound<'py, PyTuple>),
    /// Dates, times, UUIDs, decimals, paths: their text.
    Text(String),
}

fn classify<'py>(obj: &Bound<'py, PyAny>, path: &Path<'_>) -> PyResult<Kind<'py>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Kind::Str(s.clone()));
    }
    if obj.is_none() {
        return Ok(Kind::Null);
    }
    // bool before int: True is an int in Python.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Kind::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        if let Ok(n) = i.extract::<i64>() {
            return Ok(Kind::Int(n));
        }
        if let Ok(n) = i.extract::<u64>() {
            return Ok(Kind::UInt(n));
        }
        return Err(bad_at(
            ErrorKind::InvalidEvent,
            path,
            codes::INVALID_TYPE,
            &format!("integer {i} does not fit in 64 bits"),
        ));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let x = f.value();
        if !x.is_finite() {
            return Err(bad_at(
                ErrorKind::InvalidEvent,
                path,
                codes::INVALID_TYPE,
                &format!("{x} is not a JSON number (NaN or infinite)"),
            ));
        }
        return Ok(Kind::Float(x));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Kind::Dict(d.clone()));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return Ok(Kind::List(l.clone()));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Ok(Kind::Tuple(t.clone()));
    }
    if obj.hasattr("isoformat")? {
        return Ok(Kind::Text(obj.call_method0("isoformat")?.extract()?));
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
        return Ok(Kind::Text(obj.str()?.to_str()?.to_owned()));
    }
    Err(bad_type(
        &path.pointer(),
        format!(
            "a value of type {} cannot be sent as JSON (use str, int, float, bool, None, dict, list)",
            type_name(obj)
        ),
    ))
}

fn too_deep(path: &Path<'_>) -> PyErr {
    bad_at(
        ErrorKind::InvalidEvent,
        path,
        codes::DEPTH_EXCEEDED,
        &format!("nested deeper than {MAX_DEPTH} levels"),
    )
}

/// Where a value sits, as a chain on the stack: the JSON pointer (`/a/0/b`) is only written
/// out for an error, so converting costs no string work per key or item.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn pointer(&self) -> String {
        match self {
            Path::Root => String::new(),
            // JSON pointer escapes, as the core's paths have them.
            Path::Key(parent, key) => format!(
                "{}/{}",
                parent.pointer(),
                key.replace('~', "~0").replace('/', "~1")
            ),
            Path::Index(parent, i) => format!("{}/{i}", parent.pointer()),
        }
    }
}

fn dict_key<'a>(k: &'a Bound<'_, PyAny>, path: &Path<'_>) -> PyResult<&'a Bound<'a, PyString>> {
    k.cast::<PyString>().map_err(|_| {
        bad_type(
            &path.pointer(),
            format!("keys must be str, got {}", type_name(k)),
        )
    })
}

/// The conversion stops at the first value it refuses (`first`); this walks all of `dict`
/// for every refused value, so one exception names them all, as the core's do. Only run
/// once the conversion failed, so converting costs nothing more.
fn every_refusal(dict: &Bound<'_, PyDict>, what: &str, first: PyErr) -> PyErr {
    let mut found = Refusals::default();
    match found.dict(dict, 0, &Path::Key(&Path::Root, what)) {
        Ok(()) if !found.violations.is_empty() => {
            refused_values(found.violations, found.type_error)
        }
        // Nothing refusable found (the first error was Python's own), or Python failed
        // while looking: that error stands.
        Ok(()) => first,
        Err(e) => e,
    }
}

/// The violations a refusal of the binding's carries, and whether it is a `TypeError`;
/// `None` for any other exception.
fn violations_of(e: &PyErr) -> PyResult<Option<(Vec<sonde_core::Violation>, bool)>> {
    Python::attach(|py| {
        let value = e.value(py);
        let Ok(list) = value.getattr("violations") else {
            return Ok(None);
        };
        let mut violations = Vec::new();
        for v in list.try_iter()? {
            let v = v?;
            let text = |k: &str| -> PyResult<String> { v.get_item(k)?.extract() };
            violations.push(sonde_core::Violation::new(
                text("path")?,
                &text("code")?,
                text("message")?,
            ));
        }
        Ok(Some((violations, value.is_instance_of::<PyTypeError>())))
    })
}

/// `refused` (an object's values the conversion refused) with `before` ahead of its own
/// violations: what the core finds wrong with the rest of the event, so one exception
/// names every problem. Any other exception stands as it is.
pub fn joined(before: Vec<sonde_core::Violation>, refused: PyErr) -> PyErr {
    if before.is_empty() {
        return refused;
    }
    match violations_of(&refused) {
        Ok(Some((own, type_error))) => {
            refused_values(before.into_iter().chain(own).collect(), type_error)
        }
        Ok(None) => refused,
        Err(failure) => failure,
    }
}

#[derive(Default)]
struct Refusals {
    violations: Vec<sonde_core::Violation>,
    type_error: bool,
}

impl Refusals {
    /// Keeps a refusal of the conversion's (an exception with `violations`); any other
    /// Python error ends the walk.
    fn keep(&mut self, e: PyErr) -> PyResult<()> {
        match violations_of(&e)? {
            Some((violations, type_error)) => {
                self.type_error |= type_error;
                self.violations.extend(violations);
                Ok(())
            }
            None => Err(e),
        }
    }

    fn value(&mut self, obj: &Bound<'_, PyAny>, depth: usize, path: &Path<'_>) -> PyResult<()> {
        let kind = match classify(obj, path) {
            Ok(kind) => kind,
            Err(e) => return self.keep(e),
        };
        if depth >= MAX_DEPTH && matches!(kind, Kind::Dict(_) | Kind::List(_) | Kind::Tuple(_)) {
            return self.keep(too_deep(path));
        }
        match kind {
            Kind::Dict(d) => self.dict(&d, depth + 1, path),
            Kind::List(l) => self.sequence(l.iter(), depth, path),
            Kind::Tuple(t) => self.sequence(t.iter(), depth, path),
            _ => Ok(()),
        }
    }

    fn sequence<'py>(
        &mut self,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        depth: usize,
        path: &Path<'_>,
    ) -> PyResult<()> {
        for (i, item) in items.enumerate() {
            self.value(&item, depth + 1, &Path::Index(path, i))?;
        }
        Ok(())
    }

    fn dict(&mut self, d: &Bound<'_, PyDict>, depth: usize, path: &Path<'_>) -> PyResult<()> {
        for (k, v) in d.iter() {
            match dict_key(&k, path) {
                Ok(key) => self.value(&v, depth, &Path::Key(path, key.to_str()?))?,
                Err(e) => self.keep(e)?,
            }
        }
        Ok(())
    }
}

fn value_at(obj: &Bound<'_, PyAny>, depth: usize, path: &Path<'_>) -> PyResult<Value> {
    Ok(match classify(obj, path)? {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(b),
        Kind::Int(n) => Value::from(n),
        Kind::UInt(n) => Value::from(n),
        Kind::Float(x) => Number::from_f64(x).map_or(Value::Null, Value::Number),
        Kind::Str(s) => Value::String(s.to_str()?.to_owned()),
        Kind::Text(t) => Value::String(t),
        _ if depth >= MAX_DEPTH => return Err(too_deep(path)),
        Kind::Dict(d) => Value::Object(dict_at(&d, depth + 1, path)?),
        Kind::List(l) => sequence(l.iter(), depth, path)?,
        Kind::Tuple(t) => sequence(t.iter(), depth, path)?,
    })
}

fn sequence<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    depth: usize,
    path: &Path<'_>,
) -> PyResult<Value> {
    let mut out = Vec::new();
    for (i, item) in items.enumerate() {
        out.push(value_at(&item, depth + 1, &Path::Index(path, i))?);
    }
    Ok(Value::Array(out))
}

fn dict_at(d: &Bound<'_, PyDict>, depth: usize, path: &Path<'_>) -> PyResult<Map<String, Value>> {
    let mut out = Map::new();
    for (k, v) in d.iter() {
        let key = dict_key(&k, path)?.to_str()?;
        let value = value_at(&v, depth, &Path::Key(path, key))?;
        out.insert(key.to_owned(), value);
    }
    Ok(out)
}

/// `bad_argument` at `path` (the error's text shows the path before `what`, once).
fn bad_at(kind: ErrorKind, path: &Path<'_>, code: &'static str, what: &str) -> PyErr {
    bad_argument(kind, &path.pointer(), code, what)
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

fn write_value(
    obj: &Bound<'_, PyAny>,
    depth: usize,
    path: &Path<'_>,
    w: &mut ObjectWriter<'_>,
) -> PyResult<()> {
    match classify(obj, path)? {
        Kind::Null => w.null(),
        Kind::Bool(b) => w.bool(b),
        Kind::Int(n) => w.int(n),
        Kind::UInt(n) => w.uint(n),
        Kind::Float(x) => w.float(x),
        Kind::Str(s) => w.string(s.to_str()?),
        Kind::Text(t) => w.string(&t),
        _ if depth >= MAX_DEPTH => return Err(too_deep(path)),
        Kind::Dict(d) => write_dict(&d, depth + 1, path, w)?,
        Kind::List(l) => write_sequence(l.iter(), depth, path, w)?,
        Kind::Tuple(t) => write_sequence(t.iter(), depth, path, w)?,
    }
    Ok(())
}

fn write_sequence<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    depth: usize,
    path: &Path<'_>,
    w: &mut ObjectWriter<'_>,
) -> PyResult<()> {
    w.begin_array();
    for (i, item) in items.enumerate() {
        write_value(&item, depth + 1, &Path::Index(path, i), w)?;
    }
    w.end_array();
    Ok(())
}

fn write_dict(
    d: &Bound<'_, PyDict>,
    depth: usize,
    path: &Path<'_>,
    w: &mut ObjectWriter<'_>,
) -> PyResult<()> {
    w.begin_object();
    for (k, v) in d.iter() {
        let key = dict_key(&k, path)?.to_str()?;
        w.key(key);
        write_value(&v, depth, &Path::Key(path, key), w)?;
    }
    w.end_object();
    Ok(())
}
