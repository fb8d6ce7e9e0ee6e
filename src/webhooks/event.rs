//! A submission event as `hsm webhooks listen` receives it: what makes a body a submission,
//! the key that tells a redelivery, and the few fields shown about it. Only the confirmation
//! number, the plan and the contact's ids are shown without `-v`: everything else in an event
//! is personal health data.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::shapes::WebhookLine;

/// What identifies a submission. HealthSherpa documents no event id; the confirmation number
/// is the application's natural key, and the submission time tells a resubmission apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) confirmation_number: String,
    pub(crate) submitted_at: String,
}

/// A body that parsed as a submission.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) key: Key,
    /// The event as one compact JSON line (no newline), as it is appended and handed on: the
    /// body as received less its whitespace, so numbers keep every digit (a `Value` would turn
    /// one beyond 64 bits into a float).
    pub(crate) line: String,
    value: Value,
}

/// Why a body is not a submission; the reason names fields, never values.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Invalid {
    NotJson,
    NotSubmission(&'static str),
}

impl Invalid {
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Invalid::NotJson => "the body is not JSON",
            Invalid::NotSubmission(why) => why,
        }
    }
}

pub(crate) fn parse(body: &[u8]) -> Result<Event, Invalid> {
    let value: Value = serde_json::from_slice(body).map_err(|_| Invalid::NotJson)?;
    let Some(object) = value.as_object() else {
        return Err(Invalid::NotSubmission("the body is not a JSON object"));
    };
    if !object.get("contact").is_some_and(Value::is_object) {
        return Err(Invalid::NotSubmission("no `contact` object"));
    }
    if !object
        .get("medicare_application")
        .is_some_and(Value::is_object)
    {
        return Err(Invalid::NotSubmission("no `medicare_application` object"));
    }
    let key = key_of(body).ok_or(Invalid::NotSubmission(
        "no `medicare_application.confirmation_number`",
    ))?;
    Ok(Event {
        key,
        line: compact(body),
        value,
    })
}

/// The fields of the key, as their JSON text: a number as its digits, exactly as sent.
#[derive(Deserialize)]
struct KeyFields<'a> {
    #[serde(borrow)]
    medicare_application: ApplicationFields<'a>,
}

#[derive(Deserialize)]
struct ApplicationFields<'a> {
    #[serde(borrow)]
    confirmation_number: Option<&'a RawValue>,
    #[serde(borrow)]
    submitted_at: Option<&'a RawValue>,
}

/// The key of an event (or of a line of the output file), from its JSON text. `submitted_at`
/// may be absent.
pub(crate) fn key_of(json: &[u8]) -> Option<Key> {
    let fields: KeyFields = serde_json::from_slice(json).ok()?;
    let application = fields.medicare_application;
    let confirmation_number = raw_text(application.confirmation_number?)?;
    if confirmation_number.is_empty() {
        return None;
    }
    Some(Key {
        confirmation_number,
        submitted_at: application
            .submitted_at
            .and_then(raw_text)
            .unwrap_or_default(),
    })
}

/// A string's text, or a number's digits as they were written; None for anything else.
fn raw_text(raw: &RawValue) -> Option<String> {
    let json = raw.get();
    match json.as_bytes().first()? {
        b'"' => serde_json::from_str(json).ok(),
        b'-' | b'0'..=b'9' => Some(json.to_owned()),
        _ => None,
    }
}

/// Valid JSON without the whitespace between its tokens (a JSON string holds no raw
/// whitespace but the space, which is kept).
fn compact(json: &[u8]) -> String {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        out.push(b);
    }
    // Only whitespace was taken out of text that parsed as UTF-8 JSON.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A string or number field as text (confirmation numbers may come as either).
