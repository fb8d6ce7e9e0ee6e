//! `hsm-sandbox`: a local emulator of the HealthSherpa for Medicare Partner API v2: an OAuth
//! authorization server and the contacts API on one loopback port, with fault injection for
//! testing clients. `hsm sandbox` starts it; tests start it in-process with [`start`].
//!
//! It shares no code with the client: its request validation is written from the API
//! documentation as the server side, so a wrong rule in the client cannot be mirrored here.
//!
//! This file owns the listener, the connection bounds and the routing; each endpoint family
//! lives in its own module.

mod admin;
mod api;
mod faults;
mod log;
mod oauth;
mod pages;
mod pkce;
mod respond;
mod running;
mod schema;
mod state;
mod traffic;
mod webhooks;

use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use faults::{Endpoint, Kind as FaultKind};
use log::Log;
use respond::Resp;
use state::{Limits, State};

pub use faults::{Fault, SpecError};
pub use running::{Running, start};
pub use schema::{Mode, Violation};
pub use webhooks::{WebhookUrl, Webhooks};

/// The one OAuth client the sandbox knows. Published: `hsm login --env sandbox` uses them.
pub const CLIENT_ID: &str = "hsm-sandbox";
pub const CLIENT_SECRET: &str = "hsm-sandbox-secret";
/// The port `hsm sandbox` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8787;
/// Every answer names the sandbox's instance in this header: a random id per start, so a
/// client can tell a restarted sandbox (which holds no contacts) from the one it wrote to.
pub const INSTANCE_HEADER: &str = "hsm-sandbox-instance";

/// Connections served at once; further ones wait in the accept queue.
const MAX_CONNECTIONS: usize = 256;
/// Largest request body read; larger ones get 413.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How much of an oversized body is read and discarded before answering 413.
const DRAIN_LIMIT_BYTES: usize = 16 * 1024 * 1024;
/// A client that has not sent its whole body by then is dropped (no slow-loris bodies).
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A body that sends nothing for this long is dropped: 256 idle bodies (every connection slot)
/// would otherwise hold every other client off for `BODY_READ_TIMEOUT`.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// A client that has not sent its request headers by then is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run the sandbox.
#[derive(Debug, Clone)]
pub struct Config {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Lifetime of issued access tokens.
    pub access_ttl: Duration,
    /// Approve every authorization request without showing the consent page.
    pub auto_approve: bool,
    /// Added before every `/v2` answer.
    pub latency: Duration,
    /// `/v2` requests per second (a token bucket of this capacity); beyond it, 429.
    pub rate_limit: Option<NonZeroU32>,
    /// Faults handed to the first matching requests, in order.
    pub faults: Vec<Fault>,
    /// Nothing on the log: no banner, no request lines.
    pub quiet: bool,
    /// Request lines also give the size of the request body.
    pub verbose: bool,
    /// Submission webhooks to send (`POST /__sandbox/webhooks/submission`), if any.
    pub webhooks: Option<Webhooks>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: DEFAULT_PORT,
            access_ttl: Duration::from_secs(3600),
            auto_approve: false,
            latency: Duration::ZERO,
            rate_limit: None,
            faults: Vec::new(),
            quiet: false,
            verbose: false,
            webhooks: None,
        }
    }
}

