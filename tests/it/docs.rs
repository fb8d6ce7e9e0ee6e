//! What the documentation says, as a reader gets it: `man -l` on the checked-in pages (man-db
//! must be installed), `hsm --help`, and the README's tables.

use std::path::PathBuf;
use std::process::Command;

use crate::common::tools;
use crate::common::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A page as `man -l` shows it, at a given width, in plain ASCII.
fn man(page: &str, width: u32) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("man")
        .arg("-l")
        .arg(root().join("man").join(page))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("LC_ALL", "C")
        .env("MANWIDTH", width.to_string())
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .expect("man-db (`man`) is installed");
    assert!(out.status.success(), "man -l {page}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The lines of one section of a rendered page (without its heading).
fn section<'a>(page: &'a str, title: &str) -> Vec<&'a str> {
    page.lines()
        .skip_while(|l| l.trim_end() != title)
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect()
}

fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The exit codes and their meanings, from the README's table.
fn readme_exit_codes() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let table = &readme[readme.find("## Exit codes").unwrap()..];
    table
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split(" | ").collect();
            match cells.as_slice() {
                [code, meaning] if code.trim().parse::<u8>().is_ok() => {
                    Some((code.trim().to_string(), meaning.trim().to_string()))
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
fn the_exit_codes_read_the_same_in_help_man_page_and_readme() {
    if !tools::present(&[&tools::MAN]) {
        return;
    }
    let readme = readme_exit_codes();
    let codes: Vec<&str> = readme.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["0", "1", "2", "3", "4", "5", "6", "130"]);
    // Exit 2 in a bulk run: the valid rows were sent (issue 26: "nothing was sent" was wrong).
    let two = &readme[2].1;
    assert!(
        two.contains("bulk run") && two.contains("valid ones were"),
        "{two}"
    );
    assert!(!two.contains("nothing was sent."), "{two}");
    assert!(readme[6].1.contains("etcd"), "exit 6 names etcd");

    let help = stdout(&TestEnv::new().run(&["--help"]));
    let help = squeeze(&help[help.find("Exit status:").expect("--help has the table")..]);
    let page = man("hsm.1", 2000);
    let exit_section = section(&page, "EXIT STATUS");
    let man_text = squeeze(&exit_section.join("\n"));
    for (code, meaning) in &readme {
        let entry = format!("{code} {meaning}");
        assert!(help.contains(&entry), "--help lacks `{entry}`:\n{help}");
        assert!(
            man_text.contains(&entry),
            "man hsm lacks `{entry}`:\n{man_text}"
        );
    }
}

#[test]
fn an_import_with_some_invalid_rows_sends_the_valid_ones_and_exits_2() {
    let (_sb, env) = logged_in(&[]);
    let file = env.path("mixed.csv");
    write_file(
        &file,
        "external_id,first_name,last_name,birth_date\nM1,Ann,Lee,1950-01-01\nM2,Bob,Ray,02/30/1950\n",
    );
    let out = env.run(&["contacts", "import", file.to_str().unwrap(), "--json"]);
    assert_exit(&out, 2);
    let summary: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["created"], 1, "{summary}");
    assert_eq!(summary["invalid"], 1, "{summary}");
}

/// Two spaces between words where no sentence ends, twice in a line: a justified line. (Once
/// is the gap after a tag, as `0      Success.` in EXIT STATUS.)
fn justified(line: &str) -> bool {
    let text = line.trim();
    let stretched = text.match_indices("  ").filter(|&(i, _)| {
        let before = text[..i].chars().last().unwrap_or(' ');
        let after = text[i..].trim_start().chars().next().unwrap_or(' ');
        before != ' ' && !".:?!".contains(before) && after != ' '
    });
    stretched.count() >= 2
}

#[test]
fn command_pages_have_examples_as_written_notes_unjustified_and_their_own_footer() {
    if !tools::present(&[&tools::MAN]) {
        return;
    }
    let page = man("hsm-contacts-import.1", 80);
    assert!(!page.contains("EXTRA"), "{page}");
    let examples = section(&page, "EXAMPLES");
    assert!(
        examples.iter().any(|l| l.trim_end()
            == "       hsm contacts import crm-export.csv --dry-run       # what a run would do; nothing sent"),
        "examples keep their spacing:\n{}",
        examples.join("\n")
    );
    let notes = section(&page, "NOTES");
    assert!(
        squeeze(&notes.join(" ")).contains("a re-run of the same file"),
        "{page}"
    );
    let footer = page.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(
        footer.starts_with("hsm 0.1.0") || footer.contains(" hsm ") || footer.starts_with("hsm "),
        "footer names hsm: {footer}"
    );
    assert!(footer.ends_with("hsm-contacts-import(1)"), "{footer}");
    assert!(!footer.contains("import 0.1.0"), "{footer}");

    for name in std::fs::read_dir(root().join("man")).unwrap() {
        let name = name.unwrap().file_name().into_string().unwrap();
        let page = man(&name, 80);
        // The header and footer lines are laid out in columns by design.
        let bad: Vec<&str> = page
            .lines()
            .filter(|l| !l.trim_end().ends_with("(1)") && justified(l))
            .collect();
        // Example lines keep their own alignment: only filled text is checked.
        let bad: Vec<&&str> = bad
            .iter()
            .filter(|l| !section(&page, "EXAMPLES").contains(l))
            .collect();
        assert!(bad.is_empty(), "{name} has justified lines: {bad:#?}");
    }
}

