//! hsm: a command-line client for the HealthSherpa for Medicare Partner API v2.

pub mod api;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod contact;
pub mod credentials;
pub mod env_vars;
pub mod error;
pub mod http;
pub mod import;
pub mod interrupt;
pub mod output;
pub mod paths;
pub mod sandbox_env;
pub mod session;
pub mod settings;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::error::{CliError, Exit};
use crate::output::Printer;

/// Parse, run, render the error, map to an exit code. `--help`, `--version` and bad flags
/// return before any runtime, client or keychain connection exists.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Usage.code()
            } else {
                Exit::Success.code()
            });
        }
    };
    // Needs no runtime, network or keychain: answer before any of them exists.
    if let cli::Command::Completions { shell } = cli.command {
        commands::completions(shell);
        return ExitCode::SUCCESS;
    }
    let printer = Printer {
        quiet: cli.global.quiet,
        verbose: cli.global.verbose,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            printer.error(&CliError::bug(format!(
                "cannot start the async runtime: {e}"
            )));
            return ExitCode::from(Exit::Bug.code());
        }
    };
    let outcome = runtime.block_on(commands::dispatch(cli, printer));
    // Threads left waiting on stdin or a socket must not keep the process alive.
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            printer.error(&err);
            ExitCode::from(err.exit.code())
        }
    }
}
