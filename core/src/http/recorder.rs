//! [`RequestRecorder`]: every decision a server middleware makes about a request, once.
//! Middlewares keep only their framework's hooks and clocks: they ask [`RequestRecorder::excludes`]
//! before timing, then hand the facts they observed to [`RequestRecorder::record`].

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use serde_json::Value;

use super::options;
use crate::address::{anonymize, client_address, TrustedProxies};
use crate::config::IpPolicy;
use crate::error::Result;
use crate::event::reserved::{ApiRequest, ErrorEvent};
use crate::ids::stable_hash;
use crate::pipeline::{Disposition, Sonde};

/// The route of a request no route template matched (one bucket, so raw paths never become
/// statistics keys).
pub const UNMATCHED: &str = "__unmatched__";

/// Longest `error.message` kept from an exception.
pub const MAX_ERROR_MESSAGE: usize = 1_000;
/// Longest `error.stack` kept from an exception.
pub const MAX_ERROR_STACK: usize = 8_000;

/// The recorder's option names (snake_case; JS bindings pass camelCase).
pub const RECORDER_OPTION_NAMES: &[&str] = &[
    "exclude_paths",
    "exclude_methods",
    "request_sample_rate",
    "trust_forwarded",
    "trusted_proxies",
    "process_time_header",
];

/// An exception the request ended with.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestError {
    /// Exception class (`LookupError`, `TypeError`).
    #[serde(rename = "type")]
    pub type_name: String,
    /// Its message.
    #[serde(default)]
    pub message: String,
    /// Its stack trace, when the runtime has one worth keeping.
    #[serde(default)]
    pub stack: Option<String>,
}

impl RequestError {
    /// An error from what a binding received separately: none without a type.
    pub fn from_parts(
        type_name: Option<String>,
        message: Option<String>,
        stack: Option<String>,
    ) -> Option<Self> {
        type_name.map(|type_name| Self {
            type_name,
            message: message.unwrap_or_default(),
            stack,
        })
    }
}

/// What a middleware observed about one request. JSON field names are camelCase.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestFacts {
    /// HTTP method.
    pub method: String,
    /// The raw path, without the query string.
    pub path: String,
    /// The route template the framework matched; `None` or empty for no match.
    #[serde(default)]
    pub route: Option<String>,
    /// The status sent; `None` when no response started (an exception escaped: 500, or the
    /// client went away: 499).
    #[serde(default)]
    pub status_code: Option<u16>,
    /// From the request's arrival to the last response body byte, in milliseconds.
    pub duration_ms: f64,
    /// Time to the first response byte, in milliseconds.
    #[serde(default)]
    pub ttfb_ms: Option<f64>,
    /// The connection's peer address.
    #[serde(default)]
    pub peer_address: Option<String>,
    /// The `Forwarded` header (RFC 7239).
    #[serde(default)]
    pub forwarded: Option<String>,
    /// The `X-Forwarded-For` header.
    #[serde(default)]
    pub x_forwarded_for: Option<String>,
    /// The `User-Agent` header.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Request body bytes actually received.
    #[serde(default)]
    pub request_body_bytes: Option<u64>,
    /// Response body bytes actually sent.
    #[serde(default)]
    pub response_body_bytes: Option<u64>,
    /// The exception the request ended with.
    #[serde(default)]
    pub error: Option<RequestError>,
    /// The client closed the connection before the response finished.
    #[serde(default)]
    pub aborted: bool,
    /// The user the request was made by, from the middleware's `identify` hook; without one
    /// the events are personless where the client requires a person.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// What [`RequestRecorder::record`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The `$api_request` event's id, when the request was sampled in and accepted.
    pub request_event: Option<String>,
    /// The `$error` event's id, when the request ended with an exception.
    pub error_event: Option<String>,
    /// The status recorded.
    pub status_code: u16,
}

/// Exclusion, sampling, client address, route, status and error rules for requests.
#[derive(Debug)]
pub struct RequestRecorder {
    /// Patterns without regular-expression syntax, tested as plain prefixes (the common
    /// case, `re.escape`d mount points included): no regex engine run per request.
    excluded_prefixes: Vec<String>,
    excluded_paths: Option<regex_lite::Regex>,
    excluded_methods: Vec<String>,
    request_sample_rate: f64,
    trusted: TrustedProxies,
    process_time_header: bool,
    sequence: AtomicU64,
}

impl Default for RequestRecorder {
    fn default() -> Self {
        Self {
            excluded_prefixes: Vec::new(),
            excluded_paths: None,
            excluded_methods: vec!["OPTIONS".to_owned()],
            request_sample_rate: 1.0,
            trusted: TrustedProxies::None,
            process_time_header: false,
            sequence: AtomicU64::new(0),
        }
    }
}

