//! Bounds and garbage: oversized and stalled bodies, wrong methods, unknown paths, random
//! bytes, and more connections than the sandbox serves at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

// ---------- bounds and garbage ----------

#[test]
fn oversized_bodies_get_413() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    let huge = vec![b'a'; 1024 * 1024 + 1];
    let resp = sb
        .client()
        .post(sb.url("/v2/contacts"))
        .bearer_auth(&at)
        .body(huge)
        .send()
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        resp.json::<Value>().expect("JSON")["error"]["code"],
        "payload_too_large"
    );
    health_ok(&sb);
}

#[test]
fn wrong_methods_unknown_paths_and_raw_garbage_never_kill_the_server() {
    let sb = Sandbox::new();
    let c = sb.client();
    for (method, path, allow) in [
        (reqwest::Method::GET, "/v2/contacts", "POST"),
        (reqwest::Method::DELETE, "/oauth/authorize", "GET, POST"),
        (reqwest::Method::GET, "/v2/contacts/search", "POST"),
        (reqwest::Method::POST, "/v2/contacts/abc", "PATCH"),
        (reqwest::Method::PUT, "/__sandbox/stats", "GET"),
    ] {
        let resp = c
            .request(method.clone(), sb.url(path))
            .send()
            .expect("request");
        assert_eq!(
            resp.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(resp.headers()["allow"], allow);
        assert!(resp.json::<Value>().expect("JSON")["error"]["code"].is_string());
    }
    for path in [
        "/",
        "/v2",
        "/v2/contacts/a/b",
        "/__sandbox/nope",
        "/oauth/revoke",
        "/%ff%00",
    ] {
        let resp = c.get(sb.url(path)).send().expect("request");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/json");
    }
    let resp = c
        .post(sb.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, b'=', 0xfe, b'&', b'%'])
        .send()
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = c
        .post(sb.url("/oauth/authorize"))
        .body(vec![0xff, 0x00, b'%', b'z'])
        .send()
        .expect("POST");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00",
    ] {
        let mut stream =
            TcpStream::connect(sb.base_url.trim_start_matches("http://")).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream.write_all(garbage).expect("write");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
    health_ok(&sb);
}

#[test]
fn connections_beyond_the_cap_wait_until_one_is_freed() {
    let sb = Sandbox::new();
    let addr = sb.base_url.trim_start_matches("http://").to_string();
    // 256 clients that connect and say nothing hold every slot. No need to wait for the
    // sandbox to accept them: each connect() has returned, so they sit in the listen queue,
    // which the sandbox accepts from in order, ahead of the connection made below.
    let mut idle: Vec<TcpStream> = (0..256)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    let quick = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(1500))
        .build()
        .expect("client");
    assert!(
        quick.get(sb.url("/__sandbox/health")).send().is_err(),
        "the 257th connection waits instead of being served"
    );
    idle.truncate(200);
    health_ok(&sb);
}

/// A bounded run of random bytes at the sandbox's request handling (raw, and after a valid
/// request line): every connection gets an answer or is closed, and the server keeps serving.
#[test]
fn random_bytes_never_break_the_sandbox() {
    use proptest::prelude::*;
    use std::io::{Read, Write};
    let sb = Sandbox::new();
    let addr = sb.base_url.trim_start_matches("http://").to_string();
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 150,
        failure_persistence: None,
        ..Default::default()
    });
    let prefixes = prop::sample::select(vec![
        "",
        "POST /v2/contacts HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n",
        "POST /oauth/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /oauth/authorize?",
    ]);
    runner
        .run(
            &(prefixes, prop::collection::vec(any::<u8>(), 0..2048)),
            |(prefix, bytes)| {
                let mut s = std::net::TcpStream::connect(&addr).unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                let _ = s.write_all(prefix.as_bytes());
                let _ = s.write_all(&bytes);
                let _ = s.shutdown(std::net::Shutdown::Write);
                let mut answer = Vec::new();
                let _ = s.read_to_end(&mut answer);
                Ok(())
            },
        )
        .unwrap();
    let health = sb.client().get(sb.url("/__sandbox/health")).send().unwrap();
    assert_eq!(health.status(), 200);
}

/// Every connection slot held by a body that stalls after its first byte: other clients are
/// served within seconds, not after the 30 s body timeout.
#[test]
fn stalled_bodies_on_every_connection_slot_do_not_hold_other_clients_off() {
    use std::io::Write;
    let sb = Sandbox::new();
    let addr = sb.base_url.trim_start_matches("http://").to_string();
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
            break;
        };
        let _ = s.write_all(
            b"POST /v2/contacts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        );
        stalled.push(s);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let health = sb
        .client()
        .get(sb.url("/__sandbox/health"))
        .timeout(std::time::Duration::from_secs(25))
        .send()
        .expect("served while bodies stall");
    assert_eq!(health.status(), 200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "waited {:?}",
        started.elapsed()
    );
    drop(stalled);
}
