//! The shared store on a real 3-node etcd cluster (Debian's `etcd-server`, on loopback ports),
//! with several simulated machines (each its own HOME, state dir and file lock) against a
//! sandbox whose access tokens live 2 s, with strict rotation and family revocation on reuse.
//!
//! One cluster is shared by the tests that leave it whole (each under its own key prefix);
//! the tests that kill members start their own. Every etcd process dies with the test binary.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::common::daemons::{remove_at_exit, spawn_daemon};
use crate::common::tools;
use crate::common::*;

const ACCOUNT: &str = "sandbox/default";
// Drawn from /dev/urandom once: hsm refuses keys that are obviously not random.
const KEY_A: [u8; 32] = [
    111, 178, 37, 141, 175, 203, 225, 75, 244, 69, 138, 151, 168, 35, 18, 218, 27, 184, 94, 127,
    213, 85, 154, 249, 108, 125, 130, 229, 147, 116, 6, 239,
];
const KEY_B: [u8; 32] = [
    19, 152, 38, 169, 165, 152, 112, 113, 40, 109, 120, 203, 80, 84, 65, 38, 210, 186, 163, 212,
    166, 81, 1, 208, 232, 107, 19, 166, 97, 203, 99, 143,
];

// ---------------------------------------------------------------- etcd processes

fn spawn_etcd(cmd: Command) -> Child {
    spawn_daemon(cmd, "etcd (apt-get install etcd-server)")
}

struct Node {
    name: String,
    client: u16,
    peer: u16,
    child: Mutex<Option<Child>>,
}

pub struct Cluster {
    dir: PathBuf,
    nodes: Vec<Node>,
    token: String,
}

static CLUSTERS: AtomicUsize = AtomicUsize::new(0);

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

#[allow(clippy::print_stderr)]
fn note_etcd_retry(logs: &str) {
    eprintln!("etcd cluster not ready in 20 s; starting again on new ports. Logs:\n{logs}");
}

impl Cluster {
    /// A new 3-node cluster with its data in a temp dir, ready (with a leader) on return.
    /// A port taken by another process between `free_port` and etcd's bind fails the start:
    /// then it starts again on new ports.
    fn start() -> Cluster {
        for _ in 0..3 {
            let cluster = Cluster::try_start();
            if cluster.wait_ready(Duration::from_secs(20)) {
                return cluster;
            }
            note_etcd_retry(&cluster.log_tails());
            for i in 0..3 {
                cluster.kill(i);
            }
        }
        panic!("no etcd cluster could be started");
    }

    fn try_start() -> Cluster {
        let n = CLUSTERS.fetch_add(1, Ordering::Relaxed);
        let dir = tempfile::tempdir().unwrap().keep();
        remove_at_exit(dir.clone());
        let nodes: Vec<Node> = (1..=3)
            .map(|i| Node {
                name: format!("n{i}"),
                client: unique_port(),
                peer: unique_port(),
                child: Mutex::new(None),
            })
            .collect();
        let cluster = Cluster {
            dir,
            nodes,
            token: format!("hsm-test-{}-{n}", std::process::id()),
        };
        for i in 0..3 {
            cluster.start_node(i);
        }
        cluster
    }

    fn log_tails(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let log = std::fs::read_to_string(self.dir.join(format!("{}.log", n.name)))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(3).collect();
                format!("{}: {}", n.name, tail.join(" | "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn start_node(&self, i: usize) {
        let node = &self.nodes[i];
        let initial: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}=http://127.0.0.1:{}", n.name, n.peer))
            .collect();
        let client = format!("http://127.0.0.1:{}", node.client);
        let peer = format!("http://127.0.0.1:{}", node.peer);
        let log = std::fs::File::create(self.dir.join(format!("{}.log", node.name))).unwrap();
        let mut cmd = Command::new("etcd");
        clean_env(&mut cmd, &self.dir.join("home"));
        cmd.args(["--name", &node.name])
            .arg("--data-dir")
            .arg(self.dir.join(&node.name))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-token", &self.token])
            .args(["--initial-cluster-state", "new"])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        *node.child.lock().unwrap() = Some(spawn_etcd(cmd));
    }

    fn signal(&self, i: usize, signal: i32) {
        let child = self.nodes[i].child.lock().unwrap();
        let pid = child.as_ref().expect("a running member").id();
        unsafe { libc::kill(pid as i32, signal) };
    }

    /// SIGKILL member `i`.
    fn kill(&self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn endpoints(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("http://127.0.0.1:{}", n.client))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].client)
    }

