//! Ingested objects kept as JSON text until something needs them parsed.
//!
//! Building `serde_json::Value` trees is most of the cost of ingesting a batch (an allocation
//! per key and per string), and for most events nothing needs them: the properties, traits
//! and context only have to be checked for depth, key length and redacted keys, then written
//! out again. `ingest` therefore keeps those three objects as raw JSON text, scans it once,
//! and parses (materializes) an object only when something must look inside it: a hook, a
//! schema, a redaction hit, an IP policy, a batch-level context, or a violation to report
//! with its path. A raw object left raw has passed every check the parsed one would.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The raw objects of an ingested message; `None` means "parsed, see the message's map".
#[derive(Debug, Clone, Default)]
pub(crate) struct RawFields {
    pub properties: Option<Box<RawValue>>,
    pub traits: Option<Box<RawValue>>,
    pub context: Option<Box<RawValue>>,
    /// Whether the raw context has a top-level `library`, once a scan has found out.
    pub context_has_library: Option<bool>,
}

/// Raw values are equal when their text is.
impl PartialEq for RawFields {
    fn eq(&self, other: &Self) -> bool {
        let text = |r: &Option<Box<RawValue>>| r.as_ref().map(|v| v.get().to_owned());
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

/// Parses a raw object. The raw reader already refused anything the parser would (unpaired
/// surrogate escapes included), so this does not fail in practice; if it ever did, the
/// caller reports it as an `invalid_json` violation rather than losing the object.
pub(crate) fn parse_object(raw: &RawValue) -> Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("not an object".to_owned()),
        Err(e) => Err(e.to_string()),
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

/// Scans the text of a JSON object (already validated by the parser) for the rules the
/// validator and the redactor apply to parsed objects: values directly in the object are at
/// depth 1, and a non-empty object or array at depth `max_depth` or more is too deep.
pub(crate) fn scan_object(
    text: &str,
    max_depth: usize,
    max_key_length: usize,
    redacts: impl Fn(&str) -> bool,
) -> RawScan {
    let b = text.as_bytes();
    let mut scan = RawScan::default();
    // For each open container: is it an object?
    let mut stack: Vec<bool> = Vec::with_capacity(8);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            open @ (b'{' | b'[') => {
                // The container's depth: the root object is 0, its values 1, and so on.
                let depth = stack.len();
                stack.push(open == b'{');
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let empty = matches!(b.get(j), Some(b'}' | b']'));
                if depth >= max_depth && !empty {
                    scan.too_deep = true;
                }
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                // Jump to the closing quote; only escapes need a closer look.
                let mut j = start;
                let mut escaped = false;
                while let Some(p) = b
                    .get(j..)
                    .and_then(|rest| rest.iter().position(|&c| c == b'"' || c == b'\\'))
                {
                    if b[j + p] == b'\\' {
                        escaped = true;
                        j += p + 2;
                    } else {
                        j += p;
                        break;
                    }
                }
                let end = j.min(b.len());
                // A string followed by ':' inside an object is a key.
                let mut k = end + 1;
                while k < b.len() && b[k].is_ascii_whitespace() {
                    k += 1;
                }
                let is_key = stack.last() == Some(&true) && b.get(k) == Some(&b':');
                if is_key {
                    if escaped {
                        scan.escaped_key = true;
                    } else {
                        let key = text.get(start..end).unwrap_or("");
                        if key.len() > max_key_length && key.chars().count() > max_key_length {
                            scan.long_key = true;
                        }
                        if redacts(key) {
                            scan.redact_hit = true;
                        }
                        if stack.len() == 1 && key == "library" {
                            scan.has_library = true;
                        }
                    }
                    i = k + 1;
                } else {
                    i = end + 1;
                }
            }
            b'-' | b'0'..=b'9' => {
                let end = b[i..]
                    .iter()
                    .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .map_or(b.len(), |p| i + p);
                let number = text.get(i..end).unwrap_or("");
                // Only an exponent or hundreds of digits can leave the f64 range.
                if (number.len() > 300 || number.bytes().any(|c| c == b'e' || c == b'E'))
                    && !number.parse::<f64>().is_ok_and(f64::is_finite)
                {
                    scan.number_out_of_range = true;
                }
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
    scan
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
            let redacts = |k: &str| k == "token";
            let got = scan_object(&text, max_depth, max_key, redacts);
            let want = reference(&v, max_depth, max_key, &redacts);
            prop_assert_eq!(got, want, "{}", text);
        }
    }
}
