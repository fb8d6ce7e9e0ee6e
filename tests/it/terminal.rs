//! hsm at a real terminal (tmux): the client secret is asked without echo, and the redirect
//! URL can be pasted back when the browser is on another machine.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::tools;
use crate::common::*;

struct Tmux {
    socket: PathBuf,
    home: PathBuf,
}

/// `tmux -S SOCKET ...` with a cleared environment: the server it starts, and the shell in its
/// terminal, get PATH and the test's HOME and XDG dirs, then what the script exports; nothing
/// of the operator's (HSM_*, XDG_*) reaches the hsm they run.
fn tmux(socket: &std::path::Path, home: &std::path::Path) -> Command {
    let mut cmd = Command::new("tmux");
    clean_env(&mut cmd, home);
    cmd.arg("-S").arg(socket);
    cmd
}

impl Tmux {
    /// None when tmux is missing (the test is skipped, see `tools`).
    fn start(env: &TestEnv, script_body: &str) -> Option<Tmux> {
        if !tools::present(&[&tools::TMUX]) {
            return None;
        }
        let script = env.path("term.sh");
        let mut text = String::from("#!/bin/sh\n");
        for (k, v) in &env.vars {
            text.push_str(&format!("export {k}='{v}'\n"));
        }
        text.push_str(script_body);
        text.push_str("\necho \"EXIT=$?\"\nsleep 60\n");
        write_file(&script, &text);
        // A socket of its own for each terminal: a server told to stop may still be going
        // away on the old socket when a test starts its next terminal.
        static TERMINALS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = TERMINALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = env.path(&format!("tmux-{n}.sock"));
        let home = env.path("home");
        let status = tmux(&socket, &home)
            .args(["new-session", "-d", "-s", "t", "-x", "400", "-y", "50"])
            .arg(format!("sh {}", script.display()))
            .status()
            .unwrap();
        assert!(status.success());
        Some(Tmux { socket, home })
    }