    /// A gateway call on member `i` that insists on a leader.
    fn call(&self, i: usize, path: &str, body: &Value) -> Option<Value> {
        let resp = http()
            .post(format!("{}{path}", self.endpoint(i)))
            .header("Grpc-Metadata-hasleader", "true")
            .timeout(Duration::from_secs(2))
            .json(body)
            .send()
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.json().ok()
    }

    /// True once every running member answers with a leader.
    fn wait_ready(&self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            let live: Vec<usize> = (0..3)
                .filter(|i| self.nodes[*i].child.lock().unwrap().is_some())
                .collect();
            if live.iter().all(|i| {
                self.call(*i, "/v3/kv/range", &json!({"key": "AA=="}))
                    .is_some()
            }) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// The member that is leader now.
    fn leader(&self) -> usize {
        for i in 0..3 {
            if let Some(status) = self.call(i, "/v3/maintenance/status", &json!({})) {
                let leader = status["leader"].as_str().unwrap_or_default().to_string();
                let me = status["header"]["member_id"].as_str().unwrap_or_default();
                if !leader.is_empty() && leader == me {
                    return i;
                }
            }
        }
        panic!("no leader");
    }

    /// The raw stored value at `key` and its mod_revision, read on any live member.
    fn raw(&self, key: &str) -> Option<(String, String)> {
        let body = json!({"key": STANDARD.encode(key)});
        for i in 0..3 {
            if let Some(v) = self.call(i, "/v3/kv/range", &body) {
                let kv = v["kvs"].as_array()?.first()?.clone();
                let value = STANDARD.decode(kv["value"].as_str()?).ok()?;
                return Some((
                    String::from_utf8(value).ok()?,
                    kv["mod_revision"].as_str()?.to_string(),
                ));
            }
        }
        panic!("no member answered");
    }

    /// Keys under `prefix` (for the lock keys).
    fn keys(&self, prefix: &str) -> Vec<String> {
        let mut end = prefix.as_bytes().to_vec();
        *end.last_mut().unwrap() += 1;
        let body = json!({"key": STANDARD.encode(prefix), "range_end": STANDARD.encode(&end), "keys_only": true});
        let v = (0..3)
            .find_map(|i| self.call(i, "/v3/kv/range", &body))
            .expect("a member answers");
        v["kvs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|kv| {
                String::from_utf8(STANDARD.decode(kv["key"].as_str().unwrap()).unwrap()).unwrap()
            })
            .collect()
    }
}

/// The cluster shared by tests that leave it whole.
fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(Cluster::start)
}

static PREFIXES: AtomicUsize = AtomicUsize::new(0);

