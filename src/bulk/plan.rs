//! What one row needs, decided from what the ledger holds of its external id: nothing, a
//! create, a PATCH of the changed fields, or a look-up of an earlier request whose outcome
//! is unknown. Import and sync differ only in what a known contact needs.

use serde_json::{Map, Value};

use crate::ledger::{Digests, Realm, Record, synced_fields};

/// Which command drives the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Create what the ledger does not hold as created; never change a contact.
    Import,
    /// The file is the desired state: create, or PATCH what changed.
    Sync,
}

impl Kind {
    pub fn command(self) -> &'static str {
        match self {
            Kind::Import => "contacts import",
            Kind::Sync => "contacts sync",
        }
    }
}

/// One valid row of the file.
#[derive(Debug, Clone)]
pub struct Item {
    pub number: u64,
    pub line: u64,
    pub x: String,
    pub contact: Map<String, Value>,
}

/// What a row needs.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Import: created by an earlier run (its id).
    Skip(String),
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

pub fn action(kind: Kind, realm: &Realm, record: Option<&Record>, item: &Item) -> Action {
    let Some(record) = record else {
        return Action::Create;
    };
    if record.pending.is_some() {
        return Action::Check;
    }
    let Some(id) = record.contact_id.clone() else {
        return Action::Create;
    };
    if kind == Kind::Import {
        return Action::Skip(id);
    }
    let contact = &item.contact;
    let changes: Map<String, Value> = synced_fields(contact)
        .filter(|f| match &record.digests {
            Some(d) => d.get(*f) != Some(&realm.digest(f, &contact[*f])),
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
            all: record.digests.is_none(),
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
/// None when the row has no fields any search needs.
pub fn lookup_query(
    realm: &Realm,
    record: &Record,
    contact: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    let pending = record.pending.as_ref()?;
    let expected = |f: &str| -> Option<&String> {
        pending
            .d
            .get(f)
            .or_else(|| record.digests.as_ref().and_then(|d: &Digests| d.get(f)))
    };
    let mut usable: Vec<&&[&str]> = QUERIES
        .iter()
        .filter(|q| {
            q.iter().all(|f| {
                contact
                    .get(*f)
                    .is_some_and(|v| expected(f) == Some(&realm.digest(f, v)))
            })
        })
        .collect();
    usable.sort_by_key(|q| q.iter().filter(|f| pending.d.contains_key(**f)).count());
    if let Some(query) = usable.first() {
        return Some(pick(contact, query));
    }
    // Nothing certain (an adopted row whose values were never seen): a hit with this row's
    // external id still settles it.
    let query = QUERIES
        .iter()
        .find(|q| q.iter().all(|f| contact.contains_key(*f)))?;
    Some(pick(contact, query))
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
    use crate::ledger::Pending;
    use serde_json::json;

    fn item(v: Value) -> Item {
        let contact = v.as_object().unwrap().clone();
        let x = contact["external_id"].as_str().unwrap().to_string();
        Item {
            number: 1,
            line: 2,
            x,
            contact,
        }
    }

    #[test]
    fn actions_send_only_what_changed_and_never_the_external_id() {
        let realm = Realm::for_tests();
        let w = item(
            json!({"external_id": "A", "first_name": "Ann", "last_name": "Lee",
            "birth_date": "1950-01-02", "zip": "94103"}),
        );
        assert_eq!(action(Kind::Sync, &realm, None, &w), Action::Create);
        let d = realm.digests(&w.contact, synced_fields(&w.contact));
        assert!(!d.contains_key("external_id"));
        let pending = Record {
            pending: Some(Pending {
                create: true,
                d: d.clone(),
            }),
            ..Record::default()
        };
        assert_eq!(
            action(Kind::Sync, &realm, Some(&pending), &w),
            Action::Check
        );
        let created = Record {
            contact_id: Some("c1".into()),
            digests: Some(d),
            pending: None,
        };
        assert_eq!(
            action(Kind::Sync, &realm, Some(&created), &w),
            Action::Unchanged
        );
        assert_eq!(
            action(Kind::Import, &realm, Some(&created), &w),
            Action::Skip("c1".into())
        );
        let moved = item(
            json!({"external_id": "A", "first_name": "Ann", "last_name": "Lee",
            "birth_date": "1950-01-02", "zip": "10001"}),
        );
        let Action::Update { id, changes, all } =
            action(Kind::Sync, &realm, Some(&created), &moved)
        else {
            panic!("an update")
        };
        assert_eq!((id.as_str(), all), ("c1", false));
        assert_eq!(Value::Object(changes), json!({"zip": "10001"}));

        // A pending update is looked up by fields it did not touch.
        let updating = Record {
            pending: Some(Pending {
                create: false,
                d: realm.digests(&moved.contact, ["zip".to_string()].iter()),
            }),
            ..created
        };
        let query = lookup_query(&realm, &updating, &moved.contact).unwrap();
        assert_eq!(
            Value::Object(query),
            json!({"first_name": "Ann", "last_name": "Lee", "birth_date": "1950-01-02"})
        );
    }

    #[test]
    fn adopted_contacts_get_every_field_once() {
        let realm = Realm::for_tests();
        let adopted = Record {
            contact_id: Some("c9".into()),
            ..Record::default()
        };
        let w = item(json!({"external_id": "B", "first_name": "Bo", "last_name": "Li"}));
        let Action::Update { changes, all, .. } = action(Kind::Sync, &realm, Some(&adopted), &w)
        else {
            panic!("an update")
        };
        assert!(all);
        assert_eq!(
            Value::Object(changes),
            json!({"first_name": "Bo", "last_name": "Li"})
        );
    }
}
