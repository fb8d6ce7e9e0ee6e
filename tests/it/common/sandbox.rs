//! A fresh sandbox for a test, stopped when the handle drops. `Sandbox::start` runs it
//! in-process (the same configuration `hsm sandbox` would build from those flags, on a thread
//! of its own); `Sandbox::spawn` runs the `hsm sandbox` command itself, for the tests of the
//! command (its stdout line, its stderr, Ctrl-C).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use clap::Parser;
use reqwest::blocking::Client;
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "hsm-sandbox";
pub const CLIENT_SECRET: &str = "hsm-sandbox-secret";
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);

pub struct Sandbox {
    pub base_url: String,
    server: Server,
    client: Client,
}

enum Server {
    InProcess(hsm_sandbox::Running),
    Process {
        child: Child,
        stderr: Arc<Mutex<String>>,
        /// The thread copying stderr; it ends at the process's exit.
        drain: Option<thread::JoinHandle<()>>,
        /// Its HOME (and XDG dirs): a cleared environment of its own.
        _home: tempfile::TempDir,
    },
}

/// A blocking client that never uses a proxy and never follows redirects, so tests see exactly
/// what the sandbox sent. One client serves every test (building one costs about 20 ms); it
/// keeps no idle connections, so none outlives the sandbox it was made to.
pub fn http_client() -> Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            hsm::http::install_crypto_provider();
            Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(0)
                .build()
                .expect("build the test HTTP client")
        })
        .clone()
}

/// The sandbox configuration `hsm sandbox --port 0 EXTRA_ARGS` builds.
pub fn config(extra_args: &[&str]) -> hsm_sandbox::Config {
    let argv = ["hsm", "sandbox", "--port", "0"].iter().chain(extra_args);
    let cli = hsm::cli::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
    let printer = hsm::Printer::new(cli.global.quiet, cli.global.verbose);
    match cli.command {
        hsm::cli::Command::Sandbox(args) => hsm::sandbox_config(args, printer),
        _ => unreachable!("parsed as `hsm sandbox`"),
    }
}

impl Sandbox {
    /// A sandbox in this process, configured as `hsm sandbox --port 0 EXTRA_ARGS` would be.
    pub fn start(extra_args: &[&str]) -> Sandbox {
        Sandbox::in_process(config(extra_args))
    }

    /// A sandbox in this process with this configuration.
    pub fn in_process(config: hsm_sandbox::Config) -> Sandbox {
        let running = hsm_sandbox::start(config).expect("start the sandbox in-process");
        Sandbox {
            base_url: running.url().to_owned(),
            server: Server::InProcess(running),
            client: http_client(),
        }
    }

