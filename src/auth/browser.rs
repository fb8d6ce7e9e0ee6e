//! Opening the login URL: `HSM_BROWSER`, then `BROWSER`, then the platform opener (the `open`
//! crate, which ignores `BROWSER`). Never waits on the launcher: some do not return until the
//! page has loaded, and the login must be listening by then.

use std::process::{Command, Stdio};

use crate::settings::BrowserChoice;

/// What happened when we tried to open the browser.
pub enum Opened {
    Launched(String),
    Skipped(&'static str),
    Failed(String),
}

pub fn open(url: &str, choice: &BrowserChoice) -> Opened {
    if let Some((spec, var)) = &choice.command {
        return launch_command(spec, url, var);
    }
    if !choice.has_display {
        return Opened::Skipped("no display found");
    }
    let mut last_err = String::from("no way to open a browser on this system");
    for mut command in open::commands(url) {
        match spawn_without_secrets(&mut command) {
            Ok(()) => return Opened::Launched("the system browser".to_string()),
            Err(e) => last_err = e.to_string(),
        }
    }
    Opened::Failed(format!("cannot open a browser: {last_err}"))
}

/// Start the browser with no stdio and without hsm's own variables: `HSM_CLIENT_SECRET`,
/// `HSM_ACCESS_TOKEN` and the like are no business of a browser (or of what it starts).
/// Reaped in the background so it never becomes a zombie, without waiting for it.
fn spawn_without_secrets(command: &mut Command) -> std::io::Result<()> {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HSM_") {
            command.env_remove(&name);
        }
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// `BROWSER` may list several commands separated like `PATH` entries (`:`, or `;` on Windows,
/// where `:` is part of `C:\...`: `std::env::split_paths` knows which); each is split on
/// whitespace, and a `%s` in it is replaced by the URL (otherwise the URL is appended), as
/// xdg-utils does.
fn launch_command(spec: &str, url: &str, var: &str) -> Opened {
    let mut last_err = String::new();
    let candidates = std::env::split_paths(spec).map(|c| c.to_string_lossy().into_owned());
    for candidate in candidates.filter(|c| !c.trim().is_empty()) {
        let (program, args) = command_line(&candidate, url);
        match spawn_without_secrets(Command::new(&program).args(&args)) {
            Ok(()) => return Opened::Launched(format!("{program} (from {var})")),
            Err(e) => last_err = format!("cannot run `{program}` from {var}: {e}"),
        }
    }
    Opened::Failed(last_err)
}

fn command_line(candidate: &str, url: &str) -> (String, Vec<String>) {
    let mut words: Vec<String> = candidate.split_whitespace().map(str::to_string).collect();
    let program = words.remove(0);
    if words.iter().any(|w| w.contains("%s")) {
        words = words.into_iter().map(|w| w.replace("%s", url)).collect();
    } else {
        words.push(url.to_string());
    }
    (program, words)
}

#[cfg(test)]
mod tests {
    use super::command_line;

    #[test]
    fn url_is_appended_or_substituted() {
        assert_eq!(
            command_line("firefox --new-window", "http://x"),
            (
                "firefox".into(),
                vec!["--new-window".into(), "http://x".into()]
            )
        );
        assert_eq!(
            command_line("w3m %s -dump", "http://x"),
            ("w3m".into(), vec!["http://x".into(), "-dump".into()])
        );
    }
}
