//! The ledger on a real PostgreSQL server (issue 24): a private cluster from Debian's
//! `postgresql` binaries, started once per test binary in a temp dir on a free port (the tests
//! that stop the server or need TLS start their own). Each test has a database of its own,
//! and simulated machines: each its own HOME, state dir and login, one sandbox, one database.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::daemons::{remove_at_exit, spawn_daemon};
use crate::common::*;

const PASSWORD: &str = "pw-Secret-7f3a9c";

// ---------------------------------------------------------------- the server

/// The newest `/usr/lib/postgresql/N/bin`.
fn bin(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("apt-get install postgresql")
            .filter_map(|e| {
                let e = e.ok()?;
                let n = e.file_name().to_str()?.parse().ok()?;
                Some((n, e.path().join("bin")))
            })
            .collect();
        found.sort();
        found.pop().expect("apt-get install postgresql").1
    })
    .join(name)
}

/// initdb and postgres refuse to run as root: as root, they run as the `postgres` user.
fn as_postgres(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    if unsafe { libc::geteuid() } == 0 {
        let name = CString::new("postgres").unwrap();
        // SAFETY: a plain libc look-up; the record is read at once.
        let pw = unsafe { libc::getpwnam(name.as_ptr()) };
        assert!(
            !pw.is_null(),
            "no postgres user (apt-get install postgresql)"
        );
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn chown_to_postgres(path: &Path) {
    if unsafe { libc::geteuid() } == 0 {
        let out = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "chown: {out:?}");
    }
}

pub struct Pg {
    dir: PathBuf,
    pub port: u16,
    child: Mutex<Option<Child>>,
    tls: Option<String>,
}

static DATABASES: AtomicUsize = AtomicUsize::new(0);

impl Pg {
    /// A new cluster, ready on return. `tls`: the server has a certificate for 127.0.0.1 and
    /// `localhost` signed by a CA of its own (its PEM in `ca_pem`), and `hsm_tls` may only
    /// log in over TLS with its password.
    fn start(tls: bool) -> Pg {
        let dir = tempfile::Builder::new()
            .prefix("hsm-pg-")
            .tempdir()
            .unwrap()
            .keep();
        remove_at_exit(dir.clone());
        chown_to_postgres(&dir);
        let out = as_postgres(&mut Command::new(bin("initdb")))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .env_clear()
            .env("LANG", "C")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(
            dir.join("data/pg_hba.conf"),
            "local all all trust\n\
             hostssl all hsm_tls 127.0.0.0/8 scram-sha-256\n\
             host all hsm_tls 127.0.0.0/8 reject\n\
             host all hsm_pw 127.0.0.0/8 scram-sha-256\n\
             host all all 127.0.0.0/8 trust\n",
        )
        .unwrap();
        let ca = tls.then(|| write_certificates(&dir.join("data")));
        chown_to_postgres(&dir);
        let pg = Pg {
            dir,
            port: unique_port(),
            child: Mutex::new(None),
            tls: ca,
        };
        pg.run();
        pg.wait_ready();
        pg.psql(
            "postgres",
            &format!(
                "CREATE ROLE hsm LOGIN; CREATE ROLE hsm_pw LOGIN PASSWORD '{PASSWORD}';
                 CREATE ROLE hsm_tls LOGIN PASSWORD '{PASSWORD}';"
            ),
        )
        .unwrap();
        pg
    }

    fn run(&self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("log"))
            .unwrap();
        let mut cmd = Command::new(bin("postgres"));
        as_postgres(&mut cmd)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string()])
            .arg("-k")
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=200"])
            .env_clear()
            .env("LANG", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if self.tls.is_some() {
            // 127.0.0.2 too: an address the certificate does not name.
            cmd.args(["-c", "ssl=on", "-c", "listen_addresses=127.0.0.1,127.0.0.2"]);
        }
        *self.child.lock().unwrap() =
            Some(spawn_daemon(cmd, "postgres (apt-get install postgresql)"));
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.psql("postgres", "SELECT 1").is_err() {
            assert!(
                Instant::now() < deadline,
                "postgres did not start: {}",
                std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Run SQL as the superuser over the cluster's own socket: its output, or its error.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(bin("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
            ])
            .arg("-h")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-d", db, "-c", sql])
            .env_clear()
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A database of its own for a test, owned by `owner`.
    pub fn new_db(&self, owner: &str) -> String {
        let name = format!("t{}", DATABASES.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name} OWNER {owner}"))
            .unwrap();
        name
    }

    pub fn url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    /// A count from the ledger's tables (0 before hsm made them).
    pub fn count(&self, db: &str, sql: &str) -> u64 {
        self.psql(db, sql)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Stop the server as a crash would (immediate shutdown: every backend quits at once,
    /// no checkpoint), and wait for it to be gone.
    fn crash(&self) {
        let mut child = self.child.lock().unwrap().take().expect("running");
        unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) };
        child.wait().unwrap();
    }

    fn restart(&self) {
        self.run();
        self.wait_ready();
    }

    fn pg_dump(&self, db: &str) -> Vec<u8> {
        let out = Command::new(bin("pg_dump"))
            .args(["-U", "postgres", "-h"])
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), db])
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

