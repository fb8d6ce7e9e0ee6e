//! The Contact schema of the Partner API v2 and its validation.
//!
//! One static table (`FIELDS`) drives everything: the client builds one flag per field from it
//! and validates with `validate` before sending. The sandbox has rules of its own, written from
//! the API documentation; `tests/it/schema_agreement.rs` requires the two to agree.

use std::fmt;

use serde_json::{Map, Value};

/// What a field holds, and so which rule checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string of `min..=max` characters; `nullable` also accepts JSON null.
    Text {
        min: usize,
        max: usize,
        nullable: bool,
    },
    /// `MM/DD/YYYY`, `MM-DD-YYYY`, `YYYY-MM-DD` or `YYYY/MM/DD`, and a real calendar date.
    Date,
    /// A two-letter US state or territory code, any case.
    State,
    /// Exactly 5 digits.
    Zip,
    /// Exactly 10 digits, no formatting.
    Phone,
    /// One of `male`, `female`, `M`, `F`, `m`, `f`.
    Sex,
    /// A plausible email address.
    Email,
    /// true, false or null.
    Bool,
    /// An array of objects whose contents are not checked (drugs, pharmacies, providers).
    ObjectList,
    /// Assigned by the server (`id`, `slug`): never sent by a client.
    ServerAssigned,
}

#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The JSON key.
    pub name: &'static str,
    /// The CLI flag name without `--`, or None for fields given only through JSON data.
    pub flag: Option<&'static str>,
    pub help: &'static str,
    pub kind: Kind,
    pub required_on_create: bool,
}

/// Whether a contact is being created (required fields enforced) or partially updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Update,
}

/// One violation: the JSON field it concerns and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

const fn text(max: usize) -> Kind {
    Kind::Text {
        min: 1,
        max,
        nullable: false,
    }
}

const fn field(
    name: &'static str,
    flag: Option<&'static str>,
    help: &'static str,
    kind: Kind,
) -> FieldSpec {
    FieldSpec {
        name,
        flag,
        help,
        kind,
        required_on_create: false,
    }
}

const fn required(name: &'static str, flag: &'static str, help: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        flag: Some(flag),
        help,
        kind: text(100),
        required_on_create: true,
    }
}

pub static FIELDS: &[FieldSpec] = &[
    field(
        "id",
        None,
        "HealthSherpa system ID (assigned by the server)",
        Kind::ServerAssigned,
    ),
    field(
        "slug",
        None,
        "URL-friendly identifier (assigned by the server)",
        Kind::ServerAssigned,
    ),
    required(
        "external_id",
        "external-id",
        "Your system's unique ID for the contact (cannot change once set)",
    ),
    required("first_name", "first-name", "First name"),
    required("last_name", "last-name", "Last name"),
    field(
        "address_1",
        Some("address-1"),
        "Primary address line",
        text(100),
    ),
    field(
        "address_2",
        Some("address-2"),
        "Secondary address line",
        Kind::Text {
            min: 1,
            max: 100,
            nullable: true,
        },
    ),
    field(
        "birth_date",
        Some("birth-date"),
        "Date of birth: MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD",
        Kind::Date,
    ),
    field("city", Some("city"), "City", text(100)),
    field(
        "state",
        Some("state"),
        "Two-letter state code, e.g. CA (upper-cased before sending)",
        Kind::State,
    ),
    field(
        "zip",
        Some("zip"),
        "ZIP code, 5 digits (a ZIP+4 such as 94103-1234 is sent as 94103)",
        Kind::Zip,
    ),
    field(
        "phone",
        Some("phone"),
        "Phone number, 10 digits (816-555-0166, (816) 555-0166 and +1 816 555 0166 are sent as 8165550166)",
        Kind::Phone,
    ),
    field(
        "sex",
        Some("sex"),
        "Sex: male, female, M, F, m or f",
        Kind::Sex,
    ),
    field("email", Some("email"), "Email address", Kind::Email),
    field(
        "medicare_number",
        Some("medicare-number"),
        "Medicare number",
        text(100),
    ),
    field(
        "medicare_part_a_effective_date",
        Some("medicare-part-a-effective-date"),
        "Medicare Part A effective date (same formats as the birth date)",
        Kind::Date,
    ),
    field(
        "medicare_part_b_effective_date",
        Some("medicare-part-b-effective-date"),
        "Medicare Part B effective date (same formats as the birth date)",
        Kind::Date,
    ),
    field(
        "medicaid_number",
        Some("medicaid-number"),
        "Medicaid number",
        Kind::Text {
            min: 0,
            max: 100,
            nullable: false,
        },
    ),
    field(
        "extra_help",
        Some("extra-help"),
        "Receives Extra Help: true or false",
        Kind::Bool,
    ),
    field(
        "medicaid_eligible",
        Some("medicaid-eligible"),
        "Eligible for Medicaid: true or false",
        Kind::Bool,
    ),
    field(
        "drugs",
        None,
        "Drugs: an array of objects (replaces the stored list on update)",
        Kind::ObjectList,
    ),
    field(
        "pharmacies",
        None,
        "Pharmacies: an array of objects (replaces the stored list on update)",
        Kind::ObjectList,
    ),
    field(
        "providers",
        None,
        "Providers: an array of objects (replaces the stored list on update)",
        Kind::ObjectList,
    ),
];