#[test]
fn the_top_page_example_shows_the_report_also_when_rows_were_invalid() {
    if !tools::present(&[&tools::MAN]) {
        return;
    }
    let page = man("hsm.1", 2000);
    let examples = squeeze(&section(&page, "EXAMPLES").join("\n"));
    assert!(
        examples.contains("hsm contacts import crm.csv; hsm contacts import crm.csv --show-report"),
        "{examples}"
    );
    assert!(!examples.contains("crm.csv && hsm contacts import crm.csv --show-report"));
}

#[test]
fn commands_that_use_no_session_hide_and_refuse_env_profile_and_config() {
    if !tools::present(&[&tools::MAN]) {
        return;
    }
    let env = TestEnv::new();
    for (command, help_args, page) in [
        (
            &["sandbox"][..],
            &["sandbox", "--help"][..],
            "hsm-sandbox.1",
        ),
        (
            &["completions", "bash"],
            &["completions", "--help"],
            "hsm-completions.1",
        ),
        (
            &["webhooks", "listen"],
            &["webhooks", "listen", "--help"],
            "hsm-webhooks-listen.1",
        ),
    ] {
        let help = stdout(&env.run(help_args));
        let page = man(page, 200);
        for flag in ["--env", "--profile", "--config"] {
            // As an option (the text may mention `hsm login --env sandbox`).
            let option = format!("{flag} <");
            assert!(
                !help.contains(&option),
                "{help_args:?} shows {flag}:\n{help}"
            );
            assert!(
                !page.contains(&option),
                "{command:?}'s man page shows {flag}"
            );
            let mut args = command.to_vec();
            args.extend([flag, "x"]);
            let out = env.run(&args);
            assert_exit(&out, 2);
            assert!(
                stderr(&out).contains(&format!("{flag} has no effect on this command")),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
    // Where they mean something, they are still there.
    assert!(stdout(&env.run(&["status", "--help"])).contains("--env <NAME>"));
    // HSM_ENV and friends (or the flags before the subcommand) are not an error there.
    let mut env = TestEnv::new();
    env.set("HSM_ENV", "staging")
        .set("HSM_PROFILE", "ci")
        .set("HSM_CONFIG", "/nonexistent/config.toml");
    assert_exit(&env.run(&["completions", "bash"]), 0);
    assert_exit(&env.run(&["--env", "staging", "completions", "bash"]), 0);
}

#[test]
fn one_convention_for_a_body_from_a_file_said_in_both_helps() {
    let env = TestEnv::new();
    let api = squeeze(&stdout(&env.run(&["api", "--help"])));
    assert!(
        api.contains("A body from a file is --input FILE, as in gh api; @FILE is only for contacts create and update, whose --data also takes inline JSON"),
        "{api}"
    );
    let create = squeeze(&stdout(&env.run(&["contacts", "create", "--help"])));
    assert!(
        create.contains("--data takes inline JSON, @FILE or - (as curl's -d); hsm api, whose bodies come only from files, takes --input FILE as gh api does"),
        "{create}"
    );

    // `--input @FILE`, the other convention, is answered with the right spelling.
    let (_sb, env) = logged_in(&[]);
    write_file(&env.path("body.json"), "{}");
    let out = env
        .cmd()
        .current_dir(env.path(""))
        .args([
            "api",
            "contacts",
            "--env",
            "sandbox",
            "--input",
            "@body.json",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(
            "hint: --input takes the file name as is (as gh api does): --input body.json"
        ),
        "{}",
        stderr(&out)
    );
}

/// The README's layout table names every top-level module of the client (`src/NAME.rs` or
/// `src/NAME/`), so a new one is not left out (issue 25 found `sync/`, `pace/`, `bounded.rs`
/// and `credentials/etcd` once missing).
#[test]
fn the_readme_layout_names_every_top_level_module() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("\nLayout").expect("the README's layout table");
    let table = &readme[start..start + readme[start..].find("\n\n###").unwrap()];
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("src")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let shown = if entry.file_type().unwrap().is_dir() {
            format!("`src/{name}/")
        } else {
            format!("`src/{name}`")
        };
        if !table.contains(&shown) {
            missing.push(shown);
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "not in the README's layout: {missing:?}"
    );
}
