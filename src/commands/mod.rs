//! Dispatch: one `match`, one module per command.

mod api;
mod completion;
mod contacts;
mod import;
mod ledger;
mod login;
mod logout;
pub mod sandbox;
mod status;
mod sync;
mod token;
mod webhooks;

use crate::cli::{Cli, Command, ContactsCommand, WebhooksCommand};
use crate::error::Result;
use crate::output::Printer;

pub async fn dispatch(cli: Cli, printer: Printer) -> Result<()> {
    // The settings layer gets the global options as plain values, never clap's types.
    let global = &cli.global.selection();
    match cli.command {
        Command::Login(args) => login::run(global, args, printer).await,
        Command::Logout => logout::run(global, printer).await,
        Command::Status(flag) => status::run(global, flag.json, printer).await,
        Command::Token(cmd) => token::run(global, cmd, printer).await,
        Command::Contacts(cmd) => match cmd {
            ContactsCommand::Create(args) => contacts::create(global, args, printer).await,
            ContactsCommand::Update(args) => contacts::update(global, args, printer).await,
            ContactsCommand::Search(args) => contacts::search(global, args, printer).await,
            ContactsCommand::Import(args) => import::run(global, args, printer).await,
            ContactsCommand::Sync(args) => sync::run(global, args, printer).await,
        },
        Command::Ledger(cmd) => ledger::run(global, cmd, printer).await,
        Command::Completions { shell, .. } => {
            completions(shell);
            Ok(())
        }
        Command::Sandbox(args) => sandbox::run(args, printer).await,
        Command::Api(args) => api::run(global, args, printer).await,
        Command::Webhooks(WebhooksCommand::Listen(args)) => webhooks::listen(args, printer).await,
        Command::Complete { kind } => {
            complete_values(kind, global);
            Ok(())
        }
    }
}

/// Completion scripts come from the same definitions as the parser, so they cannot drift;
/// generating them touches no network and no keychain.
pub fn completions(shell: clap_complete::Shell) {
    let out = completion::script(shell);
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), &out);
}

/// `hsm __complete env|profile`, which the completion scripts call: one name per line.
pub fn complete_values(kind: crate::cli::CompleteKind, global: &crate::settings::Selection) {
    let kind = match kind {
        crate::cli::CompleteKind::Env => "env",
        crate::cli::CompleteKind::Profile => "profile",
    };
    let mut out = std::io::stdout().lock();
    for name in completion::values(kind, global) {
        if std::io::Write::write_all(&mut out, format!("{name}\n").as_bytes()).is_err() {
            return;
        }
    }
}
