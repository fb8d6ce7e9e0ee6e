//! Which environment a command that needs a session talks to, when none was chosen: `--env`,
//! `HSM_ENV` and `default_env` decide first; else, when exactly one environment has a stored
//! session for this profile, that one (so `hsm login --env sandbox` sticks); when several do,
//! the user must choose; when none does, the built-in default (production), as before.

use std::collections::BTreeSet;

use crate::credentials;
use crate::error::{CliError, Result};
use crate::output::Printer;
use crate::settings::{self, EnvSettings, Overrides, Selection, TokenSource};

pub fn settings_for_session(global: &Selection, printer: Printer) -> Result<EnvSettings> {
    let settings = settings::resolve(global, &attended(printer))?;
    if settings.env_chosen || matches!(settings.token, TokenSource::Variable(_)) {
        return Ok(settings);
    }
    // A store that cannot be opened or listed decides nothing here: the command reports the
    // problem itself when it needs the store.
    let Some(envs) = stored_envs(&settings) else {
        return Ok(settings);
    };
    match envs.len() {
        0 => Ok(settings),
        1 => {
            let env = envs.into_iter().next().unwrap_or_default();
            if env == settings.env {
                return Ok(settings);
            }
            printer.trace(&format!(
                "no environment chosen (--env, HSM_ENV, default_env): using {env}, the only one with a stored session for profile {}",
                settings.profile
            ));
            let chosen = Selection {
                env: Some(env),
                ..global.clone()
            };
            settings::resolve(&chosen, &attended(printer))
        }
        _ => Err(several(&settings.profile, &envs)),
    }
}

/// No flag overrides; whether a person can answer a keychain's unlock prompt is the printer's
/// to say.
pub fn attended(printer: Printer) -> Overrides {
    Overrides {
        attended: printer.can_prompt(),
        ..Overrides::default()
    }
}

fn stored_envs(settings: &EnvSettings) -> Option<BTreeSet<String>> {
    let store = credentials::open_store(&settings.store).ok()?;
    let sessions = credentials::sessions(store.as_ref()).ok()?;
    Some(
        sessions
            .into_iter()
            .filter(|(_, profile)| *profile == settings.profile)
            .map(|(env, _)| env)
            .collect(),
    )
}

fn several(profile: &str, envs: &BTreeSet<String>) -> CliError {
    let list: Vec<&str> = envs.iter().map(String::as_str).collect();
    CliError::usage(format!(
        "no environment chosen, and profile {profile} has sessions in several: {}",
        list.join(", ")
    ))
    .with_hint(format!(
        "choose one with --env NAME (e.g. --env {}), HSM_ENV, or default_env in the config file; `hsm status` lists them",
        list[0]
    ))
}