/// A CA and a certificate for 127.0.0.1 and `localhost` signed by it, written as the
/// server's `server.crt` / `server.key` (0600). Returns the CA's PEM.
fn write_certificates(data: &Path) -> String {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hsm test ledger CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
    std::fs::write(data.join("server.crt"), leaf.pem()).unwrap();
    std::fs::write(data.join("server.key"), key.serialize_pem()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        data.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    ca.pem()
}

/// A free port this test binary has not handed out before.
fn unique_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = free_port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The cluster the tests share (those that leave it running).
fn shared() -> &'static Pg {
    static SHARED: OnceLock<Pg> = OnceLock::new();
    SHARED.get_or_init(|| Pg::start(false))
}

// ---------------------------------------------------------------- machines and files

/// A machine logged in to `sb`, its ledger the database `db` as `hsm`.
fn machine(sb: &Sandbox, url: &str) -> TestEnv {
    let mut env = TestEnv::with_sandbox(sb);
    env.set("HSM_LEDGER", url);
    login_auto(&env, &[]);
    env
}

fn row(i: usize, phone: &str) -> String {
    format!(
        r#"{{"external_id":"CRM{i}","first_name":"First{i}","last_name":"Lastname","birth_date":"1950-01-{:02}","phone":"{phone}","zip":"94103"}}"#,
        i % 28 + 1
    )
}

fn rows(range: std::ops::RangeInclusive<usize>, phone: impl Fn(usize) -> String) -> String {
    range.map(|i| row(i, &phone(i)) + "\n").collect()
}

fn plain(_: usize) -> String {
    "8165550100".into()
}

fn bulk(env: &TestEnv, command: &str, file: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "contacts",
        command,
        file.to_str().unwrap(),
        "--env",
        "sandbox",
        "--json",
    ];
    args.extend_from_slice(extra);
    run_with_timeout(env.cmd().args(&args), Duration::from_secs(300))
}

