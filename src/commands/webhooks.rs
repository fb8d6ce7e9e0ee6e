//! `hsm webhooks listen`: the flags as `webhooks::Options`; the work is `crate::webhooks`'s.

use crate::cli::ListenArgs;
use crate::error::Result;
use crate::output::Printer;
use crate::webhooks::{self, Options};

pub async fn listen(args: ListenArgs, printer: Printer) -> Result<()> {
    webhooks::listen(options(args), printer).await
}

/// `--env`, `--profile` and `--config` (refused by clap on this command) are left behind.
fn options(args: ListenArgs) -> Options {
    Options {
        bind: args.bind,
        port: args.port,
        path: args.path,
        output: args.output,
        exec: args.exec,
        forward_to: args.forward_to,
        timeout: args.timeout,
        json: args.json,
    }
}
