//! The HTTP server: every request under the mount path goes to the core's `Api` as it came
//! (method, path, query, headers, body read no further than one byte past the limit, so the
//! core answers 413); work that may wait (store queries, flushes) runs on tokio's blocking
//! pool, never on the threads that accept connections.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use http_body_util::BodyExt;
use sonde_core::http::{runs_inline_for, Api, FixedHost, HttpRequest, HttpResponse};

/// What every request needs.
pub struct Service {
    pub api: Api,
    pub host: FixedHost,
    pub mount: String,
}

/// Answers one request.
pub async fn answer(service: Arc<Service>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(path) = parts.uri.path().strip_prefix(service.mount.as_str()) else {
        return not_found();
    };
    let path = if path.is_empty() { "/" } else { path }.to_owned();
    let limit = service.api.body_limit(&service.host.sonde);
    let body = match read_bounded(body, limit).await {
        Ok(body) => body,
        // The client went away mid-body: nobody is left to answer.
        Err(()) => return status_only(StatusCode::BAD_REQUEST),
    };
    let request = HttpRequest {
        method: parts.method.as_str().to_owned(),
        path,
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let response = if runs_inline_for(&service.host.sonde, &request.method, &request.path) {
        service.api.handle(&service.host, &request)
    } else {
        let service = Arc::clone(&service);
        match tokio::task::spawn_blocking(move || service.api.handle(&service.host, &request)).await
        {
            Ok(response) => response,
            Err(_) => return status_only(StatusCode::INTERNAL_SERVER_ERROR),
        }
    };
    into_response(response)
}

/// The body, read no further than one byte past `limit`.
async fn read_bounded(mut body: Body, limit: usize) -> Result<Vec<u8>, ()> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ())?;
        if let Some(data) = frame.data_ref() {
            let room = (limit + 1).saturating_sub(out.len());
            out.extend_from_slice(&data[..data.len().min(room)]);
            if out.len() > limit {
                break;
            }
        }
    }
    Ok(out)
}

fn into_response(response: HttpResponse) -> Response {
    let mut out = Response::new(Body::from(response.body));
    *out.status_mut() = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            out.headers_mut().append(name, value);
        }
    }
    out
}

fn status_only(status: StatusCode) -> Response {
    let mut out = Response::new(Body::empty());
    *out.status_mut() = status;
    out
}

fn not_found() -> Response {
    into_response(HttpResponse::json(
        404,
        &serde_json::json!({"code": "not_found", "detail": "not under this collector's mount path"}),
    ))
}
