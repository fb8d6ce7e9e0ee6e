//! Shell completion scripts, and the values they offer for `--env` and `--profile`.
//!
//! The scripts are clap_complete's, generated from the parser's own definitions, with two
//! changes: flags hidden from the help (the refused `--env` on `hsm sandbox`) are left out, and
//! in bash, zsh and fish `--env` and `--profile` complete through `hsm __complete KIND`, which
//! adds the config file's environments and the file store's profiles to the built-in names
//! (powershell and elvish offer the built-in names only).

use clap::{Command, CommandFactory};
use clap_complete::Shell;

use crate::cli::{BUILT_IN_ENVS, Cli};
use crate::settings::Selection;

/// The script for `shell`, as `hsm completions SHELL` prints it.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut cmd = without_hidden(&cmd);
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "hsm", &mut out);
    let text = String::from_utf8(out).expect("clap_complete writes UTF-8");
    dynamic_values(shell, text).into_bytes()
}

/// A copy of a built command without hidden flags and subcommands. clap_complete's static
/// scripts offer hidden flags too; these are refused where they are hidden.
fn without_hidden(cmd: &Command) -> Command {
    let mut copy = Command::new(cmd.get_name().to_string())
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .subcommand_required(cmd.is_subcommand_required_set());
    if let Some(bin) = cmd.get_bin_name() {
        copy = copy.bin_name(bin.to_string());
    }
    if let Some(name) = cmd.get_display_name() {
        copy = copy.display_name(name.to_string());
    }
    if let Some(about) = cmd.get_about() {
        copy = copy.about(about.clone());
    }
    if let Some(about) = cmd.get_long_about() {
        copy = copy.long_about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        copy = copy.version(version.to_string());
    }
    copy = copy.visible_aliases(cmd.get_visible_aliases().map(str::to_string));
    // Globals were copied into every subcommand by `build`: copies of them stay where they are.
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        copy = copy.arg(arg.clone().global(false));
    }
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        copy = copy.subcommand(without_hidden(sub));
    }
    copy
}

/// The built-in names as clap_complete writes them, and the call to hsm that replaces them.
fn dynamic_values(shell: Shell, text: String) -> String {
    let builtin_envs = BUILT_IN_ENVS.join(" ");
    match shell {
        // The command as typed; the built-in names if it cannot be run (`~/bin/hsm`).
        Shell::Bash => text
            .replace(
                &format!("compgen -W \"{builtin_envs}\""),
                &format!(
                    "compgen -W \"$(\"${{COMP_WORDS[0]}}\" __complete env 2>/dev/null || echo {builtin_envs})\""
                ),
            )
            .replace(
                "compgen -W \"default\"",
                "compgen -W \"$(\"${COMP_WORDS[0]}\" __complete profile 2>/dev/null || echo default)\"",
            ),
        Shell::Zsh => {
            let text = text
                .replace(
                    &format!(":NAME:({builtin_envs})'"),
                    ":NAME:_hsm__values_env'",
                )
                .replace(":NAME:(default)'", ":NAME:_hsm__values_profile'");
            text.replacen(ZSH_LAST_LINES, &format!("{ZSH_HELPERS}{ZSH_LAST_LINES}"), 1)
        }
        Shell::Fish => {
            let envs: Vec<String> = BUILT_IN_ENVS.iter().map(|e| format!("{e}\\t''")).collect();
            text.replace(
                &format!("-a \"{}\"", envs.join("\n")),
                "-a \"(hsm __complete env 2>/dev/null)\"",
            )
            .replace(
                "-a \"default\\t''\"",
                "-a \"(hsm __complete profile 2>/dev/null)\"",
            )
        }
        _ => text,
    }
}

/// Where clap_complete's zsh script ends (registering `_hsm`): the helpers go before it.
const ZSH_LAST_LINES: &str = "\nif [ \"$funcstack[1]\" = \"_hsm\" ]; then";

/// The zsh functions that ask hsm for names. `hsm` by name: inside a subcommand, zsh's
/// `words` no longer starts with the command.
const ZSH_HELPERS: &str = r#"
(( $+functions[_hsm__values_env] )) ||
_hsm__values_env() {
    local -a names; names=(${(f)"$(hsm __complete env 2>/dev/null)"})
    compadd -a names
}
(( $+functions[_hsm__values_profile] )) ||
_hsm__values_profile() {
    local -a names; names=(${(f)"$(hsm __complete profile 2>/dev/null)"})
    compadd -a names
}
"#;

/// `hsm __complete env|profile`: the names to offer, one per line. Reads the config file and,
/// with the file store, the stored sessions; never a keychain, never the network. Anything
/// unreadable just offers fewer names.
pub fn values(kind: &str, global: &Selection) -> Vec<String> {
    let mut names: Vec<String> = match kind {
        "env" => {
            let mut names: Vec<String> = BUILT_IN_ENVS.iter().map(|e| e.to_string()).collect();
            if let Ok(cfg) = crate::config::load(global.config.as_deref()) {
                names.extend(cfg.env.into_keys());
            }
            names
        }
        "profile" => {
            let mut names = vec!["default".to_string()];
            names.extend(stored_profiles(global));
            names
        }
        _ => Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// The profiles of the file store's sessions; none for the keychain or etcd (asking either
/// can prompt, wait or go over the network).
fn stored_profiles(global: &Selection) -> Vec<String> {
    let Ok(settings) = crate::settings::resolve(global, &Default::default()) else {
        return Vec::new();
    };
    if !matches!(settings.store, crate::settings::StoreChoice::File { .. }) {
        return Vec::new();
    }
    crate::credentials::open_store(&settings.store)
        .and_then(|store| crate::credentials::sessions(store.as_ref()))
        .map(|sessions| sessions.into_iter().map(|(_, profile)| profile).collect())
        .unwrap_or_default()
}
