//! The desired state (the file, read and validated whole with import's readers before
//! anything is sent) and what each row needs: nothing, a create, a minimal PATCH, or a look-up
//! of a request whose outcome an earlier run never learnt.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::state::{Digests, Known, State};
use crate::cli::InputFormat;
use crate::error::{CliError, Result};
use crate::import::rows::{self, Rows};
use crate::output::Printer;

/// One row of the file: where it is, its external id, the contact it describes (kept as
/// compact JSON text: a parsed map costs ten times the memory, and the whole file is held).
pub struct Wanted {
    pub line: u64,
    pub x: String,
    json: Box<str>,
}

impl Wanted {
    pub fn new(line: u64, x: String, contact: &Map<String, Value>) -> Wanted {
        let json = serde_json::to_string(contact)
            .unwrap_or_default()
            .into_boxed_str();
        Wanted { line, x, json }
    }

    /// The contact, parsed again from the text it was validated as.
    pub fn contact(&self) -> Map<String, Value> {
        serde_json::from_str(&self.json).unwrap_or_default()
    }
}

/// How many invalid rows are shown before the count.
const SHOWN: usize = 10;

/// Every row, valid and with a unique external id; else exit 2 with the first problems shown
/// (line, external id, field and rule; never a value), and nothing sent.
pub fn read_desired(
    file: &str,
    format: Option<InputFormat>,
    printer: Printer,
) -> Result<Vec<Wanted>> {
    let format = rows::format_for(file, format)?;
    let rows = Rows::new(rows::open(file)?, format)?;
    let mut wanted = Vec::new();
    let mut seen = HashSet::new();
    let mut problems = Vec::new();
    for row in rows {
        let row = row?;
        let id = row
            .external_id
            .as_deref()
            .map_or_else(String::new, |x| format!(", external id {x}"));
        match (row.contact, row.external_id) {
            (Err(why), _) => problems.push(format!("line {}{id}: {why}", row.line)),
            (Ok(_), Some(x)) if !seen.insert(x.clone()) => problems.push(format!(
                "line {}{id}: the external id appears twice in the file",
                row.line
            )),
            (Ok(contact), Some(x)) => wanted.push(Wanted::new(row.line, x, &contact)),
            (Ok(_), None) => problems.push(format!("line {}: no external_id", row.line)),
        }
    }
    if problems.is_empty() {
        return Ok(wanted);
    }
    for p in problems.iter().take(SHOWN) {
        printer.status(&format!("  {p}"));
    }
    if problems.len() > SHOWN {
        printer.status(&format!("  ... and {} more", problems.len() - SHOWN));
    }
    Err(CliError::usage(format!(
        "{} invalid row(s) in `{file}`; nothing was sent",
        problems.len()
    ))
    .with_hint("the file is the desired state: fix these rows and run again"))
}

/// What a row needs.
#[derive(Debug, PartialEq)]
pub enum Action {
    Unchanged,
    Create,
    /// PATCH these fields; `all` when the contact was adopted and what it holds is unknown.
    Update {
        id: String,
        changes: Map<String, Value>,
        all: bool,
    },
    /// A request of an earlier run has an unknown outcome: look it up first.
    Check,
}

/// The fields that are compared and sent: all but `external_id`, which is immutable.
pub fn synced_fields(contact: &Map<String, Value>) -> impl Iterator<Item = &String> {
    contact.keys().filter(|k| k.as_str() != "external_id")
}

pub fn action(state: &State, w: &Wanted) -> Action {
    let Some(known) = state.known.get(&w.x) else {
        return Action::Create;
    };
    if known.pending.is_some() {
        return Action::Check;
    }
    let Some(id) = known.id.clone() else {
        return Action::Create;
    };
    let contact = w.contact();
    let changes: Map<String, Value> = synced_fields(&contact)
        .filter(|f| match &known.d {
            Some(d) => d.get(*f) != Some(&state.digest(f, &contact[*f])),
            None => true,
        })
        .map(|f| (f.clone(), contact[f].clone()))
        .collect();
    if changes.is_empty() {
        Action::Unchanged
    } else {
        Action::Update {
            id,
            changes,
            all: known.d.is_none(),
        }
    }
}

/// The search-rule combinations, most specific first.
const QUERIES: &[&[&str]] = &[
    &["medicare_number"],
    &["first_name", "last_name", "birth_date"],
    &["first_name", "last_name", "email"],
    &["first_name", "last_name", "phone"],
];

