//! Ingested objects kept as JSON text until something needs them parsed.
//!
//! Building `serde_json::Value` trees is most of the cost of ingesting a batch (an allocation
//! per key and per string), and for most events nothing needs them: the properties, traits
//! and context only have to be checked for depth, key length and redacted keys, then written
//! out again. `ingest` therefore keeps those three objects as raw JSON text, scans it once,
//! and parses (materializes) an object only when something must look inside it: a hook, a
//! schema, a redaction hit, an IP policy, a batch-level context, or a violation to report
//! with its path. A raw object left raw has passed every check the parsed one would.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::reader::{Reader, ScanRules, SyntaxError};

/// An object kept as its JSON text, validated when it was made.
#[derive(Debug, Clone)]
pub(crate) struct RawObject {
    /// (A `String`, not a `Box<str>`: a writer's buffer is kept without shrinking it.)
    text: String,
    /// What the scan made when the object was read or written found, under the rules of
    /// the client `rules_id` (0: no client's): that client does not scan it again.
    scan: RawScan,
    rules_id: u64,
}

impl RawObject {
    /// JSON text that must be exactly one object (whitespace around it is dropped),
    /// checked and scanned under `rules` in one pass.
    /// On refusal the text comes back with the reason.
    pub fn checked(text: String, rules: &ScanRules<'_>) -> Result<Self, (SyntaxError, String)> {
        let read = {
            let mut reader = Reader::new(&text);
            reader.scan_object(rules).and_then(|(object, scan)| {
                reader.finish()?;
                // `None`: the text is the object as it is.
                let replaced = match object {
                    Cow::Borrowed(o) if o.len() == text.len() => None,
                    other => Some(other.into_owned()),
                };
                Ok((replaced, scan))
            })
        };
        match read {
            Ok((replaced, scan)) => Ok(Self::scanned(replaced.unwrap_or(text), scan, rules)),
            Err(e) => Err((e, text)),
        }
    }

    /// Text already validated and scanned under `rules` (by the reader, or written by an
    /// `ObjectWriter`).
    pub fn scanned(text: String, scan: RawScan, rules: &ScanRules<'_>) -> Self {
        Self {
            text,
            scan,
            rules_id: rules.id,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The scan under `rules`: the one made when the object was read or written under
    /// them, or a new one.
    pub fn scan_with(&self, rules: &ScanRules<'_>) -> RawScan {
        if self.rules_id == rules.id && rules.id != 0 {
            self.scan
        } else {
            scan_object(&self.text, rules)
        }
    }

    /// Whether the object has a top-level `library` (the same under any rules).
    pub fn has_library(&self) -> bool {
        self.scan.has_library
    }
}

/// Written as its text by serde serializers (the pipeline's own writer splices the text
/// without serde).
impl serde::Serialize for RawObject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.text.clone()) {
            Ok(raw) => raw.serialize(serializer),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
}

/// The raw objects of a message; `None` means "parsed, see the message's map". Both are set
/// when the text was read for a schema check that changes nothing
/// (`Message::read_properties`): then they are the same object and the text is written.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawFields {
    pub properties: Option<RawObject>,
    pub traits: Option<RawObject>,
    pub context: Option<RawObject>,
}

/// Raw values are equal when their text is.
impl PartialEq for RawFields {
    fn eq(&self, other: &Self) -> bool {
        fn text(r: &Option<RawObject>) -> Option<&str> {
            r.as_ref().map(RawObject::as_str)
        }
        text(&self.properties) == text(&other.properties)
            && text(&self.traits) == text(&other.traits)
            && text(&self.context) == text(&other.context)
    }
}

impl RawFields {
    pub fn is_empty(&self) -> bool {
        self.properties.is_none() && self.traits.is_none() && self.context.is_none()
    }
}

