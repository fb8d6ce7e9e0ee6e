//! Faults and latency, the rate limit, and the pacing stats of the admin area.

use std::num::NonZeroU32;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use hsm_sandbox::Config;
use reqwest::StatusCode;
use reqwest::blocking::Response;
use serde_json::{Value, json};

use crate::common::*;

// ---------- faults and latency ----------

#[test]
fn fault_429_has_retry_after_and_does_not_process() {
    let sb = Sandbox::start(Config {
        faults: faults(&["create:429=2x2"]),
        ..config()
    });
    let at = access_token(&sb, json!({}));
    for _ in 0..2 {
        let resp = create(&sb, &at, ann());
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()["retry-after"], "2");
        assert_eq!(
            resp.json::<Value>().expect("JSON")["error"]["code"],
            "rate_limited"
        );
    }
    assert_eq!(sb.stats()["contacts_created"], 0);
    created(create(&sb, &at, ann()));
    let stats = sb.stats();
    assert_eq!(stats["faults_injected"], 2);
    assert_eq!(stats["contacts_created"], 1);
}

#[test]
fn status_faults_html_for_5xx_json_for_4xx() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    sb.set_faults(&["api:503", "search:409", "token:html500", "contacts:429"]);
    let resp = create(&sb, &at, ann());
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(is_html(&resp));
    assert!(resp.text().expect("body").contains("503"));
    let resp = search(&sb, &at, json!({"medicare_number": "1"}));
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(
        resp.json::<Value>().expect("JSON")["error"]["code"],
        "http_409"
    );
    let resp = refresh(&sb, "whatever");
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(is_html(&resp));
    // `contacts` is an alias of `api`: the next API call of any kind draws it.
    assert_eq!(search_status(&sb, &at), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(search_status(&sb, &at), StatusCode::OK);
    assert_eq!(sb.stats()["faults_injected"], 4);
}

#[test]
fn malformed_and_html_faults_answer_200_without_processing() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    sb.set_faults(&["create:malformed", "create:html"]);
    let resp = create(&sb, &at, ann());
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(serde_json::from_slice::<Value>(&resp.bytes().expect("body")).is_err());
    let resp = create(&sb, &at, ann());
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(is_html(&resp));
    assert_eq!(sb.stats()["contacts_created"], 0);
    sb.set_faults(&["authorize:html"]);
    let page = get_authorize(&sb, &[]).text().expect("page");
    assert!(page.contains("Sign in") && !page.contains("id=\"approve\""));
}

#[test]
fn delay_fault_waits_then_processes() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    sb.set_faults(&["create:delay=300"]);
    let start = Instant::now();
    created(create(&sb, &at, ann()));
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(sb.stats()["contacts_created"], 1);
}

#[test]
fn lost_fault_processes_then_drops_the_answer() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    sb.set_faults(&["create:lost=100"]);
    let start = Instant::now();
    let result = sb
        .client()
        .post(sb.url("/v2/contacts"))
        .bearer_auth(&at)
        .json(&json!({"contact": ann()}))
        .send();
    assert!(
        result.is_err(),
        "the answer must be lost, got {:?}",
        result.map(|r| r.status())
    );
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(
        sb.stats()["contacts_created"],
        1,
        "the request reached the server"
    );
    let resp = search(&sb, &at, json!({"medicare_number": "1EG4-TE5-MK72"}));
    assert!(resp.json::<Value>().expect("JSON")["data"]["contact"].is_object());
}

#[test]
fn faults_are_served_in_order_and_can_be_cleared() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    sb.set_faults(&["any:502", "create:500x2"]);
    health_ok(&sb);
    assert_eq!(create(&sb, &at, ann()).status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        create(&sb, &at, ann()).status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    sb.clear_faults();
    assert_eq!(create(&sb, &at, ann()).status(), StatusCode::CREATED);
    for bad in [
        json!({"faults": ["create:teapot"]}),
        json!({"faults": "create:500"}),
        json!({"faults": [1]}),
        json!([]),
    ] {
        let resp = sb
            .client()
            .post(sb.url("/__sandbox/faults"))
            .json(&bad)
            .send()
            .expect("POST");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        create(&sb, &at, ann()).status(),
        StatusCode::CREATED,
        "a refused spec installs nothing"
    );
}