/// A key prefix no other test uses.
fn new_prefix(test: &str) -> String {
    format!(
        "/hsm-test/{test}-{}/",
        PREFIXES.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------- machines

/// One simulated machine: its own HOME, state dir and file lock, the shared etcd store.
fn machine(sb: &Sandbox, cluster: &Cluster, prefix: &str, key: &[u8; 32]) -> TestEnv {
    let mut env = TestEnv::with_sandbox(sb);
    env.set("HSM_CREDENTIAL_STORE", "etcd")
        .set("HSM_ETCD_ENDPOINTS", &cluster.endpoints())
        .set("HSM_ETCD_PREFIX", prefix)
        .set("HSM_STORE_KEY", &STANDARD.encode(key))
        .set("HSM_ETCD_TIMEOUT", "5");
    let state = env.path("state").display().to_string();
    env.set("HSM_STATE_DIR", &state);
    env
}

/// A sandbox with 2 s access tokens, and `n` machines sharing one session in `cluster`.
fn fleet(cluster: &Cluster, test: &str, n: usize) -> (Sandbox, Vec<TestEnv>, String) {
    let sb = Sandbox::start(&["--auto-approve", "--access-ttl", "2"]);
    let prefix = new_prefix(test);
    let machines: Vec<TestEnv> = (0..n)
        .map(|_| machine(&sb, cluster, &prefix, &KEY_A))
        .collect();
    login_auto(&machines[0], &[]);
    (sb, machines, prefix)
}

/// `procs` workers on every machine. Each runs `contacts create` (a process of one call),
/// then `contacts import` of `rows` rows one at a time (one process, several calls): with the
/// sandbox holding every create for a while, the import's token expires under it, its next
/// call gets 401, and it refreshes mid-run, while the other workers do the same.
fn run_fleet(machines: &[TestEnv], procs: usize, rows: usize, tag: &str) -> Vec<Output> {
    std::thread::scope(|s| {
        let handles: Vec<_> = machines
            .iter()
            .enumerate()
            .flat_map(|(m, env)| (0..procs).map(move |p| (m, p, env)))
            .map(|(m, p, env)| s.spawn(move || worker(env, &format!("{tag}-{m}-{p}"), rows)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

fn worker(env: &TestEnv, id: &str, rows: usize) -> Vec<Output> {
    // Each worker keeps a ledger of its own: workers sharing one would take turns (one writer
    // per realm of a ledger), and this test is about the shared session, not the ledger.
    let ledger = format!(
        "sqlite:{}",
        env.path(&format!("{id}.ledger.sqlite3")).display()
    );
    let run = |args: &[&str]| {
        run_with_timeout(
            env.cmd().env("HSM_LEDGER", &ledger).args(args),
            std::time::Duration::from_secs(300),
        )
    };
    let create = run(&[
        "contacts",
        "create",
        "--env",
        "sandbox",
        "--external-id",
        id,
        "--first-name",
        "F",
        "--last-name",
        "L",
    ]);
    let file = env.path(&format!("{id}.jsonl"));
    let lines: Vec<String> = (0..rows)
        .map(|r| {
            json!({"external_id": format!("{id}-r{r}"), "first_name": "F", "last_name": "L"})
                .to_string()
        })
        .collect();
    write_file(&file, &(lines.join("\n") + "\n"));
    let report = env.path(&format!("{id}.report.jsonl"));
    let import = run(&[
        "contacts",
        "import",
        file.to_str().unwrap(),
        "--env",
        "sandbox",
        "--concurrency",
        "1",
        "--report",
        report.to_str().unwrap(),
    ]);
    vec![create, import]
}

/// Hold every create for `ms` (long enough for a 2 s token to expire during an import).
fn slow_creates(sb: &Sandbox, ms: u32) {
    sb.set_faults(&[&format!("create:delay={ms}x1000")]);
}

/// Every process exited 0; the sandbox saw no rejected refresh, no reuse, and every contact
/// created once.
#[track_caller]
fn assert_exactly_once(sb: &Sandbox, outputs: &[Output], contacts: u64) {
    for out in outputs {
        assert_exit(out, 0);
    }
    let stats = sb.stats();
    assert_eq!(stats["reuse_detected"], 0, "{stats}");
    assert_eq!(stats["families_revoked"], 0, "{stats}");
    let token_requests = stats["token_requests"].as_u64().unwrap();
    let exchanges = stats["code_exchanges"].as_u64().unwrap();
    assert_eq!(
        token_requests - exchanges,
        stats["refreshes"].as_u64().unwrap(),
        "every refresh request succeeded (none rejected): {stats}"
    );
    assert_eq!(stats["contacts_created"], contacts, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
}

// ---------------------------------------------------------------- tests

#[test]
fn four_machines_of_eight_processes_share_one_rotating_session_exactly_once() {
    if !tools::present(tools::ETCD_TOOLS) {
        return;
    }
    let cluster = shared();
    let (sb, machines, _) = fleet(cluster, "fleet", 4);
    slow_creates(&sb, 700);
    let outputs = run_fleet(&machines, 8, 3, "fleet");
    assert_exactly_once(&sb, &outputs, 4 * 8 * 4);
    assert!(
        sb.stats()["refreshes"].as_u64().unwrap() >= 2,
        "tokens expired and were refreshed during the run"
    );
}

#[test]
fn the_leader_killed_mid_run_changes_nothing() {
    if !tools::present(tools::ETCD_TOOLS) {
        return;
    }
    let cluster = Cluster::start();
    let (sb, machines, _) = fleet(&cluster, "leader", 4);
    let leader = cluster.leader();
    let outputs = std::thread::scope(|s| {
        slow_creates(&sb, 700);
        let run = s.spawn(|| run_fleet(&machines, 4, 3, "leader"));
        // Mid-run: the first creates are at the sandbox (each takes 700 ms).
        let deadline = Instant::now() + Duration::from_secs(60);
        while sb.stats()["api_in_flight"].as_u64().unwrap_or(0) == 0 {
            assert!(Instant::now() < deadline, "the fleet never got going");
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster.kill(leader);
        run.join().unwrap()
    });
    assert_exactly_once(&sb, &outputs, 4 * 4 * 4);
}

/// Machine 0 starts `token refresh` under `fault` and is SIGKILLed once it holds the etcd lock
/// and its token request has reached the sandbox; machine 1 then refreshes. Returns machine
/// 1's output, the record as it was before, and the key prefix.
fn kill_holder_then_refresh(fault: &str) -> (Output, (String, String), String) {
    let cluster = shared();
    let (sb, machines, prefix) = fleet(cluster, "holder", 2);
    sb.set_faults(&[fault]);
    let before = cluster.raw(&format!("{prefix}{ACCOUNT}")).unwrap();
    let mut holder = machines[0]
        .cmd()
        .args(["token", "refresh", "--env", "sandbox"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while cluster.keys(&format!("{prefix}locks/")).is_empty()
        || sb.stats()["token_requests"].as_u64().unwrap() < 2
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no lock or refresh"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
    let started = Instant::now();
    // Slices of 2 s: the wait for the dead holder's lease (5 s) spans several, each under a
    // lease of its own, and the lock must still be ours when the refresh lands.
    let out = run_with_timeout(
        machines[1]
            .cmd()
            .env("HSM_ETCD_TIMEOUT", "2")
            .args(["token", "refresh", "--env", "sandbox"]),
        Duration::from_secs(40),
    );
    let took = started.elapsed();
    assert!(
        stderr(&out).contains("Waiting for another machine"),
        "{}",
        stderr(&out)
    );
    assert!(
        took >= Duration::from_secs(2),
        "waited for the lease: {took:?}"
    );
    assert!(took < Duration::from_secs(20), "never a hang: {took:?}");
    assert!(
        cluster.keys(&format!("{prefix}locks/")).is_empty(),
        "no lock left"
    );
    (out, before, prefix)
}

#[test]
fn a_lock_holder_killed_before_its_refresh_landed_lets_the_next_machine_go_on() {
    if !tools::present(tools::ETCD_TOOLS) {
        return;
    }
    // The sandbox holds the holder's token request unprocessed; the holder dies, its lease
    // (5 s) expires, and the next machine refreshes normally.
    let (out, before, prefix) = kill_holder_then_refresh("token:delay=30000");
    assert_exit(&out, 0);
    assert_ne!(shared().raw(&format!("{prefix}{ACCOUNT}")).unwrap(), before);
}

#[test]
fn a_refresh_slower_than_the_lease_keeps_its_lock_and_lands() {
    if !tools::present(tools::ETCD_TOOLS) {
        return;
    }
    // The token endpoint takes 8 s, longer than the lock's 5 s lease: the lease is renewed
    // while the refresh is out, so the fenced write still finds the lock ours.
    let cluster = shared();
    let (sb, machines, prefix) = fleet(cluster, "slow", 1);
    sb.set_faults(&["token:delay=8000"]);
    let before = cluster.raw(&format!("{prefix}{ACCOUNT}")).unwrap();
    let out = run_with_timeout(
        machines[0]
            .cmd()
            .args(["token", "refresh", "--env", "sandbox"]),
        Duration::from_secs(60),
    );
    assert_exit(&out, 0);
    assert_ne!(cluster.raw(&format!("{prefix}{ACCOUNT}")).unwrap(), before);
    assert!(
        cluster.keys(&format!("{prefix}locks/")).is_empty(),
        "no lock left"
    );
}

#[test]
fn a_lock_holder_killed_after_the_server_rotated_leaves_the_record_intact() {
    if !tools::present(tools::ETCD_TOOLS) {
        return;
    }
    // The sandbox rotates at once but never answers: the holder dies with the new pair unseen.
    // The next machine waits out the lease, spends the refresh token the dead holder already
    // spent, and the sandbox revokes the family: exit 4 (log in again), record untouched.
    let (out, before, prefix) = kill_holder_then_refresh("token:lost=30000");
    assert_exit(&out, 4);
    assert_eq!(shared().raw(&format!("{prefix}{ACCOUNT}")).unwrap(), before);
}

#[test]
fn a_lost_quorum_exits_6_within_the_timeout_and_the_session_survives() {
    if !tools::present(tools::ETCD_TOOLS) {
        return;
    }
    let cluster = Cluster::start();
    let (sb, mut machines, prefix) = fleet(&cluster, "quorum", 1);
    let env = &mut machines[0];
    env.set("HSM_ETCD_TIMEOUT", "3");
    let key = format!("{prefix}{ACCOUNT}");
    // A member that accepts connections and never answers (stopped) costs one member's
    // share of the timeout, then the next member serves.
    cluster.signal(0, libc::SIGSTOP);
    // Served: had the stopped member held it for the whole HSM_ETCD_TIMEOUT, this would be
    // exit 6, "etcd is unavailable".
    assert_exit(&env.run(&["token", "refresh", "--env", "sandbox"]), 0);
    cluster.signal(0, libc::SIGCONT);
    assert!(cluster.wait_ready(Duration::from_secs(30)));
    let before = cluster.raw(&key).unwrap();
    let refreshes = sb.stats()["refreshes"].clone();
    cluster.kill(1);
    cluster.kill(2);
    let out = env.run(&["token", "refresh", "--env", "sandbox"]);
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(
        err.contains("within 3 s"),
        "gave up at HSM_ETCD_TIMEOUT: {err}"
    );
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(err.contains("etcd is unavailable"), "{err}");
    assert_eq!(sb.stats()["refreshes"], refreshes, "nothing was spent");
    cluster.start_node(1);
    cluster.start_node(2);
    assert!(cluster.wait_ready(Duration::from_secs(30)));
    assert_eq!(cluster.raw(&key).unwrap(), before, "record intact");
    assert_exit(&env.run(&["token", "refresh", "--env", "sandbox"]), 0);
    assert_ne!(cluster.raw(&key).unwrap(), before);
    let create = [
        "contacts",
        "create",
        "--env",
        "sandbox",
        "--external-id",
        "Q1",
        "--first-name",
        "F",
        "--last-name",
        "L",
    ];
    assert_exit(&env.run(&create), 0);
}

#[test]
fn etcdctl_shows_no_token_and_token_show_names_the_store() {
    if !tools::present(tools::ETCD_TOOLS) {
        return;
    }
    let cluster = shared();
    let (_sb, machines, prefix) = fleet(cluster, "sealed", 1);
    let token = stdout(&machines[0].run(&["token", "print", "--env", "sandbox"]));
    let token = token.trim();
    assert!(token.len() > 8);
    let home = tempfile::tempdir().unwrap();
    let out = clean_env(&mut Command::new("etcdctl"), home.path())
        .env("ETCDCTL_API", "3")
        .args([
            "--endpoints",
            &cluster.endpoints(),
            "get",
            "--prefix",
            &prefix,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains(&format!("{prefix}{ACCOUNT}")), "{listing}");
    assert!(listing.contains("hsm1:"), "{listing}");
    assert!(!listing.contains(token), "{listing}");
    assert!(!listing.contains("refresh_token") && !listing.contains("access_token"));
    let show = machines[0].run(&["token", "show", "--env", "sandbox"]);
    assert_exit(&show, 0);
    let text = stdout(&show);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    assert_eq!(field("store "), "etcd", "{text}");
    let status = machines[0].run(&["status", "--json"]);
    assert_exit(&status, 0);
    let rows: Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(rows[0]["store"], "etcd", "{rows}");
    assert_eq!(rows[0]["env"], "sandbox", "{rows}");
    let location = field("location ");
    assert!(
        cluster.endpoints().split(',').any(|e| e == location),
        "{text}"
    );
}

#[test]
fn a_wrong_key_is_exit_6_and_writes_nothing() {
    if !tools::present(tools::ETCD_TOOLS) {
        return;
    }
    let cluster = shared();
    let (sb, machines, prefix) = fleet(cluster, "wrongkey", 1);
    let key = format!("{prefix}{ACCOUNT}");
    let before = cluster.raw(&key).unwrap();
    let wrong = machine(&sb, cluster, &prefix, &KEY_B);
    for args in [
        &["token", "print", "--env", "sandbox"][..],
        &["token", "refresh", "--env", "sandbox"],
        &["logout", "--env", "sandbox"],
    ] {
        let out = wrong.run(args);
        assert_exit(&out, 6);
        assert!(stderr(&out).contains("cannot decrypt"), "{}", stderr(&out));
    }
    // Nor may a login with the wrong key replace the record the others use.
    let run = LoginRun::start(&wrong, &[]);
    let r = http().get(&run.url).send().unwrap();
    visit(r.headers()["location"].to_str().unwrap());
    let (code, err, _) = run.finish();
    assert_eq!(code, Some(6), "{err}");
    assert!(err.contains("cannot decrypt"), "{err}");
    assert_eq!(cluster.raw(&key).unwrap(), before, "no write");
    assert_eq!(sb.stats()["refreshes"], 0);
    assert_exit(
        &machines[0].run(&["token", "refresh", "--env", "sandbox"]),
        0,
    );
}

/// `etcdctl put` on the shared cluster.
fn etcdctl_put(cluster: &Cluster, key: &str, value: &str) {
    let out = Command::new("etcdctl")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &cluster.endpoints(), "put", key, value])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_record_rolled_back_with_etcdctl_is_refused_before_its_spent_token_is_sent() {
    let cluster = shared();
    let (sb, machines, prefix) = fleet(cluster, "rollback", 1);
    let key = format!("{prefix}{ACCOUNT}");
    let (old, _) = cluster.raw(&key).unwrap();
    assert_exit(
        &machines[0].run(&["token", "refresh", "--env", "sandbox"]),
        0,
    );
    assert_eq!(sb.stats()["refreshes"], 1);
    // A restore (or anyone with write access) puts the old sealed record back: its refresh
    // token is the one just spent.
    etcdctl_put(cluster, &key, &old);
    for args in [
        &["token", "refresh", "--env", "sandbox"][..],
        &["token", "print", "--env", "sandbox"],
    ] {
        let out = machines[0].run(args);
        assert_exit(&out, 6);
        let err = stderr(&out);
        assert!(err.contains("was rolled back"), "{err}");
        assert!(
            err.contains("generation 1, this machine has seen generation 2"),
            "{err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{err}"
        );
    }
    assert_eq!(cluster.raw(&key).unwrap().0, old, "left untouched");
    assert_eq!(sb.stats()["refreshes"], 1, "the spent token was not sent");
    assert_eq!(sb.stats()["reuse_detected"], 0);
    // A new login writes a newer record over it, and the session goes on.
    login_auto(&machines[0], &[]);
    assert_exit(
        &machines[0].run(&["token", "refresh", "--env", "sandbox"]),
        0,
    );
}

#[test]
fn a_store_key_that_is_not_random_is_exit_6() {
    let mut env = TestEnv::new();
    env.set("HSM_CREDENTIAL_STORE", "etcd")
        .set("HSM_ETCD_ENDPOINTS", "http://127.0.0.1:9")
        .set("HSM_STORE_KEY", &STANDARD.encode([0u8; 32]));
    let out = env.run(&["token", "print", "--env", "sandbox"]);
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(err.contains("HSM_STORE_KEY is not random"), "{err}");
    assert!(err.contains("head -c32 /dev/urandom | base64"), "{err}");
}

#[test]
fn a_missing_key_is_exit_6_with_a_hint_and_version_needs_no_store() {
    let mut env = TestEnv::new();
    env.set("HSM_CREDENTIAL_STORE", "etcd")
        .set("HSM_ETCD_ENDPOINTS", "http://127.0.0.1:9");
    let out = env.run(&["token", "print", "--env", "sandbox"]);
    assert_exit(&out, 6);
    let err = stderr(&out);
    assert!(err.contains("HSM_STORE_KEY"), "{err}");
    assert!(err.contains("head -c32 /dev/urandom | base64"), "{err}");
    // `--version` does not even connect to the store.
    let store = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    store.set_nonblocking(true).unwrap();
    env.set(
        "HSM_ETCD_ENDPOINTS",
        &format!("http://{}", store.local_addr().unwrap()),
    );
    assert_exit(&env.run(&["--version"]), 0);
    match store.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("--version connected to the store: {other:?}"),
    }
}

// ---------------------------------------------------------------- TLS and password auth

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// PEM files for a TLS etcd: a CA, a server certificate for 127.0.0.1, and a client
/// certificate without a CN (with auth on, the gateway refuses client certificates with one).
fn write_certs(dir: &std::path::Path) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    for (name, sans) in [
        ("server", vec!["127.0.0.1".to_string()]),
        ("client", vec![]),
    ] {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
}

/// etcdctl against the TLS member, as `user` when given.
fn etcdctl(dir: &std::path::Path, endpoint: &str, user: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new("etcdctl");
    clean_env(&mut cmd, &dir.join("home"));
    cmd.env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg(format!("--cacert={}", dir.join("ca.pem").display()))
        .arg(format!("--cert={}", dir.join("client.pem").display()))
        .arg(format!("--key={}", dir.join("client.key").display()));
    if let Some(user) = user {
        cmd.arg(format!("--user={user}"));
    }
    cmd.args(args).output().unwrap()
}

/// A one-member etcd with TLS, client certificates required, and password auth enabled:
/// user `hsm` (password `hsmpw`) may read and write `/hsm/`. Returns the member and its URL.
fn secure_etcd(dir: &std::path::Path) -> (KillOnDrop, String) {
    write_certs(dir);
    let (client, peer) = (unique_port(), unique_port());
    let endpoint = format!("https://127.0.0.1:{client}");
    let file = |name: &str| dir.join(name).display().to_string();
    let mut cmd = Command::new("etcd");
    clean_env(&mut cmd, &dir.join("home"));
    cmd.args(["--name", "s1", "--data-dir", &file("s1")])
        .args([
            "--listen-client-urls",
            &endpoint,
            "--advertise-client-urls",
            &endpoint,
        ])
        .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
        .arg(format!(
            "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
        ))
        .arg(format!("--initial-cluster=s1=http://127.0.0.1:{peer}"))
        .args([
            "--cert-file",
            &file("server.pem"),
            "--key-file",
            &file("server.key"),
        ])
        .args(["--trusted-ca-file", &file("ca.pem"), "--client-cert-auth"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("s1.log")).unwrap());
    let etcd = KillOnDrop(spawn_etcd(cmd));
    let start = Instant::now();
    while !etcdctl(dir, &endpoint, None, &["endpoint", "health"])
        .status
        .success()
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "TLS etcd not ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for args in [
        &["user", "add", "root:rootpw"][..],
        &["user", "grant-role", "root", "root"],
        &["role", "add", "hsm"],
        &[
            "role",
            "grant-permission",
            "hsm",
            "--prefix=true",
            "readwrite",
            "/hsm/",
        ],
        &["user", "add", "hsm:hsmpw"],
        &["user", "grant-role", "hsm", "hsm"],
        &["auth", "enable"],
    ] {
        let out = etcdctl(dir, &endpoint, None, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    (etcd, endpoint)
}

#[test]
fn tls_with_client_certificates_and_password_auth() {
    if !tools::present(tools::ETCD_TOOLS) {
        return;
    }
    let dir = tempfile::tempdir().unwrap().keep();
    remove_at_exit(dir.clone());
    let (_etcd, endpoint) = secure_etcd(&dir);
    let file = |name: &str| dir.join(name).display().to_string();
    let sb = Sandbox::start(&["--auto-approve", "--access-ttl", "2"]);
    let mut env = TestEnv::with_sandbox(&sb);
    env.set("HSM_CREDENTIAL_STORE", "etcd")
        .set("HSM_ETCD_ENDPOINTS", &endpoint)
        .set("HSM_STORE_KEY", &STANDARD.encode(KEY_A))
        .set("HSM_ETCD_USER", "hsm")
        .set("HSM_ETCD_PASSWORD", "hsmpw")
        .set("HSM_ETCD_CA_FILE", &file("ca.pem"))
        .set("HSM_ETCD_CERT_FILE", &file("client.pem"))
        .set("HSM_ETCD_KEY_FILE", &file("client.key"))
        .set("HSM_ETCD_TIMEOUT", "5");
    login_auto(&env, &[]);
    assert_exit(&env.run(&["token", "refresh", "--env", "sandbox"]), 0);
    assert_exit(&env.run(&["token", "print", "--env", "sandbox"]), 0);
    let listing = etcdctl(
        &dir,
        &endpoint,
        Some("root:rootpw"),
        &["get", "--prefix", "/hsm/"],
    );
    assert!(
        stdout(&listing).contains("/hsm/sandbox/default"),
        "{}",
        stdout(&listing)
    );
    // A wrong password, and a prefix the user may not touch: exit 6, said plainly.
    env.set("HSM_ETCD_PASSWORD", "nope");
    let out = env.run(&["token", "refresh", "--env", "sandbox"]);
    assert_exit(&out, 6);
    assert!(
        stderr(&out).contains("user name or password"),
        "{}",
        stderr(&out)
    );
    env.set("HSM_ETCD_PASSWORD", "hsmpw")
        .set("HSM_ETCD_PREFIX", "/other/");
    let out = env.run(&["token", "print", "--env", "sandbox"]);
    assert_exit(&out, 6);
    assert!(
        stderr(&out).contains("permission denied"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.stats()["reuse_detected"], 0);
}
