//! The bundled Partner API v2 emulator (`hsm sandbox`): an OAuth authorization server and the
//! contacts API on one loopback port, with fault injection for testing clients.
//!
//! This file owns the listener, the connection bounds and the routing; each endpoint family
//! lives in its own module.

mod admin;
mod api;
pub mod faults;
mod oauth;
mod pages;
mod respond;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cli::SandboxArgs;
use crate::error::{CliError, Result};
use crate::output::Printer;
use faults::{Endpoint, Kind as FaultKind};
use respond::Resp;
use state::{Limits, State};

pub const CLIENT_ID: &str = "hsm-sandbox";
pub const CLIENT_SECRET: &str = "hsm-sandbox-secret";
pub const DEFAULT_PORT: u16 = 8787;

/// Connections served at once; further ones wait in the accept queue.
const MAX_CONNECTIONS: usize = 256;
/// Largest request body read; larger ones get 413.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How much of an oversized body is read and discarded before answering 413.
const DRAIN_LIMIT_BYTES: usize = 16 * 1024 * 1024;
/// A client that has not sent its whole body by then is dropped (no slow-loris bodies).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A client that has not sent its request headers by then is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request handler shares.
pub struct Shared {
    state: Mutex<State>,
    pub base_url: String,
    pub auto_approve: bool,
    pub latency: Duration,
    printer: Printer,
}

impl Shared {
    /// The state, even if a handler panicked while holding it (none should; a poisoned lock
    /// must not take the whole sandbox down with it).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn limits_access_ttl(&self) -> Duration {
        self.state().limits.access_ttl
    }
}

/// A request with its body read.
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The connection is dropped without an answer (the `lost` fault, or a broken request body).
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

pub async fn run(args: SandboxArgs, printer: Printer) -> Result<()> {
    let faults = faults::parse_all(&args.faults).map_err(|e| CliError::usage(e.0))?;
    let listener = bind(args.port).await?;
    let port = listener
        .local_addr()
        .map_err(|e| CliError::network(format!("cannot read the sandbox's address: {e}")))?
        .port();
    let base_url = format!("http://127.0.0.1:{port}");
    let mut state = State::new(Limits::with_access_ttl(Duration::from_secs(
        args.access_ttl,
    )));
    state.faults.set(faults);
    let shared = Arc::new(Shared {
        state: Mutex::new(state),
        base_url: base_url.clone(),
        auto_approve: args.auto_approve,
        latency: Duration::from_millis(args.latency_ms),
        printer,
    });
    // Catch Ctrl-C before telling anyone we are up, so an early one still stops us cleanly.
    let mut interrupt = crate::interrupt::Interrupt::install();
    announce(&base_url, printer);
    tokio::select! {
        () = serve(listener, shared) => {}
        () = interrupt.recv() => printer.status("sandbox stopped"),
    }
    Ok(())
}

async fn bind(port: u16) -> Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            CliError::network(format!("port {port} on 127.0.0.1 is already in use"))
                .with_hint("choose another with --port PORT, or --port 0 for a free one")
        } else {
            CliError::network(format!("cannot listen on 127.0.0.1:{port}: {e}"))
        }
    })
}

/// The URL alone on stdout (scripts wait for it); the rest on stderr.
fn announce(base_url: &str, printer: Printer) {
    printer.result(base_url);
    printer.status(&format!(
        "hsm sandbox: Partner API v2 emulator listening on {base_url}"
    ));
    printer.status(&format!("  client id:     {CLIENT_ID}"));
    printer.status(&format!("  client secret: {CLIENT_SECRET}"));
    printer.status(&format!("  API base:      {base_url}/v2"));
    printer.status("  log in with:   hsm login --env sandbox");
    printer.status("Press Ctrl-C to stop.");
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Usually out of file descriptors: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(shared.clone(), request));
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

/// Where a path leads, before the method is checked.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Admin(&'a str),
    Authorize,
    Token,
    Contacts,
    Search,
    Contact(&'a str),
    Quote(&'a str),
    Unknown,
}

fn route(path: &str) -> Route<'_> {
    if let Some(name) = path.strip_prefix("/__sandbox/") {
        return Route::Admin(name);
    }
    match path {
        "/oauth/authorize" => Route::Authorize,
        "/oauth/token" => Route::Token,
        "/v2/contacts" => Route::Contacts,
        "/v2/contacts/search" => Route::Search,
        _ => match (
            path.strip_prefix("/v2/contacts/"),
            path.strip_prefix("/quotes/"),
        ) {
            (Some(id), _) if !id.is_empty() && !id.contains('/') => Route::Contact(id),
            (_, Some(slug)) if !slug.is_empty() && !slug.contains('/') => Route::Quote(slug),
            _ => Route::Unknown,
        },
    }
}

fn is_api_path(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

fn fault_endpoint(route: &Route<'_>) -> Endpoint {
    match route {
        Route::Authorize => Endpoint::Authorize,
        Route::Token => Endpoint::Token,
        Route::Contacts => Endpoint::Create,
        Route::Search => Endpoint::Search,
        Route::Contact(_) => Endpoint::Update,
        _ => Endpoint::Other,
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> std::result::Result<Resp, DropConnection> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let resp = match read_body(&parts.headers, body).await {
        Ok(body) => {
            let req = Req {
                method,
                path,
                query: parts.uri.query().map(str::to_owned),
                headers: parts.headers,
                body,
            };
            respond_to(&shared, req).await?
        }
        Err(BodyError::TooLarge) => respond::with_header(
            respond::payload_too_large(MAX_BODY_BYTES),
            header::CONNECTION,
            "close",
        ),
        Err(BodyError::Broken) => return Err(DropConnection),
    };
    // Paths only: queries carry codes and states, which stay out of the trace.
    shared.printer.trace(&format!(
        "{} {} -> {} ({} ms)",
        parts.method,
        parts.uri.path(),
        resp.status().as_u16(),
        started.elapsed().as_millis()
    ));
    Ok(resp)
}

enum BodyError {
    TooLarge,
    Broken,
}

/// Reads the body, keeping at most `MAX_BODY_BYTES`. An oversized body is still read (and
/// thrown away) up to `DRAIN_LIMIT_BYTES`, so the client finishes sending and sees the 413
/// instead of a broken pipe.
async fn read_body(headers: &HeaderMap, body: Incoming) -> std::result::Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > DRAIN_LIMIT_BYTES as u64) {
        return Err(BodyError::TooLarge);
    }
    match tokio::time::timeout(BODY_READ_TIMEOUT, collect_capped(body)).await {
        Ok(result) => result,
        Err(_) => Err(BodyError::Broken),
    }
}