#[test]
fn latency_delays_api_but_not_admin() {
    // An hour of latency: no API answer can come back while the test runs, so an admin answer
    // arriving while API requests are still held shows the order directly, with no clock.
    let sb = Sandbox::start(Config {
        latency: Duration::from_secs(3600),
        ..config()
    });
    let at = access_token(&sb, json!({}));
    let (answered, answers) = mpsc::channel();
    for token in [Some(at), None] {
        let (url, answered) = (sb.url("/v2/contacts/search"), answered.clone());
        thread::spawn(move || {
            let mut req = http_client()
                .post(url)
                .json(&json!({"medicare_number": "1"}));
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            let _ = answered.send(req.send().map(|r| r.status()));
        });
    }
    // Both have reached the server (they are counted before the latency)...
    let deadline = Instant::now() + Duration::from_secs(20);
    while sb.stats()["api_requests"] != 2 {
        assert!(Instant::now() < deadline, "the API requests never arrived");
        thread::sleep(Duration::from_millis(10));
    }
    // ...the admin area answers at once...
    health_ok(&sb);
    // ...and neither API request, the authorized one nor the 401, has been answered.
    assert!(
        matches!(answers.try_recv(), Err(mpsc::TryRecvError::Empty)),
        "API answers, error answers included, wait for the latency"
    );

    // A short latency is waited out, then the request is served.
    let sb = Sandbox::start(Config {
        latency: Duration::from_millis(400),
        ..config()
    });
    let at = access_token(&sb, json!({}));
    let start = Instant::now();
    assert_eq!(search_status(&sb, &at), StatusCode::OK);
    assert!(start.elapsed() >= Duration::from_millis(400));
}

// ---------- rate limit and pacing stats ----------

