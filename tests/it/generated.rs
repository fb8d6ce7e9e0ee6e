//! Checked-in generated files (completions, man pages, `--help` snapshots, the README's table
//! of environment variables) must match what the current definitions produce.
//! `UPDATE_GENERATED=1 cargo test --test it generated` rewrites them; review the diff and
//! commit it.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::common::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GENERATED").is_some()
}

/// Compare `actual` with the file, or rewrite it when updating. Returns a problem, if any.
fn check(path: &Path, actual: &[u8]) -> Option<String> {
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return None;
    }
    match std::fs::read(path) {
        Ok(expected) if expected == actual => None,
        Ok(_) => Some(format!("{} is stale", path.display())),
        Err(_) => Some(format!("{} is missing", path.display())),
    }
}

fn assert_fresh(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{}\nrun `UPDATE_GENERATED=1 cargo test --test it generated` and commit the result",
        problems.join("\n")
    );
}

#[test]
fn completion_scripts_are_current() {
    let env = TestEnv::new();
    let mut problems = Vec::new();
    for (shell, file) in [
        ("bash", "hsm.bash"),
        ("zsh", "_hsm"),
        ("fish", "hsm.fish"),
        ("powershell", "_hsm.ps1"),
        ("elvish", "hsm.elv"),
    ] {
        let out = env.run(&["completions", shell]);
        assert_exit(&out, 0);
        assert!(!out.stdout.is_empty() && out.stderr.is_empty(), "{shell}");
        problems.extend(check(&root().join("completions").join(file), &out.stdout));
    }
    assert_fresh(problems);
}

#[test]
fn completions_need_no_keychain_or_network() {
    // A bus that does not exist, a config that cannot be read: completions do not care.
    let mut env = TestEnv::new();
    env.unset("HSM_CREDENTIAL_STORE");
    env.set("HSM_CONFIG", "/nonexistent/config.toml");
    env.set("HTTPS_PROXY", "http://127.0.0.1:9");
    assert_exit(&env.run(&["completions", "bash"]), 0);
    assert_exit(&env.run(&["completions", "nushell"]), 2);
}

#[test]
fn man_pages_are_current() {
    let dir = tempfile::tempdir().unwrap();
    write_man_pages(dir.path());
    let mut problems = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in &names {
        let actual = std::fs::read(dir.path().join(name)).unwrap();
        problems.extend(check(&root().join("man").join(name), &actual));
    }
    if !updating() {
        for entry in std::fs::read_dir(root().join("man")).into_iter().flatten() {
            let name = entry.unwrap().file_name();
            if !names.contains(&name) {
                problems.push(format!(
                    "man/{} is no longer generated",
                    name.to_string_lossy()
                ));
            }
        }
    }
    assert_fresh(problems);
}

/// One page per command, named as clap_mangen names them (`hsm-contacts-import.1`).
fn write_man_pages(dir: &Path) {
    // The pages carry the plain version: the commit and date of `--version` would make them
    // stale at every commit.
    let mut cmd = hsm::cli::Cli::command()
        .long_version(None)
        .disable_help_subcommand(true);
    cmd.build();
    fn walk(cmd: &clap::Command, top: bool, dir: &Path) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, false, dir);
        }
        let name = cmd.get_display_name().unwrap_or(cmd.get_name());
        std::fs::write(dir.join(format!("{name}.1")), page(cmd.clone(), top)).unwrap();
    }
    walk(&cmd, true, dir);
}

/// A page: clap's sections, then (hsm(1)) EXIT STATUS, ENVIRONMENT, FILES and EXAMPLES from
/// `hsm::manual`, or (the others) the long help's examples and notes, then the version.
/// Left-adjusted and unhyphenated: justified text stretches the examples' spacing.
fn page(cmd: clap::Command, top: bool) -> Vec<u8> {
    let version = cmd.get_version().unwrap_or_default().to_string();
    let man = clap_mangen::Man::new(cmd.clone()).source(format!("hsm {version}"));
    let mut out = Vec::new();
    man.render_title(&mut out).unwrap();
    out.extend(b".ad l\n.nh\n");
    man.render_name_section(&mut out).unwrap();
    man.render_synopsis_section(&mut out).unwrap();
    man.render_description_section(&mut out).unwrap();
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out).unwrap();
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out).unwrap();
    }
    if top {
        for section in hsm::manual::sections() {
            out.extend(format!(".SH \"{}\"\n", section.title).bytes());
            for (term, text) in &section.entries {
                out.extend(format!(".TP\n\\fB{}\\fR\n{}\n", roff(term), roff(text)).bytes());
            }
        }
    } else if let Some(after) = cmd.get_after_long_help() {
        out.extend(after_help_sections(&after.to_string()).bytes());
    }
    man.render_version_section(&mut out).unwrap();
    out
}