impl RequestRecorder {
    /// A recorder from options ([`RECORDER_OPTION_NAMES`]; `null` means the default):
    ///
    /// - `exclude_paths`: regular expressions; a request is excluded when one matches at
    ///   the **start** of its path (`/health` excludes `/health` and `/healthz`; end with `$`
    ///   for an exact path).
    /// - `exclude_methods` (default `["OPTIONS"]`), case-insensitive.
    /// - `request_sample_rate` (0 to 1, default 1): the share of requests recorded as
    ///   `$api_request` events, chosen deterministically; route statistics count every
    ///   request. (The client's own `sample_rate` thins every event.)
    ///
    /// What is recorded of the client's address is the client's `ip_policy` (`keep`,
    /// `anonymize`, `drop`): one option for `context.ip` and `client.address`.
    /// - `trusted_proxies`: how many proxies in front of the app to believe (the client is
    ///   the rightmost forwarded hop that is not one of them); `trust_forwarded: true`
    ///   believes every hop (the leftmost is the client).
    /// - `process_time_header`: whether the middleware adds `X-Process-Time`.
    ///
    /// Every bad option is reported at once (`invalid_config`, code `invalid_option`).
    pub fn from_options(options: &Value) -> Result<Self> {
        let map = options::object(options)?;
        let mut recorder = Self::default();
        let mut problems = Vec::new();
        let mut trust_all = false;
        let mut proxies = 0usize;
        for (key, value) in &map {
            if value.is_null() {
                continue;
            }
            match key.as_str() {
                "exclude_paths" => {
                    let mut patterns = options::strings(key, value, &mut problems);
                    patterns.retain(|p| match literal_prefix(p) {
                        Some(prefix) => {
                            recorder.excluded_prefixes.push(prefix);
                            false
                        }
                        None => true,
                    });
                    if !patterns.is_empty() {
                        let joined = patterns
                            .iter()
                            .map(|p| format!("^(?:{p})"))
                            .collect::<Vec<_>>()
                            .join("|");
                        match regex_lite::Regex::new(&joined) {
                            Ok(re) => recorder.excluded_paths = Some(re),
                            Err(e) => problems.push(options::problem(
                                key,
                                format!("exclude_paths has a bad regular expression: {e}"),
                            )),
                        }
                    }
                }
                "exclude_methods" => {
                    recorder.excluded_methods = options::strings(key, value, &mut problems)
                        .iter()
                        .map(|m| m.to_ascii_uppercase())
                        .collect();
                }
                "request_sample_rate" => match value.as_f64() {
                    Some(rate) if (0.0..=1.0).contains(&rate) => {
                        recorder.request_sample_rate = rate
                    }
                    _ => problems.push(options::problem(
                        key,
                        format!("request_sample_rate must be between 0 and 1, got {value}"),
                    )),
                },
                "sample_rate" | "client_address" => problems.push(options::problem(
                    key,
                    if key == "sample_rate" {
                        "the share of requests recorded as events is request_sample_rate (sample_rate is the client's, for every event)".to_owned()
                    } else {
                        "what is recorded of client addresses is the client's ip_policy (\"keep\", \"anonymize\" or \"drop\")".to_owned()
                    },
                )),
                "trust_forwarded" => trust_all = options::flag(key, value, false, &mut problems),
                "trusted_proxies" => match value.as_u64() {
                    Some(n) => proxies = usize::try_from(n).unwrap_or(usize::MAX),
                    None => problems.push(options::problem(
                        key,
                        format!("trusted_proxies must be a whole number of proxies, got {value}"),
                    )),
                },
                "process_time_header" => {
                    recorder.process_time_header = options::flag(key, value, false, &mut problems);
                }
                _ => problems.push(options::problem(
                    key,
                    format!(
                        "unknown request option {key:?} (known: {})",
                        RECORDER_OPTION_NAMES.join(", ")
                    ),
                )),
            }
        }
        recorder.trusted = match (trust_all, proxies) {
            (true, _) => TrustedProxies::All,
            (false, 0) => TrustedProxies::None,
            (false, n) => TrustedProxies::Count(n),
        };
        options::finish(recorder, problems)
    }