#[test]
fn rate_limit_answers_429_with_retry_after_beyond_the_bucket_and_counts_them() {
    let sb = Sandbox::start(Config {
        rate_limit: NonZeroU32::new(5),
        ..config()
    });
    assert!(
        sb.stderr().contains("rate limit:    5 requests/s over /v2"),
        "{}",
        sb.stderr()
    );
    let at = access_token(&sb, json!({}));
    let start = Instant::now();
    let answers: Vec<Response> = (0..20)
        .map(|_| search(&sb, &at, json!({"medicare_number": "1"})))
        .collect();
    let elapsed = start.elapsed();
    let mut limited = 0;
    let mut retry_after = 0;
    for resp in answers {
        if resp.status() == StatusCode::OK {
            continue;
        }
        limited += 1;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let header = resp.headers()["retry-after"].to_str().expect("ASCII");
        retry_after = header.parse::<u64>().expect("whole seconds");
        assert!(retry_after >= 1, "Retry-After: {header}");
        assert_eq!(error_code(resp).1, "rate_limited");
    }
    // A full bucket of 5, plus what refilled at 5/s while the burst ran (none when it took
    // under 200 ms, as it does on an idle machine).
    let refilled = (elapsed.as_secs_f64() * 5.0).floor() as u64;
    let passed = 20 - limited;
    assert!(
        (5..=5 + refilled).contains(&passed),
        "{passed} of 20 passed in {elapsed:?}"
    );
    let stats = sb.stats();
    assert_eq!(stat(&stats, "rate_limited"), limited);
    assert_eq!(stat(&stats, "api_requests"), 20);
    assert_eq!(stat(&stats, "searches"), passed, "a 429 is not processed");
    assert_eq!(stat(&stats, "faults_injected"), 0);

    // The bucket is empty, yet the token endpoint and the admin area are not limited.
    for _ in 0..10 {
        let resp = refresh(&sb, "sbx_rt_unknown");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    health_ok(&sb);

    // Waiting out Retry-After is enough.
    thread::sleep(Duration::from_secs(retry_after));
    assert_eq!(search_status(&sb, &at), StatusCode::OK);
    assert_eq!(stat(&sb.stats(), "rate_limited"), limited);
}

#[test]
fn in_flight_peak_counts_concurrent_api_requests_and_returns_to_zero() {
    // A second of latency holds the five requests in flight together.
    let sb = Sandbox::start(Config {
        latency: Duration::from_millis(1000),
        ..config()
    });
    let at = access_token(&sb, json!({}));
    let ready = std::sync::Arc::new(std::sync::Barrier::new(5));
    let clients: Vec<_> = (0..5)
        .map(|_| {
            let (url, at, ready) = (sb.url("/v2/contacts/search"), at.clone(), ready.clone());
            thread::spawn(move || {
                ready.wait();
                let resp = http_client()
                    .post(url)
                    .bearer_auth(at)
                    .json(&json!({"medicare_number": "1"}))
                    .send()
                    .expect("search");
                resp.status()
            })
        })
        .collect();
    // While they wait, the admin area sees them in flight.
    let deadline = Instant::now() + Duration::from_secs(20);
    while stat(&sb.stats(), "api_requests") < 5 {
        assert!(Instant::now() < deadline, "the requests never arrived");
        thread::sleep(Duration::from_millis(10));
    }
    let during = sb.stats();
    for client in clients {
        assert_eq!(client.join().expect("client thread"), StatusCode::OK);
    }
    let after = sb.stats();
    assert_eq!(stat(&after, "api_in_flight_peak"), 5, "{after}");
    assert_eq!(stat(&after, "api_in_flight"), 0, "every guard dropped");
    assert!(stat(&during, "api_in_flight") >= 1, "{during}");
    // Admin requests are neither in flight nor counted.
    assert_eq!(stat(&after, "requests"), 5);

    let reset = sb.reset_stats();
    assert_eq!(stat(&reset, "api_in_flight_peak"), 0);
    assert_eq!(stat(&reset, "api_requests"), 5, "other counters stay");
}

#[test]
fn a_request_abandoned_by_its_client_leaves_the_in_flight_count() {
    let sb = Sandbox::start(Config {
        latency: Duration::from_millis(5000),
        ..config()
    });
    let at = access_token(&sb, json!({}));
    let impatient = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let sent = impatient
        .post(sb.url("/v2/contacts/search"))
        .bearer_auth(at)
        .json(&json!({"medicare_number": "1"}))
        .send();
    assert!(sent.is_err(), "timed out during the latency");
    assert_eq!(stat(&sb.stats(), "api_in_flight_peak"), 1);
    // The closed connection drops the request, well before its 5 s latency ends.
    let deadline = Instant::now() + Duration::from_secs(3);
    while stat(&sb.stats(), "api_in_flight") != 0 {
        assert!(Instant::now() < deadline, "still in flight: {}", sb.stats());
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn max_per_second_is_the_busiest_one_second_window_until_reset() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    // `n` searches in a row: all within one second unless the machine is very busy.
    let burst = |n: u64| {
        let start = Instant::now();
        for _ in 0..n {
            assert_eq!(search_status(&sb, &at), StatusCode::OK);
        }
        let max = stat(&sb.stats(), "api_max_per_second");
        if start.elapsed() < Duration::from_millis(900) {
            assert_eq!(max, n);
        } else {
            assert!((1..=n).contains(&max), "{max} of {n}");
        }
    };
    burst(8);
    // Token requests and admin calls are not /v2 arrivals.
    refresh(&sb, "sbx_rt_unknown");
    let stats = sb.stats();
    assert!((1..=8).contains(&stat(&stats, "api_max_per_second")));
    assert_eq!(stat(&stats, "api_in_flight_peak"), 1, "one at a time");

    let reset = sb.reset_stats();
    assert_eq!(stat(&reset, "api_max_per_second"), 0);
    assert_eq!(stat(&reset, "api_in_flight_peak"), 0);
    assert_eq!(stat(&reset, "searches"), 8, "other counters stay");
    burst(3);
    let wrong = sb
        .client()
        .get(sb.url("/__sandbox/stats/reset"))
        .send()
        .expect("GET");
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
}
