//! Where `hsm login` keeps the tokens. Normally the store the settings chose; on a machine
//! with no OS keychain at all (servers, containers, SSH sessions), a person at a terminal is
//! asked whether to keep them in the 0600 file store instead: an explicit yes/no that says
//! what it means, never a silent fallback. The choice holds for this login only (hsm never
//! writes the config file); hsm then says how to make it permanent. Without a terminal the
//! error names `HSM_CREDENTIAL_STORE=file`.

use crate::credentials::{self, SecretStore};
use crate::env_vars as ev;
use crate::error::Result;
use crate::output::Printer;
use crate::settings::EnvSettings;

/// The store, and whether it is the file store the user just chose in place of a keychain.
pub fn open(
    settings: &EnvSettings,
    may_ask: bool,
    printer: Printer,
) -> Result<(Box<dyn SecretStore>, bool)> {
    let missing = match credentials::open_store_for_login(&settings.store)? {
        Ok(store) => return Ok((store, false)),
        Err(missing) => missing,
    };
    if !may_ask || !printer.can_prompt() {
        return Err(missing);
    }
    let file = credentials::file_store(settings)?;
    printer.prompt(&format!(
        "{}.\n\
         hsm can keep this login's tokens (and the client secret, if it asks for one) in a file instead:\n  {}\n\
         readable by you only (mode 0600). Anyone who can read your files (root, a backup) can use the session.",
        missing.message,
        file.location()
    ));
    if !ask_yes_no("Keep the tokens in this file? [y/N] ", printer) {
        return Err(missing);
    }
    Ok((file, true))
}

/// One line from the terminal: yes or no, no by default (Enter, end of input).
fn ask_yes_no(question: &str, printer: Printer) -> bool {
    printer.prompt(question);
    let line = crate::bounded::read_line(&mut std::io::stdin().lock(), crate::bounded::LINE);
    let Ok(Some(line)) = line else {
        return false;
    };
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// After a login into the file store chosen at the question: how to keep using it.
pub fn say_how_to_keep_it(printer: Printer) {
    printer.prompt(&format!(
        "This login used the file store for this time only: other hsm commands look in the OS keychain\n\
         unless {0}=file is set. Add `export {0}=file` to your shell profile (~/.profile) to keep it.",
        ev::HSM_CREDENTIAL_STORE
    ));
}
