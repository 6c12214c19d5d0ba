//! [`Api`]: the analytics endpoints and the Segment-compatible collector as one request →
//! response function. FastAPI, Express/Fastify/`node:http` and any other host adapt their
//! framework to it and add nothing else.
//!
//! | method | path | who |
//! | --- | --- | --- |
//! | POST | `/track`, `/batch-track`, `/v1/batch`, `/v1/{track,page,screen,identify,group,alias}` | write key, if any are set |
//! | OPTIONS | the ingestion paths | CORS preflight |
//! | GET | `/health` | anyone: the status alone; the details with the admin key (or to anyone when `protect_reads` is off) |
//! | GET | `/performance`, `/statistics`, `/events`, `/events/{id}` | admin key, unless `protect_reads` is off |
//! | GET | `/config` | admin key |
//! | PUT | `/config` | admin key |
//! | PATCH, DELETE | `/events/{id}` | admin key |
//! | POST | `/flush` | admin key |

use std::borrow::Cow;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::options;
use super::wire::{
    admin_key_of, percent_decode, query_pairs, read_body, same_key, violations_at, write_key_of,
    HttpRequest, HttpResponse, Problem,
};
use crate::codes::INVALID_QUERY;
use crate::error::{ErrorKind, Result};
use crate::event::{MessageType, Properties, Timestamp};
use crate::pipeline::{IngestReport, ItemStatus, Sonde};
use crate::stats::ExpositionFormat;
use crate::store::{Bucket, EventQuery, Store, TimeRange};

/// The API's option names.
pub const API_OPTION_NAMES: &[&str] = &[
    "api_key",
    "write_keys",
    "protect_reads",
    "allow_unauthenticated",
    "cors_origins",
    "max_body_bytes",
    "metrics_token",
    "open_metrics",
];

/// Query parameters `/events` passes to the store as they are.
const QUERY_KEYS: &[&str] = &[
    "type",
    "event",
    "event_prefix",
    "user_id",
    "anonymous_id",
    "session_id",
    "from",
    "to",
    "order",
    "cursor",
];

/// Longest wait `/flush` accepts, in seconds.
const MAX_FLUSH_SECONDS: f64 = 60.0;

/// What the host runtime provides to the API: its client, its store, and the two things
/// only the host can do (show and change its options).
pub trait ApiHost {
    /// The client events go to (the current one, if the host rebuilds it).
    fn sonde(&self) -> &Sonde;
    /// The store, if the client has one.
    fn store(&self) -> Option<&dyn Store>;
    /// The core options in force, as the host shows them.
    fn options(&self) -> Value;
    /// Applies option changes (`null` removes one); refused with every violation.
    fn reconfigure(&self, changes: &Map<String, Value>) -> Result<()>;
}

/// The analytics API. Cheap to share: it holds only its options.
#[derive(Debug, Clone)]
pub struct Api {
    admin_keys: Vec<String>,
    write_keys: Vec<String>,
    protect_reads: bool,
    cors_origins: Vec<String>,
    max_body_bytes: Option<usize>,
    /// Tokens that may read `/metrics` only (a scraper's, not an admin's).
    metrics_tokens: Vec<String>,
    /// `/metrics` without any key.
    open_metrics: bool,
    started: Instant,
}

/// Whether a route does only bounded CPU work (validate and enqueue) and may run on the
/// host's event loop; everything else reads the store, waits, or samples the host.
pub fn runs_inline(method: &str, path: &str) -> bool {
    method.eq_ignore_ascii_case("POST") && ingest_kind(path).is_some()
        || method.eq_ignore_ascii_case("OPTIONS")
}

/// [`runs_inline`] for this client: ingestion too leaves the event loop when a full buffer
/// can make it wait (overflow policy `block`).
pub fn runs_inline_for(sonde: &Sonde, method: &str, path: &str) -> bool {
    if sonde.sends_may_wait() {
        method.eq_ignore_ascii_case("OPTIONS")
    } else {
        runs_inline(method, path)
    }
}

