//! `hsm contacts sync`: the flags as `sync::Options`; the work is `crate::sync`'s.

use std::time::Duration;

use crate::cli::SyncArgs;
use crate::error::Result;
use crate::output::Printer;
use crate::settings::Selection;
use crate::sync::{self, Options};

pub async fn run(global: &Selection, args: SyncArgs, printer: Printer) -> Result<()> {
    sync::run(global, options(args), printer).await
}

fn options(args: SyncArgs) -> Options {
    Options {
        file: args.file,
        concurrency: args.concurrency,
        rate: args.rate,
        dry_run: args.dry_run,
        json: args.json,
        skip_invalid: args.skip_invalid,
        resend_unknown: args.resend_unknown,
        format: args.format.map(Into::into),
        wait: args.wait.wait.map(Duration::from_secs),
    }
}
