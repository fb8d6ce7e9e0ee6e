//! Dispatch: one `match`, one module per command.

use crate::cli::{Cli, Command};
use crate::error::{CliError, Result};
use crate::output::Printer;

pub async fn dispatch(cli: Cli, printer: Printer) -> Result<()> {
    match cli.command {
        Command::Sandbox(args) => crate::sandbox::run(args, printer).await,
        _ => Err(CliError::bug("not implemented yet")),
    }
}