/// Whether `path` (under the mount point) is one of the API's endpoints: hosts that share a
/// path space with an application pass other paths on instead of answering 404.
pub fn serves(path: &str) -> bool {
    ingest_kind(path).is_some()
        || path
            .strip_prefix("/events/")
            .is_some_and(|id| !id.is_empty())
        || matches!(
            path,
            "/health"
                | "/performance"
                | "/statistics"
                | "/config"
                | "/events"
                | "/flush"
                | "/metrics"
                | "/alerts"
                | "/dashboard"
        )
}

/// For an ingestion path: the default message type (`None` for `/v1/batch`, which requires
/// each item's own).
fn ingest_kind(path: &str) -> Option<Option<MessageType>> {
    match path {
        "/track" | "/batch-track" => Some(Some(MessageType::Track)),
        "/v1/batch" => Some(None),
        _ => path
            .strip_prefix("/v1/")
            .and_then(MessageType::parse)
            .map(Some),
    }
}

impl Api {
    /// An API from options ([`API_OPTION_NAMES`]):
    ///
    /// - `api_key`: one key or a list, for management endpoints (`X-API-Key` or
    ///   `Authorization: Bearer`). Required unless `allow_unauthenticated` is true.
    /// - `write_keys`: when given, ingestion needs one (basic auth user as Segment SDKs send
    ///   it, `X-Write-Key`, or `?writeKey=`).
    /// - `protect_reads` (default true): event reads need the admin key too.
    /// - `cors_origins`: origins (or `"*"`) allowed to post from browsers.
    /// - `max_body_bytes`: request body limit (default: the client's batch limit).
    /// - `metrics_token`: one token or a list that may read `/metrics` and nothing else (a
    ///   scraper's `Authorization: Bearer`); the admin key reads it too.
    /// - `open_metrics` (default false): `/metrics` without any key.
    pub fn new(options: &Value) -> Result<Self> {
        let map = options::object(options)?;
        let mut problems = Vec::new();
        let mut api = Self {
            admin_keys: Vec::new(),
            write_keys: Vec::new(),
            protect_reads: true,
            cors_origins: Vec::new(),
            max_body_bytes: None,
            metrics_tokens: Vec::new(),
            open_metrics: false,
            started: Instant::now(),
        };
        let mut allow_unauthenticated = false;
        for (key, value) in &map {
            match key.as_str() {
                "api_key" => api.admin_keys = options::strings(key, value, &mut problems),
                "write_keys" => api.write_keys = options::strings(key, value, &mut problems),
                "cors_origins" => api.cors_origins = options::strings(key, value, &mut problems),
                "metrics_token" => {
                    api.metrics_tokens = options::strings(key, value, &mut problems);
                }
                "open_metrics" => {
                    api.open_metrics = options::flag(key, value, false, &mut problems);
                }
                "protect_reads" => {
                    api.protect_reads = options::flag(key, value, true, &mut problems);
                }
                "allow_unauthenticated" => {
                    allow_unauthenticated = options::flag(key, value, false, &mut problems);
                }
                "max_body_bytes" => match value {
                    Value::Null => {}
                    _ => match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
                        Some(n) if n > 0 => api.max_body_bytes = Some(n),
                        _ => problems.push(options::problem(
                            key,
                            format!("{key} must be a positive number of bytes, got {value}"),
                        )),
                    },
                },
                _ => problems.push(options::problem(
                    key,
                    format!(
                        "unknown API option {key:?} (known: {})",
                        API_OPTION_NAMES.join(", ")
                    ),
                )),
            }
        }
        api.write_keys.retain(|k| !k.is_empty());
        api.admin_keys.retain(|k| !k.is_empty());
        api.metrics_tokens.retain(|k| !k.is_empty());
        if api.admin_keys.is_empty()
            && !allow_unauthenticated
            && !problems.iter().any(|p| p.path == "/api_key")
        {
            problems.push(options::problem(
                "api_key",
                "the analytics API exposes management endpoints: pass api_key (or \
                 allow_unauthenticated for local development)",
            ));
        }
        options::finish(api, problems)
    }

    /// The body limit in bytes: adapters stop reading one byte past it.
    pub fn body_limit(&self, sonde: &Sonde) -> usize {
        self.max_body_bytes
            .unwrap_or_else(|| sonde.validator().limits().max_batch_bytes)
    }

    /// Answers one request. Never fails: every error is a response in the one error shape.
    pub fn handle(&self, host: &dyn ApiHost, request: &HttpRequest) -> HttpResponse {
        match self.route(host, request) {
            Ok(response) => response,
            Err(problem) => problem.response(),
        }
    }

    fn route(&self, host: &dyn ApiHost, request: &HttpRequest) -> Result<HttpResponse, Problem> {
        let method = request.method.to_ascii_uppercase();
        let path = request.path.as_str();
        if let Some(kind) = ingest_kind(path) {
            return match method.as_str() {
                // Every ingestion path but the two batch ones takes one message.
                "POST" => {
                    let single = !matches!(path, "/batch-track" | "/v1/batch");
                    self.ingest(host, request, kind, single)
                }
                "OPTIONS" => Ok(self.preflight(request)),
                _ => Err(not_allowed("POST, OPTIONS")),
            };
        }
        if let Some(id) = path.strip_prefix("/events/").filter(|id| !id.is_empty()) {
            let id = percent_decode(id, false);
            return match method.as_str() {
                "GET" => self.get_event(host, request, &id),
                "PATCH" => self.patch_event(host, request, &id),
                "DELETE" => self.delete_event(host, request, &id),
                _ => Err(not_allowed("GET, PATCH, DELETE")),
            };
        }
        match (path, method.as_str()) {
            ("/health", "GET") => {
                let detailed = self.require_reader(request).is_ok();
                Ok(self.health(host, detailed))
            }
            ("/performance", "GET") => {
                self.require_reader(request)?;
                performance(host)
            }
            ("/statistics", "GET") => {
                self.require_reader(request)?;
                statistics(host, request)
            }
            ("/metrics", "GET") => {
                self.require_metrics_reader(request)?;
                metrics(host, request)
            }
            ("/alerts", "GET") => {
                self.require_reader(request)?;
                alerts(host, request)
            }
            // The page is public; everything it shows comes from endpoints that need the key.
            ("/dashboard", "GET") => Ok(dashboard()),
            ("/config", "GET") => {
                // Store path, tracking plan, alert rules and redaction keys: for operators.
                self.require_admin(request)?;
                Ok(config_view(host))
            }
            ("/config", "PUT") => self.put_config(host, request),
            ("/events", "GET") => self.list_events(host, request),
            ("/flush", "POST") => self.flush(host, request),
            (
                "/health" | "/performance" | "/statistics" | "/events" | "/metrics" | "/alerts"
                | "/dashboard",
                _,
            ) => Err(not_allowed("GET")),
            ("/config", _) => Err(not_allowed("GET, PUT")),
            ("/flush", _) => Err(not_allowed("POST")),
            _ => Err(Problem::new(
                404,
                "not_found",
                format!("no analytics endpoint at {path}"),
            )),
        }
    }

    fn cors(&self, request: &HttpRequest) -> Vec<(String, String)> {
        match request.header("origin") {
            Some(origin)
                if self
                    .cors_origins
                    .iter()
                    .any(|o| o == "*" || o.as_str() == origin) =>
            {
                vec![
                    ("access-control-allow-origin".to_owned(), origin.to_owned()),
                    ("vary".to_owned(), "Origin".to_owned()),
                ]
            }
            _ => Vec::new(),
        }
    }

    fn preflight(&self, request: &HttpRequest) -> HttpResponse {
        if self.cors_origins.is_empty() {
            return not_allowed("POST").response();
        }
        let headers = self.cors(request);
        if headers.is_empty() {
            return HttpResponse::empty(403);
        }
        HttpResponse::empty(204)
            .with_headers(headers)
            .with_headers([
                (
                    "access-control-allow-methods".to_owned(),
                    "POST, OPTIONS".to_owned(),
                ),
                (
                    "access-control-allow-headers".to_owned(),
                    "authorization, content-type, content-encoding, x-write-key".to_owned(),
                ),
                ("access-control-max-age".to_owned(), "86400".to_owned()),
            ])
    }

    fn require_admin(&self, request: &HttpRequest) -> Result<(), Problem> {
        if self.admin_keys.is_empty()
            || same_key(admin_key_of(request).as_deref(), &self.admin_keys)
        {
            return Ok(());
        }
        Err(Problem::new(
            401,
            "unauthorized",
            "a valid API key is required (X-API-Key or Authorization: Bearer)",
        )
        .with_headers([("www-authenticate".to_owned(), "Bearer".to_owned())]))
    }

    /// `/metrics`: open with `open_metrics`, else a metrics token or the admin key.
    fn require_metrics_reader(&self, request: &HttpRequest) -> Result<(), Problem> {
        if self.open_metrics
            || (!self.metrics_tokens.is_empty()
                && same_key(admin_key_of(request).as_deref(), &self.metrics_tokens))
        {
            return Ok(());
        }
        self.require_admin(request)
    }

    fn require_reader(&self, request: &HttpRequest) -> Result<(), Problem> {
        if self.protect_reads {
            self.require_admin(request)
        } else {
            Ok(())
        }
    }

    fn ingest(
        &self,
        host: &dyn ApiHost,
        request: &HttpRequest,
        kind: Option<MessageType>,
        single: bool,
    ) -> Result<HttpResponse, Problem> {
        let cors = self.cors(request);
        if !self.write_keys.is_empty()
            && !same_key(write_key_of(request).as_deref(), &self.write_keys)
        {
            return Err(Problem::new(
                401,
                "unauthorized",
                "a valid write key is required (basic auth user, X-Write-Key or ?writeKey=)",
            )
            .with_headers([(
                "www-authenticate".to_owned(),
                "Basic realm=\"sonde\"".to_owned(),
            )])
            .with_headers(cors));
        }
        let sonde = host.sonde();
        let mut body =
            read_body(request, self.body_limit(sonde)).map_err(|p| p.with_headers(cors.clone()))?;
        if body.first() == Some(&b'[') {
            // A bare JSON array is a batch.
            let mut wrapped = b"{\"batch\":".to_vec();
            wrapped.extend_from_slice(&body);
            wrapped.push(b'}');
            body = Cow::Owned(wrapped);
        }
        let ingested = sonde.collect(&body, kind);
        let report = ingested.map_err(|e| Problem::from_error(&e).with_headers(cors.clone()))?;
        if single {
            if let [item] = report.items.as_slice() {
                return single_answer(item, cors);
            }
        }
        Ok(batch_answer(&report).with_headers(cors))
    }

    /// Up, degraded or shut down; with `detailed`, the counters, the store and the alerts
    /// behind that (which an anonymous caller has no business reading).
    fn health(&self, host: &dyn ApiHost, detailed: bool) -> HttpResponse {
        let sonde = host.sonde();
        let stats = sonde.stats();
        let counters = &stats.counters;
        let dropped = counters.dropped.total();
        let checked = host.store().map(|store| {
            let probe = store.query(&EventQuery {
                limit: 1,
                ..EventQuery::default()
            });
            (store.location(), probe.err())
        });
        let store_ok = checked
            .as_ref()
            .is_none_or(|(_, failure)| failure.is_none());
        let store = checked.map(|(path, failure)| match failure {
            None => json!({"path": path, "ok": true}),
            Some(e) => json!({"path": path, "ok": false, "error": e.message()}),
        });
        let firing = sonde.alerts().len();
        let status = if sonde.is_shut_down() {
            "shut_down"
        } else if !store_ok || firing > 0 {
            "degraded"
        } else {
            "ok"
        };
        let code = if status == "shut_down" { 503 } else { 200 };
        if !detailed {
            return HttpResponse::json(code, &json!({"status": status}));
        }
        let uptime = (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        let body = json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": uptime,
            "queued": counters.queued,
            "delivered": counters.delivered,
            "dropped": dropped,
            "store": store,
            "alerts_firing": firing,
        });
        HttpResponse::json(code, &body)
    }

    fn put_config(
        &self,
        host: &dyn ApiHost,
        request: &HttpRequest,
    ) -> Result<HttpResponse, Problem> {
        self.require_admin(request)?;
        let body = read_body(request, self.body_limit(host.sonde()))?;
        let changes: Value = serde_json::from_slice(&body).map_err(|e| {
            Problem::with_violation(
                422,
                "invalid_config",
                "",
                format!("the body is not JSON: {e}"),
            )
        })?;
        let Value::Object(changes) = changes else {
            return Err(Problem::with_violation(
                422,
                "invalid_config",
                "",
                "the body must be a JSON object of options",
            ));
        };
        host.reconfigure(&changes)
            .map_err(|e| Problem::from_error(&e))?;
        Ok(config_view(host))
    }

    fn list_events(
        &self,
        host: &dyn ApiHost,
        request: &HttpRequest,
    ) -> Result<HttpResponse, Problem> {
        self.require_reader(request)?;
        let mut filters = Map::new();
        filters.insert("limit".to_owned(), json!(50));
        for (key, value) in query_pairs(&request.query) {
            if value.is_empty() {
                continue;
            }
            let key = key.as_str();
            if QUERY_KEYS.contains(&key) {
                filters.insert(key.to_owned(), Value::String(value));
            } else if key == "limit" {
                let limit = value
                    .parse::<u64>()
                    .map_or(Value::String(value), |n| json!(n));
                filters.insert("limit".to_owned(), limit);
            } else if key == "with_total" {
                filters.insert("with_total".to_owned(), query_flag(key, &value)?);
            } else if key == "properties" {
                let parsed: Value = serde_json::from_str(&value).map_err(|e| {
                    Problem::with_violation(
                        422,
                        INVALID_QUERY,
                        "/properties",
                        format!("properties must be a JSON object: {e}"),
                    )
                })?;
                filters.insert("properties".to_owned(), parsed);
            }
        }
        let query =
            EventQuery::from_value(&Value::Object(filters)).map_err(|e| Problem::from_error(&e))?;
        let page = store_of(host)?
            .query(&query)
            .map_err(|e| Problem::from_error(&e))?;
        Ok(HttpResponse::json(200, &page))
    }

    fn get_event(
        &self,
        host: &dyn ApiHost,
        request: &HttpRequest,
        id: &str,
    ) -> Result<HttpResponse, Problem> {
        self.require_reader(request)?;
        found(store_of(host)?.get(id), id)
    }

    fn patch_event(
        &self,
        host: &dyn ApiHost,
        request: &HttpRequest,
        id: &str,
    ) -> Result<HttpResponse, Problem> {
        self.require_admin(request)?;
        let sonde = host.sonde();
        let body = read_body(request, self.body_limit(sonde))?;
        let (properties, replace) = event_patch(&body)?;
        let updated = sonde.update_stored(store_of(host)?, id, &properties, replace);
        found(updated, id)
    }

    fn delete_event(
        &self,
        host: &dyn ApiHost,
        request: &HttpRequest,
        id: &str,
    ) -> Result<HttpResponse, Problem> {
        self.require_admin(request)?;
        if store_of(host)?
            .delete(id)
            .map_err(|e| Problem::from_error(&e))?
        {
            Ok(HttpResponse::json(
                200,
                &json!({"deleted": true, "message_id": id}),
            ))
        } else {
            Err(missing(id))
        }
    }

    fn flush(&self, host: &dyn ApiHost, request: &HttpRequest) -> Result<HttpResponse, Problem> {
        self.require_admin(request)?;
        let seconds = match request.query_param("timeout") {
            None => 5.0,
            Some(text) => match text.parse::<f64>() {
                Ok(s) if (0.0..=MAX_FLUSH_SECONDS).contains(&s) => s,
                _ => {
                    return Err(Problem::with_violation(
                        422,
                        INVALID_QUERY,
                        "/timeout",
                        format!("timeout must be 0 to {MAX_FLUSH_SECONDS} seconds, got {text:?}"),
                    ))
                }
            },
        };
        host.sonde()
            .flush(Duration::from_secs_f64(seconds))
            .map_err(|e| Problem::from_error(&e))?;
        Ok(HttpResponse::json(200, &json!({"status": "flushed"})))
    }
}

