//! A validating JSON reader over text, built for ingest: it checks the syntax of a request
//! and, for the objects kept as text (`properties`, `traits`, `context`), applies the scan
//! rules of `event::raw` in the same pass, without building a value tree.
//!
//! It accepts exactly what serde_json accepts (RFC 8259: no trailing commas, no lone
//! surrogate escapes, no control characters in strings, nesting up to 128), so anything it
//! lets through can be parsed by serde_json later when something must look inside.

use std::borrow::Cow;

use serde_json::Value;

use super::raw::RawScan;
use crate::pipeline::Redactor;

/// Containers nested this deep are refused (127 levels pass), as serde_json refuses them.
const MAX_NESTING: usize = 128;

/// Where and why the text is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    offset: usize,
    what: &'static str,
}

impl SyntaxError {
    /// `"expected value at line 1 column 5"`, located in `text` (the text that was read).
    pub fn describe(&self, text: &[u8]) -> String {
        let before = text.get(..self.offset).unwrap_or(text);
        let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        let column = before.len() - line_start + 1;
        format!("{} at line {line} column {column}", self.what)
    }
}

/// The rules a raw object is scanned with (see [`RawScan`]), applied in one place for the
/// reader and for bindings' `ObjectWriter`.
#[derive(Clone, Copy)]
pub(crate) struct ScanRules<'r> {
    /// A non-empty container at this depth or deeper is too deep.
    pub max_depth: usize,
    /// Keys longer than this (in characters) are too long.
    pub max_key_length: usize,
    /// The keys whose values are redacted (none: no redaction).
    pub redactor: Option<&'r Redactor>,
    /// The client these rules are (0: none), so a scan is only reused under them.
    pub id: u64,
}

impl ScanRules<'_> {
    /// No limits and no redaction: the scan only validates (and finds `library`).
    pub const NONE: ScanRules<'static> = ScanRules {
        max_depth: usize::MAX,
        max_key_length: usize::MAX,
        redactor: None,
        id: 0,
    };

    /// A non-empty container opened at `depth` (the root object is 0, its values 1).
    #[inline]
    pub fn note_container(&self, scan: &mut RawScan, depth: usize) {
        if depth >= self.max_depth {
            scan.too_deep = true;
        }
    }

    /// A key of an object whose members are at `depth` (1: the root object's); `escaped`
    /// when its JSON text has escapes (it is then judged on the parsed object).
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    pub fn note_key(&self, scan: &mut RawScan, key: &str, escaped: bool, depth: usize) {
        if escaped {
            scan.escaped_key = true;
            return;
        }
        if key.len() > self.max_key_length && key.chars().count() > self.max_key_length {
            scan.long_key = true;
        }
        if self.redactor.is_some_and(|r| r.matches(key)) {
            scan.redact_hit = true;
        }
        if depth == 1 && key == "library" {
            scan.has_library = true;
        }
    }
}

type Result<T> = std::result::Result<T, SyntaxError>;

/// JSON text as a value, exactly as `serde_json::from_str` reads it; the error says what is
/// wrong and where (`"expected value at line 1 column 5"`). The core's one JSON parser.
pub(crate) fn parse_json(text: &str) -> std::result::Result<Value, String> {
    Reader::parse(text).map_err(|e| e.describe(text.as_bytes()))
}

