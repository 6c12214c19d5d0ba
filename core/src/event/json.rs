//! A JSON writer for messages, byte-for-byte identical to serde_json's compact output (a
//! property test checks that) but faster on the hot path: strings that need no escaping —
//! nearly all of them — are checked with a branch-free scan and copied in one go.

use serde_json::{Map, Number, Value};

use super::{Library, Message, MessageType, Timestamp};

/// `"library":{"name":...,"version":...}` for a client, written once and reused.
pub(crate) fn library_fragment(library: &Library) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"\"library\":{\"name\":");
    write_str(&library.name, &mut out);
    out.extend_from_slice(b",\"version\":");
    write_str(&library.version, &mut out);
    out.push(b'}');
    out
}

/// Writes `m`; `library` is a [`library_fragment`] added to `context` when it has none.
pub(crate) fn write_message(m: &Message, library: Option<&[u8]>, out: &mut Vec<u8>) {
    // Fixed keys are written pre-escaped: only values need the escape scan.
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(m.kind.as_str().as_bytes());
    out.push(b'"');
    let opt_fields: [(&[u8], &Option<String>); 8] = [
        (b",\"event\":", &m.event),
        (b",\"name\":", &m.name),
        (b",\"messageId\":", &m.message_id),
        (b",\"userId\":", &m.user_id),
        (b",\"anonymousId\":", &m.anonymous_id),
        (b",\"sessionId\":", &m.session_id),
        (b",\"groupId\":", &m.group_id),
        (b",\"previousId\":", &m.previous_id),
    ];
    for (key, value) in opt_fields {
        if let Some(v) = value {
            out.extend_from_slice(key);
            write_str(v, out);
        }
    }
    let times: [(&[u8], Option<Timestamp>); 3] = [
        (b",\"timestamp\":", m.timestamp),
        (b",\"sentAt\":", m.sent_at),
        (b",\"receivedAt\":", m.received_at),
    ];
    for (key, value) in times {
        if let Some(t) = value {
            out.extend_from_slice(key);
            write_timestamp(t, out);
        }
    }
    let props_always = matches!(
        m.kind,
        MessageType::Track | MessageType::Page | MessageType::Screen
    );
    if let Some(raw) = &m.raw.properties {
        out.extend_from_slice(b",\"properties\":");
        out.extend_from_slice(raw.as_str().as_bytes());
    } else if props_always || !m.properties.is_empty() {
        out.extend_from_slice(b",\"properties\":");
        write_map(&m.properties, out);
    }
    let traits_always = matches!(m.kind, MessageType::Identify | MessageType::Group);
    if let Some(raw) = &m.raw.traits {
        out.extend_from_slice(b",\"traits\":");
        out.extend_from_slice(raw.as_str().as_bytes());
    } else if traits_always || !m.traits.is_empty() {
        out.extend_from_slice(b",\"traits\":");
        write_map(&m.traits, out);
    }
    out.extend_from_slice(b",\"context\":");
    match &m.raw.context {
        Some(raw) => {
            let has_library = raw.has_library();
            write_raw_context(raw.as_str(), library.filter(|_| !has_library), out)
        }
        None => write_context(
            &m.context,
            library.filter(|_| !m.context.contains_key("library")),
            out,
        ),
    }
    for (key, value) in &m.extra {
        field(out, false, key);
        write_value(value, out);
    }
    out.push(b'}');
}

#[inline]
fn field(out: &mut Vec<u8>, first: bool, key: &str) {
    if !first {
        out.push(b',');
    }
    write_str(key, out);
    out.push(b':');
}

pub(crate) fn write_timestamp(t: Timestamp, out: &mut Vec<u8>) {
    match t.fixed_width() {
        Some(bytes) => {
            out.push(b'"');
            out.extend_from_slice(&bytes);
            out.push(b'"');
        }
        None => write_str(&t.to_string(), out),
    }
}

fn write_context(context: &Map<String, Value>, library: Option<&[u8]>, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    let mut pending = library;
    for (key, value) in context {
        // Keys stay sorted, as in every other object.
        if let Some(fragment) = pending.filter(|_| key.as_str() > "library") {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(fragment);
            first = false;
            pending = None;
        }
        field(out, first, key);
        write_value(value, out);
        first = false;
    }
    if let Some(fragment) = pending {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(fragment);
    }
    out.push(b'}');
}

/// A raw context object, with the library fragment (when given) put first.
fn write_raw_context(text: &str, fragment: Option<&[u8]>, out: &mut Vec<u8>) {
    let (Some(fragment), Some(rest)) = (fragment, text.strip_prefix('{')) else {
        out.extend_from_slice(text.as_bytes());
        return;
    };
    out.push(b'{');
    out.extend_from_slice(fragment);
    if !rest.trim_start().starts_with('}') {
        out.push(b',');
    }
    out.extend_from_slice(rest.as_bytes());
}

fn write_map(map: &Map<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (key, value)) in map.iter().enumerate() {
        field(out, i == 0, key);
        write_value(value, out);
    }
    out.push(b'}');
}

