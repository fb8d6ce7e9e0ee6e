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
}
