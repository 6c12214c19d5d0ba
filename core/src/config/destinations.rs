//! Where events go, chosen by options (feature `sqlite`, native targets): the options every
//! binding accepts besides the core's own — `store` (a SQLite file), `console` (`true`,
//! `"pretty"` or `"json"`), `jsonl` (a file, rotated at `jsonl_max_bytes`, keeping
//! `jsonl_max_files`) and, with feature `http-sink`, `endpoint` (a collector's batch URL,
//! with `write_key`, `forward_format` and `http_timeout`). Bindings add their own function
//! sinks.

use crate::event::json::shown;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Config, DeliveryMode};
use crate::codes;
use crate::error::{Error, ErrorKind, Violation};
use crate::sink::{ConsoleFormat, ConsoleSink, ConsoleTarget, JsonLinesSink};
#[cfg(feature = "http-sink")]
use crate::sink::{ForwardFormat, HttpSink, HttpSinkOptions, OtlpExporter, OtlpOptions};
use crate::store::{Store, StoreLocation, StoreSink};
use crate::Sonde;

/// Every destination option name.
pub const DESTINATION_OPTIONS: &[&str] = &[
    "store",
    "console",
    "jsonl",
    "jsonl_max_bytes",
    "jsonl_max_files",
    "endpoint",
    "write_key",
    "forward_format",
    "http_timeout",
    "outbox",
    "outbox_max_bytes",
    "forward",
    "otlp_endpoint",
    "otlp_headers",
    "otlp_interval_ms",
    "otlp_resource",
];

/// JSON-lines rotation defaults: 64 MiB per file, five files kept.
const JSONL_MAX_BYTES: u64 = 64 << 20;
const JSONL_MAX_FILES: u32 = 5;

/// The destinations named in an options object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Destinations {
    /// The store: a SQLite file or a PostgreSQL URL.
    pub store: Option<StoreLocation>,
    /// Console output.
    pub console: Option<ConsoleFormat>,
    /// The JSON-lines file, its size limit and how many rotated files to keep.
    pub jsonl: Option<(PathBuf, u64, u32)>,
    /// Collectors batches are POSTed to.
    #[cfg(feature = "http-sink")]
    pub http: Vec<HttpSinkOptions>,
    /// Where the statistics are pushed as OTLP metrics.
    #[cfg(feature = "http-sink")]
    pub otlp: Option<OtlpOptions>,
}