/// The long help's tail as man sections: its indented lines after `Examples:` (or
/// `Install:`) under EXAMPLES, as written (no filling), and the prose under NOTES.
fn after_help_sections(text: &str) -> String {
    let mut lines = text.lines().peekable();
    let mut out = String::new();
    if lines
        .peek()
        .is_some_and(|l| ["Examples:", "Install:"].contains(&l.trim()))
    {
        lines.next();
        out.push_str(".SH EXAMPLES\n.nf\n");
        while let Some(line) = lines.next_if(|l| l.starts_with(' ')) {
            out.push_str(&roff(line.strip_prefix("  ").unwrap_or(line)));
            out.push('\n');
        }
        out.push_str(".fi\n");
    }
    let prose: Vec<&str> = lines.collect();
    if !prose.is_empty() {
        out.push_str(".SH NOTES\n");
        for line in prose {
            out.push_str(&roff(line.trim_start()));
            out.push('\n');
        }
    }
    out
}

/// Text safe in a roff line: backslashes and hyphens escaped, no leading control character.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// The README's table of environment variables is generated from `src/env_vars.rs`, as the man
/// page's ENVIRONMENT section is: a variable added there appears in both, or this fails.
#[test]
fn the_readme_table_of_environment_variables_is_current() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = "<!-- env-vars:start: generated from src/env_vars.rs -->\n";
    let end = "<!-- env-vars:end -->";
    let from = readme.find(start).expect("the README's start marker") + start.len();
    let to = from + readme[from..].find(end).expect("the README's end marker");
    let actual = format!(
        "{}{}{}",
        &readme[..from],
        hsm::manual::environment_markdown(),
        &readme[to..]
    );
    assert_fresh(check(&path, actual.as_bytes()).into_iter().collect());
}

#[test]
fn the_top_man_page_has_exit_status_environment_files_and_examples() {
    let page = String::from_utf8(std::fs::read(root().join("man/hsm.1")).unwrap()).unwrap();
    for title in ["EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES"] {
        assert!(page.contains(&format!(".SH \"{title}\"")), "{title}");
    }
    assert!(page.contains("HSM_CREDENTIAL_STORE"));
}

/// Every command path: `[]`, `["login"]`, `["token", "show"]`, ...
fn command_paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" || sub.is_hide_set() {
            continue;
        }
        let mut p = prefix.clone();
        p.push(sub.get_name().to_string());
        command_paths(sub, p, out);
    }
}

#[test]
fn help_of_every_command_matches_its_snapshot() {
    let env = TestEnv::new();
    let mut paths = Vec::new();
    command_paths(&hsm::cli::Cli::command(), Vec::new(), &mut paths);
    let mut problems = Vec::new();
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = env.run(&args);
        assert_exit(&out, 0);
        let name = if path.is_empty() {
            "hsm".to_string()
        } else {
            format!("hsm-{}", path.join("-"))
        };
        problems.extend(check(
            &root()
                .join("tests/snapshots/help")
                .join(format!("{name}.txt")),
            &out.stdout,
        ));
    }
    assert_fresh(problems);
}

#[test]
fn every_argument_has_help_and_the_long_help_teaches_by_example() {
    fn walk(cmd: &clap::Command, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if arg.get_help().is_none() && !["help", "version"].contains(&arg.get_id().as_str()) {
                missing.push(format!("{} --{}", cmd.get_name(), arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() {
                missing.push(format!("{} (no about)", sub.get_name()));
            }
            walk(sub, missing);
        }
    }
    let cmd = hsm::cli::Cli::command();
    cmd.clone().debug_assert();
    let mut missing = Vec::new();
    walk(&cmd, &mut missing);
    assert!(missing.is_empty(), "arguments without help: {missing:?}");
    let env = TestEnv::new();
    for args in [
        &["login", "--help"][..],
        &["contacts", "create", "--help"],
        &["contacts", "import", "--help"],
    ] {
        let out = env.run(args);
        assert!(stdout(&out).contains("Examples:"), "{args:?} has examples");
    }
}