/// A cursor over JSON text.
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
    /// Whether whitespace was skipped since the last reset (see `scan_object`).
    spaced: bool,
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            spaced: false,
        }
    }

    /// Request bytes: refused unless UTF-8 (checked once here, so every string slice taken
    /// later falls on character boundaries).
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        std::str::from_utf8(bytes)
            .map(Self::new)
            .map_err(|e| SyntaxError {
                offset: e.valid_up_to(),
                what: "invalid UTF-8",
            })
    }

    /// The same text, read again from `pos` (a position this reader reported).
    pub fn at(text: &'a str, pos: usize) -> Self {
        Self {
            text,
            pos,
            spaced: false,
        }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    pub fn position(&mut self) -> usize {
        self.skip_ws();
        self.pos
    }

    fn fail<T>(&self, what: &'static str) -> Result<T> {
        Err(SyntaxError {
            offset: self.pos,
            what,
        })
    }

    /// Compact JSON (what every SDK and `JSON.stringify` send) has no whitespace between
    /// tokens: one comparison decides that, and only text with spaces takes the loop.
    #[inline]
    fn skip_ws(&mut self) {
        if self
            .text
            .as_bytes()
            .get(self.pos)
            .is_some_and(|&c| c > b' ')
        {
            return;
        }
        self.skip_ws_loop();
    }

    fn skip_ws_loop(&mut self) {
        let b = self.text.as_bytes();
        let start = self.pos;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(self.pos) {
            self.pos += 1;
        }
        self.spaced |= self.pos != start;
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Only whitespace may follow the document.
    pub fn finish(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.fail("trailing characters"),
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    fn eat(&mut self, c: u8, what: &'static str) -> Result<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.fail(what)
        }
    }

    /// Enters the object at the reader.
    pub fn begin_object(&mut self) -> Result<()> {
        self.eat(b'{', "expected `{`")
    }

    /// The next member's key (its `:` consumed), or `None` once the object has closed.
    /// `first` starts true for each object.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    pub fn next_key(&mut self, first: &mut bool) -> Result<Option<Cow<'a, str>>> {
        match self.peek() {
            Some(b'}') => {
                self.pos += 1;
                return Ok(None);
            }
            Some(b',') if !*first => self.pos += 1,
            _ if *first => {}
            _ => return self.fail("expected `,` or `}`"),
        }
        *first = false;
        if self.peek() != Some(b'"') {
            return self.fail("expected a key");
        }
        let key = self.string()?;
        self.eat(b':', "expected `:`")?;
        Ok(Some(key))
    }

    /// Enters the array at the reader.
    pub fn begin_array(&mut self) -> Result<()> {
        self.eat(b'[', "expected `[`")
    }

    /// Whether another element follows (false once the array has closed).
    pub fn next_element(&mut self, first: &mut bool) -> Result<bool> {
        match self.peek() {
            Some(b']') => {
                self.pos += 1;
                return Ok(false);
            }
            Some(b',') if !*first => self.pos += 1,
            _ if *first => {}
            _ => return self.fail("expected `,` or `]`"),
        }
        *first = false;
        Ok(true)
    }

    /// The string at the reader, unescaped (borrowed when it has no escapes).
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    pub fn string(&mut self) -> Result<Cow<'a, str>> {
        let (start, end, escaped) = self.string_span()?;
        let raw = self.text.get(start..end).unwrap_or("");
        Ok(if escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        })
    }

    /// The string at the reader (at its `"`), validated: its contents' bounds and whether
    /// it has escapes. Inlined natively: the call cost as much as scanning a short key (the
    /// browser build keeps one copy, for size).
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    fn string_span(&mut self) -> Result<(usize, usize, bool)> {
        let b = self.text.as_bytes();
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = find_special(b, i);
            match b.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok((start, i, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    i = escape_end(b, i).map_err(|what| SyntaxError { offset: i, what })?;
                }
                Some(_) => {
                    self.pos = i;
                    return self
                        .fail("control character (\\u0000-\\u001F) found while parsing a string");
                }
                None => {
                    self.pos = i;
                    return self.fail("EOF while parsing a string");
                }
            }
        }
    }

    /// The number at the reader, validated; true when it may leave the f64 range (only an
    /// exponent or hundreds of digits can), which the caller then finds by parsing it.
    #[inline]
    fn number(&mut self) -> Result<bool> {
        let b = self.text.as_bytes();
        let start = self.pos;
        let mut i = start;
        let digits = |mut i: usize| {
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
            i
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits(i + 1),
            _ => {
                self.pos = i;
                return self.fail("invalid number");
            }
        }
        let mut exponent = false;
        if b.get(i) == Some(&b'.') {
            if !matches!(b.get(i + 1), Some(b'0'..=b'9')) {
                self.pos = i + 1;
                return self.fail("invalid number");
            }
            i = digits(i + 1);
        }
        if let Some(b'e' | b'E') = b.get(i) {
            exponent = true;
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                self.pos = i;
                return self.fail("invalid number");
            }
            i = digits(i);
        }
        self.pos = i;
        Ok(exponent || i - start > 300)
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        if self.text.as_bytes().get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            self.fail("expected value")
        }
    }

    /// Validates the value at the reader and returns its text.
    pub fn skip_value(&mut self) -> Result<&'a str> {
        let mut scan = RawScan::default();
        let text = self.walk(&ScanRules::NONE, &mut scan)?;
        if scan.number_out_of_range {
            return self.fail("number out of range");
        }
        Ok(text)
    }

    /// Validates the value at the reader and returns its exact text; unlike `skip_value`,
    /// numbers beyond the f64 range pass (text that is only stored and handed back).
    #[cfg(feature = "sqlite")]
    pub fn value_text(&mut self) -> Result<&'a str> {
        let mut scan = RawScan::default();
        self.walk(&ScanRules::NONE, &mut scan)
    }

    /// Where the reader is (after the last value read), for slicing its text.
    #[cfg(feature = "sqlite")]
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Validates the object at the reader and applies `rules` to it in the same pass; its
    /// text comes back without whitespace between tokens (pretty-printed input would
    /// otherwise be stored and delivered across lines, breaking JSON-lines output).
    pub fn scan_object(&mut self, rules: &ScanRules<'_>) -> Result<(Cow<'a, str>, RawScan)> {
        if self.peek() != Some(b'{') {
            return self.fail("expected `{`");
        }
        let mut scan = RawScan::default();
        self.spaced = false;
        let text = self.walk(rules, &mut scan)?;
        let text = if self.spaced {
            Cow::Owned(compact(text))
        } else {
            Cow::Borrowed(text)
        };
        Ok((text, scan))
    }

    /// The value at the reader, parsed: exactly what serde_json would build from the same
    /// text (numbers too), without its parser, so builds that only read (the browser's)
    /// do not carry it.
    pub fn value(&mut self) -> Result<Value> {
        self.value_within(0)
    }

    /// `value` inside `depth` open containers.
    fn value_within(&mut self, depth: usize) -> Result<Value> {
        match self.peek() {
            Some(b'"') => Ok(Value::String(self.string()?.into_owned())),
            Some(b'n') => self.literal(b"null").map(|()| Value::Null),
            Some(b't') => self.literal(b"true").map(|()| Value::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| Value::Bool(false)),
            Some(b'-' | b'0'..=b'9') => self.number_value(),
            Some(open @ (b'{' | b'[')) => {
                if depth + 1 >= MAX_NESTING {
                    return self.fail("recursion limit exceeded");
                }
                self.pos += 1;
                let mut first = true;
                if open == b'[' {
                    let mut items = Vec::new();
                    while self.next_element(&mut first)? {
                        items.push(self.value_within(depth + 1)?);
                    }
                    Ok(Value::Array(items))
                } else {
                    let mut map = serde_json::Map::new();
                    while let Some(key) = self.next_key(&mut first)? {
                        // A repeated key: the last one wins, as in serde_json.
                        map.insert(key.into_owned(), self.value_within(depth + 1)?);
                    }
                    Ok(Value::Object(map))
                }
            }
            Some(_) => self.fail("expected value"),
            None => self.fail("EOF while parsing a value"),
        }
    }

    /// The number at the reader as serde_json reads it: an integer that fits `u64` (or,
    /// negative, `i64`) stays one; everything else, `-0` included, is the nearest `f64`.
    fn number_value(&mut self) -> Result<Value> {
        let start = self.pos;
        // Parsed below whatever its range: a number beyond f64 is refused there.
        self.number()?;
        let text = self.text.get(start..self.pos).unwrap_or("");
        let integer = !text.bytes().any(|c| matches!(c, b'.' | b'e' | b'E'));
        if integer {
            if text.starts_with('-') {
                if let Ok(n) = text.parse::<i64>() {
                    if n != 0 {
                        return Ok(Value::from(n));
                    }
                }
            } else if let Ok(n) = text.parse::<u64>() {
                return Ok(Value::from(n));
            }
        }
        match super::number::parse_f64(text).and_then(serde_json::Number::from_f64) {
            Some(n) => Ok(Value::Number(n)),
            None => Err(SyntaxError {
                offset: start,
                what: "number out of range",
            }),
        }
    }

    /// The whole text as one value (only whitespace around it).
    fn parse(text: &'a str) -> Result<Value> {
        let mut r = Self::new(text);
        let value = r.value()?;
        r.finish()?;
        Ok(value)
    }

    /// Walks one value without recursion (a stack of object/array bits), validating it and
    /// applying `rules` to every key and container; returns the value's text.
    fn walk(&mut self, rules: &ScanRules<'_>, scan: &mut RawScan) -> Result<&'a str> {
        self.skip_ws();
        let start = self.pos;
        let b = self.text.as_bytes();
        // Bit d: the open container at depth d is an object.
        let mut objects: u128 = 0;
        let mut depth: usize = 0;
        'value: loop {
            self.skip_ws();
            match b.get(self.pos) {
                Some(&open @ (b'{' | b'[')) => {
                    if depth + 1 >= MAX_NESTING {
                        return self.fail("recursion limit exceeded");
                    }
                    self.pos += 1;
                    self.skip_ws();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if b.get(self.pos) == Some(&close) {
                        self.pos += 1;
                    } else {
                        rules.note_container(scan, depth);
                        if open == b'{' {
                            objects |= 1 << depth;
                        } else {
                            objects &= !(1 << depth);
                        }
                        depth += 1;
                        if open == b'{' {
                            self.key(rules, scan, depth)?;
                        }
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    self.string_span()?;
                }
                Some(b'-' | b'0'..=b'9') => {
                    let number = self.pos;
                    // serde_json refuses numbers beyond the f64 range.
                    if self.number()?
                        && !self
                            .text
                            .get(number..self.pos)
                            .and_then(super::number::parse_f64)
                            .is_some_and(f64::is_finite)
                    {
                        scan.number_out_of_range = true;
                    }
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(_) => return self.fail("expected value"),
                None => return self.fail("EOF while parsing a value"),
            }
            // A value is complete: close containers until one continues.
            loop {
                if depth == 0 {
                    return Ok(self.text.get(start..self.pos).unwrap_or(""));
                }
                self.skip_ws();
                let in_object = (objects >> (depth - 1)) & 1 == 1;
                match b.get(self.pos) {
                    Some(b',') => {
                        self.pos += 1;
                        if in_object {
                            self.key(rules, scan, depth)?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if in_object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    Some(b']') if !in_object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    Some(_) if in_object => return self.fail("expected `,` or `}`"),
                    Some(_) => return self.fail("expected `,` or `]`"),
                    None => return self.fail("EOF while parsing a value"),
                }
            }
        }
    }

    /// A key inside a walked object at `depth` (1: the root object's members), its `:`
    /// consumed, with the key rules applied.
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    fn key(&mut self, rules: &ScanRules<'_>, scan: &mut RawScan, depth: usize) -> Result<()> {
        if self.peek() != Some(b'"') {
            return self.fail("expected a key");
        }
        let (start, end, escaped) = self.string_span()?;
        let key = self.text.get(start..end).unwrap_or("");
        rules.note_key(scan, key, escaped, depth);
        self.eat(b':', "expected `:`")
    }
}

/// The index of the first `"`, `\` or control character in `b` from `i` (`b.len()` if
/// none), eight bytes at a time: strings are most of a request's bytes.
#[inline]
fn find_special(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let quote = w ^ (ONES * u64::from(b'"'));
        let backslash = w ^ (ONES * u64::from(b'\\'));
        // Per byte: zero after the XOR, or below 0x20. The lowest flagged byte is exact
        // (borrows only flag bytes above a real hit).
        let found = (quote.wrapping_sub(ONES) & !quote
            | backslash.wrapping_sub(ONES) & !backslash
            | w.wrapping_sub(ONES * 0x20) & !w)
            & HIGH;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    let mut n = 0u32;
    for &d in digits {
        n = n * 16 + char::from(d).to_digit(16)?;
    }
    Some(n)
}

/// The index after the escape starting at `b[i] == '\\'`, or why it is invalid.
fn escape_end(b: &[u8], i: usize) -> std::result::Result<usize, &'static str> {
    match b.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => {
            let unit = hex4(b, i + 2).ok_or("invalid \\u escape")?;
            match unit {
                0xD800..=0xDBFF => {
                    let low = (b.get(i + 6..i + 8) == Some(b"\\u"))
                        .then(|| hex4(b, i + 8))
                        .flatten();
                    match low {
                        Some(0xDC00..=0xDFFF) => Ok(i + 12),
                        _ => Err("lone leading surrogate in hex escape"),
                    }
                }
                0xDC00..=0xDFFF => Err("lone trailing surrogate in hex escape"),
                _ => Ok(i + 6),
            }
        }
        None => Err("EOF while parsing a string"),
        Some(_) => Err("invalid escape"),
    }
}

/// Valid JSON text without the whitespace between its tokens.
fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if matches!(c, ' ' | '\n' | '\r' | '\t') {
            continue;
        }
        out.push(c);
    }
    out
}

