//! The bundled Partner API v2 emulator (`hsm sandbox`). Being written.

use crate::cli::SandboxArgs;
use crate::error::{CliError, Result};
use crate::output::Printer;

pub const CLIENT_ID: &str = "hsm-sandbox";
pub const CLIENT_SECRET: &str = "hsm-sandbox-secret";
pub const DEFAULT_PORT: u16 = 8787;

pub async fn run(_args: SandboxArgs, _printer: Printer) -> Result<()> {
    Err(CliError::bug("sandbox not implemented yet"))
}
