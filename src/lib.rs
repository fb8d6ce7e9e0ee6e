//! hsm: a command-line client for the HealthSherpa for Medicare Partner API v2.

// What the binary and the integration tests use is public: `main`, the clap definitions (the
// tests render help, man pages and completions from them), the TLS provider set-up (the
// tests' own HTTPS clients need it), the sandbox environment's published constants, and the
// few items re-exported below. Everything else is private to the crate, so the compiler
// reports what nothing uses.
mod api;
mod auth;
mod blocking;
mod bounded;
mod bulk;
pub mod cli;
mod commands;
mod config;
mod contact;
mod credentials;
mod env_vars;
mod error;
pub mod http;
mod import;
mod interrupt;
mod ledger;
// The man page sections clap cannot derive; the test generator renders them.
pub mod manual;
mod output;
mod pace;
mod paths;
mod private_file;
mod retry;
mod rows;
pub mod sandbox_env;
mod secret;
mod select;
mod session;
mod settings;
mod shapes;
mod sync;
mod webhooks;

/// For the integration tests: the sandbox command's flags to the emulator's config (tests start
/// it in-process), the printer it takes, and the client's Contact validation (compared with the
/// sandbox's own in `tests/it/schema_agreement.rs`).
pub use commands::sandbox::config as sandbox_config;
pub use contact::schema as contact_schema;
pub use output::Printer;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::error::{CliError, Exit};

/// Parse, run, render the error, map to an exit code. `--help`, `--version` and bad flags
/// return before any runtime, client or keychain connection exists.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && asks_for_json(&args) => {
            Printer::default().error_json(&usage_error(&e));
            return ExitCode::from(Exit::Usage.code());
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Usage.code()
            } else {
                Exit::Success.code()
            });
        }
    };
    let json = cli.command.wants_json();
    // Needs no runtime, network or keychain: answer before any of them exists.
    if let cli::Command::Completions { shell, .. } = cli.command {
        commands::completions(shell);
        return ExitCode::SUCCESS;
    }
    if let cli::Command::Complete { kind } = cli.command {
        commands::complete_values(kind, &cli.global.selection());
        return ExitCode::SUCCESS;
    }
    let printer = Printer::new(cli.global.quiet, cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let err = CliError::bug(format!("cannot start the async runtime: {e}"));
            report(printer, &err, json);
            return ExitCode::from(Exit::Bug.code());
        }
    };
    let outcome = runtime.block_on(commands::dispatch(cli, printer));
    // Threads left waiting on stdin or a socket must not keep the process alive.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(printer, &err, json);
            ExitCode::from(err.exit.code())
        }
    }
}

fn report(printer: Printer, err: &CliError, json: bool) {
    if json {
        printer.error_json(err);
    } else {
        printer.error(err);
    }
}

/// `--json` among the arguments (before a `--`): a command line clap refused still gets its
/// error as JSON.
fn asks_for_json(args: &[OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// clap's error as hsm's: its first line the message, its closing advice the hint.
fn usage_error(e: &clap::Error) -> CliError {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let message = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    let hint = lines
        .filter(|l| l.starts_with("tip: ") || l.starts_with("For more information"))
        .map(|l| l.trim_start_matches("tip: "))
        .collect::<Vec<_>>()
        .join(" ");
    let err = CliError::usage(message);
    if hint.is_empty() {
        err
    } else {
        err.with_hint(hint)
    }
}