    /// Runs `hsm sandbox --port 0 EXTRA_ARGS` and waits for its URL line.
    pub fn spawn(extra_args: &[&str]) -> Sandbox {
        let home = tempfile::tempdir().expect("a HOME for the sandbox");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hsm"));
        super::clean_env(&mut cmd, home.path());
        let mut child = cmd
            .args(["sandbox", "--port", "0"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hsm sandbox");
        let stderr = Arc::new(Mutex::new(String::new()));
        let drain = drain_into(child.stderr.take().expect("piped stderr"), stderr.clone());
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep reading so the sandbox never blocks on a full pipe.
            for _ in lines {}
        });
        let base_url = match rx.recv_timeout(STARTUP_DEADLINE) {
            Ok(line) => line.trim().to_owned(),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let err = stderr.lock().map(|s| s.clone()).unwrap_or_default();
                panic!("hsm sandbox printed no URL within {STARTUP_DEADLINE:?}; stderr:\n{err}");
            }
        };
        assert!(
            base_url.starts_with("http://127.0.0.1:"),
            "unexpected URL line {base_url:?}"
        );
        Sandbox {
            base_url,
            server: Server::Process {
                child,
                stderr,
                drain: Some(drain),
                _home: home,
            },
            client: http_client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The `hsm sandbox` process (`Sandbox::spawn` only).
    fn child(&mut self) -> &mut Child {
        match &mut self.server {
            Server::Process { child, .. } => child,
            Server::InProcess(_) => panic!("an in-process sandbox has no process; use spawn"),
        }
    }

    pub fn pid(&mut self) -> u32 {
        self.child().id()
    }

    /// Everything the sandbox logged so far: the command's stderr, or what the in-process
    /// sandbox would have written there.
    pub fn stderr(&self) -> String {
        match &self.server {
            Server::InProcess(running) => running.log(),
            Server::Process { stderr, .. } => stderr.lock().map(|s| s.clone()).unwrap_or_default(),
        }
    }

    /// Ctrl-C to the `hsm sandbox` process; its exit code and its whole stderr once it exited.
    #[cfg(unix)]
    pub fn interrupt(&mut self) -> (Option<i32>, String) {
        let pid = self.pid() as i32;
        // SAFETY: a plain syscall on our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        let code = self.wait_exit(Duration::from_secs(10));
        (code, self.stderr_at_exit())
    }

    /// The process's whole stderr, once it has exited (the copy is complete at its end).
    pub fn stderr_at_exit(&mut self) -> String {
        if let Server::Process { drain, .. } = &mut self.server
            && let Some(drain) = drain.take()
        {
            let _ = drain.join();
        }
        self.stderr()
    }

    /// Waits for the `hsm sandbox` process to exit (after a signal) and returns its exit code.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        let start = std::time::Instant::now();
        while start.elapsed() < deadline {
            if let Ok(Some(status)) = self.child().try_wait() {
                return status.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn admin_json(&self, resp: reqwest::Result<reqwest::blocking::Response>, what: &str) -> Value {
        let resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(resp.status().is_success(), "{what}: HTTP {}", resp.status());
        resp.json().unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    pub fn stats(&self) -> Value {
        self.admin_json(
            self.client.get(self.url("/__sandbox/stats")).send(),
            "GET /__sandbox/stats",
        )
    }

    /// Restarts `api_in_flight_peak` and `api_max_per_second`; the stats after it.
    pub fn reset_stats(&self) -> Value {
        self.admin_json(
            self.client.post(self.url("/__sandbox/stats/reset")).send(),
            "POST /__sandbox/stats/reset",
        )
    }

    /// Replaces the pending faults with `specs` (ENDPOINT:KIND[=ARG][xCOUNT]).
    pub fn set_faults(&self, specs: &[&str]) {
        let body = json!({ "faults": specs });
        self.admin_json(
            self.client
                .post(self.url("/__sandbox/faults"))
                .json(&body)
                .send(),
            "POST /__sandbox/faults",
        );
    }

    pub fn clear_faults(&self) {
        self.admin_json(
            self.client.delete(self.url("/__sandbox/faults")).send(),
            "DELETE /__sandbox/faults",
        );
    }

    /// Mints a token pair without the browser: `{"agent": .., "scope": .., "access_ttl": ..}`,
    /// all optional (`json!({})` is a normal login as agent@sandbox.test).
    pub fn mint(&self, body: Value) -> Value {
        self.admin_json(
            self.client
                .post(self.url("/__sandbox/tokens"))
                .json(&body)
                .send(),
            "POST /__sandbox/tokens",
        )
    }

    /// Revokes the family of `refresh_token`, or every token when None.
    pub fn revoke(&self, refresh_token: Option<&str>) -> Value {
        let body = match refresh_token {
            Some(token) => json!({ "refresh_token": token }),
            None => json!({}),
        };
        self.admin_json(
            self.client
                .post(self.url("/__sandbox/revoke"))
                .json(&body)
                .send(),
            "POST /__sandbox/revoke",
        )
    }
}

fn drain_into(
    mut pipe: impl Read + Send + 'static,
    sink: Arc<Mutex<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut s) = sink.lock() {
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    })
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // An in-process sandbox stops when its `Running` drops.
        if let Server::Process { child, .. } = &mut self.server {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
