//! The contact endpoints. Every wire detail that the documentation leaves uncertain (see
//! `shared/api/API.md` §3) lives here and only here: the paths, the `{"contact": ...}`
//! wrapper, and the search method, path and parameter names.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::{Api, ApiError};

/// `POST /contacts` (inferred from v1 and the seed's curl example).
const CREATE_PATH: &str = "contacts";
/// `POST /contacts/search` with a flat JSON body: an assumption, the docs do not show it.
const SEARCH_PATH: &str = "contacts/search";

/// `PATCH /contacts/{contact_id}` (documented). The id is one path segment: every byte but
/// RFC 3986's unreserved characters is percent-encoded (a space is `%20`, not a form's `+`),
/// and `.`, `..` or nothing, which a URL would resolve to another path, are refused.
fn update_path(contact_id: &str) -> Result<String, ApiError> {
    if matches!(contact_id, "" | "." | "..") {
        return Err(ApiError::new(
            super::Failure::Usage,
            format!("{contact_id:?} is not a contact id"),
        ));
    }
    let mut encoded = String::with_capacity(contact_id.len());
    for b in contact_id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(format!("contacts/{encoded}"))
}

/// The request body: the contact under a `contact` key (confirmed by the seed for create).
fn wrap(contact: Map<String, Value>) -> Value {
    json!({ "contact": contact })
}

/// Create a contact; returns the whole answer (`{"data": {"contact": ..., "redirect_url": ...}}`).
pub async fn create(api: &Api, contact: Map<String, Value>) -> Result<Value, ApiError> {
    let answer = api
        .call(Method::POST, CREATE_PATH, Some(&wrap(contact)))
        .await?;
    Ok(answer.body.unwrap_or(Value::Null))
}

/// Update some fields; `None` when the API answered 204 (nothing changed).
pub async fn update(
    api: &Api,
    contact_id: &str,
    changes: Map<String, Value>,
) -> Result<Option<Value>, ApiError> {
    let answer = api
        .call(
            Method::PATCH,
            &update_path(contact_id)?,
            Some(&wrap(changes)),
        )
        .await?;
    Ok(if answer.status == 204 {
        None
    } else {
        answer.body
    })
}

/// Search the agent's contacts; a miss is a success with `data.contact` null.
pub async fn search(api: &Api, query: Map<String, Value>) -> Result<Value, ApiError> {
    let answer = api
        .call_read_only(Method::POST, SEARCH_PATH, Some(&Value::Object(query)))
        .await?;
    Ok(answer.body.unwrap_or(Value::Null))
}

pub fn contact(answer: &Value) -> Option<&Map<String, Value>> {
    answer.pointer("/data/contact").and_then(Value::as_object)
}

pub fn contact_id(answer: &Value) -> Option<&str> {
    contact(answer)?.get("id").and_then(Value::as_str)
}

pub fn redirect_url(answer: &Value) -> Option<&str> {
    answer.pointer("/data/redirect_url").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_escaped_into_the_path() {
        let path = |id: &str| update_path(id).map_err(|e| e.message);
        assert_eq!(path("abc-123").unwrap(), "contacts/abc-123");
        assert_eq!(path("../x y").unwrap(), "contacts/..%2Fx%20y");
        assert_eq!(path("a+b?c#d%").unwrap(), "contacts/a%2Bb%3Fc%23d%25");
        for bad in ["", ".", ".."] {
            assert!(path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_the_documented_envelope() {
        let a = json!({"data": {"contact": {"id": "c1"}, "redirect_url": "https://q"}});
        assert_eq!(contact_id(&a), Some("c1"));
        assert_eq!(redirect_url(&a), Some("https://q"));
        let miss = json!({"data": {"contact": null, "redirect_url": null}});
        assert!(contact(&miss).is_none() && redirect_url(&miss).is_none());
    }
}
