//! The regular-expression engine behind the schema keyword `pattern`: regex-lite with the
//! `regex` feature, or one the host registers. The browser binding registers the page's
//! own `RegExp` — the ECMA-262 dialect JSON Schema specifies — and so keeps regex-lite
//! (about a tenth of the `.wasm`) out of the browser package.

use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::platform::MaybeSendSync;

/// A compiled regular expression: does `text` contain a match (unanchored, as JSON Schema
/// reads `pattern`)?
pub trait PatternMatcher: MaybeSendSync {
    /// Whether `text` contains a match.
    fn is_match(&self, text: &str) -> bool;
}

/// Compiles a pattern, or explains why it does not compile.
pub type PatternCompiler = fn(&str) -> Result<Box<dyn PatternMatcher>, String>;

static HOST_COMPILER: OnceLock<PatternCompiler> = OnceLock::new();

/// Registers the host's regular-expression engine for every schema compiled afterwards
/// (it takes precedence over regex-lite). Only the first registration counts; returns
/// whether this one did.
pub fn set_pattern_compiler(compiler: PatternCompiler) -> bool {
    HOST_COMPILER.set(compiler).is_ok()
}

/// A compiled `pattern` with its source, for messages.
#[derive(Clone)]
pub(crate) struct Pattern {
    source: String,
    matcher: Arc<dyn PatternMatcher>,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.source)
    }
}

impl Pattern {
    pub fn compile(source: &str) -> Result<Self, String> {
        let matcher = match HOST_COMPILER.get() {
            Some(compile) => compile(source)?,
            None => built_in(source)?,
        };
        Ok(Self {
            source: source.to_owned(),
            matcher: Arc::from(matcher),
        })
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.matcher.is_match(text)
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

#[cfg(feature = "regex")]
impl PatternMatcher for regex_lite::Regex {
    fn is_match(&self, text: &str) -> bool {
        regex_lite::Regex::is_match(self, text)
    }
}

#[cfg(feature = "regex")]
fn built_in(source: &str) -> Result<Box<dyn PatternMatcher>, String> {
    match regex_lite::Regex::new(source) {
        Ok(re) => Ok(Box::new(re)),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(not(feature = "regex"))]
fn built_in(_source: &str) -> Result<Box<dyn PatternMatcher>, String> {
    Err("this build has no regular-expression engine (the `regex` feature is off and the host registered none)".to_owned())
}