/// The 50 states, DC and the inhabited territories.
pub static STATE_CODES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "PR", "VI", "GU", "AS", "MP",
];

pub const SEX_VALUES: &[&str] = &["male", "female", "M", "F", "m", "f"];

/// The spec of a JSON field, if the schema knows it.
pub fn field_spec(name: &str) -> Option<&'static FieldSpec> {
    FIELDS.iter().find(|f| f.name == name)
}

/// Every violation in `contact`, in a stable order: unknown and server-assigned keys, then
/// missing required fields (create only), then each given field's own rule in table order.
pub fn validate(contact: &Map<String, Value>, mode: Mode) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut unknown: Vec<&String> = contact.keys().filter(|k| field_spec(k).is_none()).collect();
    unknown.sort();
    for key in unknown {
        errors.push(FieldError::new(key.as_str(), "unknown field"));
    }
    for spec in FIELDS {
        match contact.get(spec.name) {
            None if mode == Mode::Create && spec.required_on_create => {
                errors.push(FieldError::new(spec.name, "is required"));
            }
            None => {}
            Some(value) => {
                if let Err(message) = check_value(spec.kind, value) {
                    errors.push(FieldError::new(spec.name, message));
                }
            }
        }
    }
    errors
}

/// Checks one value against its field's rule; the error is the message without the field name.
pub fn check_value(kind: Kind, value: &Value) -> Result<(), String> {
    match kind {
        Kind::ServerAssigned => Err("is assigned by the server and must not be sent".into()),
        Kind::Bool => match value {
            Value::Bool(_) | Value::Null => Ok(()),
            _ => Err("must be true, false or null".into()),
        },
        Kind::ObjectList => check_object_list(value),
        Kind::Text { nullable: true, .. } if value.is_null() => Ok(()),
        _ => {
            let Some(s) = value.as_str() else {
                return Err("must be a string".into());
            };
            check_string(kind, s)
        }
    }
}

fn check_object_list(value: &Value) -> Result<(), String> {
    match value {
        Value::Array(items) if items.iter().all(Value::is_object) => Ok(()),
        Value::Array(_) => Err("must be an array of objects".into()),
        _ => Err("must be an array".into()),
    }
}

fn check_string(kind: Kind, s: &str) -> Result<(), String> {
    let ok = match kind {
        Kind::Text { min, max, .. } => {
            let len = s.chars().count();
            if len < min || len > max {
                return Err(if min == 0 {
                    format!("must be at most {max} characters")
                } else {
                    format!("must be {min} to {max} characters")
                });
            }
            true
        }
        Kind::Date => parse_date(s).is_some(),
        Kind::State => is_state_code(s),
        Kind::Zip => is_digits(s, 5),
        Kind::Phone => is_digits(s, 10),
        Kind::Sex => SEX_VALUES.contains(&s),
        Kind::Email => is_plausible_email(s),
        Kind::Bool | Kind::ObjectList | Kind::ServerAssigned => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format_rule(kind).into())
    }
}