    /// Whether a request is left alone (not timed, not counted).
    pub fn excludes(&self, method: &str, path: &str) -> bool {
        self.excluded_methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(method))
            || self
                .excluded_prefixes
                .iter()
                .any(|p| path.starts_with(p.as_str()))
            || self
                .excluded_paths
                .as_ref()
                .is_some_and(|re| re.is_match(path))
    }

    /// Whether the middleware adds `X-Process-Time` (seconds, when the response starts).
    pub fn process_time_header(&self) -> bool {
        self.process_time_header
    }

    /// The client address as the client's `ip_policy` allows it to be recorded. `keep`
    /// without trusted proxies keeps the peer as the server reported it (a Unix socket or
    /// test client name included); forwarded hops and anonymized addresses must parse as IP
    /// addresses.
    pub fn client_of(&self, facts: &RequestFacts, policy: IpPolicy) -> Option<String> {
        match policy {
            IpPolicy::Drop => None,
            IpPolicy::Keep if self.trusted.ignores_forwarding() => facts.peer_address.clone(),
            policy => {
                let ip = client_address(
                    facts.peer_address.as_deref(),
                    facts.forwarded.as_deref(),
                    facts.x_forwarded_for.as_deref(),
                    self.trusted,
                )?;
                let ip: IpAddr = if policy == IpPolicy::Anonymize {
                    anonymize(ip)
                } else {
                    ip
                };
                Some(ip.to_string())
            }
        }
    }

    /// Deterministic: the n-th request of this recorder is in the sample when its hash
    /// falls under the rate, so a rate of 0.1 keeps about one request in ten, spread evenly
    /// and the same on every run.
    fn sampled_in(&self) -> bool {
        if self.request_sample_rate >= 1.0 {
            return true;
        }
        if self.request_sample_rate <= 0.0 {
            return false;
        }
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let position = stable_hash(&n.to_le_bytes()) as f64 / 18_446_744_073_709_551_616.0;
        position < self.request_sample_rate
    }

    /// Records one finished request: an `$error` event if it ended with an exception, an
    /// `$api_request` event if it is sampled in, and route statistics always. Never fails:
    /// instrumentation must not break the response it observes.
    pub fn record(&self, sonde: &Sonde, facts: RequestFacts) -> Recorded {
        self.record_with(sonde, facts, |_| {})
    }

    /// [`Self::record`], with the details only an event needs (user agent, forwarding
    /// headers) filled in by `details` only when the request is sampled in: a host that must
    /// convert them (Python's header list) skips that work for requests sampled out.
    pub fn record_with(
        &self,
        sonde: &Sonde,
        mut facts: RequestFacts,
        details: impl FnOnce(&mut RequestFacts),
    ) -> Recorded {
        let route = match facts.route.take() {
            Some(r) if !r.is_empty() => r,
            _ => UNMATCHED.to_owned(),
        };
        let status_code = facts
            .status_code
            .unwrap_or(if facts.aborted && facts.error.is_none() {
                499
            } else {
                500
            });
        let mut recorded = Recorded {
            status_code,
            ..Recorded::default()
        };
        if let Some(error) = &facts.error {
            let mut event = ErrorEvent::new(
                error.type_name.as_str(),
                truncated(&error.message, MAX_ERROR_MESSAGE),
            );
            event.stack = error
                .stack
                .as_deref()
                .map(|s| truncated(s, MAX_ERROR_STACK).to_owned());
            event.route = Some(route.clone());
            let message = by_user(event.into_message(), &facts.user_id);
            recorded.error_event = sonde.send(message).ok().map(|r| r.message_id);
        }
        let error_type = match (&facts.error, facts.aborted) {
            (Some(e), _) => Some(e.type_name.clone()),
            (None, true) => Some("ClientAborted".to_owned()),
            (None, false) => None,
        };
        if self.sampled_in() {
            details(&mut facts);
            let request = ApiRequest {
                method: facts.method.clone(),
                route: route.clone(),
                status_code,
                duration_ms: facts.duration_ms,
                path: Some(std::mem::take(&mut facts.path)),
                client_address: self.client_of(&facts, sonde.ip_policy()),
                user_agent: facts.user_agent.take(),
                request_body_size: facts.request_body_bytes,
                response_body_size: facts.response_body_bytes,
                error_type,
                ttfb_ms: facts.ttfb_ms,
            };
            let message = by_user(request.into_message(), &facts.user_id);
            match sonde.send(message) {
                Ok(receipt)
                    if !matches!(
                        receipt.disposition,
                        Disposition::Sampled | Disposition::Filtered
                    ) =>
                {
                    recorded.request_event = Some(receipt.message_id);
                    return recorded;
                }
                // Dropped before statistics (sampled by the client, filtered, invalid or
                // shut down): the route still counts the request below.
                _ => {}
            }
        }
        sonde.record_request(&facts.method, &route, status_code, facts.duration_ms);
        recorded
    }
}

/// An event made by the request's user, when the middleware knows who that is.
fn by_user(message: crate::event::Message, user_id: &Option<String>) -> crate::event::Message {
    match user_id {
        Some(user) if !user.is_empty() => message.with_user_id(user.clone()),
        _ => message,
    }
}

/// The text a pattern matches when it has no regular-expression syntax (backslash-escaped
/// punctuation allowed, as `re.escape` writes it); `None` otherwise.
fn literal_prefix(pattern: &str) -> Option<String> {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => out.push(e),
                _ => return None,
            },
            '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => {
                return None
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

/// `text` cut to at most `max` bytes on a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns_skip_the_regex_engine() {
        assert_eq!(
            literal_prefix("/analytics/").as_deref(),
            Some("/analytics/")
        );
        assert_eq!(
            literal_prefix(r"/static\.v2/").as_deref(),
            Some("/static.v2/")
        );
        assert_eq!(literal_prefix("/health$"), None);
        assert_eq!(literal_prefix(r"/items/\d+"), None);
        let r = RequestRecorder::from_options(&serde_json::json!({
            "exclude_paths": ["/analytics/", "/health$"]
        }))
        .unwrap();
        assert_eq!(r.excluded_prefixes, vec!["/analytics/".to_owned()]);
        assert!(r.excludes("GET", "/analytics/v1/batch"));
        assert!(r.excludes("GET", "/health"));
        assert!(!r.excludes("GET", "/healthz"));
        assert!(!r.excludes("GET", "/api/analytics/"));
    }
}