fn write_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_map(map, out),
    }
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(u) = n.as_u64() {
        write_u64(u, out);
    } else if let Some(i) = n.as_i64() {
        out.push(b'-');
        write_u64(i.unsigned_abs(), out);
    } else if let Some(x) = n.as_f64() {
        // serde_json's shortest round-trip text (see `number`).
        super::number::write_finite_f64(x, out);
    }
}

pub(crate) fn write_u64(mut v: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Bytes that JSON strings must escape.
static ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// True when any byte needs escaping: a table lookup per byte for short strings (most keys
/// and values), eight bytes at a time (SWAR) for longer ones.
pub(crate) fn any_needs_escape(bytes: &[u8]) -> bool {
    if bytes.len() < 16 {
        return bytes.iter().any(|&b| ESCAPE[usize::from(b)]);
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        // A byte below 0x20, or equal to '"' or '\\'. (`x - 0x20` per byte borrows for
        // bytes < 0x20; masking with !x ignores bytes >= 0x80, which never need escaping.)
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        if control
            | has_zero(x ^ (ONES * u64::from(b'"')))
            | has_zero(x ^ (ONES * u64::from(b'\\')))
            != 0
        {
            return true;
        }
    }
    chunks.remainder().iter().any(|&b| needs_escape(b))
}

#[inline]
/// A float as serde_json writes one: shortest round-trip digits, `null` when not finite.
pub(crate) fn write_f64(x: f64, out: &mut Vec<u8>) {
    match Number::from_f64(x) {
        Some(n) => write_number(&n, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON value inside a message (`got {}`), written by this module: serde_json's own
/// `Display` brings its pretty printer, `io::Error` and with them `core::fmt`'s Unicode
/// tables into the browser build.
pub(crate) struct Shown<'a>(&'a Value);

pub(crate) fn shown(value: &Value) -> Shown<'_> {
    Shown(value)
}

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::with_capacity(32);
        write_value(self.0, &mut out);
        f.write_str(std::str::from_utf8(&out).unwrap_or_default())
    }
}

/// A number for a message, formatted as JSON writes it: the browser build then carries one
/// float formatter (see `number`) instead of also `core::fmt`'s.
pub(crate) fn number_text(x: f64) -> String {
    // Not `Value::to_string`, for the reason `Shown` gives.
    let mut out = Vec::with_capacity(24);
    write_f64(x, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// A string for a message, quoted as JSON writes it (`"a\"b"`): `{:?}` would bring
/// `core::fmt`'s Unicode printability tables into the browser build.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    write_str(s, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    out.push(b'"');
    if any_needs_escape(bytes) {
        write_escaped(bytes, out);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

fn write_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            ".*".prop_map(Value::String),
            "[\\x00-\\x1f\"\\\\a-z\u{e9}\u{1F600}]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(".{0,8}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn serde_bytes(m: &Message, library: Option<&Library>) -> Vec<u8> {
        m.serde_json_bytes(library)
    }

    proptest! {
        #[test]
        fn identical_to_serde_json(props in arb_value(), ctx in arb_value(), name in ".{0,20}", with_lib in any::<bool>()) {
            let mut m = Message::track(name, props.as_object().cloned().unwrap_or_default());
            m.context = ctx.as_object().cloned().unwrap_or_default();
            m.message_id = Some("id-\"1\"".into());
            m.timestamp = Some(Timestamp::from_millis(1_700_000_000_123));
            m.extra.insert("integrations".into(), props.clone());
            let lib = Library::default();
            let library = with_lib.then_some(&lib);
            let fragment = library_fragment(&lib);
            let mut fast = Vec::new();
            write_message(&m, with_lib.then_some(fragment.as_slice()), &mut fast);
            let reference = serde_bytes(&m, library);
            // Byte-identical to serde_json writing the same value.
            prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(reference).unwrap());
        }
    }

    #[test]
    fn escape_scan_finds_every_special_byte() {
        for b in 0u8..=255 {
            for len in [1usize, 7, 8, 9, 17] {
                for pos in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[pos] = b;
                    let expected = bytes.iter().any(|&x| needs_escape(x));
                    assert_eq!(
                        any_needs_escape(&bytes),
                        expected,
                        "byte {b:#x} at {pos} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_type_and_context_library_position() {
        for kind in MessageType::ALL {
            let mut m = Message::new(kind);
            m.user_id = Some("u".into());
            m.context = json!({"app": 1, "zone": "eu"})
                .as_object()
                .cloned()
                .unwrap();
            if kind == MessageType::Page {
                m.context = json!({"zone": "eu"}).as_object().cloned().unwrap();
            }
            if kind == MessageType::Screen {
                m.context = json!({"app": "x"}).as_object().cloned().unwrap();
            }
            let lib = Library::default();
            let mut fast = Vec::new();
            write_message(&m, Some(&library_fragment(&lib)), &mut fast);
            assert_eq!(fast, serde_bytes(&m, Some(&lib)), "{kind:?}");
        }
    }
}
