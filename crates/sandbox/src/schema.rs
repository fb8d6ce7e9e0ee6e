//! The Contact schema as the server enforces it, written from the Partner API v2 documentation
//! (`shared/api/API.md` §4 and `openapi-v2.json`, `components.schemas.Contact`), not from the
//! client's copy: the point of a separate emulator is that a wrong rule in the client shows up
//! as a refusal here.
//!
//! Where the documentation is silent the sandbox takes a position and says so next to the rule.

use std::fmt;

use serde_json::{Map, Value};

/// Whether a contact is being created (required fields enforced) or partially updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
}

/// One refused field and why, as the 400 `validation_error` body lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

impl Violation {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What a property must hold.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// `type: string` with `minLength`/`maxLength`, counted in characters (Unicode scalar
    /// values, as JSON Schema counts them); `nullable: true` also admits JSON null.
    Text {
        min: usize,
        max: usize,
        nullable: bool,
    },
    /// "MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD, or YYYY/MM/DD", and a day that exists.
    Date,
    /// "Two-letter state code".
    State,
    /// "ZIP code (5 digits)".
    Zip,
    /// "10 digits without formatting".
    Phone,
    /// `enum: [male, female, M, F, m, f]`, exactly.
    Sex,
    /// `format: email`.
    Email,
    /// v1's `extra_help`/`medicaid_eligible`: `enum: [true, false, null]`.
    TriState,
    /// Nested records (drugs, pharmacies, providers): an array of objects. Their item schemas
    /// are not documented, so their contents are not checked.
    Records,
    /// `id` and `slug`: the server assigns them.
    Assigned,
}

struct Property {
    name: &'static str,
    rule: Rule,
    /// "external_id, first_name and last_name are mandatory" (create only).
    required: bool,
}

const fn prop(name: &'static str, rule: Rule) -> Property {
    Property {
        name,
        rule,
        required: false,
    }
}

const fn text(min: usize, max: usize) -> Rule {
    Rule::Text {
        min,
        max,
        nullable: false,
    }
}

const fn mandatory(name: &'static str) -> Property {
    Property {
        name,
        rule: text(1, 100),
        required: true,
    }
}

/// The documented properties in the documentation's order, then the ones v1 documents and
/// the sandbox also accepts (Part B date, Medicaid, Extra Help), then the nested records.
/// Anything else is refused as unknown: the docs do not say whether the real API ignores
/// unknown keys, and refusing them catches a client's misspelt field.
static PROPERTIES: &[Property] = &[
    prop("id", Rule::Assigned),
    prop("slug", Rule::Assigned),
    mandatory("external_id"),
    mandatory("first_name"),
    mandatory("last_name"),
    prop("address_1", text(1, 100)),
    prop(
        "address_2",
        Rule::Text {
            min: 1,
            max: 100,
            nullable: true,
        },
    ),
    prop("birth_date", Rule::Date),
    prop("city", text(1, 100)),
    prop("state", Rule::State),
    prop("zip", Rule::Zip),
    prop("phone", Rule::Phone),
    prop("sex", Rule::Sex),
    prop("email", Rule::Email),
    prop("medicare_number", text(1, 100)),
    prop("medicare_part_a_effective_date", Rule::Date),
    // v1 only documents it as a string in the same layout as the Part A date.
    prop("medicare_part_b_effective_date", Rule::Date),
    // v1: a string with no documented length; the sandbox caps it like the other free text
    // and, unlike them, allows it empty (a "no Medicaid number" value).
    prop("medicaid_number", text(0, 100)),
    prop("extra_help", Rule::TriState),
    prop("medicaid_eligible", Rule::TriState),
    prop("drugs", Rule::Records),
    prop("pharmacies", Rule::Records),
    prop("providers", Rule::Records),
];

/// `sex` values, exactly as the enum lists them.
const SEXES: [&str; 6] = ["male", "female", "M", "F", "m", "f"];

/// USPS codes of the 50 states, the District of Columbia and the five inhabited territories,
/// where Medicare is available. The docs say only "two-letter state code"; the sandbox accepts
/// them in any letter case.
const STATES: [&str; 56] = [
    "AK", "AL", "AR", "AS", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "GU", "HI", "IA", "ID",
    "IL", "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MP", "MS", "MT", "NC", "ND",
    "NE", "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "PR", "RI", "SC", "SD", "TN", "TX",
    "UT", "VA", "VI", "VT", "WA", "WI", "WV", "WY",
];

/// Every violation in a create or update body's `contact`: unknown keys (sorted), then each
/// documented property in order, missing (create only) or invalid.
pub(crate) fn contact_violations(contact: &Map<String, Value>, mode: Mode) -> Vec<Violation> {
    let mut unknown: Vec<&String> = contact
        .keys()
        .filter(|key| !PROPERTIES.iter().any(|p| p.name == key.as_str()))
        .collect();
    unknown.sort();
    let mut found: Vec<Violation> = unknown
        .into_iter()
        .map(|key| Violation::new(key.as_str(), "unknown field"))
        .collect();
    for property in PROPERTIES {
        match contact.get(property.name) {
            None if property.required && mode == Mode::Create => {
                found.push(Violation::new(property.name, "is required"));
            }
            None => {}
            Some(value) => {
                if let Err(message) = check(property.rule, value) {
                    found.push(Violation::new(property.name, message));
                }
            }
        }
    }
    found
}

