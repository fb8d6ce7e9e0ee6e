//! Networks between hsm and the API: an HTTPS endpoint signed by a private CA (as behind a
//! TLS-inspecting corporate proxy) and an HTTP CONNECT proxy, both on loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::common::tls_front::tls_front;
use crate::common::*;

/// An HTTP CONNECT proxy that records the targets it tunnels to.
struct Proxy {
    port: u16,
    targets: Arc<Mutex<Vec<String>>>,
}

fn connect_proxy() -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let targets = Arc::new(Mutex::new(Vec::new()));
    let seen = targets.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || tunnel(client, &seen));
        }
    });
    Proxy { port, targets }
}

fn tunnel(mut client: TcpStream, seen: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut words = head.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    seen.lock().unwrap().push(target.to_string());
    let Ok(upstream) = TcpStream::connect(target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let (mut client, mut upstream) = (client, upstream);
    let t = std::thread::spawn(move || std::io::copy(&mut c2, &mut u2));
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = t.join();
}

fn create(env: &TestEnv, id: &str) -> std::process::Output {
    env.run(&[
        "contacts",
        "create",
        "--env",
        "sandbox",
        "--external-id",
        id,
        "--first-name",
        "A",
        "--last-name",
        "B",
    ])
}

#[test]
fn https_behind_a_private_ca_and_a_connect_proxy() {
    let (sb, mut env) = logged_in(&[]);
    let upstream: SocketAddr = sb.base_url.trim_start_matches("http://").parse().unwrap();
    let front = tls_front(upstream);
    env.set(
        "HSM_API_URL",
        &format!("https://localhost:{}/v2", front.port),
    );

    // Not trusted yet: a clear network error, nothing created.
    let out = create(&env, "T0");
    assert_exit(&out, 5);
    assert!(
        stderr(&out).to_lowercase().contains("certificate"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sb.stats()["contacts_created"], 0);

    let ca = env.path("corporate-ca.pem");
    write_file(&ca, &front.ca_pem);
    env.set("HSM_CA_FILE", ca.to_str().unwrap());
    assert_exit(&create(&env, "T1"), 0);

    // Through HTTPS_PROXY: the proxy sees a CONNECT to the API host.
    let proxy = connect_proxy();
    env.unset("NO_PROXY");
    env.set("HTTPS_PROXY", &format!("http://127.0.0.1:{}", proxy.port));
    assert_exit(&create(&env, "T2"), 0);
    let targets = proxy.targets.lock().unwrap().clone();
    assert_eq!(targets, vec![format!("localhost:{}", front.port)]);

    // NO_PROXY exempts the host.
    env.set("NO_PROXY", "localhost");
    assert_exit(&create(&env, "T3"), 0);
    assert_eq!(
        proxy.targets.lock().unwrap().len(),
        1,
        "NO_PROXY bypassed the proxy"
    );
    assert_eq!(sb.stats()["contacts_created"], 3);
}

#[test]
fn the_ca_file_can_come_from_the_config_and_a_bad_one_is_a_usage_error() {
    let (sb, mut env) = logged_in(&[]);
    let upstream: SocketAddr = sb.base_url.trim_start_matches("http://").parse().unwrap();
    let front = tls_front(upstream);
    let ca = env.path("ca.pem");
    write_file(&ca, &front.ca_pem);
    write_file(
        &env.path("config/hsm/config.toml"),
        &format!(
            "[env.sandbox]\napi_url = \"https://localhost:{}/v2\"\nca_file = \"{}\"\n",
            front.port,
            ca.display()
        ),
    );
    env.unset("HSM_SANDBOX_URL");
    env.set("HSM_TOKEN_URL", &format!("{}/oauth/token", sb.base_url));
    env.set(
        "HSM_AUTHORIZE_URL",
        &format!("{}/oauth/authorize", sb.base_url),
    );
    assert_exit(&create(&env, "C1"), 0);

    let bad = env.path("bad.pem");
    write_file(&bad, "not a certificate");
    env.set("HSM_CA_FILE", bad.to_str().unwrap());
    let out = create(&env, "C2");
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("bad.pem"), "{}", stderr(&out));
}

#[test]
fn login_checks_the_token_endpoint_over_tls_and_through_the_proxy_before_waiting() {
    let sb = Sandbox::start(&[]);
    let mut env = TestEnv::with_sandbox(&sb);
    let upstream: SocketAddr = sb.base_url.trim_start_matches("http://").parse().unwrap();
    let front = tls_front(upstream);
    env.set(
        "HSM_TOKEN_URL",
        &format!("https://localhost:{}/oauth/token", front.port),
    );
    env.set("BROWSER", "true");
    // A certificate this machine does not trust: exit 5 at once, with the CA remedy.
    let out = env.run(&["login", "--env", "sandbox", "--timeout", "300"]);
    assert_exit(&out, 5);
    let err = stderr(&out);
    assert!(
        err.contains("does not trust") && err.contains("HSM_CA_FILE"),
        "{err}"
    );
    assert!(!err.contains("/oauth/authorize"), "{err}");

    // Trusted, through a proxy: the check passes (the proxy saw it) and the login waits for
    // the browser, here only 1 s.
    let ca = env.path("ca.pem");
    write_file(&ca, &front.ca_pem);
    env.set("HSM_CA_FILE", ca.to_str().unwrap());
    let proxy = connect_proxy();
    env.unset("NO_PROXY");
    env.set("NO_PROXY", "127.0.0.1");
    env.set("HTTPS_PROXY", &format!("http://127.0.0.1:{}", proxy.port));
    let out = env.run(&["login", "--env", "sandbox", "--timeout", "1"]);
    assert_exit(&out, 5);
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert_eq!(
        proxy.targets.lock().unwrap().clone(),
        vec![format!("localhost:{}", front.port)]
    );
}

#[test]
fn an_import_over_https_reuses_its_connections() {
    // A little latency, so the four workers really overlap and each holds a connection.
    let (sb, mut env) = logged_in(&["--latency-ms", "20"]);
    let upstream: SocketAddr = sb.base_url.trim_start_matches("http://").parse().unwrap();
    let front = tls_front(upstream);
    env.set("HSM_API_URL", &format!("{}/v2", front.url()));
    let ca = env.path("ca.pem");
    write_file(&ca, &front.ca_pem);
    env.set("HSM_CA_FILE", ca.to_str().unwrap());
    let rows: String = (1..=60)
        .map(|i| {
            format!("{{\"external_id\":\"TLS{i}\",\"first_name\":\"F{i}\",\"last_name\":\"L\"}}\n")
        })
        .collect();
    let file = env.path("rows.jsonl");
    write_file(&file, &rows);
    let out = run_with_timeout(
        env.cmd().args([
            "contacts",
            "import",
            file.to_str().unwrap(),
            "--env",
            "sandbox",
            "--concurrency",
            "4",
        ]),
        std::time::Duration::from_secs(120),
    );
    assert_exit(&out, 0);
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 60, "{stats}");
    assert_eq!(stats["duplicate_external_ids"], 0, "{stats}");
    // One handshake per connection, at most one connection per worker: not one per request.
    let handshakes = front.handshakes();
    // (One more: the realm probe asks the sandbox for its instance on a connection of its own.)
    assert!((1..=5).contains(&handshakes), "{handshakes} TLS handshakes");
}

/// Plain http is allowed only to loopback (the sandbox); a proxy from the environment would
/// see its bearer tokens and contacts in clear text, so none is used for it.
#[test]
fn plain_http_to_loopback_never_goes_through_a_proxy() {
    let sb = Sandbox::start(&["--auto-approve", "--access-ttl", "1"]);
    let mut env = TestEnv::with_sandbox(&sb);
    let trap = crate::common::proxy_trap::ProxyTrap::start();
    trap.install(&mut env);
    // The code exchange, a refresh (the token lives 1 s), a create and a search.
    login_auto(&env, &[]);
    assert_exit(&env.run(&["token", "print", "--env", "sandbox"]), 0);
    assert_exit(&create(&env, "P1"), 0);
    let out = env.run(&[
        "contacts",
        "search",
        "--env",
        "sandbox",
        "--medicare-number",
        "1EG4TE5MK73",
    ]);
    assert_exit(&out, 0);
    assert_eq!(trap.seen(), Vec::<String>::new());
    assert!(sb.stats()["refreshes"].as_u64().unwrap() >= 1);
}
