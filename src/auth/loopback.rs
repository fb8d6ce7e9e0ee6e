//! The loopback listener that catches the authorization redirect (RFC 8252 §7.3). It binds
//! before the browser opens, answers only the callback path (204 for /favicon.ico, 404 for
//! anything else), hands over exactly one callback, and is gone when the login ends.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use url::Url;

use crate::error::{CliError, Result};

/// The query of a redirect, and the browser request waiting for our answer (None when the
/// redirect URL was pasted on stdin).
pub struct Callback {
    pub params: HashMap<String, String>,
    request: Option<tiny_http::Request>,
}

impl Callback {
    pub fn from_pasted(url: &Url) -> Callback {
        Callback {
            params: url.query_pairs().into_owned().collect(),
            request: None,
        }
    }

    /// Answer the browser (once the real outcome is known).
    pub fn respond(self, status: u16, html: String) {
        let Some(request) = self.request else {
            return;
        };
        let mut response = tiny_http::Response::from_string(html).with_status_code(status);
        // The page is self-contained: no script, no external resource may load.
        for (name, value) in [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            (
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
            ("Referrer-Policy", "no-referrer"),
        ] {
            if let Ok(header) = tiny_http::Header::from_bytes(name, value) {
                response.add_header(header);
            }
        }
        let _ = request.respond(response);
    }
}

pub struct Listener {
    server: Arc<tiny_http::Server>,
    path: String,
    /// The address actually bound (port 0 picks one); only the tests need it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub addr: SocketAddr,
}

/// Bind the redirect URI's host and port. `localhost` binds 127.0.0.1, which is what
/// browsers reach first for it on every platform we ship.
pub fn bind(redirect: &Url) -> Result<Listener> {
    let port = redirect.port().unwrap_or(80);
    let host = match redirect.host() {
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => "127.0.0.1".to_string(),
    };
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| CliError::usage(format!("cannot resolve {host}:{port}")))?;
    let listener = TcpListener::bind(addr).map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!("port {port} on {host} is already in use")
        } else {
            format!("cannot listen on {addr}: {e}")
        };
        CliError::network(format!("{why}, so the login redirect cannot be received"))
            .with_cause(&e)
            .with_hint(format!(
                "stop the program using it, or pass --redirect-uri http://127.0.0.1:PORT{} with another port registered for your client (or set HSM_REDIRECT_URI)",
                redirect.path()
            ))
    })?;
    let addr = listener.local_addr().unwrap_or(addr);
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| CliError::network(format!("cannot serve on {addr}: {e}")))?;
    Ok(Listener {
        server: Arc::new(server),
        path: redirect.path().to_string(),
        addr,
    })
}

/// Stops the listener thread when dropped.
pub struct Running {
    stop: Arc<AtomicBool>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Listener {
    /// Serve in a thread until the first request on the callback path that carries this
    /// login's `state`, which is sent back. Any other request to the path (no state, a
    /// foreign one: a web page's `<img>` can send it) is answered 400 and the wait goes on.
    pub fn start(self, state: String) -> (oneshot::Receiver<Callback>, Running) {
        let (tx, rx) = oneshot::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        std::thread::spawn(move || {
            let expected = Expected {
                path: &self.path,
                state: &state,
            };
            if let Some(cb) = serve_until_callback(&self.server, &expected, &thread_stop) {
                let _ = tx.send(cb);
            }
        });
        (rx, Running { stop })
    }
}

/// What the callback must look like.
struct Expected<'a> {
    path: &'a str,
    state: &'a str,
}

fn serve_until_callback(
    server: &tiny_http::Server,
    expected: &Expected<'_>,
    stop: &AtomicBool,
) -> Option<Callback> {
    let path = expected.path;
    while !stop.load(Ordering::SeqCst) {
        let request = match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(_) => return None,
        };
        let url = request.url().to_string();
        let (req_path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
        if req_path == path && *request.method() == tiny_http::Method::Get {
            let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let ours = params
                .get("state")
                .is_some_and(|s| super::constant_time_eq(s, expected.state));
            if !ours {
                let page = "This request does not belong to the login in progress; it was ignored.";
                let _ =
                    request.respond(tiny_http::Response::from_string(page).with_status_code(400));
                continue;
            }
            return Some(Callback {
                params,
                request: Some(request),
            });
        }
        let status = if req_path == "/favicon.ico" { 204 } else { 404 };
        let _ = request.respond(tiny_http::Response::empty(status));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[tokio::test]
    async fn favicon_204_others_404_then_one_callback() {
        let redirect = Url::parse("http://127.0.0.1:0/callback").unwrap();
        let listener = bind(&redirect).unwrap();
        let addr = listener.addr;
        let (rx, _running) = listener.start("s1".to_string());
        assert!(get(addr, "/favicon.ico").starts_with("HTTP/1.1 204"));
        assert!(get(addr, "/other").starts_with("HTTP/1.1 404"));
        // No state, or a foreign one: 400, and the listener keeps waiting.
        assert!(get(addr, "/callback?error=access_denied").starts_with("HTTP/1.1 400"));
        assert!(get(addr, "/callback?code=x&state=s2").starts_with("HTTP/1.1 400"));
        let browser = std::thread::spawn(move || get(addr, "/callback?code=c1&state=s1"));
        let cb = rx.await.unwrap();
        assert_eq!(cb.params["code"], "c1");
        assert_eq!(cb.params["state"], "s1");
        cb.respond(200, "<p>done</p>".into());
        let page = browser.join().unwrap();
        assert!(page.starts_with("HTTP/1.1 200") && page.contains("<p>done</p>"));
        assert!(
            page.contains("Content-Security-Policy: default-src 'none'"),
            "{page}"
        );
    }

    #[test]
    fn port_in_use_names_the_port_and_the_fix() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let redirect = Url::parse(&format!("http://127.0.0.1:{port}/callback")).unwrap();
        let err = bind(&redirect).err().unwrap();
        assert!(
            err.message.contains(&format!("port {port}")),
            "{}",
            err.message
        );
        assert!(err.hint.unwrap().contains("--redirect-uri"));
    }
}