fn not_allowed(allow: &str) -> Problem {
    Problem::new(
        405,
        "method_not_allowed",
        format!("this endpoint answers {allow}"),
    )
    .with_headers([("allow".to_owned(), allow.to_owned())])
}

/// A stored event as the answer, 404 when there is none with this id.
fn found(lookup: Result<Option<Value>>, id: &str) -> Result<HttpResponse, Problem> {
    match lookup.map_err(|e| Problem::from_error(&e))? {
        Some(event) => Ok(HttpResponse::json(200, &event)),
        None => Err(missing(id)),
    }
}

fn missing(id: &str) -> Problem {
    Problem::new(404, "not_found", format!("no event with messageId {id:?}"))
}

fn store_of(host: &dyn ApiHost) -> Result<&dyn Store, Problem> {
    host.store().ok_or_else(|| {
        Problem::new(
            501,
            ErrorKind::Unsupported.as_str(),
            "this client has no store: events are not kept here",
        )
    })
}

/// `true`/`false` as query strings write them (also `1`/`0`, `yes`/`no`, `on`/`off`).
fn query_flag(key: &str, value: &str) -> Result<Value, Problem> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
        "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
        _ => Err(Problem::with_violation(
            422,
            INVALID_QUERY,
            &format!("/{key}"),
            format!("{key} must be true or false, got {value:?}"),
        )),
    }
}

