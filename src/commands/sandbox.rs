//! `hsm sandbox`: the only place the client reaches the emulator. It turns the command's flags
//! into the sandbox's own configuration, prints the URL, and stops on Ctrl-C.

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
        faults: args.faults,
        quiet: printer.quiet,
        verbose: printer.verbose,
    }
}

pub(crate) async fn run(args: SandboxArgs, printer: Printer) -> Result<()> {
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