/// Why the sandbox could not start.
#[derive(Debug)]
pub enum Error {
    /// Another process listens on the port.
    PortInUse { port: u16 },
    /// Any other failure to listen.
    Listen { port: u16, source: std::io::Error },
    /// The bound socket could not tell its address.
    Address(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PortInUse { port } => write!(f, "port {port} on 127.0.0.1 is already in use"),
            Error::Listen { port, source } => {
                write!(f, "cannot listen on 127.0.0.1:{port}: {source}")
            }
            Error::Address(source) => write!(f, "cannot read the sandbox's address: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::PortInUse { .. } => None,
            Error::Listen { source, .. } | Error::Address(source) => Some(source),
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(error: Error) -> Self {
        let kind = match &error {
            Error::PortInUse { .. } => std::io::ErrorKind::AddrInUse,
            Error::Listen { source, .. } | Error::Address(source) => source.kind(),
        };
        std::io::Error::new(kind, error)
    }
}

/// The contact validation the sandbox applies to a create (`Mode::Create`) or update body's
/// `contact` object, in the order the 400 body lists the violations. Exposed for the test
/// that feeds the same contacts to the client's validation and requires both to agree.
pub fn validate_contact(
    contact: &serde_json::Map<String, serde_json::Value>,
    mode: Mode,
) -> Vec<Violation> {
    schema::contact_violations(contact, mode)
}

/// What every request handler shares.
struct Shared {
    state: Mutex<State>,
    base_url: String,
    /// This start's instance id (see [`INSTANCE_HEADER`]).
    instance: HeaderValue,
    auto_approve: bool,
    latency: Duration,
    rate_limit: Option<NonZeroU32>,
    log: Log,
    webhooks: Option<Arc<webhooks::Outbox>>,
}

impl Shared {
    /// The state, even if a handler panicked while holding it (none should; a poisoned lock
    /// must not take the whole sandbox down with it).
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn limits_access_ttl(&self) -> Duration {
        self.state().limits.access_ttl
    }
}

/// A request with its body read.
struct Req {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

/// The connection is dropped without an answer (the `lost` fault, or a broken request body).
#[derive(Debug)]
struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

/// A sandbox listening on 127.0.0.1, not yet serving.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Server {
    /// Listens on `config.port`, logging to stderr.
    pub async fn bind(config: Config) -> Result<Server, Error> {
        let log = Log::stderr(config.quiet, config.verbose);
        Server::bind_logging_to(config, log).await
    }

    async fn bind_logging_to(config: Config, log: Log) -> Result<Server, Error> {
        let listener = TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AddrInUse => Error::PortInUse { port: config.port },
                _ => Error::Listen {
                    port: config.port,
                    source,
                },
            })?;
        let port = listener.local_addr().map_err(Error::Address)?.port();
        let mut state = State::new(Limits::with_access_ttl(config.access_ttl));
        state.faults.set(config.faults);
        state.bucket = config
            .rate_limit
            .map(|rate| traffic::TokenBucket::new(rate, Instant::now()));
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            base_url: format!("http://127.0.0.1:{port}"),
            instance: HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unnamed")),
            auto_approve: config.auto_approve,
            latency: config.latency,
            rate_limit: config.rate_limit,
            webhooks: config
                .webhooks
                .map(|w| Arc::new(webhooks::Outbox::new(w, log.clone()))),
            log,
        });
        Ok(Server { listener, shared })
    }

    /// `http://127.0.0.1:PORT`, the port being the one actually bound.
    pub fn url(&self) -> &str {
        &self.shared.base_url
    }

    /// The banner on the log: where to point a client, and its credentials.
    pub fn announce(&self) {
        let log = &self.shared.log;
        let base_url = self.url();
        log.status(&format!(
            "hsm sandbox: Partner API v2 emulator listening on {base_url}"
        ));
        log.status(&format!("  client id:     {CLIENT_ID}"));
        log.status(&format!("  client secret: {CLIENT_SECRET}"));
        log.status(&format!("  API base:      {base_url}/v2"));
        log.status("  log in with:   hsm login --env sandbox");
        if let Some(rate) = self.shared.rate_limit {
            log.status(&format!(
                "  rate limit:    {rate} requests/s over /v2 (429 with Retry-After beyond)"
            ));
        }
        if let Some(outbox) = &self.shared.webhooks {
            log.status(&format!("  webhooks to:   {}", outbox.url()));
            log.status(&format!(
                "  send one with: curl -X POST {base_url}/__sandbox/webhooks/submission"
            ));
        }
        log.status(
            "Sessions and contacts live in memory only: stopping the sandbox forgets them, and tokens it issued stop working.",
        );
        log.status("Press Ctrl-C to stop. One line per request follows (-q to silence).");
    }

    /// Serves until the future is dropped.
    pub async fn serve(self) {
        serve(self.listener, self.shared).await;
    }
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
    let mut body_bytes = 0;
    let resp = match read_body(&parts.headers, body).await {
        Ok(body) => {
            body_bytes = body.len();
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
    // Paths only: queries carry codes and states, and bodies personal data; neither is logged.
    let size = if shared.log.verbose() {
        format!(", {body_bytes} bytes in")
    } else {
        String::new()
    };
    shared.log.request(&format!(
        "{} {} -> {} ({} ms{size})",
        parts.method,
        parts.uri.path(),
        resp.status().as_u16(),
        started.elapsed().as_millis()
    ));
    let mut resp = resp;
    resp.headers_mut()
        .insert(INSTANCE_HEADER, shared.instance.clone());
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
    loop {
        let Ok(next) = tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame()).await else {
            return Err(BodyError::Broken);
        };
        let Some(frame) = next else {
            break;
        };
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

/// A `/v2` request being handled, counted in `api_in_flight` until this drops: also when
/// hyper drops the request's future because the client closed the connection mid-request.
struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.state().api_departure();
    }
}