/// A search that finds the contact of a pending row if its request took effect: every field
/// of the query must hold, in the row, the value the contact would hold then. Fields the
/// pending request did not touch come first (their value on the server is certain). Returns
/// the query and whether a miss proves the contact absent (a pending create).
pub fn lookup_query(
    state: &State,
    known: &Known,
    w: &Wanted,
) -> Option<(Map<String, Value>, bool)> {
    let pending = known.pending.as_ref()?;
    let contact = w.contact();
    let expected = |f: &str| -> Option<&String> {
        pending
            .d
            .get(f)
            .or_else(|| known.d.as_ref().and_then(|d: &Digests| d.get(f)))
    };
    let mut usable: Vec<&&[&str]> = QUERIES
        .iter()
        .filter(|q| {
            q.iter().all(|f| {
                contact
                    .get(*f)
                    .is_some_and(|v| expected(f) == Some(&state.digest(f, v)))
            })
        })
        .collect();
    usable.sort_by_key(|q| q.iter().filter(|f| pending.d.contains_key(**f)).count());
    if let Some(query) = usable.first() {
        return Some((pick(&contact, query), pending.create));
    }
    // Nothing certain (an adopted row whose values were never seen): a hit with this row's
    // external id still settles it; a miss proves nothing.
    let query = QUERIES
        .iter()
        .find(|q| q.iter().all(|f| contact.contains_key(*f)))?;
    Some((pick(&contact, query), false))
}

fn pick(contact: &Map<String, Value>, fields: &[&str]) -> Map<String, Value> {
    fields
        .iter()
        .map(|f| (f.to_string(), contact[*f].clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::state::{Ev, Line};
    use serde_json::json;

    fn wanted(v: Value) -> Wanted {
        let contact = v.as_object().unwrap().clone();
        let x = contact["external_id"].as_str().unwrap().to_string();
        Wanted::new(2, x, &contact)
    }

    fn fresh_state() -> State {
        State::peek(std::path::Path::new("/nonexistent/hsm-sync-test.jsonl")).unwrap()
    }

    #[test]
    fn actions_send_only_what_changed_and_never_the_external_id() {
        let mut state = fresh_state();
        let w = wanted(
            json!({"external_id": "A", "first_name": "Ann", "last_name": "Lee",
            "birth_date": "1950-01-02", "zip": "94103"}),
        );
        assert_eq!(action(&state, &w), Action::Create);
        let c = w.contact();
        let d = state.digests(&c, synced_fields(&c));
        assert!(!d.contains_key("external_id"));
        state
            .record(&Line {
                d: Some(d),
                ..Line::new(Ev::SentCreate, "A")
            })
            .unwrap();
        assert_eq!(action(&state, &w), Action::Check);
        state
            .record(&Line {
                id: Some("c1".into()),
                ..Line::new(Ev::Created, "A")
            })
            .unwrap();
        assert_eq!(action(&state, &w), Action::Unchanged);
        let moved = wanted(
            json!({"external_id": "A", "first_name": "Ann", "last_name": "Lee",
            "birth_date": "1950-01-02", "zip": "10001"}),
        );
        let Action::Update { id, changes, all } = action(&state, &moved) else {
            panic!("an update")
        };
        assert_eq!((id.as_str(), all), ("c1", false));
        assert_eq!(Value::Object(changes), json!({"zip": "10001"}));

        // A pending update is looked up by fields it did not touch.
        let d = state.digests(&moved.contact(), ["zip".to_string()].iter());
        state
            .record(&Line {
                d: Some(d),
                ..Line::new(Ev::SentUpdate, "A")
            })
            .unwrap();
        let known = state.known["A"].clone();
        let (query, miss_is_absent) = lookup_query(&state, &known, &moved).unwrap();
        assert_eq!(
            Value::Object(query),
            json!({"first_name": "Ann", "last_name": "Lee", "birth_date": "1950-01-02"})
        );
        assert!(!miss_is_absent);
    }

    #[test]
    fn adopted_contacts_get_every_field_once() {
        let mut state = fresh_state();
        state
            .record(&Line {
                id: Some("c9".into()),
                ..Line::new(Ev::Adopt, "B")
            })
            .unwrap();
        let w = wanted(json!({"external_id": "B", "first_name": "Bo", "last_name": "Li"}));
        let Action::Update { changes, all, .. } = action(&state, &w) else {
            panic!("an update")
        };
        assert!(all);
        assert_eq!(
            Value::Object(changes),
            json!({"first_name": "Bo", "last_name": "Li"})
        );
    }
}