/// Parses a raw object. The reader already refused anything the parser would (numbers out
/// of range are flagged by the scan, which makes the pipeline parse the object to report
/// them), so a refusal here is reported as an `invalid_json` violation, never lost.
pub(crate) fn parse_object(raw: &RawObject) -> Result<Map<String, Value>, String> {
    match super::reader::parse_json(raw.as_str()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("not an object".to_owned()),
        Err(e) => Err(e),
    }
}

/// What one pass over a raw object found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RawScan {
    /// A non-empty container nested at `max_depth` or deeper.
    pub too_deep: bool,
    /// A key longer than `max_key_length` characters.
    pub long_key: bool,
    /// A key with escapes: its length and name are judged on the parsed object.
    pub escaped_key: bool,
    /// A key the redaction list matches.
    pub redact_hit: bool,
    /// The object has a top-level `library` key (for `context.library`).
    pub has_library: bool,
    /// A number outside the f64 range (`1e400`): the parser refuses it, so the object is
    /// parsed to report it rather than stored as text nothing could read back.
    pub number_out_of_range: bool,
}

impl RawScan {
    /// True when the raw text may be kept: nothing to report, redact or decode.
    pub fn keeps_raw(&self) -> bool {
        !(self.too_deep
            || self.long_key
            || self.escaped_key
            || self.redact_hit
            || self.number_out_of_range)
    }
}

/// Scans the text of a JSON object (already validated) for the rules the validator and the
/// redactor apply to parsed objects: values directly in the object are at depth 1, and a
/// non-empty object or array at depth `max_depth` or more is too deep.
pub(crate) fn scan_object(text: &str, rules: &ScanRules<'_>) -> RawScan {
    Reader::new(text)
        .scan_object(rules)
        .map(|(_, scan)| scan)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// The reference: the same rules on a parsed value.
    fn reference(
        v: &Value,
        max_depth: usize,
        max_key: usize,
        redacts: &dyn Fn(&str) -> bool,
    ) -> RawScan {
        fn walk(
            v: &Value,
            depth: usize,
            md: usize,
            mk: usize,
            r: &dyn Fn(&str) -> bool,
            s: &mut RawScan,
            top: bool,
        ) {
            match v {
                Value::Object(m) => {
                    if depth >= md && !m.is_empty() {
                        s.too_deep = true;
                    }
                    for (k, x) in m {
                        if k.chars().any(|c| c == '"' || c == '\\' || c < ' ') {
                            s.escaped_key = true;
                        } else {
                            if k.chars().count() > mk {
                                s.long_key = true;
                            }
                            if r(k) {
                                s.redact_hit = true;
                            }
                            if top && k == "library" {
                                s.has_library = true;
                            }
                        }
                        walk(x, depth + 1, md, mk, r, s, false);
                    }
                }
                Value::Array(a) => {
                    if depth >= md && !a.is_empty() {
                        s.too_deep = true;
                    }
                    for x in a {
                        walk(x, depth + 1, md, mk, r, s, false);
                    }
                }
                _ => {}
            }
        }
        let mut s = RawScan::default();
        walk(v, 0, max_depth, max_key, redacts, &mut s, true);
        s
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|i| json!(i)),
            "[a-z\"\\\\{}:,\\[\\] ]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 40, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    "(library|token|[a-z]{1,9}|[a-z\"]{1,3})",
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn raw_scan_agrees_with_the_parsed_walk(
            props in proptest::collection::btree_map("(library|token|[a-z]{1,9})", arb_value(), 0..5),
            max_depth in 1usize..5,
            max_key in 1usize..8,
            pretty in any::<bool>(),
        ) {
            let v = Value::Object(props.into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
            let redactor = crate::pipeline::Redactor::new(&["token".to_owned()], crate::config::IpPolicy::Keep);
            let rules = ScanRules { max_depth, max_key_length: max_key, redactor: Some(&redactor), id: 0 };
            let got = scan_object(&text, &rules);
            let want = reference(&v, max_depth, max_key, &|k: &str| redactor.matches(k));
            prop_assert_eq!(got, want, "{}", text);
        }
    }
}
