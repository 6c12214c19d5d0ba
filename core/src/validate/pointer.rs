//! A JSON pointer built while walking a document, without allocating per step.

#[derive(Debug, Default)]
pub(crate) struct PointerBuf {
    buf: String,
}

impl PointerBuf {
    pub fn new(root: &str) -> Self {
        Self {
            buf: root.to_owned(),
        }
    }

    /// Appends `/key` (escaped per RFC 6901) and returns the length to truncate back to.
    pub fn push_key(&mut self, key: &str) -> usize {
        let mark = self.buf.len();
        self.buf.push('/');
        if key.contains(['~', '/']) {
            self.buf
                .push_str(&key.replace('~', "~0").replace('/', "~1"));
        } else {
            self.buf.push_str(key);
        }
        mark
    }

    pub fn push_index(&mut self, index: usize) -> usize {
        use std::fmt::Write;
        let mark = self.buf.len();
        let _ = write!(self.buf, "/{index}");
        mark
    }

    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(mark);
    }

    pub fn as_str(&self) -> &str {
        &self.buf
    }
}