    fn screen(&self) -> String {
        let out = tmux(&self.socket, &self.home)
            .args(["capture-pane", "-p", "-J", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, what: &str) -> String {
        self.wait_until(&format!("{what:?}"), |screen| screen.contains(what))
    }

    /// The screen, once `ready` holds for it (20 s at most).
    fn wait_until(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_line(&self, text: &str) {
        assert!(
            tmux(&self.socket, &self.home)
                .args(["send-keys", "-t", "t", "-l", text])
                .status()
                .unwrap()
                .success()
        );
        assert!(
            tmux(&self.socket, &self.home)
                .args(["send-keys", "-t", "t", "Enter"])
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = tmux(&self.socket, &self.home).arg("kill-server").status();
    }
}

#[test]
fn secret_prompt_does_not_echo_and_a_pasted_redirect_completes_the_login() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let env = TestEnv::with_sandbox(&sb);
    // hsm binds the configured redirect port itself; if another process took it after
    // free_port released it, hsm says so naming it, and the scenario starts over.
    let mut attempt = 0;
    let (term, screen) = loop {
        attempt += 1;
        let port = free_port();
        write_file(
            &env.path("config/hsm/config.toml"),
            &format!(
                "[env.acme]\nclient_id = \"hsm-sandbox\"\nauthorize_url = \"{0}/oauth/authorize\"\ntoken_url = \"{0}/oauth/token\"\napi_url = \"{0}/v2\"\nredirect_uri = \"http://127.0.0.1:{port}/callback\"\n",
                sb.base_url
            ),
        );
        let Some(term) = Tmux::start(&env, &format!("{HSM} login --env acme --no-browser")) else {
            return;
        };
        let asked = term.wait_for("Client secret for hsm-sandbox:");
        assert!(
            asked.contains("It is asked once: hsm keeps it in the file")
                && asked.contains("issued by HealthSherpa"),
            "the prompt says what the secret is and where it goes:\n{asked}"
        );
        term.type_line("hsm-sandbox-secret");
        let taken = port_taken_message(port);
        let screen = term.wait_until("the URL prompt", |s| {
            s.contains("paste the URL") || s.contains(&taken)
        });
        if !screen.contains(&taken) {
            break (term, screen);
        }
        assert!(attempt < PORT_ATTEMPTS, "port taken every time:\n{screen}");
        note_port_taken(attempt, port);
    };
    let url = screen
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http") && l.contains("/oauth/authorize?"))
        .expect("the URL is on screen")
        .to_string();
    // The browser is "elsewhere": take the redirect it would land on and paste it.
    let r = http().get(&url).send().unwrap();
    let redirect = r.headers()["location"].to_str().unwrap().to_string();
    term.type_line(&redirect);
    let screen = term.wait_for("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        !screen.contains("hsm-sandbox-secret"),
        "the secret was echoed:\n{screen}"
    );
    assert_eq!(
        env.stored()["client-secret/acme/hsm-sandbox"],
        "hsm-sandbox-secret"
    );
    assert!(env.stored_record("acme/default").is_some());
}

#[test]
fn import_shows_progress_on_a_terminal_and_none_when_piped() {
    let (_sb, env) = logged_in(&["--latency-ms", "20"]);
    let rows: String = (1..=400)
        .map(|i| format!("{{\"external_id\":\"P{i}\",\"first_name\":\"A\",\"last_name\":\"B\"}}\n"))
        .collect();
    write_file(&env.path("t.jsonl"), &rows);
    write_file(&env.path("p.jsonl"), &rows.replace("\"P", "\"Q"));
    let file = env.path("t.jsonl");
    let Some(term) = Tmux::start(
        &env,
        &format!(
            "{HSM} contacts import {} --env sandbox --concurrency 2",
            file.display()
        ),
    ) else {
        return;
    };
    // The pace is on the line: the concurrency in force (of the ceiling) and the rate.
    let live = term.wait_for("concurrency 2/2, ");
    assert!(
        !live.contains("EXIT=") && live.contains(" created, ") && live.contains(" req/s"),
        "progress is shown while the import runs:\n{live}"
    );
    // With an end: rows done of the file's 400, the rate and the time left.
    assert!(
        live.contains("/400 rows") && live.contains("/s") && live.contains(" left"),
        "done/total, rate and time left:\n{live}"
    );
    let done = term.wait_for("EXIT=");
    assert!(
        done.contains("EXIT=0") && done.contains("400 created"),
        "{done}"
    );

    let out = env.run(&[
        "contacts",
        "import",
        env.path("p.jsonl").to_str().unwrap(),
        "--env",
        "sandbox",
    ]);
    assert_exit(&out, 0);
    let err = stderr(&out);
    assert!(
        !err.contains('\r') && !err.contains(" created, 0 skipped"),
        "no progress line when piped: {err:?}"
    );
    assert_eq!(err.lines().count(), 1, "only the summary: {err}");
}

#[test]
fn over_ssh_with_no_display_hsm_says_how_to_paste_the_redirect_and_the_paste_logs_in() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let mut env = TestEnv::with_sandbox(&sb);
    // As in an SSH session: no DISPLAY, no BROWSER, and no --no-browser flag.
    env.unset("DISPLAY")
        .unset("WAYLAND_DISPLAY")
        .unset("BROWSER");
    let mut attempt = 0;
    let (term, screen) = loop {
        attempt += 1;
        let port = free_port();
        env.set(
            "HSM_REDIRECT_URI",
            &format!("http://127.0.0.1:{port}/callback"),
        );
        let Some(term) = Tmux::start(&env, &format!("{HSM} login --env sandbox")) else {
            return;
        };
        let taken = port_taken_message(port);
        let screen = term.wait_until("the paste instructions", |s| {
            s.contains("press Enter") || s.contains(&taken)
        });
        if !screen.contains(&taken) {
            assert!(screen.contains("No browser here?"), "{screen}");
            assert!(
                screen.contains(&format!("http://127.0.0.1:{port}/callback?code=")),
                "says where the browser lands:\n{screen}"
            );
            assert!(
                screen.contains(&format!("ssh -L {port}:127.0.0.1:{port}")),
                "names the tunnel alternative:\n{screen}"
            );
            break (term, screen);
        }
        assert!(attempt < PORT_ATTEMPTS, "port taken every time:\n{screen}");
        note_port_taken(attempt, port);
    };
    let url = screen
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http") && l.contains("/oauth/authorize?"))
        .expect("the URL is on screen")
        .to_string();
    let r = http().get(&url).send().unwrap();
    let redirect = r.headers()["location"].to_str().unwrap().to_string();
    term.type_line(&redirect);
    let screen = term.wait_for("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(screen.contains("Logged in to sandbox"), "{screen}");
    assert!(env.stored_record("sandbox/default").is_some());
}

// Where the OS keychain is the Secret Service: elsewhere there is always a keychain.
#[cfg(not(target_os = "macos"))]
#[test]
fn with_no_keychain_at_a_terminal_login_asks_before_using_the_file_store() {
    let sb = Sandbox::start(&["--auto-approve"]);
    let mut env = TestEnv::with_sandbox(&sb);
    env.unset("HSM_CREDENTIAL_STORE")
        .unset("DBUS_SESSION_BUS_ADDRESS");
    let run = env.path("run");
    std::fs::create_dir_all(&run).unwrap();
    env.set("XDG_RUNTIME_DIR", run.to_str().unwrap());
    // The "browser" follows the auto-approved redirect back to hsm's listener.
    env.set("BROWSER", "curl -s -o /dev/null -L");

    // No: nothing is stored, exit 6, and the variable is named.
    let Some(term) = Tmux::start(&env, &format!("{HSM} login --env sandbox")) else {
        return;
    };
    let asked = term.wait_for("Keep the tokens in this file? [y/N]");
    assert!(asked.contains("no OS keychain on this machine"), "{asked}");
    assert!(asked.contains("mode 0600"), "{asked}");
    term.type_line("n");
    let screen = term.wait_for("EXIT=");
    assert!(screen.contains("EXIT=6"), "{screen}");
    assert!(screen.contains("HSM_CREDENTIAL_STORE=file"), "{screen}");
    assert!(!env.creds_file().exists(), "nothing stored on a no");
    drop(term);

    // Yes: this login goes to the file, and hsm says how to keep using it.
    let Some(term) = Tmux::start(&env, &format!("{HSM} login --env sandbox")) else {
        return;
    };
    term.wait_for("Keep the tokens in this file? [y/N]");
    term.type_line("y");
    let screen = term.wait_for("EXIT=");
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        screen.contains("export HSM_CREDENTIAL_STORE=file"),
        "{screen}"
    );
    assert!(env.stored_record("sandbox/default").is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.creds_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Nothing else changed: the next command still looks in the keychain unless told.
    let out = env.run(&["token", "show", "--env", "sandbox"]);
    assert_exit(&out, 6);
    let out = env.run(&["status"]);
    assert_exit(&out, 4);
    assert!(
        stdout(&out).contains("needs HSM_CREDENTIAL_STORE=file"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("no OS keychain"), "{}", stderr(&out));
    env.set("HSM_CREDENTIAL_STORE", "file");
    assert_exit(&env.run(&["token", "show", "--env", "sandbox"]), 0);
}
