//! The core's HTTP layer for the Node adapters (`middleware.js`): `NativeRecorder` (what the
//! request middlewares record) and `NativeHttpApi` (the analytics endpoints). Conversion
//! only: every decision is in `sonde_core::http`.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, Object};
use napi::{Env, Result, Task};
use napi_derive::napi;
use serde_json::Value;
use sonde_core::config::snake_case_keys;
use sonde_core::event::object_arg;
use sonde_core::http::{
    runs_inline_for, serves, Api, HttpRequest, HttpResponse, RequestError, RequestFacts,
    RequestRecorder,
};

use crate::client::NativeSonde;
use crate::errors::{throw, unpanicked};
use crate::slot::{NodeHost, Slot};

fn options_of(options: Option<String>) -> std::result::Result<Value, sonde_core::Error> {
    Ok(Value::Object(snake_case_keys(object_arg(
        options.as_deref(),
        "options",
    )?)))
}

/// Request recording rules (exclusion, sampling, client address, forwarded headers).
#[napi(js_name = "NativeRecorder")]
pub struct NativeRecorder {
    inner: RequestRecorder,
}

#[napi]
impl NativeRecorder {
    /// `options`: JSON text, camelCase or snake_case names.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: Option<String>) -> Result<Self> {
        let inner = options_of(options)
            .and_then(|o| RequestRecorder::from_options(&o))
            .map_err(|e| throw(&env, &e))?;
        Ok(Self { inner })
    }

    /// Whether a request is left alone (not timed, not counted).
    #[napi(catch_unwind)]
    pub fn excludes(&self, method: String, path: String) -> bool {
        self.inner.excludes(&method, &path)
    }

    /// Whether the middleware adds `X-Process-Time`.
    #[napi(getter, catch_unwind)]
    pub fn process_time_header(&self) -> bool {
        self.inner.process_time_header()
    }

    /// Records one finished request unless the rules exclude it (checked here, once, so the
    /// middleware makes one native call per request); whether it was recorded. The facts come
    /// as arguments, not JSON, and `headers` (the request's header object) is read only for a
    /// request sampled in.
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        client: &NativeSonde,
        method: String,
        path: String,
        route: Option<String>,
        status_code: Option<u32>,
        duration_ms: f64,
        ttfb_ms: Option<f64>,
        peer_address: Option<String>,
        request_body_bytes: Option<f64>,
        response_body_bytes: Option<f64>,
        headers: Option<Object<'_>>,
        error_type: Option<String>,
        error_message: Option<String>,
        error_stack: Option<String>,
        aborted: bool,
        user_id: Option<String>,
    ) -> bool {
        if self.inner.excludes(&method, &path) {
            return false;
        }
        // Byte counts are whole, non-negative JS numbers (f64 carries them exactly).
        let bytes = |n: Option<f64>| n.filter(|n| *n >= 0.0).map(|n| n as u64);
        let facts = RequestFacts {
            method,
            path,
            route,
            status_code: status_code.map(|s| u16::try_from(s).unwrap_or(u16::MAX)),
            duration_ms,
            ttfb_ms,
            peer_address,
            request_body_bytes: bytes(request_body_bytes),
            response_body_bytes: bytes(response_body_bytes),
            error: RequestError::from_parts(error_type, error_message, error_stack),
            aborted,
            user_id,
            ..RequestFacts::default()
        };
        self.inner.record_with(&client.sonde(), facts, |facts| {
            if let Some(headers) = &headers {
                // Node joins repeated forwarding headers into one list already.
                let text = |name: &str| headers.get::<String>(name).ok().flatten();
                facts.user_agent = text("user-agent");
                facts.forwarded = text("forwarded");
                facts.x_forwarded_for = text("x-forwarded-for");
            }
        });
        true
    }
}

/// The one anonymizer (IPv4 /24, IPv6 /48); `null` for text that is not an address.
#[napi(catch_unwind)]
pub fn anonymize(address: String) -> Option<String> {
    sonde_core::address::parse_hop(&address)
        .map(|ip| sonde_core::address::anonymize(ip).to_string())
}