impl Destinations {
    /// Takes the destination options out of `options` (leaving the core's own for
    /// `Config::from_options`); every bad value is reported at once. `null` means unset.
    pub fn take_from(options: &mut Map<String, Value>) -> Result<Self, Error> {
        let mut out = Destinations::default();
        let mut problems = Vec::new();
        let mut bad = |key: &str, message: String| {
            problems.push(Violation::new(
                format!("/{key}"),
                codes::INVALID_OPTION,
                message,
            ))
        };
        let mut take = |key: &str| options.remove(key).filter(|v| !v.is_null());
        if let Some(v) = take("store") {
            match (v.as_str().map(StoreLocation::parse), file_path(&v)) {
                (Some(url @ StoreLocation::Postgres(_)), _) => out.store = Some(url),
                (_, Some(path)) => out.store = Some(StoreLocation::File(path)),
                _ => bad(
                    "store",
                    format!(
                        "store must be a file path or a postgresql:// URL, got {}",
                        shown(&v)
                    ),
                ),
            }
        }
        if let Some(v) = take("console") {
            out.console = match &v {
                Value::Bool(false) => None,
                Value::Bool(true) => Some(ConsoleFormat::Pretty),
                Value::String(s) if s == "pretty" => Some(ConsoleFormat::Pretty),
                Value::String(s) if s == "json" => Some(ConsoleFormat::JsonLines),
                _ => {
                    bad(
                        "console",
                        format!(
                            "console must be true, false, \"pretty\" or \"json\", got {}",
                            shown(&v)
                        ),
                    );
                    None
                }
            };
        }
        let max_bytes = match take("jsonl_max_bytes") {
            None => JSONL_MAX_BYTES,
            Some(v) => positive(&v).unwrap_or_else(|| {
                bad(
                    "jsonl_max_bytes",
                    format!(
                        "jsonl_max_bytes must be a positive integer, got {}",
                        shown(&v)
                    ),
                );
                JSONL_MAX_BYTES
            }),
        };
        let max_files = match take("jsonl_max_files") {
            None => JSONL_MAX_FILES,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or_else(|| {
                    bad(
                        "jsonl_max_files",
                        format!(
                            "jsonl_max_files must be a non-negative integer, got {}",
                            shown(&v)
                        ),
                    );
                    JSONL_MAX_FILES
                }),
        };
        if let Some(v) = take("jsonl") {
            match file_path(&v) {
                Some(path) => out.jsonl = Some((path, max_bytes, max_files)),
                None => bad(
                    "jsonl",
                    format!("jsonl must be a file path, got {}", shown(&v)),
                ),
            }
        }
        #[cfg(feature = "http-sink")]
        {
            if let Some(http) = take_http(options, "", &mut problems) {
                out.http.push(http);
            }
            if let Some(forward) = options.remove("forward").filter(|v| !v.is_null()) {
                out.http.extend(take_forward(forward, &mut problems));
            }
            out.otlp = take_otlp(options, &mut problems);
        }
        #[cfg(not(feature = "http-sink"))]
        for key in ["endpoint", "forward", "otlp_endpoint"] {
            if take(key).is_some() {
                bad(
                    key,
                    "this build has no HTTP destination (sonde-core feature `http-sink`)"
                        .to_owned(),
                );
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(Error::with_violations(ErrorKind::InvalidConfig, problems))
        }
    }

    /// Whether no destination is named.
    pub fn is_empty(&self) -> bool {
        #[cfg(feature = "http-sink")]
        if !self.http.is_empty() {
            return false;
        }
        self.store.is_none() && self.console.is_none() && self.jsonl.is_none()
    }

    /// Builds a native binding's client: these destinations added to `config`, then the
    /// sinks only the binding can make (`add_sinks`: a function of the host language); a
    /// client with nowhere to send events is refused, `how_to_add_one` telling the user
    /// what to pass (or `disabled`). A disabled client gets no destination at all. Returns
    /// the client and its store, if any.
    pub fn build_client(
        &self,
        config: Config,
        add_sinks: impl FnOnce(Config) -> Result<Config, Error>,
        how_to_add_one: &str,
    ) -> Result<(Sonde, Option<Arc<dyn Store>>), Error> {
        self.rebuild_client(config, add_sinks, how_to_add_one, None)
    }

    /// [`Destinations::build_client`] for a client that replaces one (new options at run
    /// time): `open` is the old client's store, used again rather than opened a second time
    /// (the store cannot change at run time, and each opening costs two connections).
    pub fn rebuild_client(
        &self,
        config: Config,
        add_sinks: impl FnOnce(Config) -> Result<Config, Error>,
        how_to_add_one: &str,
        open: Option<Arc<dyn Store>>,
    ) -> Result<(Sonde, Option<Arc<dyn Store>>), Error> {
        if config.delivery == DeliveryMode::Manual {
            // Nothing in a native binding takes batches: events would pile up unsent while
            // `flush` reports success.
            return Err(Error::with_violations(
                ErrorKind::InvalidConfig,
                vec![Violation::new(
                    "/delivery",
                    codes::INVALID_OPTION,
                    "delivery \"manual\" needs a host that takes batches itself (the browser package); this binding delivers with its worker",
                )],
            ));
        }
        if config.disabled {
            // Validates and sends nothing: no store opened, no sink called, none needed.
            let mut config = add_sinks(config)?;
            config.sinks.clear();
            return Ok((Sonde::new(config)?, None));
        }
        let (config, store) = self.attach_reusing(config, open)?;
        let config = add_sinks(config)?;
        if config.sinks.is_empty() {
            return Err(Error::invalid_config(format!(
                "no destination for events: pass {how_to_add_one}"
            )));
        }
        Ok((Sonde::new(config)?, store))
    }

    /// Adds the sinks to `config`, opening (or creating) the store; returns the store too,
    /// for queries.
    pub fn attach(&self, config: Config) -> Result<(Config, Option<Arc<dyn Store>>), Error> {
        self.attach_reusing(config, None)
    }

    fn attach_reusing(
        &self,
        mut config: Config,
        open: Option<Arc<dyn Store>>,
    ) -> Result<(Config, Option<Arc<dyn Store>>), Error> {
        let mut store = None;
        if let Some(location) = &self.store {
            // The store cannot change at run time (destinations are fixed), so the old
            // client's is the one these options name.
            let opened = match open {
                Some(open) => open,
                None => location.open()?,
            };
            config = config
                .sink(StoreSink::new(Arc::clone(&opened)))
                .publish_stats_to(Arc::clone(&opened));
            store = Some(opened);
        }
        if let Some(format) = self.console {
            config = config.sink(ConsoleSink::new(format, ConsoleTarget::Stderr));
        }
        if let Some((path, max_bytes, max_files)) = &self.jsonl {
            config = config.sink(JsonLinesSink::new(path, *max_bytes, *max_files));
        }
        #[cfg(feature = "http-sink")]
        for http in &self.http {
            let mut http = http.clone();
            http.backoff = (config.retry_initial_backoff, config.retry_max_backoff);
            config = config.sink(HttpSink::new(http)?);
        }
        #[cfg(feature = "http-sink")]
        if let Some(otlp) = &self.otlp {
            config.otlp = Some(Arc::new(OtlpExporter::new(otlp.clone())));
        }
        Ok((config, store))
    }
}

/// A destination's file: a non-empty string.
fn file_path(v: &Value) -> Option<PathBuf> {
    v.as_str().filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// A size or count that must be above zero.
fn positive(v: &Value) -> Option<u64> {
    v.as_u64().filter(|n| *n > 0)
}

/// `otlp_endpoint` (an http(s) URL), `otlp_headers` (an object of strings),
/// `otlp_interval_ms` (default 60,000) and `otlp_resource` (an object of strings).
#[cfg(feature = "http-sink")]
fn take_otlp(
    options: &mut Map<String, Value>,
    problems: &mut Vec<Violation>,
) -> Option<OtlpOptions> {
    let mut take = |key: &str| options.remove(key).filter(|v| !v.is_null());
    let endpoint = take("otlp_endpoint");
    let headers = take("otlp_headers");
    let interval = take("otlp_interval_ms");
    let resource = take("otlp_resource");
    let mut bad = |key: &str, message: String| {
        problems.push(Violation::new(
            format!("/{key}"),
            codes::INVALID_OPTION,
            message,
        ))
    };
    let Some(endpoint) = endpoint else {
        for (key, value) in [
            ("otlp_headers", &headers),
            ("otlp_interval_ms", &interval),
            ("otlp_resource", &resource),
        ] {
            if value.is_some() {
                bad(
                    key,
                    format!("{key} is for the OTLP export: pass otlp_endpoint too"),
                );
            }
        }
        return None;
    };
    let mut otlp = OtlpOptions {
        endpoint: String::new(),
        headers: Vec::new(),
        interval: std::time::Duration::from_secs(60),
        resource: Vec::new(),
    };
    match endpoint.as_str() {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            url.clone_into(&mut otlp.endpoint)
        }
        _ => bad(
            "otlp_endpoint",
            format!("otlp_endpoint must be an http:// or https:// URL, got {endpoint}"),
        ),
    }
    let mut strings = |key: &str, value: Option<Value>| -> Vec<(String, String)> {
        match value {
            None => Vec::new(),
            Some(Value::Object(map)) if map.values().all(Value::is_string) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                .collect(),
            Some(v) => {
                bad(
                    key,
                    format!("{key} must be an object of strings, got {}", shown(&v)),
                );
                Vec::new()
            }
        }
    };
    otlp.headers = strings("otlp_headers", headers);
    otlp.resource = strings("otlp_resource", resource);
    if let Some(v) = interval {
        match v.as_u64().filter(|ms| (100..=86_400_000).contains(ms)) {
            Some(ms) => otlp.interval = std::time::Duration::from_millis(ms),
            None => bad(
                "otlp_interval_ms",
                format!(
                    "otlp_interval_ms must be 100 to 86,400,000 milliseconds, got {}",
                    shown(&v)
                ),
            ),
        }
    }
    Some(otlp)
}

/// The HTTP destination's options (`endpoint` and the ones that only mean something with
/// it) at `prefix` (`""` for the top level, `/forward/2` for an entry of `forward`); `None`
/// without an `endpoint`.
#[cfg(feature = "http-sink")]
fn take_http(
    options: &mut Map<String, Value>,
    prefix: &str,
    problems: &mut Vec<Violation>,
) -> Option<HttpSinkOptions> {
    let mut take = |key: &str| options.remove(key).filter(|v| !v.is_null());
    let endpoint = take("endpoint");
    let write_key = take("write_key");
    let format = take("forward_format");
    let timeout = take("http_timeout");
    let outbox = take("outbox");
    let outbox_max_bytes = take("outbox_max_bytes");
    let mut bad = |key: &str, message: String| {
        problems.push(Violation::new(
            format!("{prefix}/{key}"),
            codes::INVALID_OPTION,
            message,
        ))
    };
    let Some(endpoint) = endpoint else {
        let given = [
            ("write_key", &write_key),
            ("forward_format", &format),
            ("http_timeout", &timeout),
            ("outbox", &outbox),
            ("outbox_max_bytes", &outbox_max_bytes),
        ];
        for (key, value) in given {
            if value.is_some() {
                bad(
                    key,
                    format!("{key} is for the HTTP destination: pass endpoint too"),
                );
            }
        }
        if !prefix.is_empty() {
            bad(
                "endpoint",
                "each forward destination needs an endpoint".to_owned(),
            );
        }
        return None;
    };
    let mut http = HttpSinkOptions::new("");
    match endpoint.as_str() {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            url.clone_into(&mut http.endpoint)
        }
        _ => bad(
            "endpoint",
            format!("endpoint must be an http:// or https:// URL, got {endpoint}"),
        ),
    }
    match write_key {
        None => {}
        Some(Value::String(key)) if !key.is_empty() => http.write_key = Some(key),
        Some(v) => bad(
            "write_key",
            format!("write_key must be a non-empty string, got {}", shown(&v)),
        ),
    }
    if let Some(v) = format {
        match v.as_str().and_then(ForwardFormat::parse) {
            Some(format) => http.format = format,
            None => bad(
                "forward_format",
                format!(
                    "forward_format must be \"segment\" or \"posthog\", got {}",
                    shown(&v)
                ),
            ),
        }
    }
    if let Some(v) = timeout {
        match v
            .as_f64()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
        {
            Some(seconds) => http.timeout = std::time::Duration::from_secs_f64(seconds),
            None => bad(
                "http_timeout",
                format!(
                    "http_timeout must be a number of seconds in (0, 3600], got {}",
                    shown(&v)
                ),
            ),
        }
    }
    if let Some(v) = outbox {
        match file_path(&v) {
            Some(path) => http.outbox = Some(path),
            None => bad(
                "outbox",
                format!("outbox must be a file path, got {}", shown(&v)),
            ),
        }
    }
    if let Some(v) = outbox_max_bytes {
        match positive(&v) {
            Some(n) => http.outbox_max_bytes = n,
            None => bad(
                "outbox_max_bytes",
                format!(
                    "outbox_max_bytes must be a positive integer, got {}",
                    shown(&v)
                ),
            ),
        }
    }
    Some(http)
}

