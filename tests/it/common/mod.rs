//! Shared test plumbing: a hermetic environment per test (its own HOME, config, data and
//! cache dirs; no proxy; file store unless a test opts into a private keychain), a login
//! driver that plays the browser, and helpers to read what hsm stored.

#![allow(dead_code)]

// Daemons that die with the test binary (PR_SET_PDEATHSIG): Linux only.
#[cfg(target_os = "linux")]
pub mod daemons;
// A private D-Bus session and gnome-keyring: the Secret Service, which is hsm's keychain
// where keyring-core uses zbus-secret-service-keyring-store (same cfg as in Cargo.toml).
// macOS and Windows have their own keychains, which no test can sandbox this way.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
pub mod keyring;
pub mod ledger;
pub mod proxy_trap;
pub mod sandbox;
#[cfg(target_os = "linux")]
pub mod small_disk;
pub mod tls_front;
pub mod tools;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

// The cleared environment of a process a test starts; the sandbox's tests share it.
pub use hsm_test_support::clean_env;
pub use ledger::{ledger_created, ledger_history_sent, ledger_path, ledger_pending};
pub use sandbox::Sandbox;
#[cfg(target_os = "linux")]
pub use small_disk::SmallDisk;

pub const HSM: &str = env!("CARGO_BIN_EXE_hsm");

pub struct TestEnv {
    pub dir: TempDir,
    pub vars: Vec<(String, String)>,
}

impl TestEnv {
    /// A fresh environment using the file store.
    pub fn new() -> TestEnv {
        let dir = tempfile::tempdir().unwrap();
        let p = |s: &str| dir.path().join(s).display().to_string();
        let vars = vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), p("home")),
            ("XDG_CONFIG_HOME".into(), p("config")),
            ("XDG_DATA_HOME".into(), p("data")),
            ("XDG_CACHE_HOME".into(), p("cache")),
            ("NO_PROXY".into(), "*".into()),
            ("HSM_CREDENTIAL_STORE".into(), "file".into()),
            // Point at a bus that does not exist, so nothing can reach a real keychain.
            (
                "DBUS_SESSION_BUS_ADDRESS".into(),
                format!("unix:path={}", p("no-bus")),
            ),
        ];
        TestEnv { dir, vars }
    }

    /// A fresh environment whose sandbox env points at `sb`.
    pub fn with_sandbox(sb: &Sandbox) -> TestEnv {
        let mut env = TestEnv::new();
        env.set("HSM_SANDBOX_URL", &sb.base_url);
        env
    }

    pub fn set(&mut self, k: &str, v: &str) -> &mut Self {
        self.unset(k);
        self.vars.push((k.into(), v.into()));
        self
    }

    pub fn unset(&mut self, k: &str) -> &mut Self {
        self.vars.retain(|(key, _)| key != k);
        self
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The default file-store location under this environment.
    pub fn creds_file(&self) -> PathBuf {
        self.path("data/hsm/credentials.json")
    }

    pub fn cmd(&self) -> Command {
        self.cmd_of(Path::new(HSM))
    }

    /// `program` (another hsm binary: a packaged or installed one) in this environment.
    pub fn cmd_of(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.env_clear();
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c.stdin(Stdio::null());
        c
    }

    /// Run hsm to completion with a 60 s guard.
    pub fn run(&self, args: &[&str]) -> Output {
        run_with_timeout(self.cmd().args(args), Duration::from_secs(60))
    }

    /// The stored entries of the file store (account → raw value), empty when absent.
    pub fn stored(&self) -> serde_json::Map<String, serde_json::Value> {
        match std::fs::read_to_string(self.creds_file()) {
            Ok(text) => {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                v["entries"].as_object().cloned().unwrap_or_default()
            }
            Err(_) => Default::default(),
        }
    }

    pub fn stored_record(&self, account: &str) -> Option<serde_json::Value> {
        self.stored()
            .get(account)
            .map(|v| serde_json::from_str(v.as_str().unwrap()).unwrap())
    }
}

pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hsm");
    wait_output(child, limit)
}

