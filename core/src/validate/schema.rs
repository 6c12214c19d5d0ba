//! A JSON-Schema subset for tracking plans and built-in event schemas:
//! `type`, `required`, `properties`, `enum`, `minimum`/`maximum`, `minLength`/`maxLength`,
//! `pattern`, `additionalProperties`, `items`. Unknown assertion keywords are rejected when
//! the schema is compiled, so a plan never silently checks less than its author meant.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::pattern::Pattern;
use super::pointer::Pointer;
use crate::codes;
use crate::error::Violation;
use crate::event::json::{number_text, shown};
use crate::event::reader::Reader;
use crate::event::Properties;

/// JSON types as JSON Schema names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "null" => Self::Null,
            "boolean" => Self::Boolean,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "string" => Self::String,
            "array" => Self::Array,
            "object" => Self::Object,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Boolean => "boolean",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::String => "string",
            Self::Array => "array",
            Self::Object => "object",
        }
    }

    fn matches(self, v: &Value) -> bool {
        match (self, v) {
            (Self::Null, Value::Null)
            | (Self::Boolean, Value::Bool(_))
            | (Self::Number, Value::Number(_))
            | (Self::String, Value::String(_))
            | (Self::Array, Value::Array(_))
            | (Self::Object, Value::Object(_)) => true,
            (Self::Integer, Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
enum Additional {
    Allowed,
    Forbidden,
    Schema(Box<Schema>),
}

/// A compiled schema node.
#[derive(Debug, Clone)]
pub struct Schema {
    types: Vec<JsonType>,
    required: Vec<String>,
    properties: Vec<(String, Schema)>,
    enum_values: Option<Vec<Value>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: Option<Pattern>,
    additional: Additional,
    items: Option<Box<Schema>>,
}

/// Keywords that describe but do not assert: accepted and ignored.
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "format",
];

impl Schema {
    /// Compiles a schema document; every problem is reported with its pointer inside `path`.
    pub fn compile(doc: &Value, path: &str, problems: &mut Vec<Violation>) -> Schema {
        let mut schema = Schema {
            types: Vec::new(),
            required: Vec::new(),
            properties: Vec::new(),
            enum_values: None,
            minimum: None,
            maximum: None,
            min_length: None,
            max_length: None,
            pattern: None,
            additional: Additional::Allowed,
            items: None,
        };
        let Value::Object(obj) = doc else {
            problems.push(Violation::new(
                path,
                codes::INVALID_SCHEMA,
                "a schema must be a JSON object",
            ));
            return schema;
        };
        for (key, value) in obj {
            let at = format!("{path}/{}", escape(key));
            match key.as_str() {
                "type" => schema.types = compile_types(value, &at, problems),
                "required" => match value.as_array() {
                    Some(items) if items.iter().all(Value::is_string) => {
                        schema.required = items
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect();
                    }
                    _ => problems.push(bad(&at, "required must be an array of strings")),
                },
                "properties" => match value {
                    Value::Object(props) => {
                        // In name order (serde_json's map is ordered), which
                        // `check_object` relies on.
                        for (name, sub) in props {
                            let sub_at = format!("{at}/{}", escape(name));
                            schema
                                .properties
                                .push((name.clone(), Schema::compile(sub, &sub_at, problems)));
                        }
                    }
                    _ => problems.push(bad(&at, "properties must be an object of schemas")),
                },
                "enum" => match value {
                    Value::Array(items) if !items.is_empty() => {
                        schema.enum_values = Some(items.clone());
                    }
                    _ => problems.push(bad(&at, "enum must be a non-empty array")),
                },
                "minimum" => schema.minimum = number(value, &at, problems),
                "maximum" => schema.maximum = number(value, &at, problems),
                "minLength" => schema.min_length = count(value, &at, problems),
                "maxLength" => schema.max_length = count(value, &at, problems),
                "pattern" => match value.as_str().map(Pattern::compile) {
                    Some(Ok(re)) => schema.pattern = Some(re),
                    Some(Err(e)) => {
                        problems.push(bad(&at, &format!("pattern does not compile: {e}")))
                    }
                    None => problems.push(bad(&at, "pattern must be a string")),
                },
                "additionalProperties" => {
                    schema.additional = match value {
                        Value::Bool(true) => Additional::Allowed,
                        Value::Bool(false) => Additional::Forbidden,
                        Value::Object(_) => {
                            Additional::Schema(Box::new(Schema::compile(value, &at, problems)))
                        }
                        _ => {
                            problems.push(bad(
                                &at,
                                "additionalProperties must be a boolean or a schema",
                            ));
                            Additional::Allowed
                        }
                    }
                }
                "items" => schema.items = Some(Box::new(Schema::compile(value, &at, problems))),
                k if ANNOTATIONS.contains(&k) => {}
                other => problems.push(Violation::new(
                    at.clone(),
                    codes::UNSUPPORTED_KEYWORD,
                    format!(
                        "keyword {} is not supported by Sonde's schema subset",
                        crate::event::json::quoted(other)
                    ),
                )),
            }
        }
        schema
    }

    /// Checks `value`, appending a violation for every failed assertion.
    pub(crate) fn check(&self, value: &Value, path: &Pointer<'_>, out: &mut Vec<Violation>) {
        if !self.types.is_empty() && !self.types.iter().any(|t| t.matches(value)) {
            let expected: Vec<&str> = self.types.iter().map(|t| t.name()).collect();
            out.push(Violation::new(
                path.text(),
                codes::TYPE_MISMATCH,
                format!(
                    "expected {}, got {}",
                    expected.join(" or "),
                    crate::event::parse_type_name(value)
                ),
            ));
            // Other keywords would only repeat the same problem in other words.
            return;
        }
        if let Some(allowed) = &self.enum_values {
            if !allowed.iter().any(|a| json_equal(a, value)) {
                out.push(Violation::new(
                    path.text(),
                    codes::ENUM,
                    format!(
                        "{} is not one of {}",
                        shown(value),
                        shown(&Value::Array(allowed.clone()))
                    ),
                ));
            }
        }
        match value {
            Value::Number(n) => self.check_number(n.as_f64().unwrap_or(f64::NAN), path, out),
            Value::String(s) => self.check_string(s, path, out),
            Value::Array(items) => {
                if let Some(item_schema) = &self.items {
                    for (i, item) in items.iter().enumerate() {
                        item_schema.check(item, &path.index(i), out);
                    }
                }
            }
            Value::Object(map) => self.check_object(map, path, out),
            _ => {}
        }
    }

    /// Checks a properties object (the usual root of an event schema).
    pub(crate) fn check_properties(
        &self,
        props: &Properties,
        path: &Pointer<'_>,
        out: &mut Vec<Violation>,
    ) {
        self.check_object(props, path, out);
    }

    fn check_number(&self, x: f64, path: &Pointer<'_>, out: &mut Vec<Violation>) {
        if let Some(min) = self.minimum {
            if x < min {
                out.push(Violation::new(
                    path.text(),
                    codes::MINIMUM,
                    format!(
                        "{} is less than the minimum {}",
                        number_text(x),
                        number_text(min)
                    ),
                ));
            }
        }
        if let Some(max) = self.maximum {
            if x > max {
                out.push(Violation::new(
                    path.text(),
                    codes::MAXIMUM,
                    format!(
                        "{} is greater than the maximum {}",
                        number_text(x),
                        number_text(max)
                    ),
                ));
            }
        }
    }

    fn check_string(&self, s: &str, path: &Pointer<'_>, out: &mut Vec<Violation>) {
        if self.min_length.is_some() || self.max_length.is_some() {
            let len = s.chars().count();
            if let Some(min) = self.min_length.filter(|&m| len < m) {
                out.push(Violation::new(
                    path.text(),
                    codes::MIN_LENGTH,
                    format!("length {len} is shorter than {min}"),
                ));
            }
            if let Some(max) = self.max_length.filter(|&m| len > m) {
                out.push(Violation::new(
                    path.text(),
                    codes::MAX_LENGTH,
                    format!("length {len} is longer than {max}"),
                ));
            }
        }
        if let Some(re) = &self.pattern {
            if !re.is_match(s) {
                out.push(Violation::new(
                    path.text(),
                    codes::PATTERN,
                    format!(
                        "{} does not match /{}/",
                        crate::event::json::quoted(s),
                        re.as_str()
                    ),
                ));
            }
        }
    }

    /// Checks a properties object given as JSON text (checked to be an object) without
    /// building it: each member is read and checked on its own, so only containers are
    /// parsed. The violations are those of `check_properties` on the parsed object, in the
    /// same order. Text that repeats a key is parsed instead (its map keeps the last value).
    pub(crate) fn check_properties_text(
        &self,
        text: &str,
        path: &Pointer<'_>,
        out: &mut Vec<Violation>,
    ) {
        if self.check_text_members(text, path, out).is_none() {
            if let Ok(Value::Object(map)) = crate::event::reader::parse_json(text) {
                self.check_object(&map, path, out);
            }
        }
    }

    /// `check_properties_text`'s one pass; `None` (and nothing added to `out`) when the text
    /// repeats a key or is not a JSON object.
    fn check_text_members(
        &self,
        text: &str,
        path: &Pointer<'_>,
        out: &mut Vec<Violation>,
    ) -> Option<()> {
        let mut r = Reader::new(text);
        r.begin_object().ok()?;
        let mut first = true;
        let mut seen: Vec<Cow<'_, str>> = Vec::new();
        // Per member with violations, in the map's order once sorted by key.
        let mut declared: Vec<(Cow<'_, str>, Vec<Violation>)> = Vec::new();
        let mut undeclared: Vec<(Cow<'_, str>, Vec<Violation>)> = Vec::new();
        while let Some(key) = r.next_key(&mut first).ok()? {
            let value = r.value().ok()?;
            if seen.contains(&key) {
                return None;
            }
            let mut found = Vec::new();
            let at = path.key(&key);
            match self
                .properties
                .binary_search_by(|(name, _)| name.as_str().cmp(&key))
            {
                Ok(i) => {
                    self.properties[i].1.check(&value, &at, &mut found);
                    if !found.is_empty() {
                        insert_sorted(&mut declared, key.clone(), found);
                    }
                }
                Err(_) => {
                    self.check_undeclared(&key, &value, &at, &mut found);
                    if !found.is_empty() {
                        insert_sorted(&mut undeclared, key.clone(), found);
                    }
                }
            }
            seen.push(key);
        }
        r.finish().ok()?;
        for name in &self.required {
            if !seen.iter().any(|k| k == name) {
                out.push(required(&path.key(name), name));
            }
        }
        for (_, found) in declared.into_iter().chain(undeclared) {
            out.extend(found);
        }
        Some(())
    }

    /// A member `properties` does not declare, under `additionalProperties`.
    fn check_undeclared(
        &self,
        key: &str,
        value: &Value,
        at: &Pointer<'_>,
        out: &mut Vec<Violation>,
    ) {
        match &self.additional {
            Additional::Allowed => {}
            Additional::Forbidden => out.push(not_allowed(at, key)),
            Additional::Schema(extra) => extra.check(value, at, out),
        }
    }

    /// `properties` is sorted by name (see `compile`) and so is `map` (serde_json's map is
    /// ordered), so declared and present properties are matched in one pass over each
    /// instead of a map lookup per declared property.
    fn check_object(&self, map: &Map<String, Value>, path: &Pointer<'_>, out: &mut Vec<Violation>) {
        for name in &self.required {
            if !map.contains_key(name) {
                out.push(required(&path.key(name), name));
            }
        }
        let mut declared = self.properties.iter().peekable();
        // Checked after every declared one, so their violations come first.
        let mut undeclared = Vec::new();
        for (key, v) in map {
            while declared.next_if(|(name, _)| name < key).is_some() {}
            match declared.next_if(|(name, _)| name == key) {
                Some((_, schema)) => schema.check(v, &path.key(key), out),
                None if matches!(self.additional, Additional::Allowed) => {}
                None => undeclared.push((key, v)),
            }
        }
        for (key, v) in undeclared {
            self.check_undeclared(key, v, &path.key(key), out);
        }
    }
}

/// Keeps `list` sorted by key as members with violations arrive (few, and usually none: a
/// sort's code would cost more of the browser's `.wasm` than this).
fn insert_sorted<'a>(
    list: &mut Vec<(Cow<'a, str>, Vec<Violation>)>,
    key: Cow<'a, str>,
    found: Vec<Violation>,
) {
    let at = list.partition_point(|(k, _)| *k < key);
    list.insert(at, (key, found));
}

fn required(at: &Pointer<'_>, name: &str) -> Violation {
    Violation::new(
        at.text(),
        codes::REQUIRED,
        format!("property {} is required", crate::event::json::quoted(name)),
    )
}

fn not_allowed(at: &Pointer<'_>, key: &str) -> Violation {
    Violation::new(
        at.text(),
        codes::ADDITIONAL_PROPERTY,
        format!(
            "property {} is not allowed by the schema",
            crate::event::json::quoted(key)
        ),
    )
}

/// JSON Schema equality: 1 and 1.0 are the same number.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compile_types(value: &Value, at: &str, problems: &mut Vec<Violation>) -> Vec<JsonType> {
    let names: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let mut types = Vec::new();
    for n in names {
        match n.as_str().and_then(JsonType::parse) {
            Some(t) => types.push(t),
            None => problems.push(bad(
                at,
                &format!(
                    "type {} is not one of null, boolean, integer, number, string, array, object",
                    shown(n)
                ),
            )),
        }
    }
    types
}

fn number(value: &Value, at: &str, problems: &mut Vec<Violation>) -> Option<f64> {
    let n = value.as_f64();
    if n.is_none() {
        problems.push(bad(at, "must be a number"));
    }
    n
}

fn count(value: &Value, at: &str, problems: &mut Vec<Violation>) -> Option<usize> {
    let n = value.as_u64().and_then(|n| usize::try_from(n).ok());
    if n.is_none() {
        problems.push(bad(at, "must be a non-negative integer"));
    }
    n
}

fn bad(at: &str, message: &str) -> Violation {
    Violation::new(at, codes::INVALID_SCHEMA, message)
}

pub(crate) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use proptest::strategy::Strategy;
    use serde_json::json;

    use super::*;

    fn violations(schema: Value, value: Value) -> Vec<(String, &'static str)> {
        let mut problems = Vec::new();
        let schema = Schema::compile(&schema, "", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let mut out = Vec::new();
        schema.check(&value, &Pointer::Root("/properties"), &mut out);
        out.into_iter()
            .map(|v| {
                let code = codes::ALL.iter().find(|c| **c == v.code).copied();
                (v.path, code.unwrap_or("?"))
            })
            .collect()
    }

    #[test]
    fn violations_come_in_order_with_their_pointers() {
        let schema = json!({
            "required": ["zz"],
            "additionalProperties": false,
            "properties": {
                "a": {"type": "integer"},
                "c": {"items": {"type": "string"}},
                "x/y": {"maximum": 1},
                "q": {"type": "string"}
            }
        });
        let value = json!({"a": "no", "b": 1, "c": ["ok", 2], "x/y": 5, "d~": true});
        assert_eq!(
            violations(schema, value),
            [
                ("/properties/zz".to_owned(), codes::REQUIRED),
                ("/properties/a".to_owned(), codes::TYPE_MISMATCH),
                ("/properties/c/1".to_owned(), codes::TYPE_MISMATCH),
                ("/properties/x~1y".to_owned(), codes::MAXIMUM),
                ("/properties/b".to_owned(), codes::ADDITIONAL_PROPERTY),
                ("/properties/d~0".to_owned(), codes::ADDITIONAL_PROPERTY),
            ]
        );
    }

    /// The text path and the map path find the same violations in the same order.
    fn same_both_ways(schema: &Value, text: &str) {
        let mut problems = Vec::new();
        let schema = Schema::compile(schema, "", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let root = Pointer::Root("/properties");
        let mut from_text = Vec::new();
        schema.check_properties_text(text, &root, &mut from_text);
        let map = match crate::event::reader::parse_json(text) {
            Ok(Value::Object(map)) => map,
            other => panic!("{text}: {other:?}"),
        };
        let mut from_map = Vec::new();
        schema.check_properties(&map, &root, &mut from_map);
        assert_eq!(from_text, from_map, "{text}");
    }

    #[test]
    fn properties_as_text_are_checked_as_their_map_would_be() {
        let closed = json!({
            "required": ["zz", "a"],
            "additionalProperties": false,
            "properties": {
                "a": {"type": "integer"},
                "c": {"items": {"type": "string"}},
                "x/y": {"maximum": 1},
                "n": {"properties": {"deep": {"enum": [1, 2]}}}
            }
        });
        let typed_extra = json!({
            "properties": {"m": {"type": "string"}},
            "additionalProperties": {"type": "number"}
        });
        for schema in [&closed, &typed_extra, &json!({})] {
            for text in [
                r#"{}"#,
                r#"{"z":true,"a":"no","b":1,"c":["ok",2],"x/y":5,"d~":true}"#,
                r#"{"n":{"deep":3},"a":1,"zz":null,"m":7}"#,
                // A repeated key: the last value is the one checked.
                r#"{"a":"first","a":2,"m":"x","m":[]}"#,
                r#" { "a" : 1.0 , "c" : [ "x" , "y" ] } "#,
            ] {
                same_both_ways(schema, text);
            }
        }
    }

    proptest::proptest! {
        /// Any members, keys repeated or not: the text path agrees with the map path.
        #[test]
        fn text_and_map_paths_agree(
            members in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["a", "b", "c", "m", "n", "x/y", "zz"]),
                    proptest::prop_oneof![
                        proptest::prelude::Just(json!(null)),
                        proptest::prelude::any::<bool>().prop_map(Value::from),
                        proptest::prelude::any::<i32>().prop_map(Value::from),
                        (-10.0..10.0f64).prop_map(Value::from),
                        "[a-z]{0,3}".prop_map(Value::from),
                        proptest::collection::vec(0..3i32, 0..3).prop_map(|v| json!(v)),
                        (0..4i32).prop_map(|d| json!({"deep": d})),
                    ],
                ),
                0..8,
            ),
            schema in proptest::sample::select(vec![
                json!({"required": ["zz", "a"], "additionalProperties": false, "properties": {
                    "a": {"type": "integer"}, "c": {"items": {"type": "string"}},
                    "x/y": {"maximum": 1}, "n": {"properties": {"deep": {"enum": [1, 2]}}}}}),
                json!({"properties": {"m": {"type": "string"}},
                       "additionalProperties": {"type": "number"}}),
            ]),
        ) {
            let body: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
                .collect();
            same_both_ways(&schema, &format!("{{{}}}", body.join(",")));
        }
    }

    #[test]
    fn undeclared_properties_checked_against_the_additional_schema() {
        let schema = json!({
            "properties": {"m": {"type": "string"}},
            "additionalProperties": {"type": "number"}
        });
        let value = json!({"a": 1, "m": "x", "z": "no", "n": {"deep": true}});
        assert_eq!(
            violations(schema, value),
            [
                ("/properties/n".to_owned(), codes::TYPE_MISMATCH),
                ("/properties/z".to_owned(), codes::TYPE_MISMATCH),
            ]
        );
        let open = json!({"properties": {"m": {"type": "string"}}});
        assert!(violations(open, json!({"a": 1, "m": "x", "zz": []})).is_empty());
    }
}
