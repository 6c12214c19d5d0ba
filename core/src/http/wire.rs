//! The HTTP vocabulary of [`super::Api`]: request and response values, the one error shape,
//! query strings, bounded body decoding and key checks.
//!
//! Plain owned values rather than the `http` crate's types: every binding hands over what
//! its framework parsed (method, path, query text, header pairs, body bytes) without
//! building a `HeaderMap` that could refuse a header the framework already accepted.

use std::borrow::Cow;
use std::io::Read;

use serde::Serialize;
use serde_json::{json, Value};

use crate::codes;
use crate::error::{Error, ErrorKind, Violation};

/// A request as a framework received it; `path` is relative to where the API is mounted
/// (`/v1/batch`, not `/analytics/v1/batch`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpRequest {
    /// Upper-case method.
    pub method: String,
    /// The path under the mount point, percent-encoded as received.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names (any case) and values.
    pub headers: Vec<(String, String)>,
    /// The body as received (possibly compressed; adapters stop reading one byte past
    /// [`super::Api::body_limit`]).
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_pairs(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// What the API answers.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header names and values (`content-type` included when there is a body).
    pub headers: Vec<(String, String)>,
    /// The body (JSON for every endpoint).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A JSON response.
    pub fn json(status: u16, body: &impl Serialize) -> Self {
        let body = serde_json::to_vec(body).unwrap_or_else(|_| b"null".to_vec());
        Self {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body,
        }
    }

    /// A response without a body.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The body parsed as JSON (tests and vectors).
    pub fn json_body(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// Adds headers.
    pub fn with_headers(mut self, headers: impl IntoIterator<Item = (String, String)>) -> Self {
        self.headers.extend(headers);
        self
    }
}

/// An error answer: `{"detail", "code", "violations": [{"index", "path", "code", "message"}]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Status code.
    pub status: u16,
    /// Stable code (a core error code, or `unauthorized`, `not_found`, `method_not_allowed`).
    pub code: String,
    /// What went wrong, for people.
    pub detail: String,
    /// Every violation; `index` is the item's position when one item of a request is at fault.
    pub violations: Vec<Value>,
    /// Extra headers (`WWW-Authenticate`, `Allow`, CORS).
    pub headers: Vec<(String, String)>,
}

