//! The command line and its environment variables, and the client and API options they
//! make: every setting is a flag, and each flag can come from a `SONDE_*` variable instead.

use std::net::SocketAddr;

use clap::Parser;
use serde_json::{json, Map, Value};

/// Sonde's collector: Segment-compatible ingestion (`/v1/batch`, `/v1/track`, ...), the
/// stored events and the statistics of every instance, over HTTP. Run several behind a
/// load balancer on one PostgreSQL database to scale out.
#[derive(Debug, Parser)]
#[command(name = "sonde-collector", version)]
pub struct Settings {
    /// Address and port to listen on.
    #[arg(long, env = "SONDE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where events are stored: a SQLite file or a postgresql:// URL.
    #[arg(long, env = "SONDE_STORE")]
    pub store: Option<String>,
    /// Key for reads and management (`Authorization: Bearer` or `X-API-Key`).
    #[arg(long, env = "SONDE_API_KEY")]
    pub api_key: Option<String>,
    /// Serve reads and management without a key (development only).
    #[arg(long, env = "SONDE_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,
    /// Write keys accepted for ingestion (Segment's basic auth user), comma-separated;
    /// without any, ingestion is open.
    #[arg(long, env = "SONDE_WRITE_KEY", value_delimiter = ',')]
    pub write_key: Vec<String>,
    /// Tokens that may read `/metrics` and nothing else (a Prometheus scraper's bearer
    /// token), comma-separated; the API key reads it too.
    #[arg(long, env = "SONDE_METRICS_TOKEN", value_delimiter = ',')]
    pub metrics_token: Vec<String>,
    /// Serve `/metrics` without any key.
    #[arg(long, env = "SONDE_OPEN_METRICS")]
    pub open_metrics: bool,
    /// Origins allowed to send from a browser, comma-separated.
    #[arg(long, env = "SONDE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Where to send on what is accepted: a Segment-compatible batch URL or PostHog's.
    #[arg(long, env = "SONDE_FORWARD")]
    pub forward: Option<String>,
    /// `segment` or `posthog`.
    #[arg(long, env = "SONDE_FORWARD_FORMAT", requires = "forward")]
    pub forward_format: Option<String>,
    /// The write key (or PostHog project key) for `--forward`.
    #[arg(long, env = "SONDE_FORWARD_WRITE_KEY", requires = "forward")]
    pub forward_write_key: Option<String>,
    /// A SQLite file that keeps batches for `--forward` until they are taken.
    #[arg(long, env = "SONDE_FORWARD_OUTBOX", requires = "forward")]
    pub forward_outbox: Option<String>,
    /// Serve under this path (`/analytics` makes the batch URL `/analytics/v1/batch`).
    #[arg(long, env = "SONDE_MOUNT", default_value = "")]
    pub mount: String,
    /// Any other client option, as a JSON object (`{"sample_rate": 0.5, "batch_size": 500}`).
    #[arg(long, env = "SONDE_OPTIONS")]
    pub options: Option<String>,
    /// How long SIGTERM waits for what was accepted to be stored and sent, in milliseconds.
    #[arg(long, env = "SONDE_SHUTDOWN_TIMEOUT_MS", default_value_t = 10_000)]
    pub shutdown_timeout_ms: u64,
}

impl Settings {
    /// The client's options: `--options`, then the destinations the flags name.
    pub fn client_options(&self) -> Result<Map<String, Value>, String> {
        let mut options = match &self.options {
            None => Map::new(),
            Some(text) => match serde_json::from_str(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err("--options must be a JSON object".to_owned()),
                Err(e) => return Err(format!("--options is not JSON: {e}")),
            },
        };
        // A service of its own can hold more than an embedded client: room for bursts from
        // many senders (a full buffer answers 503 and the senders retry) and bigger batches
        // for the store. `--options` overrides each.
        for (key, value) in [
            ("max_queue_events", json!(200_000)),
            ("max_queue_bytes", json!(256 << 20)),
            ("batch_size", json!(500)),
        ] {
            options.entry(key).or_insert(value);
        }
        if let Some(store) = &self.store {
            options.insert("store".into(), json!(store));
        }
        if let Some(endpoint) = &self.forward {
            let mut forward = Map::new();
            forward.insert("endpoint".into(), json!(endpoint));
            for (key, value) in [
                ("forward_format", &self.forward_format),
                ("write_key", &self.forward_write_key),
                ("outbox", &self.forward_outbox),
            ] {
                if let Some(value) = value {
                    forward.insert(key.into(), json!(value));
                }
            }
            let list = options.entry("forward").or_insert_with(|| json!([]));
            match list.as_array_mut() {
                Some(list) => list.push(Value::Object(forward)),
                None => return Err("--options: forward must be a list".to_owned()),
            }
        }
        Ok(options)
    }

    /// The API's options: keys and origins.
    pub fn api_options(&self) -> Value {
        let mut api = Map::new();
        if let Some(key) = &self.api_key {
            api.insert("api_key".into(), json!(key));
        }
        if !self.write_key.is_empty() {
            api.insert("write_keys".into(), json!(self.write_key));
        }
        if self.allow_unauthenticated {
            api.insert("allow_unauthenticated".into(), json!(true));
        }
        if !self.metrics_token.is_empty() {
            api.insert("metrics_token".into(), json!(self.metrics_token));
        }
        if self.open_metrics {
            api.insert("open_metrics".into(), json!(true));
        }
        if !self.cors_origins.is_empty() {
            api.insert("cors_origins".into(), json!(self.cors_origins));
        }
        Value::Object(api)
    }

    /// The mount path without a trailing slash (`""` for the root).
    pub fn mount(&self) -> Result<String, String> {
        let mount = self.mount.trim_end_matches('/');
        if !mount.is_empty() && !mount.starts_with('/') {
            return Err(format!("--mount must start with /, got {:?}", self.mount));
        }
        Ok(mount.to_owned())
    }
}
