//! `hsm contacts import`: the flags as `import::Options`; the work is `crate::import`'s.

use std::time::Duration;

use crate::cli::ImportArgs;
use crate::error::Result;
use crate::import::{self, Options};
use crate::output::Printer;
use crate::settings::Selection;

pub async fn run(global: &Selection, args: ImportArgs, printer: Printer) -> Result<()> {
    import::run(global, options(args), printer).await
}

fn options(args: ImportArgs) -> Options {
    Options {
        file: args.file,
        concurrency: args.concurrency,
        rate: args.rate,
        report: args.report,
        dry_run: args.dry_run,
        resend_unknown: args.resend_unknown,
        format: args.format.map(Into::into),
        json: args.json,
        show_report: args.show_report,
        wait: args.wait.wait.map(Duration::from_secs),
    }
}