fn text(object: &Value, field: &str) -> Option<String> {
    match object.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn field(value: &Value, object: &str, name: &str) -> String {
    value
        .get(object)
        .and_then(|o| text(o, name))
        .unwrap_or_else(|| "-".into())
}

impl Event {
    /// The stderr line: confirmation number, plan, contact external id; the name with `-v`.
    /// The sender chose every byte of these fields: a newline in one would print a line of its
    /// own on our stderr, so control characters are shown escaped (`\n`).
    pub(crate) fn describe(&self, verbose: bool) -> String {
        let line = self.describe_raw(verbose);
        crate::output::terminal_safe(&line, false).into_owned()
    }

    fn describe_raw(&self, verbose: bool) -> String {
        let v = &self.value;
        let mut line = format!(
            "submission {} (plan {}, contact {})",
            self.key.confirmation_number,
            field(v, "medicare_application", "cms_plan_id"),
            field(v, "contact", "external_id"),
        );
        if verbose {
            line.push_str(&format!(
                " {} {}, {}, submitted {}",
                field(v, "contact", "first_name"),
                field(v, "contact", "last_name"),
                field(v, "medicare_application", "plan_name"),
                self.key.submitted_at,
            ));
        }
        line
    }

    /// The `--json` line: identifiers only, whatever `-v` says.
    pub(crate) fn summary(&self, outcome: &'static str, status: u16) -> WebhookLine {
        let v = &self.value;
        let pick = |object: &str, name: &str| {
            v.get(object)
                .and_then(|o| o.get(name))
                .cloned()
                .unwrap_or(Value::Null)
        };
        WebhookLine {
            event: "submission",
            outcome,
            status,
            confirmation_number: self.key.confirmation_number.clone(),
            submitted_at: self.key.submitted_at.clone(),
            cms_plan_id: pick("medicare_application", "cms_plan_id"),
            contact_id: pick("contact", "id"),
            contact_external_id: pick("contact", "external_id"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "medicare_application": {"confirmation_number": "1234567890",
                "submitted_at": "2026-10-15T14:03:11.123Z", "cms_plan_id": "H1290-001-000"},
            "medicare_application_riders": [],
            "contact": {"id": "c1", "external_id": "CRM1", "first_name": "Ann", "last_name": "Lee"}
        })
    }

    #[test]
    fn submissions_are_told_from_other_bodies() {
        let e = parse(event().to_string().as_bytes()).unwrap();
        assert_eq!(e.key.confirmation_number, "1234567890");
        assert_eq!(e.key.submitted_at, "2026-10-15T14:03:11.123Z");
        assert_eq!(parse(b"nope").unwrap_err(), Invalid::NotJson);
        assert!(matches!(parse(b"[]"), Err(Invalid::NotSubmission(_))));
        let mut no_contact = event();
        no_contact.as_object_mut().unwrap().remove("contact");
        assert!(parse(no_contact.to_string().as_bytes()).is_err());
        let mut no_number = event();
        no_number["medicare_application"]
            .as_object_mut()
            .unwrap()
            .remove("confirmation_number");
        assert!(parse(no_number.to_string().as_bytes()).is_err());
    }

    #[test]
    fn numbers_are_kept_as_sent_in_the_key_and_the_line() {
        let body = r#"{ "medicare_application": {"confirmation_number": 123456789012345678901234,
            "submitted_at": "t"},
          "contact": {"n": 18446744073709551616, "x": 1.50, "s": "a b\"\n\t"} }"#;
        let e = parse(body.as_bytes()).unwrap();
        assert_eq!(e.key.confirmation_number, "123456789012345678901234");
        assert_eq!(
            e.line,
            r#"{"medicare_application":{"confirmation_number":123456789012345678901234,"submitted_at":"t"},"contact":{"n":18446744073709551616,"x":1.50,"s":"a b\"\n\t"}}"#
        );
        let next = parse(body.replace("901234", "901235").as_bytes()).unwrap();
        assert_ne!(next.key, e.key);
        assert_eq!(key_of(e.line.as_bytes()), Some(e.key));
    }

    proptest::proptest! {
        /// Pretty or compact, a document compacts to what serde_json writes for it.
        #[test]
        fn compact_agrees_with_serde_json(
            words in proptest::collection::vec("[ -~\t\n\u{e9}]{0,12}", 0..6),
            number in proptest::num::i64::ANY,
        ) {
            let value = json!({"words": words, "n": number, "nested": {"w": words.first()}});
            let pretty = serde_json::to_vec_pretty(&value).unwrap();
            proptest::prop_assert_eq!(compact(&pretty), value.to_string());
        }
    }

    #[test]
    fn a_downline_event_with_few_contact_fields_is_a_submission() {
        let body = json!({"medicare_application": {"confirmation_number": 42}, "contact": {}});
        let e = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(e.key.confirmation_number, "42");
        assert_eq!(
            e.describe(true),
            "submission 42 (plan -, contact -) - -, -, submitted "
        );
    }

    #[test]
    fn a_newline_in_a_field_does_not_start_a_line() {
        let mut forged = event();
        forged["medicare_application"]["confirmation_number"] = json!("x\nFAKE LINE");
        forged["contact"]["first_name"] = json!("A\r\u{1b}[2J");
        let e = parse(forged.to_string().as_bytes()).unwrap();
        assert_eq!(
            e.describe(false),
            "submission x\\nFAKE LINE (plan H1290-001-000, contact CRM1)"
        );
        assert!(e.describe(true).contains("A\\r\\u{1b}[2J Lee"));
        // The key keeps the number as sent.
        assert_eq!(e.key.confirmation_number, "x\nFAKE LINE");
    }

    #[test]
    fn only_ids_are_shown_without_verbose() {
        let e = parse(event().to_string().as_bytes()).unwrap();
        let line = e.describe(false);
        assert_eq!(
            line,
            "submission 1234567890 (plan H1290-001-000, contact CRM1)"
        );
        let summary = serde_json::to_string(&e.summary("taken", 200)).unwrap();
        assert!(
            !summary.contains("Ann") && !line.contains("Lee"),
            "{summary}"
        );
        assert!(e.describe(true).contains("Ann Lee"));
    }
}
