//! The shipped bash completion script (`completions/hsm.bash`), run by a real bash: what a
//! user gets after `hsm --env <TAB>`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// The words bash offers for the command line `words` (the last one being completed), with
/// the checked-in script sourced and `hsm` on PATH, in `env`'s environment.
fn complete(env: &TestEnv, words: &[&str]) -> Vec<String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("completions/hsm.bash");
    let bin_dir = Path::new(HSM).parent().unwrap();
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n_hsm '{}' '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[0],
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let mut cmd = Command::new("bash");
    cmd.args(["--norc", "--noprofile", "-c", &program])
        .env_clear()
        .current_dir(env.path(""));
    for (k, v) in &env.vars {
        cmd.env(k, v);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    cmd.env("PATH", format!("{}:{path}", bin_dir.display()));
    let out = cmd.output().expect("bash runs");
    assert!(out.status.success(), "{out:?}");
    let mut words: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    words.sort();
    words
}

#[test]
fn env_completes_the_built_in_and_the_config_files_environments() {
    let env = TestEnv::new();
    // A file in the working directory: before, `--env <TAB>` offered file names.
    write_file(&env.path("notes.txt"), "x");
    assert_eq!(
        complete(&env, &["hsm", "--env", ""]),
        ["production", "sandbox", "staging"]
    );
    write_file(
        &env.path("config/hsm/config.toml"),
        "[env.acme]\nclient_id = \"c\"\nauthorize_url = \"https://a.example/o/authorize\"\ntoken_url = \"https://a.example/o/token\"\napi_url = \"https://api.a.example/v2\"\n",
    );
    assert_eq!(
        complete(&env, &["hsm", "contacts", "import", "--env", ""]),
        ["acme", "production", "sandbox", "staging"]
    );
    assert_eq!(
        complete(&env, &["hsm", "status", "--env", "st"]),
        ["staging"]
    );
    // A command that cannot be run as typed still gets the built-in names.
    assert_eq!(
        complete(&env, &["/nonexistent/hsm", "--env", ""]),
        ["production", "sandbox", "staging"]
    );
}

#[test]
fn profile_completes_default_and_the_file_stores_profiles() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let env = TestEnv::with_sandbox(&sb);
    login_auto(&env, &["--profile", "ci"]);
    assert_eq!(
        complete(&env, &["hsm", "token", "show", "--profile", ""]),
        ["ci", "default"]
    );
}

#[test]
fn commands_that_refuse_env_do_not_offer_it() {
    let env = TestEnv::new();
    let offered = complete(&env, &["hsm", "sandbox", "--"]);
    assert!(offered.contains(&"--port".to_string()), "{offered:?}");
    for flag in ["--env", "--profile", "--config"] {
        assert!(!offered.contains(&flag.to_string()), "{offered:?}");
    }
    let top = complete(&env, &["hsm", ""]);
    assert!(top.contains(&"contacts".to_string()), "{top:?}");
    assert!(!top.iter().any(|w| w.contains("__complete")), "{top:?}");
}