/// Counts the request; a `/v2` one is also marked in flight and takes a `--rate-limit` token
/// (`Err`: the wait until one is there).
fn arrive<'a>(
    shared: &'a Shared,
    route: &Route<'_>,
    is_api: bool,
) -> (Option<InFlight<'a>>, std::result::Result<(), Duration>) {
    let mut state = shared.state();
    state.counters.requests += 1;
    state.counters.api_requests += u64::from(is_api);
    state.counters.token_requests += u64::from(*route == Route::Token);
    if !is_api {
        return (None, Ok(()));
    }
    let taken = state.api_arrival(Instant::now());
    (Some(InFlight(shared)), taken)
}

/// Counts, rate-limits, applies latency and faults, then dispatches.
async fn respond_to(shared: &Shared, req: Req) -> std::result::Result<Resp, DropConnection> {
    let route = route(&req.path);
    let is_api = is_api_path(&req.path);
    // Admin calls are the tests' own probes: they are not counted as traffic.
    if let Route::Admin(name) = route {
        return Ok(admin::handle(shared, &req, name));
    }
    // The bucket is checked on arrival, before the latency, as a gateway in front of the API
    // would: the latency stands for the network, which a 429 crosses too, so it still waits.
    let (_in_flight, taken) = arrive(shared, &route, is_api);
    if is_api && !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    if let Err(wait) = taken {
        return Ok(rate_limited(traffic::retry_after_secs(wait)));
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
        Some(FaultKind::CommitThenLost) => {
            let _committed = dispatch(shared, &req, &route);
            Err(DropConnection)
        }
        Some(FaultKind::CommitThenStatus(code)) => {
            let _committed = dispatch(shared, &req, &route);
            Ok(status_fault(code, true, None))
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

/// 429 with `Retry-After`, for `--rate-limit` and the `429` fault alike.
fn rate_limited(retry_after_secs: u64) -> Resp {
    respond::with_header(
        respond::api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests; retry later",
        ),
        header::RETRY_AFTER,
        &retry_after_secs.to_string(),
    )
}

fn fault_response(kind: FaultKind) -> Resp {
    match kind {
        FaultKind::RateLimited { retry_after_secs } => rate_limited(retry_after_secs),
        FaultKind::Status {
            code,
            html,
            retry_after_secs,
        } => status_fault(code, html, retry_after_secs),
        FaultKind::Malformed => {
            let truncated = r#"{"data": {"contact": {"id": "c7716192-7625-4351"#;
            respond::json_text(StatusCode::OK, truncated)
        }
        FaultKind::Html => respond::html(StatusCode::OK, pages::login()),
        // Handled before the response is built; kept total so a new kind cannot panic.
        FaultKind::Delay(_)
        | FaultKind::Lost(_)
        | FaultKind::CommitThenLost
        | FaultKind::CommitThenStatus(_) => respond::empty(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

fn status_fault(code: u16, html: bool, retry_after_secs: Option<u64>) -> Resp {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Error");
    let resp = if html || status.is_server_error() {
        respond::html(status, pages::gateway_error(status.as_u16(), reason))
    } else {
        respond::api_error(status, &format!("http_{}", status.as_u16()), reason)
    };
    match retry_after_secs {
        Some(secs) => respond::with_header(resp, header::RETRY_AFTER, &secs.to_string()),
        None => resp,
    }
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