/// A PATCH body: `{"properties": {...}, "replace": false}` and nothing else.
fn event_patch(body: &[u8]) -> Result<(Properties, bool), Problem> {
    let bad = |message: String| {
        Problem::with_violation(
            422,
            ErrorKind::InvalidEvent.as_str(),
            "",
            format!("the body must be {{properties, replace}}: {message}"),
        )
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let Value::Object(mut doc) = value else {
        return Err(bad("not an object".to_owned()));
    };
    let replace = match doc.remove("replace") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(other) => return Err(bad(format!("replace must be true or false, got {other}"))),
    };
    let properties = match doc.remove("properties") {
        Some(Value::Object(p)) => p,
        Some(other) => return Err(bad(format!("properties must be an object, got {other}"))),
        None => return Err(bad("properties is missing".to_owned())),
    };
    if let Some(extra) = doc.keys().next() {
        return Err(bad(format!("unknown field {extra:?}")));
    }
    Ok((properties, replace))
}

fn single_answer(
    item: &crate::pipeline::IngestItem,
    cors: Vec<(String, String)>,
) -> Result<HttpResponse, Problem> {
    if item.status == ItemStatus::Rejected {
        let detail = item
            .errors
            .iter()
            .map(|v| {
                let path = if v.path.is_empty() {
                    "/"
                } else {
                    v.path.as_str()
                };
                format!("{path}: {}", v.code)
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut problem = Problem::new(
            422,
            ErrorKind::InvalidEvent.as_str(),
            format!("the event was rejected: {detail}"),
        );
        problem.violations = violations_at(&item.errors, Some(0));
        return Err(problem.with_headers(cors));
    }
    if item.status == ItemStatus::QueueFull {
        return Err(queue_full(1).with_headers(cors));
    }
    let body = json!({
        "success": true,
        "status": item.status,
        "message_id": item.message_id,
        "warnings": item.warnings,
    });
    Ok(HttpResponse::json(200, &body).with_headers(cors))
}

/// Seconds a client is asked to wait before sending again when the buffer is full.
const QUEUE_FULL_RETRY_AFTER_S: u32 = 1;

/// `503` with `Retry-After`: what Segment-protocol clients (and the browser package) retry
/// on. A full buffer is not the sender's fault, and reporting success would lose the events.
fn queue_full(count: usize) -> Problem {
    Problem::new(
        503,
        "queue_full",
        format!(
            "{count} event(s) not accepted: the buffer is full; send them again after Retry-After"
        ),
    )
    .with_headers([(
        "retry-after".to_owned(),
        QUEUE_FULL_RETRY_AFTER_S.to_string(),
    )])
}

/// The per-item report; `503` with `Retry-After` when any item met a full buffer (its
/// status says which; resending the accepted ones is harmless, `messageId` dedupes them).
fn batch_answer(report: &IngestReport) -> HttpResponse {
    let mut body = match serde_json::to_value(report) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let full = report
        .items
        .iter()
        .filter(|item| item.status == ItemStatus::QueueFull)
        .count();
    body.insert(
        "success".to_owned(),
        Value::Bool(report.rejected == 0 && full == 0),
    );
    if full == 0 {
        return HttpResponse::json(200, &body);
    }
    let problem = queue_full(full);
    body.insert("code".to_owned(), Value::String(problem.code.clone()));
    body.insert("detail".to_owned(), Value::String(problem.detail.clone()));
    HttpResponse::json(503, &body).with_headers(problem.headers)
}

/// The live statistics of every instance sharing the store (merged) and the instances.
fn live_stats(sonde: &Sonde) -> Result<(Value, Value), Problem> {
    let cluster = sonde.cluster_stats().map_err(|e| Problem::from_error(&e))?;
    Ok((
        serde_json::to_value(cluster.merged).unwrap_or(Value::Null),
        serde_json::to_value(cluster.instances).unwrap_or(Value::Null),
    ))
}

/// Most alert transitions `/alerts` returns.
const MAX_ALERT_HISTORY: usize = 1000;

/// Alerts firing now and the latest transitions, newest first (`limit`, default 50).
fn alerts(host: &dyn ApiHost, request: &HttpRequest) -> Result<HttpResponse, Problem> {
    let limit = match request.query_param("limit").filter(|l| !l.is_empty()) {
        None => 50,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_ALERT_HISTORY).contains(&n) => n,
            _ => {
                return Err(Problem::with_violation(
                    422,
                    INVALID_QUERY,
                    "/limit",
                    format!("limit must be 1 to {MAX_ALERT_HISTORY}, got {text:?}"),
                ))
            }
        },
    };
    let sonde = host.sonde();
    Ok(HttpResponse::json(
        200,
        &json!({"active": sonde.alerts(), "history": sonde.alert_history(limit)}),
    ))
}

