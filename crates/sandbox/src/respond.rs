//! Response builders: every response the sandbox sends is made here, so content types and
//! cache headers stay consistent.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

pub(crate) type Resp = Response<Full<Bytes>>;

/// A response that ends a request early, boxed so `Result`s that carry it stay small.
pub(crate) type Refused = Box<Resp>;

fn build(status: StatusCode, content_type: Option<&'static str>, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    if let Some(ct) = content_type {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    resp
}

pub(crate) fn json(status: StatusCode, value: &Value) -> Resp {
    build(status, Some("application/json"), value.to_string())
}

/// A JSON content type over a fixed body (exact documented bodies, deliberately broken ones).
pub(crate) fn json_text(status: StatusCode, body: &'static str) -> Resp {
    build(status, Some("application/json"), body)
}

/// The API's error envelope: `{"error": {"code", "message"}}`.
pub(crate) fn api_error(status: StatusCode, code: &str, message: &str) -> Resp {
    json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// An OAuth error (RFC 6749 §5.2), never cached.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Resp {
    no_store(json(
        status,
        &json!({"error": error, "error_description": description}),
    ))
}

pub(crate) fn no_store(mut resp: Resp) -> Resp {
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// Pages are self-contained (inline CSS, no script): the policy says so, and no other site may
/// frame them (a consent page in a hidden frame could be clicked through). No `form-action`:
/// browsers apply it to the redirect after the consent form, which goes to the client.
const PAGE_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn html(status: StatusCode, body: String) -> Resp {
    let mut resp = no_store(build(status, Some("text/html; charset=utf-8"), body));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

pub(crate) fn empty(status: StatusCode) -> Resp {
    build(status, None, Bytes::new())
}

/// A 302 to `location`; a location that is not a valid header value becomes a 500 rather than
/// a panic (it cannot happen for URLs built by the sandbox).
pub(crate) fn redirect(location: &str) -> Resp {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut resp = no_store(empty(StatusCode::FOUND));
            resp.headers_mut().insert(header::LOCATION, value);
            resp
        }
        Err(_) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "unrepresentable redirect",
        ),
    }
}

pub(crate) fn with_header(mut resp: Resp, name: HeaderName, value: &str) -> Resp {
    if let Ok(value) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, value);
    }
    resp
}

pub(crate) fn not_found(path: &str) -> Resp {
    let shown: String = path.chars().take(200).collect();
    api_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("No route for {shown}"),
    )
}

pub(crate) fn method_not_allowed(allow: &str) -> Resp {
    let resp = api_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("Method not allowed; use {allow}"),
    );
    with_header(resp, header::ALLOW, allow)
}

pub(crate) fn payload_too_large(limit: usize) -> Resp {
    api_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &format!("The request body exceeds {limit} bytes"),
    )
}