fn summary(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

fn counter(sb: &Sandbox, name: &str) -> u64 {
    sb.stats()[name].as_u64().unwrap()
}

/// The one error of a failed run (with `--json`, one JSON line on stderr): its message and
/// hint; nothing else on stderr.
/// A new machine on the shared ledger syncs `file` (`rows` rows, all sent before): exit 0,
/// nothing created, every row unchanged, not one request to the API. Returns the machine.
#[track_caller]
fn fresh_runner_syncs_without_a_request(
    sb: &Sandbox,
    url: &str,
    file: &Path,
    rows: u64,
) -> TestEnv {
    let b = machine(sb, url);
    let before = counter(sb, "api_requests");
    let out = bulk(&b, "sync", file, &[]);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(
        (s["created"].as_u64(), s["unchanged"].as_u64()),
        (Some(0), Some(rows)),
        "{s}"
    );
    assert_eq!(counter(sb, "api_requests"), before, "not one request");
    b
}

fn error_line(out: &Output) -> String {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one clear line: {err}");
    let v: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {err}"));
    format!("{}\n{}", v["error"]["message"], v["error"]["hint"])
}

/// Contacts the ledger holds as created.
const CREATED: &str = "SELECT COUNT(*) FROM contacts WHERE contact_id IS NOT NULL";

/// Start `hsm contacts COMMAND FILE` on `env` (its output piped) and return it once the ledger
/// in `db` holds at least `created` contacts as created.
fn start_bulk_until(
    pg: &Pg,
    db: &str,
    env: &TestEnv,
    (command, file, extra): (&str, &Path, &[&str]),
    created: u64,
) -> Child {
    let child = env
        .cmd()
        .args([
            "contacts",
            command,
            file.to_str().unwrap(),
            "--env",
            "sandbox",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while pg.count(db, CREATED) < created {
        assert!(Instant::now() < deadline, "made no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

// ---------------------------------------------------------------- 1. machines that forget

#[test]
fn an_import_on_one_machine_then_a_sync_on_another_creates_nothing() {
    let pg = shared();
    let db = pg.new_db("hsm");
    let url = pg.url("hsm", &db);
    let (sb, mut a) = logged_in(&[]);
    a.set("HSM_LEDGER", &url);
    let file = a.path("crm.jsonl");
    write_file(&file, &rows(1..=40, plain));
    let out = bulk(&a, "import", &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(counter(&sb, "contacts_created"), 40);

    let b = fresh_runner_syncs_without_a_request(&sb, &url, &file, 40);
    assert!(
        !b.path("home/.local/state/hsm/ledger.sqlite3").exists(),
        "B kept no ledger of its own"
    );

    // 6. No personal data in the database: a dump of it holds the external ids, no value.
    let dump = pg.pg_dump(&db);
    let holds = |v: &str| dump.windows(v.len()).any(|w| w == v.as_bytes());
    for value in ["First1", "Lastname", "8165550100", "1950-01-"] {
        assert!(!holds(value), "{value} is in the database");
    }
    assert!(holds("CRM1"), "the external ids are");
}

// ---------------------------------------------------------------- 7. a machine's ledger moves

#[test]
fn a_ledger_exported_from_sqlite_and_adopted_into_postgres_creates_nothing_again() {
    let pg = shared();
    let db = pg.new_db("hsm");
    let url = pg.url("hsm", &db);
    // A machine with its own SQLite ledger imports, then moves its ledger to the shared one.
    let (sb, a) = logged_in(&[]);
    let file = a.path("crm.jsonl");
    write_file(&file, &rows(1..=30, plain));
    assert_exit(&bulk(&a, "import", &file, &[]), 0);
    let export = a.run(&["ledger", "export"]);
    assert_exit(&export, 0);
    let exported = a.path("ledger-export.jsonl");
    std::fs::write(&exported, &export.stdout).unwrap();
    let out = run_with_timeout(
        a.cmd().env("HSM_LEDGER", &url).args([
            "ledger",
            "adopt",
            exported.to_str().unwrap(),
            "--env",
            "sandbox",
        ]),
        Duration::from_secs(60),
    );
    assert_exit(&out, 0);

    // A fresh runner on the shared ledger: nothing created, nothing sent (the digests came
    // along with their salt, so unchanged rows are known unchanged).
    fresh_runner_syncs_without_a_request(&sb, &url, &file, 30);
    assert_eq!(counter(&sb, "contacts_created"), 30);
}

#[test]
fn a_fresh_runner_every_night_sends_each_contact_once_and_only_what_changed() {
    let pg = shared();
    let db = pg.new_db("hsm");
    let url = pg.url("hsm", &db);
    let sb = Sandbox::start(&["--auto-approve"]);
    let mut total = 0;
    for night in 1..=4usize {
        // Each night: 10 more rows, and the phones of 5 earlier rows changed.
        let n = 10 * night;
        let phone = |i: usize| {
            if night > 1 && (1..=5).contains(&i) {
                format!("81655501{night:02}")
            } else {
                plain(i)
            }
        };
        let runner = machine(&sb, &url);
        let file = runner.path("crm.jsonl");
        write_file(&file, &rows(1..=n, phone));
        let before_updates = counter(&sb, "update_fields");
        let out = bulk(&runner, "sync", &file, &[]);
        assert_exit(&out, 0);
        let s = summary(&out);
        assert_eq!(s["created"].as_u64(), Some(10), "night {night}: {s}");
        let changed = if night > 1 { 5 } else { 0 };
        assert_eq!(s["updated"].as_u64(), Some(changed), "night {night}: {s}");
        assert_eq!(
            counter(&sb, "update_fields") - before_updates,
            changed,
            "night {night}: only the phone"
        );
        total += 10;
        assert_eq!(counter(&sb, "contacts_created"), total as u64);
    }
    assert_eq!(counter(&sb, "duplicate_external_ids"), 0);
}

// ---------------------------------------------------------------- 3. a server that fails

#[test]
fn a_ledger_that_cannot_be_reached_or_refuses_is_exit_6_and_nothing_is_sent() {
    let pg = shared();
    let db = pg.new_db("hsm_pw");
    let (sb, mut env) = logged_in(&[]);
    env.set("HSM_LEDGER_TIMEOUT", "2");
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=3, plain));
    // A port that accepts connections and never answers: only the timeout ends the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let cases = [
        (
            "nothing listening",
            format!("postgres://hsm@127.0.0.1:{}/{db}", unique_port()),
            None,
        ),
        (
            "a server that never answers",
            format!("postgres://hsm@127.0.0.1:{silent_port}/{db}"),
            None,
        ),
        (
            "a wrong password",
            pg.url("hsm_pw", &db),
            Some("not-the-password-91c"),
        ),
        ("no password", pg.url("hsm_pw", &db), None),
        ("no such database", pg.url("hsm", "no_such_db"), None),
    ];
    for (what, url, password) in cases {
        env.set("HSM_LEDGER", &url);
        match password {
            Some(p) => env.set("HSM_LEDGER_PASSWORD", p),
            None => env.unset("HSM_LEDGER_PASSWORD"),
        };
        for command in ["sync", "import"] {
            let out = bulk(&env, command, &file, &["-v"]);
            assert_exit(&out, 6);
            let err = error_line(&out);
            assert!(err.contains("ledger postgres://"), "{what}: {err}");
            assert!(!err.contains("not-the-password"), "{what}: {err}");
            if what == "a server that never answers" {
                assert!(err.contains("HSM_LEDGER_TIMEOUT"), "{what}: {err}");
            }
        }
    }
    assert_eq!(counter(&sb, "api_requests"), 0, "nothing sent");
    drop(silent);
}

#[test]
fn a_server_crash_mid_sync_stops_the_run_and_a_rerun_converges_without_duplicates() {
    let pg = Pg::start(false);
    let db = pg.new_db("hsm");
    let (sb, mut env) = logged_in(&["--latency-ms", "20"]);
    env.set("HSM_LEDGER", &pg.url("hsm", &db));
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=500, plain));
    let child = start_bulk_until(&pg, &db, &env, ("sync", &file, &[]), 100);
    pg.crash();
    let out = wait_output(child, Duration::from_secs(120));
    let code = out.status.code();
    assert!(
        matches!(code, Some(5 | 6)),
        "exit {code:?}: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(
        err.lines()
            .any(|l| l.starts_with("error") && l.contains("ledger postgres://")),
        "{err}"
    );
    assert!(counter(&sb, "contacts_created") < 500, "stopped early");

    pg.restart();
    let in_flight = pg.count(
        &db,
        "SELECT COUNT(*) FROM contacts WHERE pending IS NOT NULL",
    );
    assert!(in_flight > 0, "the requests in flight are recorded as sent");
    let out = bulk(&env, "sync", &file, &["--resend-unknown"]);
    assert_exit(&out, 0);
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 500, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
    assert!(
        stats["searches"].as_u64().unwrap() >= in_flight,
        "looked up first: {stats}"
    );
    let before = counter(&sb, "api_requests");
    let out = bulk(&env, "sync", &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["unchanged"], 500);
    assert_eq!(counter(&sb, "api_requests"), before);
}

/// The first pass asks the server for one batch of ids while it reads the next: a repeat
/// across batches is still found, and an unchanged re-run still sends nothing.
#[test]
fn a_sync_of_many_batches_finds_a_repeat_across_them_and_reruns_unchanged() {
    let pg = shared();
    let db = pg.new_db("hsm");
    let url = pg.url("hsm", &db);
    let (sb, mut env) = logged_in(&[]);
    env.set("HSM_LEDGER", &url);
    let file = env.path("crm.jsonl");
    let text =
        rows(1..=1200, plain).replacen(r#""external_id":"CRM1100""#, r#""external_id":"CRM5""#, 1);
    write_file(&file, &text);
    let out = bulk(&env, "sync", &file, &[]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("line 1100, external id CRM5: the external id appears twice"),
        "{}",
        stderr(&out)
    );
    assert_eq!(counter(&sb, "api_requests"), 0, "nothing sent");

    let out = bulk(&env, "sync", &file, &["--skip-invalid"]);
    assert_exit(&out, 2);
    assert_eq!(summary(&out)["created"].as_u64(), Some(1199));
    let before = counter(&sb, "api_requests");
    let out = bulk(&env, "sync", &file, &["--skip-invalid"]);
    assert_exit(&out, 2);
    let s = summary(&out);
    assert_eq!(
        (s["created"].as_u64(), s["unchanged"].as_u64()),
        (Some(0), Some(1199)),
        "{s}"
    );
    assert_eq!(counter(&sb, "api_requests"), before, "not one request");
}

/// Ctrl-C mid-import on a shared ledger: the requests out finish, the rows readied ahead of
/// the pace are taken back, so nothing stays in flight; the re-run sends the rest, once each.
#[cfg(unix)]
#[test]
fn ctrl_c_mid_import_leaves_nothing_in_flight_and_a_rerun_sends_each_row_once() {
    let pg = shared();
    let db = pg.new_db("hsm");
    let (sb, mut env) = logged_in(&["--latency-ms", "20"]);
    env.set("HSM_LEDGER", &pg.url("hsm", &db));
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=2000, plain));
    let child = start_bulk_until(pg, &db, &env, ("import", &file, &[]), 100);
    // SAFETY: plain syscall on our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = wait_output(child, Duration::from_secs(60));
    assert_exit(&out, 130);
    let first = counter(&sb, "contacts_created");
    assert!(first < 2000, "interrupted before the end");
    let pending = "SELECT COUNT(*) FROM contacts WHERE pending IS NOT NULL";
    assert_eq!(pg.count(&db, pending), 0, "nothing left in flight");
    let sent = "SELECT COUNT(*) FROM history WHERE outcome = 'sent'";
    assert_eq!(pg.count(&db, sent), 0, "no request without its outcome");
    assert_eq!(pg.count(&db, CREATED), first);

    let out = bulk(&env, "import", &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["created"].as_u64(), Some(2000 - first));
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 2000, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

// ---------------------------------------------------------------- 2. machines at once

#[test]
fn two_machines_syncing_at_once_never_both_send() {
    let pg = shared();
    let db = pg.new_db("hsm");
    let url = pg.url("hsm", &db);
    let (sb, mut a) = logged_in(&["--latency-ms", "20"]);
    a.set("HSM_LEDGER", &url);
    let b = machine(&sb, &url);
    let file_a = a.path("crm.jsonl");
    write_file(&file_a, &rows(1..=400, plain));
    let same_on_b = b.path("crm.jsonl");
    write_file(&same_on_b, &rows(1..=400, plain));
    let overlapping = b.path("more.jsonl");
    write_file(&overlapping, &rows(201..=600, plain));
    let child = start_bulk_until(pg, &db, &a, ("sync", &file_a, &["--concurrency", "2"]), 10);
    for (file, command) in [
        (&same_on_b, "sync"),
        (&overlapping, "sync"),
        (&same_on_b, "import"),
    ] {
        let out = bulk(&b, command, file, &[]);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(
            err.contains("another hsm is writing")
                && err.contains("contacts sync")
                && err.contains("--wait"),
            "{command}: {err}"
        );
    }
    assert!(counter(&sb, "contacts_created") < 400, "A was still going");
    // B waits for A, then sends only what A did not.
    let out = bulk(&b, "sync", &overlapping, &["--wait", "300"]);
    assert_exit(&out, 0);
    let s = summary(&out);
    assert_eq!(
        (s["created"].as_u64(), s["unchanged"].as_u64()),
        (Some(200), Some(200)),
        "{s}"
    );
    let out = wait_output(child, Duration::from_secs(300));
    assert_exit(&out, 0);
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 600, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

// ---------------------------------------------------------------- 4. schema versions

/// Version 1 of the schema, as the first hsm with a PostgreSQL ledger made it.
const SCHEMA_V1: &str = "
CREATE TABLE hsm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE realms (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, key TEXT NOT NULL UNIQUE,
    api_url TEXT NOT NULL, client_id TEXT NOT NULL, profile TEXT NOT NULL, instance TEXT NOT NULL,
    salt TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE contacts (realm BIGINT NOT NULL, external_id TEXT NOT NULL, contact_id TEXT, digests TEXT,
    pending TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (realm, external_id));
CREATE INDEX contacts_by_contact_id ON contacts (realm, contact_id);
CREATE TABLE runs (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, realm BIGINT NOT NULL,
    command TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, summary TEXT);
CREATE TABLE history (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, realm BIGINT NOT NULL,
    external_id TEXT NOT NULL, run BIGINT, at TEXT NOT NULL, action TEXT NOT NULL, fields TEXT NOT NULL,
    outcome TEXT NOT NULL, http_status INTEGER);
CREATE INDEX history_by_contact ON history (realm, external_id);
CREATE TABLE adopted (realm BIGINT NOT NULL, file TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (realm, file));
INSERT INTO hsm_meta (key, value) VALUES ('ledger', 'hsm'), ('schema_version', '1');
INSERT INTO realms (key, api_url, client_id, profile, instance, salt, created_at)
    VALUES ('old', 'https://old.example/v2', 'c', 'default', '', 'ab', '2026-01-01T00:00:00Z');
INSERT INTO contacts (realm, external_id, contact_id, updated_at) VALUES (1, 'OLD1', 'c-old', '2026-01-01T00:00:00Z');
";

#[test]
fn an_old_schema_is_upgraded_in_place_and_a_newer_one_is_refused() {
    let pg = shared();
    let db = pg.new_db("hsm");
    pg.psql(&db, &format!("SET ROLE hsm; {SCHEMA_V1}")).unwrap();
    let (sb, mut env) = logged_in(&[]);
    env.set("HSM_LEDGER", &pg.url("hsm", &db));
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=3, plain));
    let out = bulk(&env, "sync", &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["created"], 3);
    let meta = "SELECT value FROM hsm_meta WHERE key = 'schema_version'";
    assert_eq!(pg.psql(&db, meta).unwrap(), "2");
    assert_eq!(
        pg.psql(
            &db,
            "SELECT indexname FROM pg_indexes WHERE indexname = 'history_by_run'"
        )
        .unwrap(),
        "history_by_run"
    );
    assert_eq!(
        pg.psql(&db, "SELECT to_regclass('ledger_locks') IS NOT NULL")
            .unwrap(),
        "t"
    );
    assert_eq!(
        pg.psql(
            &db,
            "SELECT contact_id FROM contacts WHERE external_id = 'OLD1'"
        )
        .unwrap(),
        "c-old",
        "what the old schema held is kept"
    );

    pg.psql(
        &db,
        "UPDATE hsm_meta SET value = '99' WHERE key = 'schema_version'",
    )
    .unwrap();
    write_file(&file, &rows(1..=5, plain));
    let before = counter(&sb, "api_requests");
    for command in ["sync", "import"] {
        let out = bulk(&env, command, &file, &[]);
        assert_exit(&out, 6);
        let err = error_line(&out);
        assert!(
            err.contains("newer hsm") && err.contains("schema 99"),
            "{err}"
        );
    }
    assert_eq!(counter(&sb, "api_requests"), before, "nothing sent");
    assert_eq!(pg.psql(&db, meta).unwrap(), "99", "left as it was");
}

#[test]
fn machines_starting_at_once_on_an_empty_database_make_one_schema() {
    let pg = shared();
    let db = pg.new_db("hsm");
    let (_sb, mut env) = logged_in(&[]);
    env.set("HSM_LEDGER", &pg.url("hsm", &db));
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=3, plain));
    let children: Vec<Child> = (0..8)
        .map(|_| {
            env.cmd()
                .args([
                    "contacts",
                    "sync",
                    file.to_str().unwrap(),
                    "--env",
                    "sandbox",
                    "--dry-run",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        assert_exit(&wait_output(child, Duration::from_secs(120)), 0);
    }
    assert_eq!(
        pg.psql(
            &db,
            "SELECT value FROM hsm_meta WHERE key = 'schema_version'"
        )
        .unwrap(),
        "2"
    );
    assert_eq!(pg.count(&db, "SELECT COUNT(*) FROM realms"), 1);
}

// ---------------------------------------------------------------- 5. TLS and a password

#[test]
fn tls_verify_full_with_a_password_against_a_server_that_requires_both() {
    let pg = Pg::start(true);
    let db = pg.new_db("hsm_tls");
    let (sb, mut env) = logged_in(&[]);
    let ca = env.path("ca.pem");
    write_file(&ca, pg.tls.as_deref().unwrap());
    let other_ca = env.path("other-ca.pem");
    write_file(&other_ca, &write_certificates(&env.path("")));
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=3, plain));
    env.set("HSM_LEDGER_PASSWORD", PASSWORD);
    let verify = |host: &str| {
        format!(
            "postgres://hsm_tls@{host}:{}/{db}?sslmode=verify-full",
            pg.port
        )
    };
    let refused = [
        ("without TLS", pg.url("hsm_tls", &db), &ca, "refused"),
        (
            "a CA that did not sign it",
            verify("127.0.0.1"),
            &other_ca,
            "TLS",
        ),
        (
            "an address the certificate does not name",
            verify("127.0.0.2"),
            &ca,
            "TLS",
        ),
    ];
    for (what, url, ca_file, says) in refused {
        env.set("HSM_LEDGER", &url);
        env.set("HSM_LEDGER_CA_FILE", ca_file.to_str().unwrap());
        let out = bulk(&env, "sync", &file, &["-v"]);
        assert_exit(&out, 6);
        let err = error_line(&out);
        assert!(err.contains(says), "{what}: {err}");
        assert!(!err.contains(PASSWORD), "{what}: {err}");
    }
    assert_eq!(counter(&sb, "api_requests"), 0, "nothing sent");

    env.set("HSM_LEDGER", &verify("127.0.0.1"));
    env.set("HSM_LEDGER_CA_FILE", ca.to_str().unwrap());
    let out = bulk(&env, "sync", &file, &["-v"]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["created"], 3);
    assert!(!stderr(&out).contains(PASSWORD), "not in the trace");
    assert_eq!(
        pg.count(
            &db,
            "SELECT COUNT(*) FROM contacts WHERE contact_id IS NOT NULL"
        ),
        3
    );
}

#[test]
fn the_password_can_come_from_a_private_pgpassfile_and_never_from_the_url() {
    let pg = shared();
    let db = pg.new_db("hsm_pw");
    let (sb, mut env) = logged_in(&[]);
    let file = env.path("crm.jsonl");
    write_file(&file, &rows(1..=2, plain));
    let pgpass = env.path("pgpass");
    write_file(
        &pgpass,
        &format!("127.0.0.1:{}:{db}:hsm_pw:{PASSWORD}\n", pg.port),
    );
    env.set("PGPASSFILE", pgpass.to_str().unwrap());
    env.set("HSM_LEDGER", &pg.url("hsm_pw", &db));
    // libpq's rule: a password file others can read is ignored.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = bulk(&env, "sync", &file, &[]);
    assert_exit(&out, 6);
    assert!(error_line(&out).contains("password"), "{}", stderr(&out));
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = bulk(&env, "sync", &file, &[]);
    assert_exit(&out, 0);
    assert_eq!(summary(&out)["created"], 2);

    // A password typed into the URL is refused, and not repeated.
    env.set(
        "HSM_LEDGER",
        &format!("postgres://hsm_pw:{PASSWORD}@127.0.0.1:{}/{db}", pg.port),
    );
    let out = bulk(&env, "sync", &file, &[]);
    assert_exit(&out, 2);
    let err = error_line(&out);
    assert!(err.contains("HSM_LEDGER_PASSWORD"), "{err}");
    assert!(!stderr(&out).contains(PASSWORD), "{err}");
    assert_eq!(counter(&sb, "contacts_created"), 2);
}
