//! The Partner API v2 contact endpoints under `/v2`: bearer checks, create, update, search.

use std::time::Instant;

use hyper::StatusCode;
use hyper::header::{self, HeaderMap};
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::respond::{self, Refused, Resp};
use crate::schema::{self, Mode, Violation};
use crate::state::{SCOPE, StoredContact, new_id};

/// The two 401 bodies, byte for byte as the API documentation shows them.
const MISSING_AUTHORIZATION: &str =
    r#"{"error": {"message": "Missing authorization header", "code": "missing_authorization"}}"#;
const INVALID_TOKEN: &str =
    r#"{"error": {"message": "The access token is invalid.", "code": "invalid_token"}}"#;

/// The search parameters, all Contact fields.
const SEARCH_FIELDS: &[&str] = &[
    "medicare_number",
    "first_name",
    "last_name",
    "birth_date",
    "email",
    "phone",
];

fn unauthorized(body: &'static str, challenge: &'static str) -> Resp {
    respond::with_header(
        respond::json_text(StatusCode::UNAUTHORIZED, body),
        header::WWW_AUTHENTICATE,
        challenge,
    )
}

/// The agent the bearer token acts for, or the response refusing the request.
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<String, Refused> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(Box::new(unauthorized(
            MISSING_AUTHORIZATION,
            "Bearer realm=\"partner_api_v2\"",
        )));
    };
    let invalid = || {
        Box::new(unauthorized(
            INVALID_TOKEN,
            "Bearer error=\"invalid_token\"",
        ))
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(invalid)?;
    let state = shared.state();
    let grant = state
        .authenticate(token, Instant::now())
        .ok_or_else(invalid)?;
    if !grant.scope.split(' ').any(|s| s == SCOPE) {
        let resp = respond::json(
            StatusCode::FORBIDDEN,
            &json!({"error": "insufficient_scope", "error_description": "The access token lacks the partner_api_v2 scope."}),
        );
        return Err(Box::new(respond::with_header(
            resp,
            header::WWW_AUTHENTICATE,
            "Bearer error=\"insufficient_scope\", scope=\"partner_api_v2\"",
        )));
    }
    grant.agent.clone().ok_or_else(|| {
        Box::new(respond::api_error(
            StatusCode::NOT_FOUND,
            "agent_not_found",
            "Agent not found for the authenticated user",
        ))
    })
}

fn validation_error(errors: &[Violation]) -> Resp {
    let message = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let list: Vec<Value> = errors
        .iter()
        .map(|e| json!({"field": e.field, "message": e.message}))
        .collect();
    respond::json(
        StatusCode::BAD_REQUEST,
        &json!({"error": {"code": "validation_error", "message": message, "errors": list}}),
    )
}

fn parse_json(body: &[u8]) -> Result<Value, Refused> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(respond::api_error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            &format!("The body is not valid JSON: {e}"),
        ))
    })
}

/// The `contact` object of a create or update body.
fn contact_body(body: &[u8]) -> Result<Map<String, Value>, Refused> {
    match parse_json(body)? {
        Value::Object(mut top) => match top.remove("contact") {
            Some(Value::Object(contact)) => Ok(contact),
            _ => Err(Box::new(respond::api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The body must be {\"contact\": {...}}",
            ))),
        },
        _ => Err(Box::new(respond::api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body must be a JSON object",
        ))),
    }
}

fn slug_part(text: &str) -> String {
    let lowered: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    lowered
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

fn slug_for(contact: &Map<String, Value>, id: &str) -> String {
    let name = |key: &str| slug_part(contact.get(key).and_then(Value::as_str).unwrap_or(""));
    let parts = [
        name("first_name"),
        name("last_name"),
        id.chars().take(8).collect(),
    ];
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("-")
}

fn envelope(shared: &Shared, contact: &StoredContact) -> Value {
    let slug = contact
        .fields
        .get("slug")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut url = format!("{}/quotes/{slug}", shared.base_url);
    if let Some(zip) = contact.fields.get("zip").and_then(Value::as_str) {
        url = crate::oauth::redirect_url(&url, &[("zip", zip)]);
    }
    json!({"data": {"contact": contact.fields, "redirect_url": url}})
}

pub(crate) fn create(shared: &Shared, agent: &str, body: &[u8]) -> Resp {
    let mut contact = match contact_body(body) {
        Ok(contact) => contact,
        Err(resp) => return *resp,
    };
    let errors = schema::contact_violations(&contact, Mode::Create);
    if !errors.is_empty() {
        return validation_error(&errors);
    }
    let id = new_id();
    let slug = slug_for(&contact, &id);
    contact.insert("id".into(), Value::String(id));
    contact.insert("slug".into(), Value::String(slug));
    let mut state = shared.state();
    match state.insert_contact(agent, contact) {
        Some(stored) => respond::json(StatusCode::CREATED, &envelope(shared, stored)),
        None => respond::api_error(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            "The sandbox holds the most contacts it keeps; restart it to start afresh",
        ),
    }
}

pub(crate) fn update(shared: &Shared, agent: &str, id: &str, body: &[u8]) -> Resp {
    let changes = match contact_body(body) {
        Ok(contact) => contact,
        Err(resp) => return *resp,
    };
    let mut state = shared.state();
    let Some(stored) = state.contact_mut(id).filter(|c| c.agent == agent) else {
        return respond::api_error(
            StatusCode::NOT_FOUND,
            "contact_not_found",
            "Contact not found",
        );
    };
    let errors = schema::contact_violations(&changes, Mode::Update);
    if !errors.is_empty() {
        return validation_error(&errors);
    }
    if let Some(new_id) = changes.get("external_id")
        && stored
            .fields
            .get("external_id")
            .is_some_and(|old| old != new_id)
    {
        return respond::api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "external_id_immutable",
            "external_id cannot be changed once set",
        );
    }
    let effective: Vec<(String, Value)> = changes
        .into_iter()
        .filter(|(key, value)| stored.fields.get(key) != Some(value))
        .collect();
    if effective.is_empty() {
        return respond::empty(StatusCode::NO_CONTENT);
    }
    stored.fields.extend(effective);
    let updated = stored.clone();
    state.counters.contacts_updated += 1;
    drop(state);
    respond::json(StatusCode::OK, &envelope(shared, &updated))
}

