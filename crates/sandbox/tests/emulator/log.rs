//! The request log: a line per request, with paths but never codes, tokens or contact data.

use hsm_sandbox::Config;
use reqwest::StatusCode;

use crate::common::*;

#[test]
fn the_log_has_a_line_per_request_with_paths_but_never_codes_or_tokens() {
    let sb = Sandbox::new();
    let tokens = login(&sb);
    let at = s(&tokens["access_token"]);
    assert_eq!(create(&sb, at, ann()).status(), StatusCode::CREATED);
    let log = sb.stderr();
    assert!(log.contains("hsm login --env sandbox"), "{log}");
    assert!(log.contains("live in memory only"), "{log}");
    assert!(log.contains("* POST /oauth/token -> 200 ("), "{log}");
    assert!(log.contains(" /oauth/authorize -> 302 ("), "{log}");
    assert!(log.contains("* POST /v2/contacts -> 201 ("), "{log}");
    assert!(!log.contains("bytes in"), "{log}");
    assert!(!log.contains(at));
    assert!(!log.contains("sbx_") && !log.contains("code="), "{log}");
    // Personal data in the body never reaches the log.
    assert!(!log.contains("Ann"), "{log}");
}

#[test]
fn the_verbose_log_adds_request_sizes() {
    let sb = Sandbox::start(Config {
        verbose: true,
        ..config()
    });
    login(&sb);
    let log = sb.stderr();
    assert!(log.contains(" bytes in)"), "{log}");
    assert!(log.contains("* POST /oauth/token -> 200 ("), "{log}");
}