fn check(rule: Rule, value: &Value) -> Result<(), String> {
    match (rule, value) {
        (Rule::Assigned, _) => Err("is assigned by the server and must not be sent".into()),
        (Rule::TriState, Value::Bool(_) | Value::Null) => Ok(()),
        (Rule::TriState, _) => Err("must be true, false or null".into()),
        (Rule::Records, Value::Array(items)) if items.iter().all(Value::is_object) => Ok(()),
        (Rule::Records, Value::Array(_)) => Err("must be an array of objects".into()),
        (Rule::Records, _) => Err("must be an array".into()),
        (Rule::Text { nullable: true, .. }, Value::Null) => Ok(()),
        (rule, Value::String(text)) => check_text(rule, text),
        _ => Err("must be a string".into()),
    }
}

fn check_text(rule: Rule, text: &str) -> Result<(), String> {
    let (ok, refusal) = match rule {
        Rule::Text { min, max, .. } => {
            let length = text.chars().count();
            let refusal = if min == 0 {
                format!("must be at most {max} characters")
            } else {
                format!("must be {min} to {max} characters")
            };
            return if (min..=max).contains(&length) {
                Ok(())
            } else {
                Err(refusal)
            };
        }
        Rule::Date => (
            calendar_date(text).is_some(),
            "must be a real date as MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD",
        ),
        Rule::State => (
            STATES.iter().any(|code| code.eq_ignore_ascii_case(text)),
            "must be a two-letter US state or territory code",
        ),
        Rule::Zip => (all_digits(text, 5), "must be 5 digits"),
        Rule::Phone => (all_digits(text, 10), "must be 10 digits without formatting"),
        Rule::Sex => (
            SEXES.contains(&text),
            "must be one of male, female, M, F, m, f",
        ),
        Rule::Email => (is_email(text), "must be a valid email address"),
        Rule::TriState | Rule::Records | Rule::Assigned => (false, "is invalid"),
    };
    if ok { Ok(()) } else { Err(refusal.into()) }
}

fn all_digits(text: &str, count: usize) -> bool {
    text.len() == count && text.bytes().all(|b| b.is_ascii_digit())
}

/// A date in one of the four documented layouts, as (year, month, day), if that day exists
/// in the Gregorian calendar. Two-digit month and day, four-digit year, one separator kind.
/// The docs bound no year; year 0000 does not exist, so the first year is 0001.
pub(crate) fn calendar_date(text: &str) -> Option<(u16, u8, u8)> {
    let b = text.as_bytes();
    if b.len() != 10 {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u16> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let separator = |i: usize, j: usize| (b[i] == b'/' || b[i] == b'-') && b[i] == b[j];
    let (year, month, day) = if separator(2, 5) {
        (digits(6..10)?, digits(0..2)?, digits(3..5)?)
    } else if separator(4, 7) {
        (digits(0..4)?, digits(5..7)?, digits(8..10)?)
    } else {
        return None;
    };
    let (month, day) = (u8::try_from(month).ok()?, u8::try_from(day).ok()?);
    let exists =
        year >= 1 && (1..=12).contains(&month) && day >= 1 && day <= month_length(year, month);
    exists.then_some((year, month, day))
}

fn month_length(year: u16, month: u8) -> u8 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `format: email`: an RFC 5321 mailbox in its common form, `dot-atom@domain`, at most 254
/// characters. The domain must be a fully-qualified host name (RFC 5321 §2.3.5), so it has at
/// least two labels. Quoted local parts and address literals are not accepted, nor non-ASCII
/// addresses (that would be `format: idn-email`).
pub(crate) fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    text.len() <= 254 && local.len() <= 64 && is_dot_atom(local) && is_host_name(domain)
}

fn is_dot_atom(text: &str) -> bool {
    const SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    text.split('.').all(|atom| {
        !atom.is_empty()
            && atom
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b))
    })
}

fn is_host_name(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    labels.len() >= 2
        && text.len() <= 253
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        // RFC 3696 §2: a top-level domain is never all-numeric.
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn violations(value: Value, mode: Mode) -> Vec<String> {
        let Value::Object(contact) = value else {
            panic!("a contact is an object")
        };
        contact_violations(&contact, mode)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn unknown_keys_then_properties_in_documentation_order() {
        assert_eq!(
            violations(
                json!({"zip": "1", "nickname": "x", "alias": "y", "email": "a@b"}),
                Mode::Create
            ),
            [
                "alias: unknown field",
                "nickname: unknown field",
                "external_id: is required",
                "first_name: is required",
                "last_name: is required",
                "zip: must be 5 digits",
                "email: must be a valid email address",
            ]
        );
        assert!(violations(json!({}), Mode::Update).is_empty());
    }

    #[test]
    fn dates_in_each_layout_that_exist() {
        assert_eq!(calendar_date("01/15/1955"), Some((1955, 1, 15)));
        assert_eq!(calendar_date("01-15-1955"), Some((1955, 1, 15)));
        assert_eq!(calendar_date("1955-01-15"), Some((1955, 1, 15)));
        assert_eq!(calendar_date("1955/01/15"), Some((1955, 1, 15)));
        assert_eq!(calendar_date("2000-02-29"), Some((2000, 2, 29)));
        for bad in [
            "1900-02-29",
            "0000-01-01",
            "1955/01-15",
            "1955-1-15",
            "1955-01-15 ",
        ] {
            assert_eq!(calendar_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn emails_as_rfc_5321_mailboxes() {
        for ok in ["a@b.co", "o'neil+x@mail.example.org", "a@b.xn--p1ai"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "a@b",
            "a..b@c.co",
            "a@b_c.co",
            "a@-b.co",
            "a@b.123",
            "é@b.co",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