/// Search rules: `medicare_number`, or a name (first or last) with at least one of
/// birth_date, email, phone.
pub(crate) fn search_errors(query: &Map<String, Value>) -> Vec<Violation> {
    let mut errors: Vec<Violation> = query
        .keys()
        .filter(|k| !SEARCH_FIELDS.contains(&k.as_str()))
        .map(|k| Violation::new(k.as_str(), "is not a search parameter"))
        .collect();
    let known: Map<String, Value> = query
        .iter()
        .filter(|(k, _)| SEARCH_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    errors.extend(schema::contact_violations(&known, Mode::Update));
    let has = |k: &str| query.contains_key(k);
    let by_name = (has("first_name") || has("last_name"))
        && (has("birth_date") || has("email") || has("phone"));
    if !has("medicare_number") && !by_name {
        errors.push(Violation::new(
            "search",
            "give medicare_number, or first_name or last_name with at least one of birth_date, email, phone",
        ));
    }
    errors
}

/// A value in the form two equal values share: dates as YYYY-MM-DD, text case-insensitively.
fn comparable(field: &str, value: &Value) -> Option<String> {
    let text = value.as_str()?;
    if field == "birth_date" {
        return schema::calendar_date(text).map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"));
    }
    Some(text.trim().to_lowercase())
}

pub(crate) fn search(shared: &Shared, agent: &str, body: &[u8]) -> Resp {
    let query = match parse_json(body) {
        Ok(Value::Object(query)) => query,
        Ok(_) => {
            return respond::api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The body must be a JSON object",
            );
        }
        Err(resp) => return *resp,
    };
    let errors = search_errors(&query);
    if !errors.is_empty() {
        return validation_error(&errors);
    }
    let wanted: Vec<(&String, Option<String>)> =
        query.iter().map(|(k, v)| (k, comparable(k, v))).collect();
    let mut state = shared.state();
    state.counters.searches += 1;
    let found = state
        .find_contact(agent, |fields| {
            wanted.iter().all(|(key, want)| {
                fields.get(key.as_str()).and_then(|v| comparable(key, v)) == *want
            })
        })
        .cloned();
    drop(state);
    match found {
        Some(contact) => respond::json(StatusCode::OK, &envelope(shared, &contact)),
        None => respond::json(
            StatusCode::OK,
            &json!({"data": {"contact": null, "redirect_url": null}}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn search_rules() {
        assert!(search_errors(&query(json!({"medicare_number": "1EG4"}))).is_empty());
        assert!(
            search_errors(&query(json!({"last_name": "Lee", "phone": "5551234567"}))).is_empty()
        );
        assert!(
            search_errors(&query(
                json!({"first_name": "Ann", "birth_date": "1955-01-15"})
            ))
            .is_empty()
        );
        assert_eq!(search_errors(&query(json!({"first_name": "Ann"}))).len(), 1);
        assert_eq!(
            search_errors(&query(json!({"email": "a@b.co", "phone": "5551234567"}))).len(),
            1
        );
        assert_eq!(
            search_errors(&query(json!({"medicare_number": "1", "city": "X"})))[0].field,
            "city"
        );
        assert_eq!(
            search_errors(&query(json!({"last_name": "Lee", "phone": "555"})))[0].field,
            "phone"
        );
    }

    #[test]
    fn slugs_are_url_safe() {
        let contact = query(json!({"first_name": "Ann Marie", "last_name": "O'Neil"}));
        assert_eq!(
            slug_for(&contact, "0123456789abcdef"),
            "ann-marie-o-neil-01234567"
        );
    }

    #[test]
    fn dates_compare_across_layouts() {
        assert_eq!(
            comparable("birth_date", &json!("01/15/1955")),
            comparable("birth_date", &json!("1955-01-15"))
        );
        assert_eq!(comparable("last_name", &json!("LEE ")), Some("lee".into()));
    }
}