/// `forward`: more HTTP destinations, each an object of the HTTP options (camelCase names
/// accepted, as bindings pass them nested).
#[cfg(feature = "http-sink")]
fn take_forward(forward: Value, problems: &mut Vec<Violation>) -> Vec<HttpSinkOptions> {
    let Value::Array(entries) = forward else {
        problems.push(Violation::new(
            "/forward",
            codes::INVALID_OPTION,
            format!(
                "forward must be a list of destinations ({{\"endpoint\": ...}}), got {forward}"
            ),
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let prefix = format!("/forward/{i}");
        let Value::Object(entry) = entry else {
            problems.push(Violation::new(
                prefix,
                codes::INVALID_OPTION,
                format!(
                    "a forward destination must be an object, got {}",
                    shown(&entry)
                ),
            ));
            continue;
        };
        let mut entry = super::options::snake_case_keys(entry);
        if let Some(http) = take_http(&mut entry, &prefix, problems) {
            out.push(http);
        }
        for key in entry.keys() {
            problems.push(Violation::new(
                format!("{prefix}/{key}"),
                codes::INVALID_OPTION,
                format!("unknown forward option {}: endpoint, write_key, forward_format, http_timeout, outbox, outbox_max_bytes", crate::event::json::quoted(key)),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_client_needs_somewhere_to_send_events() {
        let none = Destinations::default();
        let e = none
            .build_client(Config::default(), Ok, "store: 'sonde.db'")
            .expect_err("no destination");
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(
            e.message().contains("pass store: 'sonde.db'"),
            "{}",
            e.message()
        );
        let console = Destinations {
            console: Some(ConsoleFormat::JsonLines),
            ..Destinations::default()
        };
        let (sonde, store) = console
            .build_client(Config::default(), Ok, "")
            .expect("a console client");
        assert!(store.is_none());
        assert!(sonde.shutdown(std::time::Duration::from_secs(1)).is_ok());
        let manual = console
            .build_client(Config::default().delivery(DeliveryMode::Manual), Ok, "")
            .expect_err("nothing would deliver");
        assert_eq!(manual.violations()[0].path, "/delivery");
        let added = none
            .build_client(
                Config::default(),
                |c| Ok(c.sink(crate::sink::CallbackSink::new("test", |_| Ok(())))),
                "",
            )
            .expect("the binding's own sink counts");
        assert!(added.0.shutdown(std::time::Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn takes_its_options_and_leaves_the_rest() {
        let mut options = json!({"store": "a.db", "console": "json", "jsonl": "e.jsonl",
                                 "jsonl_max_files": 2, "batch_size": 10})
        .as_object()
        .cloned()
        .unwrap_or_default();
        let d = Destinations::take_from(&mut options).expect("valid");
        assert_eq!(d.store, Some(StoreLocation::File(PathBuf::from("a.db"))));
        assert_eq!(d.console, Some(ConsoleFormat::JsonLines));
        assert_eq!(
            d.jsonl,
            Some((PathBuf::from("e.jsonl"), JSONL_MAX_BYTES, 2))
        );
        assert_eq!(options.keys().collect::<Vec<_>>(), ["batch_size"]);
    }

    #[test]
    fn reports_every_bad_value() {
        let mut options = json!({"store": 3, "console": "loud", "jsonl_max_bytes": 0, "jsonl": ""})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let e = Destinations::take_from(&mut options).expect_err("invalid");
        let mut paths: Vec<_> = e.violations().iter().map(|v| v.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["/console", "/jsonl", "/jsonl_max_bytes", "/store"]);
        assert!(e.violations().iter().all(|v| v.code == "invalid_option"));
    }

    #[cfg(feature = "http-sink")]
    #[test]
    fn forward_adds_http_destinations_and_names_every_bad_entry() {
        let mut options = json!({"store": "a.db", "endpoint": "http://c/v1/batch", "forward": [
            {"endpoint": "https://ph.example/batch/", "forwardFormat": "posthog", "writeKey": "phc"},
            {"endpoint": "http://seg.example/v1/batch", "outbox": "seg.db", "outboxMaxBytes": 1000}]})
        .as_object()
        .cloned()
        .unwrap_or_default();
        let d = Destinations::take_from(&mut options).expect("valid");
        assert_eq!(d.http.len(), 3);
        assert_eq!(d.http[1].format, ForwardFormat::PostHog);
        assert_eq!(d.http[1].write_key.as_deref(), Some("phc"));
        assert_eq!(d.http[2].outbox, Some(PathBuf::from("seg.db")));
        assert_eq!(d.http[2].outbox_max_bytes, 1000);
        let mut bad =
            json!({"forward": [{"writeKey": "k"}, 3, {"endpoint": "ftp://x", "color": "red"}],
                             "outbox": "o.db"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let e = Destinations::take_from(&mut bad).expect_err("invalid");
        let mut paths: Vec<_> = e.violations().iter().map(|v| v.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "/forward/0/endpoint",
                "/forward/0/write_key",
                "/forward/1",
                "/forward/2/color",
                "/forward/2/endpoint",
                "/outbox"
            ]
        );
    }
}