impl Problem {
    /// A problem without violations.
    pub fn new(status: u16, code: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            detail: detail.into(),
            violations: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// A core error: 413 for size, 422 for rules and options, 503 when shut down or full,
    /// 504 for a timeout, 501 when unsupported, 500 otherwise.
    pub fn from_error(error: &Error) -> Self {
        let status = match error.kind() {
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::InvalidEvent | ErrorKind::InvalidConfig => 422,
            ErrorKind::ShutDown | ErrorKind::QueueFull | ErrorKind::StoreFailed => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::Unsupported => 501,
            _ => 500,
        };
        let mut problem = Self::new(status, error.code(), error.message());
        problem.violations = violations_at(error.violations(), None);
        problem
    }

    /// A problem with one violation of `code` at `path`.
    pub fn with_violation(status: u16, code: &str, path: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut problem = Self::new(status, code, detail.clone());
        problem.violations = violations_at(&[Violation::new(path, code, detail)], None);
        problem
    }

    /// Adds headers.
    pub fn with_headers(mut self, headers: impl IntoIterator<Item = (String, String)>) -> Self {
        self.headers.extend(headers);
        self
    }

    /// The response.
    pub fn response(self) -> HttpResponse {
        let body = json!({"detail": self.detail, "code": self.code, "violations": self.violations});
        HttpResponse::json(self.status, &body).with_headers(self.headers)
    }
}

/// Violations as the error shape lists them.
pub fn violations_at(violations: &[Violation], index: Option<usize>) -> Vec<Value> {
    violations
        .iter()
        .map(|v| json!({"index": index, "path": v.path, "code": v.code, "message": v.message}))
        .collect()
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`); invalid escapes stay
/// as written, invalid UTF-8 is replaced.
pub fn percent_decode(text: &str, plus_is_space: bool) -> String {
    fn hex(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h * 16 + l),
            _ => None,
        };
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                i += 3;
            }
            None => {
                out.push(if b == b'+' && plus_is_space { b' ' } else { b });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=x%20y` as decoded pairs, in order.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// The request body as the API reads it: refused with 413 as soon as it is known to be over
/// `limit` (declared `Content-Length`, bytes received, or bytes once inflated); `gzip`,
/// `x-gzip` and `deflate` inflated with the same bound; other encodings 415. An
/// uncompressed body is borrowed, not copied.
pub fn read_body(request: &HttpRequest, limit: usize) -> Result<Cow<'_, [u8]>, Problem> {
    if let Some(declared) = request.header("content-length") {
        if declared
            .trim()
            .parse::<u64>()
            .is_ok_and(|n| n > limit as u64)
        {
            return Err(too_large(limit));
        }
    }
    if request.body.len() > limit {
        return Err(too_large(limit));
    }
    let encoding = request
        .header("content-encoding")
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let mut inflated = Vec::new();
    let bound = limit as u64 + 1;
    let read = match encoding.as_str() {
        "" | "identity" => return Ok(Cow::Borrowed(&request.body)),
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(request.body.as_slice())
            .take(bound)
            .read_to_end(&mut inflated),
        "deflate" => flate2::read::ZlibDecoder::new(request.body.as_slice())
            .take(bound)
            .read_to_end(&mut inflated),
        other => {
            return Err(Problem::new(
                415,
                ErrorKind::Unsupported.as_str(),
                format!("content-encoding {other:?} is not supported (gzip, deflate)"),
            ))
        }
    };
    if let Err(e) = read {
        return Err(Problem::new(
            400,
            ErrorKind::InvalidEvent.as_str(),
            format!("the {encoding} body is corrupt: {e}"),
        ));
    }
    if inflated.len() > limit {
        return Err(too_large(limit));
    }
    Ok(Cow::Owned(inflated))
}

fn too_large(limit: usize) -> Problem {
    let message = format!("the body is over the {limit}-byte limit");
    let mut problem = Problem::new(413, ErrorKind::PayloadTooLarge.as_str(), message.clone());
    problem.violations =
        violations_at(&[Violation::new("", codes::BATCH_TOO_LARGE, message)], None);
    problem
}

/// Whether `given` equals one of `keys`, comparing every byte of every key (time does not
/// depend on where a guess goes wrong).
pub fn same_key(given: Option<&str>, keys: &[String]) -> bool {
    let Some(given) = given.filter(|g| !g.is_empty()) else {
        return false;
    };
    let mut found = false;
    for key in keys {
        let (a, b) = (given.as_bytes(), key.as_bytes());
        let mut diff = u8::from(a.len() != b.len());
        for (i, &expected) in b.iter().enumerate() {
            diff |= expected ^ a.get(i).copied().unwrap_or(!expected);
        }
        found |= diff == 0;
    }
    found
}

/// The admin key: `X-API-Key`, or `Authorization: Bearer <key>`.
pub fn admin_key_of(request: &HttpRequest) -> Option<String> {
    if let Some(key) = request.header("x-api-key").filter(|k| !k.is_empty()) {
        return Some(key.to_owned());
    }
    let (scheme, credentials) = request.header("authorization")?.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim().to_owned())
}

/// A write key as Segment SDKs send it (HTTP basic auth, the key as user name), or in an
/// `X-Write-Key` header, or a `writeKey` query parameter (`sendBeacon` cannot set headers).
pub fn write_key_of(request: &HttpRequest) -> Option<String> {
    if let Some((scheme, credentials)) = request
        .header("authorization")
        .and_then(|a| a.split_once(' '))
    {
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64_decode(credentials.trim())?;
            let text = String::from_utf8(decoded).ok()?;
            return Some(
                text.split_once(':')
                    .map_or(text.clone(), |(u, _)| u.to_owned()),
            );
        }
    }
    request
        .header("x-write-key")
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .or_else(|| request.query_param("writeKey"))
}

/// Standard base64 with padding; `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || chunk[..4 - pad].contains(&b'=') {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let [_, a, b, c] = n.to_be_bytes();
        out.extend_from_slice(&[a, b, c][..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries_and_paths() {
        assert_eq!(percent_decode("a%20b+c", true), "a b c");
        assert_eq!(percent_decode("a%20b+c", false), "a b+c");
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
        assert_eq!(
            query_pairs("limit=5&properties=%7B%22a%22%3A1%7D&x"),
            vec![
                ("limit".into(), "5".into()),
                ("properties".into(), "{\"a\":1}".into()),
                ("x".into(), String::new())
            ]
        );
    }

    #[test]
    fn base64_and_keys() {
        assert_eq!(base64_decode("d3JpdGU6").as_deref(), Some(&b"write:"[..]));
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("Y=Q="), None);
        let keys = vec!["secret".to_owned()];
        assert!(same_key(Some("secret"), &keys));
        assert!(!same_key(Some("secre"), &keys));
        assert!(!same_key(Some("secret!"), &keys));
        assert!(!same_key(Some(""), &keys));
        assert!(!same_key(None, &keys));
    }
}
