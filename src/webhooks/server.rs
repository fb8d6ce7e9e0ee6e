//! The receiver's HTTP side on hyper (the same stack as the sandbox, its own code): bounded
//! connections, header and body deadlines, a 1 MiB body cap, and a stop that lets requests in
//! flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use super::event::{self, Event};
use super::sink::{Outcome, Sinks};
use crate::output::Printer;
use crate::secret::Secret;

/// Connections served at once; further ones wait in the accept queue.
const MAX_CONNECTIONS: usize = 128;
/// Largest event accepted; larger bodies get 413.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How much of an oversized body is read and discarded so the sender sees the 413.
const DRAIN_LIMIT_BYTES: usize = 8 * 1024 * 1024;
/// A sender that has not sent its request headers by then is dropped (slow-loris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A sender that has not sent its whole body by then is dropped.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

type Resp = Response<Full<Bytes>>;

/// What every request shares.
pub(crate) struct Receiver {
    pub(crate) key: Secret,
    pub(crate) path: String,
    pub(crate) sinks: Sinks,
    pub(crate) printer: Printer,
    pub(crate) json: bool,
}

/// Tells the connections to stop, and waits for them and the events they hand on.
pub(crate) struct Stopper {
    stop: watch::Sender<bool>,
    alive: mpsc::Receiver<()>,
}

/// A guard each connection and event holds; the stop waits until none is left.
#[derive(Clone)]
pub(crate) struct Alive(#[allow(dead_code)] mpsc::Sender<()>);

pub(crate) fn stopper() -> (Stopper, Alive, watch::Receiver<bool>) {
    let (stop, stopped) = watch::channel(false);
    let (alive, alive_rx) = mpsc::channel(1);
    (
        Stopper {
            stop,
            alive: alive_rx,
        },
        Alive(alive),
        stopped,
    )
}

impl Stopper {
    /// Asks every connection to finish its request in flight and close, then waits for them.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.send(true);
        // Resolves once every `Alive` clone is dropped.
        let _ = self.alive.recv().await;
    }
}

/// Accepts connections until `stopped` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    receiver: Arc<Receiver>,
    alive: Alive,
    mut stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = stopped.changed() => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(_) => {
                // Usually out of file descriptors: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (receiver, alive, stopped) = (receiver.clone(), alive.clone(), stopped.clone());
        tokio::spawn(async move {
            connection(stream, peer, receiver, alive, stopped).await;
            drop(permit);
        });
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    receiver: Arc<Receiver>,
    alive: Alive,
    mut stopped: watch::Receiver<bool>,
) {
    let service_alive = alive.clone();
    let service =
        service_fn(move |request| handle(receiver.clone(), request, peer, service_alive.clone()));
    let conn = http1::Builder::new()
        // A sender that shuts down its side once the request is sent still gets the answer
        // (hyper's default drops the connection at that EOF, and the sender sees no answer).
        .half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = async { drop(stopped.wait_for(|stop| *stop).await) } => {
            // Finish the request in flight, answer it, then close.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
    drop(alive);
}

async fn handle(
    receiver: Arc<Receiver>,
    request: Request<Incoming>,
    peer: SocketAddr,
    alive: Alive,
) -> Result<Resp, std::io::Error> {
    let (parts, body) = request.into_parts();
    if parts.uri.path() != receiver.path {
        return Ok(answer(StatusCode::NOT_FOUND, "no such path"));
    }
    if parts.method != Method::POST {
        let resp = answer(StatusCode::METHOD_NOT_ALLOWED, "use POST");
        return Ok(with(resp, header::ALLOW, "POST"));
    }
    if !key_matches(&parts.headers, &receiver.key) {
        receiver.printer.warn(&format!(
            "refused a request from {}: missing or wrong X-API-Key (401)",
            peer.ip()
        ));
        return Ok(answer(
            StatusCode::UNAUTHORIZED,
            "missing or wrong X-API-Key",
        ));
    }
    let body = match read_body(&parts.headers, body).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            receiver
                .printer
                .warn("refused a request: the body exceeds 1 MiB (413)");
            let resp = answer(StatusCode::PAYLOAD_TOO_LARGE, "the body exceeds 1 MiB");
            return Ok(with(resp, header::CONNECTION, "close"));
        }
        Err(BodyError::Broken) => {
            return Err(std::io::Error::other(
                "the request body was cut or too slow",
            ));
        }
    };
    let event = match event::parse(&body) {
        Ok(event) => Arc::new(event),
        Err(invalid) => {
            receiver
                .printer
                .warn(&format!("refused a request: {} (400)", invalid.reason()));
            return Ok(answer(StatusCode::BAD_REQUEST, invalid.reason()));
        }
    };
    // On a task of its own: a sender that hangs up does not cut an event half handed on.
    let task = tokio::spawn(take(receiver, event, alive));
    Ok(task
        .await
        .unwrap_or_else(|_| answer(StatusCode::INTERNAL_SERVER_ERROR, "internal error")))
}

async fn take(receiver: Arc<Receiver>, event: Arc<Event>, alive: Alive) -> Resp {
    let outcome = receiver.sinks.take(&event).await;
    drop(alive);
    let p = &receiver.printer;
    let described = event.describe(p.verbose);
    let (resp, name, status) = match outcome {
        Ok(Outcome::Taken) => {
            p.status(&format!("{described}: taken"));
            (answer(StatusCode::OK, "taken"), "taken", 200)
        }
        Ok(Outcome::Duplicate) => {
            p.status(&format!("{described}: already taken (redelivery)"));
            (answer(StatusCode::OK, "already taken"), "duplicate", 200)
        }
        Err(failure) => {
            p.warn(&format!(
                "{described}: {} (500: it will be sent again)",
                failure.0
            ));
            let resp = answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "not taken; send it again",
            );
            (resp, "failed", 500)
        }
    };
    if receiver.json {
        p.json_line(&event.summary(name, status));
    }
    resp
}

/// Compares digests, so neither the key's bytes nor its length show in the timing.
fn key_matches(headers: &HeaderMap, key: &Secret) -> bool {
    use sha2::Digest;
    let Some(given) = headers.get("x-api-key") else {
        return false;
    };
    let given = sha2::Sha256::digest(given.as_bytes());
    let expected = sha2::Sha256::digest(key.expose().as_bytes());
    given.ct_eq(&expected).into()
}

fn answer(status: StatusCode, message: &str) -> Resp {
    let body = if status.is_success() {
        json!({"ok": true, "message": message})
    } else {
        json!({"error": message})
    };
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn with(mut resp: Resp, name: header::HeaderName, value: &'static str) -> Resp {
    resp.headers_mut()
        .insert(name, HeaderValue::from_static(value));
    resp
}

enum BodyError {
    TooLarge,
    Broken,
}

/// Reads at most `MAX_BODY_BYTES`; an oversized body is read on (up to `DRAIN_LIMIT_BYTES`)
/// and thrown away, so the sender finishes sending and sees the 413.
async fn read_body(headers: &HeaderMap, body: Incoming) -> Result<Bytes, BodyError> {
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

async fn collect_capped(mut body: Incoming) -> Result<Bytes, BodyError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_must_match_exactly() {
        let key = Secret::new("k-123");
        let mut h = HeaderMap::new();
        assert!(!key_matches(&h, &key));
        h.insert("x-api-key", HeaderValue::from_static("k-12"));
        assert!(!key_matches(&h, &key));
        h.insert("x-api-key", HeaderValue::from_static("k-123"));
        assert!(key_matches(&h, &key));
    }
}
