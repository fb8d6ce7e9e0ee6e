use crate::credentials;
use crate::error::Result;
use crate::output::Printer;
use crate::settings::Selection;

/// Remove this environment and profile's record, and nothing else (the client secret stays,
/// so the next login does not ask for it again). Logging out twice is not an error.
pub async fn run(global: &Selection, printer: Printer) -> Result<()> {
    let settings = crate::select::settings_for_session(global, printer)?;
    let store = credentials::open_store(&settings.store)?;
    let account = settings.account();
    if credentials::delete_record(store.as_ref(), &account)? {
        printer.status(&format!(
            "Logged out of {} (profile {}); removed the credentials from {}.",
            settings.env,
            settings.profile,
            store.in_words()
        ));
        // The Partner API documents no revocation endpoint (RFC 7009), so say what this did.
        printer.status(
            "Only the local copy was removed: the server documents no way to revoke a refresh token, so it stays valid until it expires.",
        );
    } else {
        printer.status(&format!(
            "Not logged in to {} (profile {}); nothing to remove.",
            settings.env, settings.profile
        ));
    }
    Ok(())
}