/// A response for `middleware.js` to write.
#[napi(object)]
pub struct JsHttpResponse {
    pub status: u32,
    /// `[name, value]` pairs.
    pub headers: Vec<Vec<String>>,
    pub body: Buffer,
}

impl From<HttpResponse> for JsHttpResponse {
    fn from(r: HttpResponse) -> Self {
        Self {
            status: u32::from(r.status),
            headers: r.headers.into_iter().map(|(k, v)| vec![k, v]).collect(),
            body: r.body.into(),
        }
    }
}

/// The API and the client it answers for, shared with the tasks on libuv's pool.
struct Served {
    api: Api,
    slot: Arc<Slot>,
}

/// One request answered on libuv's thread pool (store reads, waits, host samples).
pub struct Answer {
    served: Arc<Served>,
    request: HttpRequest,
}

impl Task for Answer {
    type Output = HttpResponse;
    type JsValue = JsHttpResponse;

    fn compute(&mut self) -> Result<Self::Output> {
        unpanicked(|| {
            self.served
                .api
                .handle(&NodeHost::new(&self.served.slot), &self.request)
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output.into())
    }
}

/// The analytics API over a client.
#[napi(js_name = "NativeHttpApi")]
pub struct NativeHttpApi {
    served: Arc<Served>,
}

fn request_of(
    method: String,
    path: String,
    query: String,
    headers: Vec<Vec<String>>,
    body: Option<Buffer>,
) -> HttpRequest {
    HttpRequest {
        method,
        path,
        query,
        headers: headers
            .into_iter()
            .filter_map(|pair| match <[String; 2]>::try_from(pair) {
                Ok([name, value]) => Some((name, value)),
                Err(_) => None,
            })
            .collect(),
        body: body.map(|b| b.to_vec()).unwrap_or_default(),
    }
}

#[napi]
impl NativeHttpApi {
    /// `options`: JSON text (`apiKey`, `writeKeys`, `protectReads`, `allowUnauthenticated`,
    /// `corsOrigins`, `maxBodyBytes`, `metricsToken`, `openMetrics`).
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, client: &NativeSonde, options: Option<String>) -> Result<Self> {
        let api = options_of(options)
            .and_then(|o| Api::new(&o))
            .map_err(|e| throw(&env, &e))?;
        Ok(Self {
            served: Arc::new(Served {
                api,
                slot: Arc::clone(client.slot()),
            }),
        })
    }

    /// The body limit in bytes: stop reading one byte past it.
    #[napi(catch_unwind)]
    pub fn body_limit(&self) -> u32 {
        let served = &self.served;
        u32::try_from(served.api.body_limit(&served.slot.current().sonde)).unwrap_or(u32::MAX)
    }

    /// Whether a route only validates and enqueues, and cannot wait (fine on the event
    /// loop); with overflow `block` ingestion can wait, so it goes to libuv's pool.
    #[napi(catch_unwind)]
    pub fn runs_inline(&self, method: String, path: String) -> bool {
        runs_inline_for(&self.served.slot.current().sonde, &method, &path)
    }

    /// Whether `path` (under the mount point) is one of the API's endpoints.
    #[napi(catch_unwind)]
    pub fn serves(path: String) -> bool {
        serves(&path)
    }

    /// Answers on the calling thread (ingestion: bounded CPU work only).
    #[napi(catch_unwind)]
    pub fn handle(
        &self,
        method: String,
        path: String,
        query: String,
        headers: Vec<Vec<String>>,
        body: Option<Buffer>,
    ) -> JsHttpResponse {
        let request = request_of(method, path, query, headers, body);
        self.served
            .api
            .handle(&NodeHost::new(&self.served.slot), &request)
            .into()
    }

    /// Answers on libuv's thread pool.
    #[napi(catch_unwind)]
    pub fn handle_async(
        &self,
        method: String,
        path: String,
        query: String,
        headers: Vec<Vec<String>>,
        body: Option<Buffer>,
    ) -> AsyncTask<Answer> {
        AsyncTask::new(Answer {
            served: Arc::clone(&self.served),
            request: request_of(method, path, query, headers, body),
        })
    }
}
