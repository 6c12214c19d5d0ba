//! Properties a binding writes as JSON text straight from its own dictionary (a Python
//! `dict`), token by token: no `Value` map is built, and the pipeline keeps the text as it
//! keeps ingested objects (see `raw`). The writer applies the client's scan rules (depth,
//! key lengths, redacted keys) as it writes, so the text is not read again either.

use super::json::{any_needs_escape, write_f64, write_str, write_u64};
use super::raw::{RawObject, RawScan};
use super::reader::ScanRules;
use crate::codes;
use crate::error::{Error, ErrorKind, Violation};

/// Writes one JSON object. Made by [`crate::Sonde::object_writer`]; the text it makes is
/// well-formed by construction (`finish` refuses an unbalanced one).
pub struct ObjectWriter<'s> {
    /// Text from `&str` pieces and ASCII only, so it never needs a UTF-8 check.
    out: String,
    /// Numbers and escaped strings are formatted here first.
    scratch: Vec<u8>,
    /// Bit d: the open container at depth d is an object.
    objects: u128,
    /// Open containers.
    depth: usize,
    /// The next item is the first of its container.
    first: bool,
    /// A key was written: its value comes next.
    after_key: bool,
    /// Called out of order (a key in an array, a value where a key belongs, too deep).
    misused: bool,
    scan: RawScan,
    rules: ScanRules<'s>,
}

/// An object [`ObjectWriter`] finished: see [`crate::Message::with_written_properties`].
#[derive(Debug, Clone)]
pub struct WrittenObject(pub(crate) RawObject);

impl WrittenObject {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl<'s> ObjectWriter<'s> {
    pub(crate) fn new(rules: ScanRules<'s>) -> Self {
        Self {
            out: String::with_capacity(128),
            scratch: Vec::new(),
            objects: 0,
            depth: 0,
            first: true,
            after_key: false,
            misused: false,
            scan: RawScan::default(),
            rules,
        }
    }

    fn in_object(&self) -> bool {
        self.depth > 0 && (self.objects >> (self.depth - 1)) & 1 == 1
    }

    /// Before an item of the current container (a key in an object, a value in an array).
    #[inline]
    fn item(&mut self) {
        if self.first {
            self.first = false;
            // The container is not empty: it sits at depth `self.depth - 1`.
            self.rules
                .note_container(&mut self.scan, self.depth.saturating_sub(1));
        } else {
            self.out.push(',');
        }
    }

    /// Before a value: after its key in an object, or as an item of an array; the root
    /// must be an object.
    #[inline]
    fn value(&mut self) {
        if self.after_key {
            self.after_key = false;
        } else if self.depth == 0 || self.in_object() {
            self.misused = true;
        } else {
            self.item();
        }
    }

    fn open(&mut self, object: bool, bracket: u8) {
        if self.depth == 0 && self.out.is_empty() && object {
            // The root object.
        } else {
            self.value();
        }
        if self.depth >= 128 {
            self.misused = true;
            return;
        }
        if object {
            self.objects |= 1 << self.depth;
        } else {
            self.objects &= !(1 << self.depth);
        }
        self.depth += 1;
        self.first = true;
        self.out.push(char::from(bracket));
    }

    fn close(&mut self, object: bool, bracket: u8) {
        if self.depth == 0 || self.in_object() != object || self.after_key {
            self.misused = true;
            return;
        }
        self.depth -= 1;
        self.first = false;
        self.out.push(char::from(bracket));
    }

    /// Opens an object (the root, or a value).
    pub fn begin_object(&mut self) {
        self.open(true, b'{');
    }

    /// Closes the current object.
    pub fn end_object(&mut self) {
        self.close(true, b'}');
    }

    /// Opens an array (a value).
    pub fn begin_array(&mut self) {
        self.open(false, b'[');
    }

    /// Closes the current array.
    pub fn end_array(&mut self) {
        self.close(false, b']');
    }

    /// A key of the current object; its value comes next.
    pub fn key(&mut self, key: &str) {
        if !self.in_object() || self.after_key {
            self.misused = true;
            return;
        }
        self.item();
        let escaped = self.push_str(key);
        self.rules
            .note_key(&mut self.scan, key, escaped, self.depth);
        self.out.push(':');
        self.after_key = true;
    }

    /// A string value.
    pub fn string(&mut self, s: &str) {
        self.value();
        self.push_str(s);
    }

    /// Writes `s` as a JSON string; true when it needed escapes.
    fn push_str(&mut self, s: &str) -> bool {
        if any_needs_escape(s.as_bytes()) {
            self.scratch.clear();
            write_str(s, &mut self.scratch);
            self.push_scratch();
            true
        } else {
            self.out.push('"');
            self.out.push_str(s);
            self.out.push('"');
            false
        }
    }

    /// Appends the (ASCII) text formatted in `scratch`.
    fn push_scratch(&mut self) {
        self.out
            .push_str(std::str::from_utf8(&self.scratch).unwrap_or("null"));
    }

    /// An integer value.
    pub fn int(&mut self, n: i64) {
        self.value();
        if n < 0 {
            self.out.push('-');
        }
        self.scratch.clear();
        write_u64(n.unsigned_abs(), &mut self.scratch);
        self.push_scratch();
    }

    /// An integer value above `i64::MAX`.
    pub fn uint(&mut self, n: u64) {
        self.value();
        self.scratch.clear();
        write_u64(n, &mut self.scratch);
        self.push_scratch();
    }

    /// A float as serde_json writes it (`null` when not finite).
    pub fn float(&mut self, x: f64) {
        self.value();
        self.scratch.clear();
        write_f64(x, &mut self.scratch);
        self.push_scratch();
    }

    /// `true` or `false`.
    pub fn bool(&mut self, b: bool) {
        self.value();
        self.out.push_str(if b { "true" } else { "false" });
    }

    /// `null`.
    pub fn null(&mut self) {
        self.value();
        self.out.push_str("null");
    }

    /// The object, or an error when the calls did not make one (a binding defect).
    pub fn finish(self, what: &str) -> Result<WrittenObject, Error> {
        if !(self.misused || self.depth != 0 || !self.out.starts_with('{')) {
            // Well-formed by construction, scanned as it was written.
            Ok(WrittenObject(RawObject::scanned(
                self.out,
                self.scan,
                &self.rules,
            )))
        } else {
            Err(Error::with_violations(
                ErrorKind::InvalidEvent,
                vec![Violation::new(
                    format!("/{what}"),
                    codes::INVALID_TYPE,
                    format!("{what} could not be written as a JSON object"),
                )],
            ))
        }
    }
}