async fn collect_capped(mut body: Incoming) -> std::result::Result<Bytes, BodyError> {
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Broken)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total > DRAIN_LIMIT_BYTES {
            return Err(BodyError::TooLarge);
        }
        if total <= MAX_BODY_BYTES {
            kept.extend_from_slice(&data);
        }
    }
    if total > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge);
    }
    Ok(Bytes::from(kept))
}

/// Counts, applies latency and faults, then dispatches.
async fn respond_to(shared: &Shared, req: Req) -> std::result::Result<Resp, DropConnection> {
    let route = route(&req.path);
    let is_api = is_api_path(&req.path);
    // Admin calls are the tests' own probes: they are not counted as traffic.
    if let Route::Admin(name) = route {
        return Ok(admin::handle(shared, &req, name));
    }
    {
        let mut state = shared.state();
        state.counters.requests += 1;
        state.counters.api_requests += u64::from(is_api);
        state.counters.token_requests += u64::from(route == Route::Token);
    }
    if is_api && !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let fault = {
        let mut state = shared.state();
        let fault = state.faults.take(fault_endpoint(&route));
        state.counters.faults_injected += u64::from(fault.is_some());
        fault
    };
    match fault {
        None => Ok(dispatch(shared, &req, &route)),
        Some(FaultKind::Delay(wait)) => {
            tokio::time::sleep(wait).await;
            Ok(dispatch(shared, &req, &route))
        }
        Some(FaultKind::Lost(wait)) => {
            let _processed = dispatch(shared, &req, &route);
            tokio::time::sleep(wait).await;
            Err(DropConnection)
        }
        Some(kind) => Ok(fault_response(kind)),
    }
}

fn dispatch(shared: &Shared, req: &Req, route: &Route<'_>) -> Resp {
    let method = &req.method;
    match route {
        Route::Authorize if method == Method::GET || method == Method::POST => {
            oauth::authorize(shared, req)
        }
        Route::Authorize => respond::method_not_allowed("GET, POST"),
        Route::Token if method == Method::POST => oauth::token(shared, req),
        Route::Contacts | Route::Search | Route::Contact(_) => contacts(shared, req, route),
        Route::Quote(slug) if method == Method::GET => {
            respond::html(StatusCode::OK, pages::quote(slug))
        }
        Route::Token => respond::method_not_allowed("POST"),
        Route::Quote(_) => respond::method_not_allowed("GET"),
        Route::Admin(_) | Route::Unknown => respond::not_found(&req.path),
    }
}

/// The `/v2/contacts` family: method check, then bearer check, then the endpoint.
fn contacts(shared: &Shared, req: &Req, route: &Route<'_>) -> Resp {
    let allowed = match route {
        Route::Contact(_) => Method::PATCH,
        _ => Method::POST,
    };
    if req.method != allowed {
        return respond::method_not_allowed(allowed.as_str());
    }
    let agent = match api::authenticate(shared, &req.headers) {
        Ok(agent) => agent,
        Err(resp) => return *resp,
    };
    match route {
        Route::Contact(id) => api::update(shared, &agent, id, &req.body),
        Route::Search => api::search(shared, &agent, &req.body),
        _ => api::create(shared, &agent, &req.body),
    }
}

fn fault_response(kind: FaultKind) -> Resp {
    match kind {
        FaultKind::RateLimited { retry_after_secs } => respond::with_header(
            respond::api_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests; retry later",
            ),
            header::RETRY_AFTER,
            &retry_after_secs.to_string(),
        ),
        FaultKind::Status { code, html } => status_fault(code, html),
        FaultKind::Malformed => {
            let truncated = r#"{"data": {"contact": {"id": "c7716192-7625-4351"#;
            respond::json_text(StatusCode::OK, truncated)
        }
        FaultKind::Html => respond::html(StatusCode::OK, pages::login()),
        // Handled before the response is built; kept total so a new kind cannot panic.
        FaultKind::Delay(_) | FaultKind::Lost(_) => {
            respond::empty(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

fn status_fault(code: u16, html: bool) -> Resp {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Error");
    if html || status.is_server_error() {
        return respond::html(status, pages::gateway_error(status.as_u16(), reason));
    }
    respond::api_error(status, &format!("http_{}", status.as_u16()), reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/v2/contacts"), Route::Contacts);
        assert_eq!(route("/v2/contacts/search"), Route::Search);
        assert_eq!(route("/v2/contacts/abc"), Route::Contact("abc"));
        assert_eq!(route("/v2/contacts/abc/x"), Route::Unknown);
        assert_eq!(route("/v2/contacts/"), Route::Unknown);
        assert_eq!(route("/__sandbox/stats"), Route::Admin("stats"));
        assert_eq!(route("/quotes/ann-lee-1"), Route::Quote("ann-lee-1"));
        assert!(is_api_path("/v2/nothing") && !is_api_path("/v20"));
    }
}
