//! `hsm sandbox`: the only place the client reaches the emulator. It turns the command's flags
//! into the sandbox's own configuration, prints the URL, and stops on Ctrl-C.

use std::num::NonZeroU32;
use std::time::Duration;

use hsm_sandbox::{Config, Server};

use crate::cli::SandboxArgs;
use crate::error::{CliError, Result};
use crate::interrupt::Interrupt;
use crate::output::Printer;

/// The sandbox's configuration for these flags (`-q` and `-v` included). Public for the tests,
/// which start the same configuration in-process.
pub fn config(args: SandboxArgs, printer: Printer) -> Config {
    Config {
        port: args.port,
        access_ttl: Duration::from_secs(args.access_ttl),
        auto_approve: args.auto_approve,
        latency: Duration::from_millis(args.latency_ms),
        rate_limit: args.rate_limit.and_then(NonZeroU32::new),
        faults: args.faults,
        quiet: printer.quiet,
        verbose: printer.verbose,
        webhooks: args.webhook_url.map(|url| hsm_sandbox::Webhooks {
            url,
            api_key: args.webhook_api_key.map(|key| key.expose().to_owned()),
            retry_scale: args.webhook_retry_scale,
            on_create: args.webhook_on_create,
        }),
    }
}

pub(crate) async fn run(mut args: SandboxArgs, printer: Printer) -> Result<()> {
    if args.webhook_url.is_some() && args.webhook_api_key.is_none() {
        args.webhook_api_key = crate::settings::webhook_api_key();
        if args.webhook_api_key.is_none() {
            printer.warn(
                "--webhook-url without a key (HSM_WEBHOOK_API_KEY or --webhook-api-key): deliveries carry no X-API-Key",
            );
        }
    }
    let server = Server::bind(config(args, printer))
        .await
        .map_err(start_error)?;
    // Catch Ctrl-C before telling anyone we are up, so an early one still stops us cleanly.
    let mut interrupt = Interrupt::install();
    // The URL alone on stdout (scripts wait for it); the rest on stderr.
    printer.result(server.url());
    server.announce();
    tokio::select! {
        () = server.serve() => {}
        () = interrupt.recv() => printer.status("sandbox stopped"),
    }
    Ok(())
}

fn start_error(error: hsm_sandbox::Error) -> CliError {
    let port_in_use = matches!(error, hsm_sandbox::Error::PortInUse { .. });
    let err = CliError::network(error.to_string());
    if port_in_use {
        err.with_hint("choose another with --port PORT, or --port 0 for a free one")
    } else {
        err
    }
}
