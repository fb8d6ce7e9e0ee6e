//! `hsm webhooks listen`: receive HealthSherpa's submission webhooks (API.md §6), like
//! `stripe listen`. The key is checked, the body is checked, and a new event is answered 200
//! only once every sink has taken it, so HealthSherpa's at-least-once delivery becomes
//! exactly-once for the partner (see `sink`).

mod event;
mod server;
mod sink;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::env_vars as ev;
use crate::error::{CliError, Result};
use crate::interrupt::Interrupt;
use crate::output::Printer;
use crate::settings;
use server::Receiver;
use sink::{Record, Sinks};

/// Shorter keys get a warning (the key is the only authentication HealthSherpa documents).
const MIN_KEY_CHARS: usize = 16;

/// What `hsm webhooks listen` was asked to do (its flags, as plain values).
#[derive(Debug)]
pub struct Options {
    pub bind: IpAddr,
    pub port: u16,
    /// The path HealthSherpa posts to.
    pub path: String,
    /// The JSON Lines file new events are appended to (and the record of those taken).
    pub output: Option<PathBuf>,
    /// The command each new event is piped to.
    pub exec: Option<String>,
    /// The URL each new event is posted to.
    pub forward_to: Option<String>,
    /// How long `exec` and `forward_to` may take per event.
    pub timeout: Duration,
    pub json: bool,
}

pub async fn listen(args: Options, printer: Printer) -> Result<()> {
    let key = settings::webhook_api_key().ok_or_else(|| {
        CliError::usage(format!(
            "{} is not set: it holds the API key HealthSherpa sends in X-API-Key",
            ev::HSM_WEBHOOK_API_KEY
        ))
        .with_hint(format!(
            "export {}=... (the key you gave HealthSherpa; for the sandbox, any long random string)",
            ev::HSM_WEBHOOK_API_KEY
        ))
    })?;
    if key.expose().chars().count() < MIN_KEY_CHARS {
        printer.warn(&format!(
            "{} is shorter than {MIN_KEY_CHARS} characters: anyone who guesses it can post events; use a long random key",
            ev::HSM_WEBHOOK_API_KEY
        ));
    }
    if !args.path.starts_with('/') {
        return Err(CliError::usage(format!(
            "--path must start with `/`, e.g. /webhooks/healthsherpa (got `{}`)",
            args.path
        )));
    }
    let sinks = open_sinks(&args, printer)?;
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| bind_error(addr, &e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| CliError::network(format!("cannot read the listener's address: {e}")))?;
    // Catch Ctrl-C before saying we listen, so an early one still stops us cleanly.
    let interrupt = Interrupt::install();
    announce(&args, &sinks, bound, printer);
    let receiver = Arc::new(Receiver {
        key,
        path: args.path,
        sinks,
        printer,
        json: args.json,
    });
    run_until_interrupted(listener, receiver, interrupt, printer).await
}

fn open_sinks(args: &Options, printer: Printer) -> Result<Sinks> {
    let (record, taken) = match &args.output {
        Some(path) => {
            let (record, taken, unreadable) = Record::open(path)?;
            if unreadable > 0 {
                printer.warn(&format!(
                    "{}: {unreadable} line(s) are not events; left as they are",
                    path.display()
                ));
            }
            (Some(record), taken)
        }
        None => (None, Default::default()),
    };
    let forward = match &args.forward_to {
        Some(url) => {
            let url = settings::parse_endpoint(url, "--forward-to")?;
            Some((crate::http::client(args.timeout, None, &url)?, url))
        }
        None => None,
    };
    if args.timeout.is_zero() {
        return Err(CliError::usage("--timeout must be at least 1 second"));
    }
    Ok(Sinks::new(
        record,
        taken,
        args.exec.clone(),
        forward,
        args.timeout,
    ))
}

fn bind_error(addr: SocketAddr, e: &std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        CliError::network(format!(
            "port {} on {} is already in use",
            addr.port(),
            addr.ip()
        ))
        .with_hint("choose another with --port PORT, or --port 0 for a free one")
    } else {
        CliError::network(format!("cannot listen on {addr}: {e}")).with_cause(e)
    }
}

fn announce(args: &Options, sinks: &Sinks, bound: SocketAddr, printer: Printer) {
    printer.status(&format!(
        "hsm webhooks: listening on http://{bound}{}",
        args.path
    ));
    if let Some(record) = &sinks.output {
        printer.status(&format!("  events appended to {}", record.path().display()));
    }
    if let Some(command) = &sinks.exec {
        printer.status(&format!("  each event on the stdin of: {command}"));
    }
    if let Some((_, url)) = &sinks.forward {
        printer.status(&format!("  each event forwarded to {url}"));
    }
    if sinks.is_empty() {
        printer.warn(
            "no --output, --exec or --forward-to: events are shown and acknowledged, not kept",
        );
    }
    printer.status("Press Ctrl-C to stop.");
}

/// SIGTERM (a service manager stopping us) is handled as Ctrl-C is.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// Serves until Ctrl-C (or SIGTERM), then lets the requests in flight finish (exit 0); a second Ctrl-C
/// stops at once (exit 130).
async fn run_until_interrupted(
    listener: TcpListener,
    receiver: Arc<Receiver>,
    mut interrupt: Interrupt,
    printer: Printer,
) -> Result<()> {
    let (stopper, alive, stopped) = server::stopper();
    let serving = tokio::spawn(server::serve(listener, receiver.clone(), alive, stopped));
    tokio::select! {
        () = interrupt.recv() => {}
        () = terminated() => {}
    }
    printer.status("stopping: finishing the requests in flight (Ctrl-C again to stop now)");
    tokio::select! {
        () = stopper.stop() => {
            let _ = serving.await;
            printer.status("hsm webhooks: stopped");
            Ok(())
        }
        () = interrupt.recv() => {
            receiver.sinks.stop_commands();
            Err(CliError::interrupted())
        }
    }
}
