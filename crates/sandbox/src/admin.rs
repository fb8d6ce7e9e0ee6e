//! The admin area under `/__sandbox/`: health, counters (and resetting the peaks among them),
//! faults, minting and revoking tokens, and whether a session is known (`hsm status`).
//! Not subject to faults or latency, so tests can always steer the sandbox.

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::faults::parse_all;
use super::respond::{self, Refused, Resp};
use super::state::{DEFAULT_AGENT, SCOPE};
use super::{Req, Shared, oauth, webhooks};

pub(crate) fn handle(shared: &Shared, req: &Req, name: &str) -> Resp {
    match (name, &req.method) {
        ("health", &Method::GET) => respond::json(StatusCode::OK, &json!({"ok": true})),
        ("stats", &Method::GET) => stats(shared),
        ("stats/reset", &Method::POST) => {
            shared.state().reset_pace_stats();
            stats(shared)
        }
        ("faults", &Method::GET) => pending_faults(shared),
        ("faults", &Method::POST) => set_faults(shared, &req.body),
        ("faults", &Method::DELETE) => {
            shared.state().faults.clear();
            respond::json(StatusCode::OK, &json!({"faults": 0}))
        }
        (name, &Method::GET) if name.starts_with("sessions/") => {
            let digest = &name["sessions/".len()..];
            let known = shared
                .state()
                .knows_refresh_digest(digest, std::time::Instant::now());
            respond::json(StatusCode::OK, &json!({"known": known}))
        }
        ("tokens", &Method::POST) => mint(shared, &req.body),
        ("revoke", &Method::POST) => revoke(shared, &req.body),
        ("webhooks", &Method::GET) => match &shared.webhooks {
            Some(outbox) => respond::json(StatusCode::OK, &outbox.list()),
            None => respond::json(StatusCode::OK, &json!({"deliveries": []})),
        },
        ("webhooks/submission", &Method::POST) => submission(shared, &req.body),
        ("webhooks", _) => respond::method_not_allowed("GET"),
        ("webhooks/submission", _) => respond::method_not_allowed("POST"),
        ("health" | "stats", _) => respond::method_not_allowed("GET"),
        ("faults", _) => respond::method_not_allowed("GET, POST, DELETE"),
        ("tokens" | "revoke" | "stats/reset", _) => respond::method_not_allowed("POST"),
        _ => respond::not_found(&req.path),
    }
}

fn bad_request(message: &str) -> Resp {
    respond::api_error(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// An empty body counts as `{}`.
fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, Refused> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Box::new(bad_request("The body must be a JSON object"))),
    }
}

fn stats(shared: &Shared) -> Resp {
    let counters = shared.state().counters.clone();
    respond::json(StatusCode::OK, &json!(counters))
}

fn pending_faults(shared: &Shared) -> Resp {
    let count = shared.state().faults.pending().len();
    respond::json(StatusCode::OK, &json!({"faults": count}))
}

/// `{"faults": ["create:429=1x3", ...]}` replaces the pending faults.
fn set_faults(shared: &Shared, body: &[u8]) -> Resp {
    let object = match json_object(body) {
        Ok(object) => object,
        Err(resp) => return *resp,
    };
    let Some(Value::Array(items)) = object.get("faults") else {
        return bad_request("Expected {\"faults\": [\"ENDPOINT:KIND[=ARG][xCOUNT]\", ...]}");
    };
    let specs: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
    let Some(specs) = specs else {
        return bad_request("Each fault must be a string");
    };
    match parse_all(&specs) {
        Ok(faults) => {
            let count = faults.len();
            shared.state().faults.set(faults);
            respond::json(StatusCode::OK, &json!({"faults": count}))
        }
        Err(e) => bad_request(&e.to_string()),
    }
}

/// `{"agent": "a@b.test" | null, "scope": "...", "access_ttl": N}`, all optional.
fn mint(shared: &Shared, body: &[u8]) -> Resp {
    let object = match json_object(body) {
        Ok(object) => object,
        Err(resp) => return *resp,
    };
    let agent = match object.get("agent") {
        None => Some(DEFAULT_AGENT.to_owned()),
        Some(Value::Null) => None,
        Some(Value::String(agent)) => Some(agent.clone()),
        Some(_) => return bad_request("agent must be a string or null"),
    };
    let scope = match object.get("scope") {
        None => SCOPE.to_owned(),
        Some(Value::String(scope)) => scope.clone(),
        Some(_) => return bad_request("scope must be a string"),
    };
    let ttl = match object.get("access_ttl") {
        None => shared.limits_access_ttl(),
        Some(value) => match value.as_u64() {
            Some(secs) if secs <= 10 * 365 * 24 * 3600 => Duration::from_secs(secs),
            _ => return bad_request("access_ttl must be a whole number of seconds"),
        },
    };
    oauth::mint(shared, agent, scope, ttl)
}

/// Queues a submission event: the generated one, with the body's fields merged in. A
/// `contact.id` naming a sandbox contact fills the event's contact from it first.
fn submission(shared: &Shared, body: &[u8]) -> Resp {
    let Some(outbox) = &shared.webhooks else {
        return respond::api_error(
            StatusCode::CONFLICT,
            "webhooks_off",
            "Start the sandbox with --webhook-url URL to send webhooks",
        );
    };
    let overlay = match json_object(body) {
        Ok(object) => object,
        Err(resp) => return *resp,
    };
    let contact_id = overlay
        .get("contact")
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str);
    let stored = contact_id.and_then(|id| shared.state().contact(id));
    if let (Some(id), None) = (contact_id, &stored) {
        return respond::api_error(
            StatusCode::NOT_FOUND,
            "contact_not_found",
            &format!(
                "No sandbox contact with id {}",
                id.chars().take(64).collect::<String>()
            ),
        );
    }
    let mut event = webhooks::submission(stored.as_ref());
    webhooks::merge(&mut event, Value::Object(overlay));
    let id = outbox.queue(event.clone(), Duration::ZERO);
    respond::json(
        StatusCode::ACCEPTED,
        &json!({"delivery": id, "event": event}),
    )
}

/// `{"refresh_token": "..."}` revokes that token's family; `{}` revokes everything.
fn revoke(shared: &Shared, body: &[u8]) -> Resp {
    let object = match json_object(body) {
        Ok(object) => object,
        Err(resp) => return *resp,
    };
    match object.get("refresh_token") {
        None => {
            let families = shared.state().revoke_everything();
            respond::json(StatusCode::OK, &json!({"revoked_families": families}))
        }
        Some(Value::String(token)) => {
            if shared.state().revoke_family_of(token) {
                respond::json(StatusCode::OK, &json!({"revoked_families": 1}))
            } else {
                respond::api_error(
                    StatusCode::NOT_FOUND,
                    "token_not_found",
                    "Unknown refresh token",
                )
            }
        }
        Some(_) => bad_request("refresh_token must be a string"),
    }
}