/// The dashboard page (`http/dashboard.html`, built by `make dashboard` with uPlot from
/// npm inlined, so it needs nothing from the network).
fn dashboard() -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![
            (
                "content-type".to_owned(),
                "text/html; charset=utf-8".to_owned(),
            ),
            ("cache-control".to_owned(), "no-cache".to_owned()),
            (
                "content-security-policy".to_owned(),
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 img-src data:; connect-src 'self'; frame-ancestors 'none'"
                    .to_owned(),
            ),
        ],
        body: DASHBOARD_HTML.as_bytes().to_vec(),
    }
}

const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// The merged statistics in the Prometheus text format, or OpenMetrics when `Accept` asks.
fn metrics(host: &dyn ApiHost, request: &HttpRequest) -> Result<HttpResponse, Problem> {
    let format = ExpositionFormat::from_accept(request.header("accept"));
    let text = host
        .sonde()
        .metrics_text(format)
        .map_err(|e| Problem::from_error(&e))?;
    Ok(HttpResponse {
        status: 200,
        headers: vec![("content-type".to_owned(), format.content_type().to_owned())],
        body: text.into_bytes(),
    })
}

fn performance(host: &dyn ApiHost) -> Result<HttpResponse, Problem> {
    let sonde = host.sonde();
    let (mut stats, instances) = live_stats(sonde)?;
    let system = system_metrics(sonde);
    let body = json!({
        "routes": stats.get_mut("routes").map(Value::take),
        "operations": stats.get_mut("operations").map(Value::take),
        "system": system,
        "alerts": sonde.alerts(),
        "instances": instances,
    });
    Ok(HttpResponse::json(200, &body))
}

