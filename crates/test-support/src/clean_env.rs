//! The environment of a process a test starts.

use std::path::Path;
use std::process::Command;

/// Clears the environment of a process a test starts (a daemon, a terminal, a tool, chromedriver
/// and its Chromium) down to PATH, with HOME and every XDG directory inside `home`: nothing of
/// the operator's own settings (HSM_*, XDG_*, a D-Bus session, proxies) reaches it, whatever
/// they are.
pub fn clean_env<'c>(cmd: &'c mut Command, home: &Path) -> &'c mut Command {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("NO_PROXY", "*");
    for (var, dir) in [
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_CACHE_HOME", "cache"),
    ] {
        let dir = home.join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        cmd.env(var, dir);
    }
    cmd
}
