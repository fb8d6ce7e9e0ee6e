//! A headless Chromium driven through chromedriver over the W3C WebDriver HTTP protocol.
//! Skipped where the browser is missing, except in CI, where that fails (see `tools`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

use super::tools::{CHROMEDRIVER, CHROMIUM};

/// The W3C key under which an element reference comes back.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: Client,
    _profile: tempfile::TempDir,
}

/// The line chromedriver prints once it listens; with `--port=0` it names the port the OS
/// gave it, so no port is picked in advance for someone else to take first.
const STARTED: &str = "ChromeDriver was started successfully on port ";

/// Reads chromedriver's stdout on a thread (and keeps draining it); returns the port from
/// its start-up line, or what it said instead.
fn announced_port(mut driver: Child) -> Result<(Child, u16), String> {
    let stdout = driver.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut said = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix(STARTED) {
                let _ = tx.send(Ok(rest.trim_end_matches('.').parse::<u16>()));
            }
            said.push(line);
        }
        let _ = tx.send(Err(said.join("\n")));
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(Ok(port))) => Ok((driver, port)),
        other => {
            let _ = driver.kill();
            let _ = driver.wait();
            Err(format!("{other:?}"))
        }
    }
}

/// chromedriver with `--port=0`. It binds IPv4 and IPv6 one after the other on the port it
/// picked, and gives up ("IPv4 port not available") when another process took that port in
/// between: a race inside chromedriver, so a start that said so is tried again (three times).
fn start_driver() -> (Child, u16) {
    let mut said = Vec::new();
    for _ in 0..3 {
        // Chromium inherits chromedriver's cleared environment, with a HOME of its own.
        let home = std::env::temp_dir().join(format!("hsm-test-chromium-{}", std::process::id()));
        let driver = super::clean_env(&mut Command::new(CHROMEDRIVER.name), &home)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        match announced_port(driver) {
            Ok(started) => return started,
            Err(what) => said.push(what),
        }
    }
    panic!("chromedriver --port=0 named no port in three starts: {said:?}");
}

impl Browser {
    /// None when Chromium or chromedriver is missing (the test is skipped, see `tools`).
    pub fn start() -> Option<Browser> {
        if !super::tools::present(super::tools::BROWSER) {
            return None;
        }
        let (driver, port) = start_driver();
        let client = super::http_client();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().expect("temporary Chromium profile");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            client,
            _profile: profile,
        };
        browser.wait_ready();
        browser.session = browser.new_session();
        Some(browser)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let ready = self
                .client
                .get(format!("{}/status", self.base))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("chromedriver did not become ready within 20 s");
    }

    fn new_session(&self) -> String {
        let profile = self._profile.path().display();
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            format!("--user-data-dir={profile}"),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"binary": CHROMIUM.name, "args": args}}}});
        let value = self.command("POST", "/session", Some(caps));
        value["sessionId"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no session id in {value}"))
    }

    /// One WebDriver command; returns its `value`, panicking with the driver's error otherwise.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self
                .client
                .post(url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let resp = request
            .send()
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = resp.status();
        let value: Value = resp
            .json()
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        assert!(
            status.is_success(),
            "WebDriver {method} {path}: HTTP {status}: {value}"
        );
        value["value"].clone()
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.command(
            "POST",
            &self.session_path("/url"),
            Some(json!({ "url": url })),
        );
    }

    pub fn current_url(&self) -> String {
        self.command("GET", &self.session_path("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn page_source(&self) -> String {
        self.command("GET", &self.session_path("/source"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn click(&self, css: &str) {
        let found = self.command(
            "POST",
            &self.session_path("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = found[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned();
        self.command(
            "POST",
            &self.session_path(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .client
                .delete(format!("{}/session/{}", self.base, self.session))
                .send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