/// Waits for the child, reading its stdout and stderr as it goes: a child that writes more
/// than a pipe holds (a long `-v` trace) would otherwise block on the write and never exit.
pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "hsm did not finish within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&err.join().unwrap_or_default())
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "unexpected exit status\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// A loopback port that was free a moment ago. It is released on return, so any process can
/// take it before the caller binds it (a `connect()` anywhere on the machine draws its local
/// port from the same range): whoever needs that exact port must treat "in use" as a
/// collision and start again on a new one, as `LoginRun::start_with` does.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What hsm says when it cannot bind its redirect port because another socket holds it.
pub fn port_taken_message(port: u16) -> String {
    format!("port {port} on 127.0.0.1 is already in use")
}

/// How many times a login is started again because its redirect port was taken by another
/// process between `free_port` and hsm's bind.
pub const PORT_ATTEMPTS: u32 = 5;

/// Tell (in the test's captured output) that `port` was taken by another process before hsm
/// bound it, so the scenario starts again on a new port.
#[allow(clippy::print_stderr)]
pub fn note_port_taken(attempt: u32, port: u16) {
    eprintln!(
        "attempt {attempt}: another process took port {port} before hsm bound it; starting again on a new port"
    );
}

/// True if hsm's listener on `port` is gone: the port can be bound again, or, when another
/// process has meanwhile drawn it as the local port of an outgoing connection (the same
/// race as in `free_port`, the other way round), nothing listens on it. A listener still
/// there, hsm's or one a child inherited from it, accepts the connection and makes this false.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
        || std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(5),
        )
        .is_err()
}

/// What `hsm login` reads on stdin.
pub enum LoginStdin<'a> {
    /// Nothing: stdin is the null device.
    Null,
    /// A pipe with this text already written; the writing end stays open in `child.stdin`.
    Pipe(&'a str),
}

/// An `hsm login` in progress: its stderr is collected on a thread; the authorize URL it
/// prints is extracted.
pub struct LoginRun {
    pub child: Child,
    pub url: String,
    pub redirect_port: u16,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

fn is_authorize_url(line: &str) -> bool {
    line.trim_start().starts_with("http") && line.contains("/oauth/authorize?")
}

impl LoginRun {
    pub fn start(env: &TestEnv, extra: &[&str]) -> LoginRun {
        Self::start_with(env, extra, LoginStdin::Null)
    }

    /// Start `hsm login --redirect-uri http://127.0.0.1:PORT/callback` and wait for the
    /// authorize URL (`url` stays empty if none comes).
    ///
    /// hsm must bind exactly PORT, which `free_port` could not keep for it. If another
    /// process took PORT in between, hsm exits 5 saying so, before it has printed a URL or
    /// sent anything. That is proof of a collision (we hold no socket on PORT, and hsm binds
    /// it once), not a failure of the test, so the start is made again on a new port. Any
    /// other outcome is handed to the test as it is.
    pub fn start_with(env: &TestEnv, extra: &[&str], stdin: LoginStdin) -> LoginRun {
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port();
            let mut run = Self::spawn(env, extra, &stdin, port);
            let taken = port_taken_message(port);
            match run.wait_for_line(|l| is_authorize_url(l) || l.contains(&taken)) {
                Some(line) if is_authorize_url(&line) => {
                    run.url = line.trim().to_string();
                    return run;
                }
                Some(_) => {
                    let (code, err, _) = run.finish();
                    assert_eq!(code, Some(5), "{err}");
                    note_port_taken(attempt, port);
                }
                None => return run,
            }
        }
        panic!("hsm found its redirect port taken {PORT_ATTEMPTS} times in a row");
    }

