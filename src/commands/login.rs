use crate::auth::{self, LoginOptions};
use crate::cli::LoginArgs;
use crate::error::{CliError, Result};
use crate::output::Printer;
use crate::settings::{self, Overrides, Selection};

pub async fn run(global: &Selection, args: LoginArgs, printer: Printer) -> Result<()> {
    if args.timeout.is_zero() {
        return Err(CliError::usage("--timeout must be at least 1 second"));
    }
    let settings = settings::resolve(
        global,
        &Overrides {
            client_id: args.client_id,
            redirect_uri: args.redirect_uri,
            scope: args.scope,
            attended: printer.can_prompt(),
        },
    )?;
    let config_file = match (&global.config, crate::paths::default_config_file()) {
        (Some(explicit), _) => explicit.display().to_string(),
        (None, Some(default)) => default.display().to_string(),
        (None, None) => "the config file".to_string(),
    };
    let opts = LoginOptions {
        config_file,
        client_secret_stdin: args.client_secret_stdin,
        no_browser: args.no_browser,
        timeout: args.timeout,
    };
    auth::login(&settings, &opts, printer).await
}