fn format_rule(kind: Kind) -> &'static str {
    match kind {
        Kind::Date => "must be a real date as MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD",
        Kind::State => "must be a two-letter US state or territory code",
        Kind::Zip => "must be a 5-digit ZIP (or ZIP+4)",
        Kind::Phone => "must be a 10-digit US number (punctuation and a leading +1 are fine)",
        Kind::Sex => "must be one of male, female, M, F, m, f",
        Kind::Email => "must be a valid email address",
        _ => "is invalid",
    }
}

fn is_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn is_state_code(s: &str) -> bool {
    s.len() == 2 && STATE_CODES.iter().any(|code| code.eq_ignore_ascii_case(s))
}

/// The API's `format: email`, as RFC 5321 has it: a dot-atom local part (at most 64
/// characters), `@`, and a fully-qualified host name (letter-digit-hyphen labels of 1 to 63
/// characters, at least two, the last not all digits); at most 254 characters in all.
/// Quoted local parts, address literals and non-ASCII addresses are refused.
pub fn is_plausible_email(s: &str) -> bool {
    const ATEXT_SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = local.len() <= 64
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || ATEXT_SPECIALS.contains(&b))
        });
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    s.len() <= 254 && local_ok && domain_ok
}

/// A date in one of the four accepted layouts, as (year, month, day), if it exists.
pub fn parse_date(s: &str) -> Option<(u16, u8, u8)> {
    let sep = if s.contains('/') { '/' } else { '-' };
    let parts: Vec<&str> = s.split(sep).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let (y, m, d) = match (a.len(), b.len(), c.len()) {
        (2, 2, 4) => (*c, *a, *b),
        (4, 2, 2) => (*a, *b, *c),
        _ => return None,
    };
    if ![y, m, d]
        .iter()
        .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let year: u16 = y.parse().ok()?;
    let month: u8 = m.parse().ok()?;
    let day: u8 = d.parse().ok()?;
    // The API documents the layouts, not a range: any year from 0001 (there is no year 0).
    let valid =
        year >= 1 && (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
    valid.then_some((year, month, day))
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors_for(value: Value, mode: Mode) -> Vec<String> {
        let Value::Object(map) = value else {
            panic!("test input must be an object")
        };
        validate(&map, mode)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn base() -> Value {
        json!({"external_id": "CRM1", "first_name": "Ann", "last_name": "Lee"})
    }

    /// The error for `field` set to `value` in an otherwise valid create.
    fn field_errors(field: &str, value: Value) -> Vec<String> {
        let mut contact = base();
        contact[field] = value;
        errors_for(contact, Mode::Create)
    }

    #[test]
    fn minimal_create_passes_and_required_fields_are_enforced() {
        assert!(errors_for(base(), Mode::Create).is_empty());
        assert_eq!(
            errors_for(json!({}), Mode::Create),
            [
                "external_id: is required",
                "first_name: is required",
                "last_name: is required"
            ]
        );
        assert!(errors_for(json!({}), Mode::Update).is_empty());
    }

    #[test]
    fn text_lengths() {
        for f in [
            "external_id",
            "first_name",
            "last_name",
            "address_1",
            "address_2",
            "city",
            "medicare_number",
        ] {
            assert!(
                field_errors(f, json!("x".repeat(100))).is_empty(),
                "{f} 100 chars"
            );
            assert_eq!(
                field_errors(f, json!("x".repeat(101))),
                [format!("{f}: must be 1 to 100 characters")]
            );
            assert_eq!(
                field_errors(f, json!("")),
                [format!("{f}: must be 1 to 100 characters")]
            );
            assert_eq!(
                field_errors(f, json!(7)),
                [format!("{f}: must be a string")]
            );
        }
        // Characters, not bytes.
        assert!(field_errors("city", json!("é".repeat(100))).is_empty());
        assert!(field_errors("address_2", Value::Null).is_empty());
        assert_eq!(
            field_errors("city", Value::Null),
            ["city: must be a string"]
        );
        assert!(field_errors("medicaid_number", json!("")).is_empty());
        assert_eq!(
            field_errors("medicaid_number", json!("1".repeat(101))),
            ["medicaid_number: must be at most 100 characters"]
        );
    }

    #[test]
    fn dates() {
        for ok in [
            "01/15/1955",
            "01-15-1955",
            "1955-01-15",
            "1955/01/15",
            "02/29/2000",
            "2024-02-29",
        ] {
            for f in [
                "birth_date",
                "medicare_part_a_effective_date",
                "medicare_part_b_effective_date",
            ] {
                assert!(field_errors(f, json!(ok)).is_empty(), "{f}={ok}");
            }
        }
        for bad in [
            "1955-1-15",
            "02/30/2000",
            "02/29/1900",
            "13/01/2000",
            "00/10/2000",
            "1955.01.15",
            "1955-01/15",
            "",
            "01/15/55",
            "+1/15/1955",
            "1955-01-15x",
        ] {
            assert_eq!(field_errors("birth_date", json!(bad)).len(), 1, "{bad}");
        }
        assert_eq!(parse_date("12/31/1999"), Some((1999, 12, 31)));
    }

    #[test]
    fn state_zip_phone_sex() {
        for ok in ["CA", "ca", "Dc", "PR", "GU", "MP"] {
            assert!(field_errors("state", json!(ok)).is_empty(), "{ok}");
        }
        for bad in ["XX", "C", "CAL", "", "C1", "ÇA"] {
            assert_eq!(
                field_errors("state", json!(bad)),
                ["state: must be a two-letter US state or territory code"],
                "{bad}"
            );
        }
        assert!(field_errors("zip", json!("02134")).is_empty());
        for bad in ["2134", "021345", "0213a", "02134-1234", "０２１３４"] {
            assert_eq!(
                field_errors("zip", json!(bad)),
                ["zip: must be a 5-digit ZIP (or ZIP+4)"],
                "{bad}"
            );
        }
        assert_eq!(field_errors("zip", json!(2134)), ["zip: must be a string"]);
        assert!(field_errors("phone", json!("5551234567")).is_empty());
        for bad in ["555-123-4567", "555123456", "55512345678"] {
            assert_eq!(field_errors("phone", json!(bad)).len(), 1, "{bad}");
        }
        for ok in SEX_VALUES {
            assert!(field_errors("sex", json!(ok)).is_empty());
        }
        for bad in ["Male", "x", ""] {
            assert_eq!(field_errors("sex", json!(bad)).len(), 1, "{bad}");
        }
    }

    #[test]
    fn emails() {
        for ok in ["a@b.co", "first.last+tag@example.org"] {
            assert!(field_errors("email", json!(ok)).is_empty(), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "ab.co",
            "@b.co",
            "a@b",
            "a@@b.co",
            "a b@c.co",
            "a@.co",
            "a@b.",
            long.as_str(),
        ] {
            assert_eq!(
                field_errors("email", json!(bad)),
                ["email: must be a valid email address"],
                "{bad}"
            );
        }
    }

    #[test]
    fn booleans_lists_and_forbidden_keys() {
        for f in ["extra_help", "medicaid_eligible"] {
            assert!(field_errors(f, json!(true)).is_empty());
            assert!(field_errors(f, Value::Null).is_empty());
            assert_eq!(
                field_errors(f, json!("true")),
                [format!("{f}: must be true, false or null")]
            );
        }
        for f in ["drugs", "pharmacies", "providers"] {
            assert!(field_errors(f, json!([{"name": "x"}, {}])).is_empty());
            assert!(field_errors(f, json!([])).is_empty());
            assert_eq!(
                field_errors(f, json!([1])),
                [format!("{f}: must be an array of objects")]
            );
            assert_eq!(
                field_errors(f, json!({})),
                [format!("{f}: must be an array")]
            );
        }
        assert_eq!(
            field_errors("id", json!("x")),
            ["id: is assigned by the server and must not be sent"]
        );
        assert_eq!(field_errors("slug", json!("x")).len(), 1);
        assert_eq!(
            field_errors("nickname", json!("x")),
            ["nickname: unknown field"]
        );
    }

    #[test]
    fn every_field_with_a_flag_has_a_distinct_flag() {
        let flags: Vec<_> = FIELDS.iter().filter_map(|f| f.flag).collect();
        let mut dedup = flags.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(flags.len(), dedup.len());
        assert_eq!(flags.len(), 18);
        for f in FIELDS {
            if let Some(flag) = f.flag {
                assert_eq!(flag.replace('-', "_"), f.name);
            }
        }
    }
}