    fn spawn(env: &TestEnv, extra: &[&str], stdin: &LoginStdin, port: u16) -> LoginRun {
        let redirect = format!("http://127.0.0.1:{port}/callback");
        let mut cmd = env.cmd();
        cmd.args(["login", "--redirect-uri", &redirect])
            .args(extra)
            .stdin(match stdin {
                LoginStdin::Null => Stdio::null(),
                LoginStdin::Pipe(_) => Stdio::piped(),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !extra.contains(&"--env") {
            cmd.args(["--env", "sandbox"]);
        }
        let mut child = cmd.spawn().expect("spawn hsm login");
        if let LoginStdin::Pipe(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .as_mut()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let lines = spawn_line_reader(child.stderr.take().unwrap());
        LoginRun {
            child,
            url: String::new(),
            redirect_port: port,
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait (up to 20 s) for a stderr line matching `pred`.
    pub fn wait_for_line(&mut self, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return Some(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
        None
    }

    /// Wait for exit; returns (exit code, all stderr, stdout).
    pub fn finish(mut self) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "login did not finish; stderr so far:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        let mut out = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        (status.code(), self.seen.join("\n"), out)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Wait (up to `limit`) for a line of `lines` containing `what`; the lines up to it.
#[track_caller]
pub fn wait_for_line_in(
    lines: &mpsc::Receiver<String>,
    what: &str,
    limit: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(what);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {what:?}; saw:\n{}", seen.join("\n")),
        }
    }
}

/// The lines of a child's stderr as they come, read on a thread.
pub fn spawn_line_reader(stderr: ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub fn http() -> reqwest::blocking::Client {
    hsm::http::install_crypto_provider();
    reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Play the user at the sandbox's consent page: submit the form with `decision`, and return
/// the URL the sandbox redirects the browser to (not followed).
pub fn consent(authorize_url: &str, decision: &str) -> String {
    let url = reqwest::Url::parse(authorize_url).unwrap();
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("decision".into(), decision.into()));
    form.push(("agent_email".into(), "agent@sandbox.test".into()));
    let page = http().get(authorize_url).send().unwrap();
    assert_eq!(page.status(), 200, "consent page");
    form.push(("form_nonce".into(), form_nonce(&page.text().unwrap())));
    let action = format!("{}://{}{}", url.scheme(), url.authority(), url.path());
    let resp = http().post(action).form(&form).send().unwrap();
    assert!(
        resp.status().is_redirection(),
        "consent POST answered {}",
        resp.status()
    );
    resp.headers()["location"].to_str().unwrap().to_string()
}

/// The nonce of the sandbox's consent form (a hidden `form_nonce` field), as a browser posts it.
pub fn form_nonce(page: &str) -> String {
    let marker = "name=\"form_nonce\" value=\"";
    let start = page.find(marker).expect("a form_nonce field") + marker.len();
    page[start..].split('"').next().unwrap().to_string()
}

/// Follow a redirect to hsm's loopback listener like a browser; returns (status, page).
pub fn visit(url: &str) -> (u16, String) {
    let r = http().get(url).send().unwrap();
    (r.status().as_u16(), r.text().unwrap_or_default())
}

pub fn write_file(path: &Path, text: &str) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// Log in to the sandbox env (which must run with --auto-approve) with extra args.
pub fn login_auto(env: &TestEnv, extra: &[&str]) {
    let run = LoginRun::start(env, extra);
    let r = http().get(&run.url).send().unwrap();
    assert!(
        r.status().is_redirection(),
        "sandbox must run with --auto-approve"
    );
    visit(r.headers()["location"].to_str().unwrap());
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(0), "login failed: {err}");
}

/// Rewrite the stored record of `account` in the file store.
pub fn edit_record(env: &TestEnv, account: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = env.creds_file();
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut rec: serde_json::Value =
        serde_json::from_str(file["entries"][account].as_str().unwrap()).unwrap();
    edit(&mut rec);
    file["entries"][account] = serde_json::Value::String(rec.to_string());
    std::fs::write(&path, file.to_string()).unwrap();
}

/// A sandbox (auto-approving, with `extra` flags) and an environment logged in to it.
pub fn logged_in(extra: &[&str]) -> (Sandbox, TestEnv) {
    let mut args = vec!["--auto-approve"];
    args.extend_from_slice(extra);
    let sb = Sandbox::start(&args);
    let env = TestEnv::with_sandbox(&sb);
    login_auto(&env, &[]);
    (sb, env)
}
