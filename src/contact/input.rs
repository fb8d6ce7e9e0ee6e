//! Turning what users type (flags, CSV cells, `--data` JSON) into a contact object.

use serde_json::{Map, Value};

use super::schema::{FIELDS, FieldSpec, Kind, field_spec};

/// The JSON field a column header or flag spelling names: `external_id`, `external-id`,
/// `External ID` and `--external-id` all mean the same field.
pub fn field_for(header: &str) -> Option<&'static FieldSpec> {
    let key: String = header
        .trim()
        .trim_start_matches("--")
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    field_spec(&key).or_else(|| {
        FIELDS
            .iter()
            .find(|f| f.flag.is_some_and(|fl| fl.replace('-', "_") == key))
    })
}

/// The JSON value of a text typed for a field: booleans and nested lists are parsed, the rest
/// stays text (validation reports anything wrong with it, naming the field).
pub fn value_from_text(spec: &FieldSpec, text: &str) -> Result<Value, String> {
    match spec.kind {
        Kind::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "n" | "0" => Ok(Value::Bool(false)),
            "null" | "" => Ok(Value::Null),
            _ => Err(format!("{}: must be true or false", spec.name)),
        },
        Kind::ObjectList => {
            serde_json::from_str(text).map_err(|e| format!("{}: not a JSON array ({e})", spec.name))
        }
        _ => Ok(Value::String(text.to_string())),
    }
}

/// Parse `--data`: a JSON object, either the contact itself or wrapped as `{"contact": {...}}`.
pub fn contact_from_json(text: &str) -> Result<Map<String, Value>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    match value {
        Value::Object(mut obj) => match obj.remove("contact") {
            Some(Value::Object(inner)) if obj.is_empty() => Ok(inner),
            Some(other) => {
                obj.insert("contact".into(), other);
                Ok(obj)
            }
            None => Ok(obj),
        },
        _ => Err("must be a JSON object".to_string()),
    }
}

/// Rewrite the formats whose meaning is unambiguous into the one the API takes, before
/// validation: phone punctuation, spaces and a leading `+1` or `1` go (`(816) 555-0166` and
/// `+1 816 555 0166` are `8165550166`); a ZIP+4 (`94103-1234`) keeps its five-digit ZIP; a
/// state code is upper-cased. Anything else is left as typed, for validation to report.
pub fn normalise(contact: &mut Map<String, Value>) {
    for (name, value) in contact.iter_mut() {
        let (Some(spec), Value::String(text)) = (field_spec(name), &*value) else {
            continue;
        };
        let fixed = match spec.kind {
            Kind::Phone => normal_phone(text),
            Kind::Zip => normal_zip(text),
            Kind::State => Some(text.trim().to_ascii_uppercase()),
            _ => None,
        };
        if let Some(fixed) = fixed {
            *value = Value::String(fixed);
        }
    }
}

/// Ten digits once punctuation, spaces and a leading country code 1 are dropped; None when
/// the text holds anything else (letters, extensions) or another number of digits.
fn normal_phone(text: &str) -> Option<String> {
    let text = text.trim();
    if !text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '+'))
    {
        return None;
    }
    let plus = text.starts_with('+');
    if text[usize::from(plus)..].contains('+') {
        return None;
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    match digits.len() {
        10 if !plus => Some(digits),
        11 if digits.starts_with('1') => Some(digits[1..].to_string()),
        _ => None,
    }
}

/// `12345-6789` (or `123456789`) is the ZIP `12345`.
fn normal_zip(text: &str) -> Option<String> {
    let text = text.trim();
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match text.split_once('-') {
        Some((zip, plus4))
            if zip.len() == 5 && plus4.len() == 4 && all_digits(zip) && all_digits(plus4) =>
        {
            Some(zip.to_string())
        }
        None if text.len() == 9 && all_digits(text) => Some(text[..5].to_string()),
        _ if text.len() == 5 && all_digits(text) => Some(text.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_spellings_map_to_fields() {
        for h in ["external_id", "external-id", "External ID", "--external-id"] {
            assert_eq!(field_for(h).map(|f| f.name), Some("external_id"), "{h}");
        }
        assert!(field_for("favourite_colour").is_none());
    }

    #[test]
    fn booleans_and_lists_are_parsed() {
        let extra = field_spec("extra_help").unwrap();
        assert_eq!(value_from_text(extra, "yes").unwrap(), Value::Bool(true));
        assert!(value_from_text(extra, "maybe").is_err());
        let drugs = field_spec("drugs").unwrap();
        assert!(
            value_from_text(drugs, "[{\"name\":\"x\"}]")
                .unwrap()
                .is_array()
        );
    }

    #[test]
    fn data_may_be_wrapped_or_bare() {
        assert_eq!(
            contact_from_json("{\"contact\":{\"a\":1}}").unwrap()["a"],
            1
        );
        assert_eq!(contact_from_json("{\"a\":1}").unwrap()["a"], 1);
        assert!(contact_from_json("[1]").is_err());
    }

    #[test]
    fn unambiguous_formats_are_normalised_and_the_rest_left_alone() {
        let norm = |field: &str, text: &str| {
            let mut m = Map::new();
            m.insert(field.into(), Value::String(text.into()));
            normalise(&mut m);
            m[field].as_str().unwrap().to_string()
        };
        for p in [
            "816-555-0166",
            "(816) 555-0166",
            "+1 816 555 0166",
            "816.555.0166",
            "18165550166",
            " 8165550166 ",
        ] {
            assert_eq!(norm("phone", p), "8165550166", "{p}");
        }
        for p in [
            "816-555-016",
            "+44 20 7946 0958",
            "816-555-0166 x12",
            "call me",
            "+1+8165550166",
        ] {
            assert_eq!(norm("phone", p), p, "{p}");
        }
        assert_eq!(norm("zip", "94103-1234"), "94103");
        assert_eq!(norm("zip", "941031234"), "94103");
        assert_eq!(norm("zip", "9410"), "9410");
        assert_eq!(norm("zip", "94103-12"), "94103-12");
        assert_eq!(norm("state", "mo"), "MO");
        assert_eq!(norm("first_name", "(816) 555-0166"), "(816) 555-0166");
    }
}