/// The contents of a validated string with escapes, unescaped.
fn unescape(raw: &str) -> String {
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut run = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(raw.get(run..i).unwrap_or(""));
        let (c, next) = match b.get(i + 1) {
            Some(b'b') => ('\u{8}', i + 2),
            Some(b'f') => ('\u{c}', i + 2),
            Some(b'n') => ('\n', i + 2),
            Some(b'r') => ('\r', i + 2),
            Some(b't') => ('\t', i + 2),
            Some(b'u') => {
                let unit = hex4(b, i + 2).unwrap_or(0xFFFD);
                if (0xD800..=0xDBFF).contains(&unit) {
                    let low = hex4(b, i + 8).unwrap_or(0xDC00);
                    let c = 0x10000 + ((unit - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                    (char::from_u32(c).unwrap_or('\u{FFFD}'), i + 12)
                } else {
                    (char::from_u32(unit).unwrap_or('\u{FFFD}'), i + 6)
                }
            }
            Some(&other) => (char::from(other), i + 2),
            None => break,
        };
        out.push(c);
        i = next;
        run = i;
    }
    out.push_str(raw.get(run..).unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reads(text: &str) -> bool {
        let mut r = Reader::new(text);
        r.skip_value().is_ok() && r.finish().is_ok()
    }

    fn serde_reads(text: &str) -> bool {
        serde_json::from_str::<serde_json::Value>(text).is_ok()
    }

    #[test]
    fn accepts_and_refuses_what_serde_json_does() {
        let cases = [
            "{}",
            "[]",
            " {\"a\" : [1, -2.5e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\"]} ",
            "{\"a\":1,}",
            "[1,]",
            "[1 2]",
            "{\"a\" 1}",
            "{a:1}",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "-0",
            "1E400",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\x\"",
            "\"a\u{1}b\"",
            "\"abc",
            "tru",
            "nul",
            "[",
            "{\"a\":",
            "",
            "\"\\u12\"",
            "[[[[]]]]",
        ];
        for text in cases {
            assert_eq!(reads(text), serde_reads(text), "{text:?}");
        }
        for levels in [126, 127, 128, 129, 200] {
            for inner in ["", "1", "{}", "{\"a\":1}"] {
                let text = format!("{}{inner}{}", "[".repeat(levels), "]".repeat(levels));
                assert_eq!(
                    reads(&text),
                    serde_reads(&text),
                    "{levels} levels, {inner:?}"
                );
                assert_eq!(
                    parses(&text),
                    serde_parse(&text),
                    "{levels} levels, {inner:?}"
                );
            }
        }
        assert!(reads(&format!("{}{}", "[".repeat(127), "]".repeat(127))));
    }

    fn parses(text: &str) -> Option<serde_json::Value> {
        parse_json(text).ok()
    }

    fn serde_parse(text: &str) -> Option<serde_json::Value> {
        serde_json::from_str(text).ok()
    }

    /// The same value, numbers of the same kind (`1` stays an integer, `-0` is a float).
    fn same(ours: &Option<Value>, theirs: &Option<Value>) -> bool {
        ours == theirs
            && ours.as_ref().map(Value::to_string) == theirs.as_ref().map(Value::to_string)
    }

    #[test]
    fn parses_what_serde_json_parses() {
        for text in [
            "0",
            "-0",
            "-0.0",
            "7",
            "-7",
            "1.5",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "1e-400",
            "1e400",
            "-1e400",
            "2.2250738585072011e-308",
            "0.1e1",
            "9007199254740993",
            "{\"a\":1,\"a\":[true,null,\"x\"],\"b\":{}}",
            " [ 1 , \"\\u00e9\" ] ",
            "[1,]",
            "{\"a\":1} x",
            "",
        ] {
            let (ours, theirs) = (parses(text), serde_parse(text));
            assert!(same(&ours, &theirs), "{text:?}: {ours:?} vs {theirs:?}");
        }
        assert_eq!(
            parse_json("[1,]").unwrap_err(),
            "expected value at line 1 column 4"
        );
    }

    #[test]
    fn strings_unescape_as_serde_json_does() {
        for text in [
            "\"plain\"",
            "\"tab\\there \\\"quoted\\\" \\\\ \\/ \\b\\f\\n\\r\"",
            "\"\\u00e9t\\u00E9 \\ud83d\\ude00 end\"",
            "\"caf\u{e9} \u{1f600}\"",
        ] {
            let mut r = Reader::new(text);
            let ours = r.string().unwrap().into_owned();
            let theirs: String = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn scanned_objects_come_back_compact() {
        let text = "{\n  \"a b\" : [ 1 , { \"c\":\"x \\\" y\" } ],\t\"d\": null }";
        let (object, _) = Reader::new(text).scan_object(&ScanRules::NONE).unwrap();
        assert_eq!(object, "{\"a b\":[1,{\"c\":\"x \\\" y\"}],\"d\":null}");
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&object).unwrap(),
            value
        );
        let (object, _) = Reader::new("{\"a\":1}")
            .scan_object(&ScanRules::NONE)
            .unwrap();
        assert!(matches!(object, Cow::Borrowed(_)));
    }

    #[test]
    fn errors_say_where() {
        let mut r = Reader::new("{\"a\":\n  [1,]}");
        let e = r.skip_value().unwrap_err();
        assert_eq!(
            e.describe(b"{\"a\":\n  [1,]}"),
            "expected value at line 2 column 6"
        );
        let e = Reader::from_bytes(b"\"\xff\"").err().unwrap();
        assert_eq!(e.describe(b"\"\xff\""), "invalid UTF-8 at line 1 column 2");
    }

    #[test]
    fn find_special_finds_the_first() {
        for text in [
            "",
            "abc",
            "abcdefgh\"",
            "abcdefghij\\k\"",
            "é\u{1}",
            "0123456\"89\"",
        ] {
            let want = text
                .bytes()
                .position(|c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(text.len());
            assert_eq!(find_special(text.as_bytes(), 0), want, "{text:?}");
            let shifted = format!("ab{text}");
            assert_eq!(find_special(shifted.as_bytes(), 2), want + 2, "{text:?}");
        }
    }

    proptest! {
        /// Any text: the reader accepts exactly what serde_json accepts, and the values it
        /// reads are serde_json's.
        #[test]
        fn agrees_with_serde_json_on_any_text(text in "[\\[\\]{}\",:0-9.eE+\\-a-z\\\\ \u{e9}]{0,24}") {
            prop_assert_eq!(reads(&text), serde_reads(&text), "{:?}", text);
        }

        #[test]
        fn agrees_with_serde_json_on_near_json(
            v in proptest::collection::vec(("[\\[\\]{}]", "(\"[a-z\\\\\"]{0,3}\"|[0-9]{1,3}|-?[0-9]\\.[0-9]e-?[0-9]{1,3}|true|null)", "[,:]?"), 0..8)
        ) {
            let text: String = v.iter().map(|(a, b, c)| format!("{a}{b}{c}")).collect();
            prop_assert_eq!(reads(&text), serde_reads(&text), "{:?}", text);
            let (ours, theirs) = (parses(&text), serde_parse(&text));
            prop_assert!(same(&ours, &theirs), "{:?}: {:?} vs {:?}", text, ours, theirs);
        }

        /// Values of any shape printed by serde_json come back as they were.
        #[test]
        fn parses_serde_json_output(value in json_value()) {
            let text = value.to_string();
            let (ours, theirs) = (parses(&text), serde_parse(&text));
            prop_assert!(same(&ours, &theirs), "{:?}: {:?} vs {:?}", text, ours, theirs);
        }

        /// Number-like text: the same acceptance, value and kind.
        #[test]
        fn parses_numbers_as_serde_json(text in "-?[0-9]{1,25}(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,4})?") {
            let (ours, theirs) = (parses(&text), serde_parse(&text));
            prop_assert!(same(&ours, &theirs), "{:?}: {:?} vs {:?}", text, ours, theirs);
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
