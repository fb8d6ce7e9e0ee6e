//! An HTTPS front for benchmarks, the one the integration tests use:
//!
//! ```text
//! cargo run --example tls_front -- UPSTREAM_ADDR CA_PEM_OUT
//! ```
//!
//! serves `https://localhost:PORT` in front of the HTTP server at UPSTREAM_ADDR (`127.0.0.1:8787`
//! or `http://127.0.0.1:8787`, e.g. `hsm sandbox`), with a certificate from a fresh CA whose
//! PEM it writes to CA_PEM_OUT (for `HSM_CA_FILE`). The URL is the first line of stdout. On
//! SIGTERM, SIGINT or when stdin closes, it prints `handshakes N` (TLS handshakes completed,
//! one per connection) and exits 0; keep stdin open (a pipe) while it should run.

#[path = "../tests/it/common/tls_front.rs"]
mod tls_front;

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

const USAGE: &str = "usage: tls_front UPSTREAM_ADDR CA_PEM_OUT";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [upstream, ca_out] = args.as_slice() else {
        return fail(USAGE, 2);
    };
    let Some(upstream) = resolve(upstream) else {
        return fail(&format!("cannot resolve {upstream:?}\n{USAGE}"), 2);
    };
    let front = tls_front::tls_front(upstream);
    if let Err(e) = std::fs::write(ca_out, &front.ca_pem) {
        return fail(&format!("cannot write {ca_out}: {e}"), 1);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start a runtime: {e}"), 1),
    };
    if let Err(e) = runtime.block_on(serve_until_stopped(&front)) {
        return fail(&format!("cannot write to stdout: {e}"), 1);
    }
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "handshakes {}", front.handshakes()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// `HOST:PORT`, with or without `http://` and a trailing `/`.
fn resolve(text: &str) -> Option<SocketAddr> {
    let bare = text.strip_prefix("http://").unwrap_or(text);
    bare.trim_end_matches('/').to_socket_addrs().ok()?.next()
}

/// Prints the URL once the stop signals are caught (an early SIGTERM still ends it cleanly),
/// then waits for one of them or for stdin to close.
async fn serve_until_stopped(front: &tls_front::TlsFront) -> std::io::Result<()> {
    let stop = stop_signal()?;
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    // A plain thread: a blocked read of stdin must not hold the runtime's shutdown.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed.send(());
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", front.url())?;
    stdout.flush()?;
    drop(stdout);
    tokio::select! {
        () = stop => {}
        _ = stdin_closed => {}
    }
    Ok(())
}

#[cfg(unix)]
fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn fail(message: &str, code: u8) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "tls_front: {message}");
    ExitCode::from(code)
}