#[cfg(feature = "host-metrics")]
fn system_metrics(sonde: &Sonde) -> Value {
    sonde
        .system_metrics()
        .ok()
        .and_then(|m| serde_json::to_value(m).ok())
        .unwrap_or(Value::Null)
}

/// Without the `host-metrics` feature there is nothing to sample.
#[cfg(not(feature = "host-metrics"))]
fn system_metrics(_sonde: &Sonde) -> Value {
    Value::Null
}

/// `/statistics` without `from`: the week before `to`.
const DEFAULT_WINDOW_MS: i64 = 7 * 86_400_000;
/// The most buckets one `/statistics` range may hold (a week of minutes is 10,080).
const MAX_BUCKETS: i64 = 10_080;

fn statistics(host: &dyn ApiHost, request: &HttpRequest) -> Result<HttpResponse, Problem> {
    let sonde = host.sonde();
    let stored = match host.store() {
        None => Value::Null,
        Some(store) => {
            let invalid = |key: &str, message: String| {
                Problem::with_violation(422, INVALID_QUERY, &format!("/{key}"), message)
            };
            let time = |key: &str| -> Result<Option<Timestamp>, Problem> {
                match request.query_param(key).filter(|t| !t.is_empty()) {
                    None => Ok(None),
                    Some(text) => Timestamp::parse(&text).map(Some).ok_or_else(|| {
                        invalid(key, format!("{key} must be an RFC 3339 time, got {text:?}"))
                    }),
                }
            };
            let bucket_name = request
                .query_param("bucket")
                .unwrap_or_else(|| "hour".to_owned());
            let bucket = Bucket::from_name(&bucket_name)
                .map_err(|e| invalid("bucket", e.message().to_owned()))?;
            // A whole-table aggregate is a scan anyone with a key could repeat: the range
            // defaults to the last week and holds at most MAX_BUCKETS buckets.
            // Without `to`, up to now and whatever clock skew put after it.
            let to_given = time("to")?;
            let to = to_given.unwrap_or_else(|| sonde.now());
            let from = time("from")?.unwrap_or_else(|| {
                Timestamp::from_millis(to.as_millis().saturating_sub(DEFAULT_WINDOW_MS))
            });
            let buckets = to.as_millis().saturating_sub(from.as_millis()) / bucket.millis();
            if buckets > MAX_BUCKETS {
                return Err(invalid(
                    "bucket",
                    format!(
                        "from {from} to {to} holds {buckets} {bucket_name} buckets, more than \
                         {MAX_BUCKETS}: choose a larger bucket or a shorter range"
                    ),
                ));
            }
            let range = TimeRange {
                from: Some(from),
                to: to_given,
            };
            let aggregates = store
                .aggregate(range, bucket)
                .map_err(|e| Problem::from_error(&e))?;
            serde_json::to_value(aggregates).unwrap_or(Value::Null)
        }
    };
    let (live, instances) = live_stats(sonde)?;
    Ok(HttpResponse::json(
        200,
        &json!({"live": live, "instances": instances, "stored": stored}),
    ))
}

fn config_view(host: &dyn ApiHost) -> HttpResponse {
    let limits = host.sonde().validator().limits();
    let body = json!({
        "options": host.options(),
        "store": host.store().map(|s| s.location()),
        "limits": {
            "max_message_bytes": limits.max_message_bytes,
            "max_batch_bytes": limits.max_batch_bytes,
            "max_batch_messages": limits.max_batch_messages,
        },
    });
    HttpResponse::json(200, &body)
}
