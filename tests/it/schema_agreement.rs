//! The client validates a contact before sending it; the sandbox validates it on receipt with
//! rules of its own, written from the API documentation as the server side. This table feeds
//! both the same contacts and requires the same verdict: both accept, or both refuse naming
//! the same fields. Each row also states the verdict the documentation calls for
//! (`shared/api/API.md` §4, `openapi-v2.json` `Contact`), so a rule changed on both sides
//! at once is caught too.

use hsm::contact_schema as client;
use serde_json::{Map, Value, json};

/// Create or update.
#[derive(Clone, Copy, Debug)]
enum Op {
    Create,
    Update,
}

/// One contact and the fields the documentation says must be refused (empty: accepted).
struct Case {
    what: String,
    op: Op,
    contact: Map<String, Value>,
    refused: Vec<&'static str>,
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("a contact is an object, not {other}"),
    }
}

/// The smallest valid create.
fn minimal() -> Map<String, Value> {
    object(json!({"external_id": "CRM-1", "first_name": "Ann", "last_name": "Lee"}))
}

/// A create of `minimal()` with `field` set to `value`.
fn with(field: &str, value: Value) -> Map<String, Value> {
    let mut contact = minimal();
    contact.insert(field.to_owned(), value);
    contact
}

fn accepted(field: &'static str, values: Vec<Value>, cases: &mut Vec<Case>) {
    for value in values {
        cases.push(Case {
            what: format!("{field} = {value}"),
            op: Op::Create,
            contact: with(field, value),
            refused: vec![],
        });
    }
}

fn refused(field: &'static str, values: Vec<Value>, cases: &mut Vec<Case>) {
    for value in values {
        cases.push(Case {
            what: format!("{field} = {value}"),
            op: Op::Create,
            contact: with(field, value),
            refused: vec![field],
        });
    }
}

fn whole(what: &str, op: Op, contact: Value, refused: Vec<&'static str>) -> Case {
    Case {
        what: what.to_owned(),
        op,
        contact: object(contact),
        refused,
    }
}

/// `minLength: 1, maxLength: 100`, counted in characters.
fn text_cases(cases: &mut Vec<Case>) {
    for field in [
        "external_id",
        "first_name",
        "last_name",
        "address_1",
        "address_2",
        "city",
        "medicare_number",
    ] {
        accepted(
            field,
            vec![
                json!("x"),
                json!("x".repeat(100)),
                json!("é".repeat(100)),
                json!("😀".repeat(100)),
                json!("   "),
                json!("O'Neil-Smith Jr."),
            ],
            cases,
        );
        refused(
            field,
            vec![
                json!(""),
                json!("x".repeat(101)),
                json!("é".repeat(101)),
                json!(7),
                json!(true),
                json!(["Ann"]),
                json!({"value": "Ann"}),
            ],
            cases,
        );
    }
    accepted("address_2", vec![Value::Null], cases);
    for field in [
        "external_id",
        "first_name",
        "last_name",
        "address_1",
        "city",
        "medicare_number",
    ] {
        refused(field, vec![Value::Null], cases);
    }
    accepted(
        "medicaid_number",
        vec![json!(""), json!("M".repeat(100)), json!("MED123456")],
        cases,
    );
    refused(
        "medicaid_number",
        vec![json!("M".repeat(101)), Value::Null, json!(123456)],
        cases,
    );
}

/// MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD, and a day that exists.
fn date_cases(cases: &mut Vec<Case>) {
    for field in [
        "birth_date",
        "medicare_part_a_effective_date",
        "medicare_part_b_effective_date",
    ] {
        accepted(
            field,
            [
                "01/15/1955",
                "01-15-1955",
                "1955-01-15",
                "1955/01/15",
                "02/29/2000",
                "2024-02-29",
                "12/31/1999",
                "9999-12-31",
                "0999-12-31",
                "01/01/0001",
            ]
            .map(|d| json!(d))
            .to_vec(),
            cases,
        );
        refused(
            field,
            [
                "",
                "1955-1-15",
                "1-15-1955",
                "02/30/2000",
                "02/29/1900",
                "2023-02-29",
                "04/31/2024",
                "13/01/2000",
                "00/10/2000",
                "01/00/2000",
                "1955.01.15",
                "1955-01/15",
                "01/15-1955",
                "01/15/55",
                "+1/15/1955",
                "1955-01-15x",
                " 1955-01-15",
                "1955-01-15T00:00:00Z",
                "19550115",
                "0000-01-01",
                "١٩٥٥-٠١-١٥",
                "Jan 15, 1955",
            ]
            .map(|d| json!(d))
            .to_vec(),
            cases,
        );
        refused(field, vec![json!(19_550_115), Value::Null], cases);
    }
}

/// A two-letter state code.
fn state_cases(cases: &mut Vec<Case>) {
    accepted(
        "state",
        ["CA", "ca", "Dc", "NY", "PR", "GU", "VI", "AS", "MP", "WY"]
            .map(|s| json!(s))
            .to_vec(),
        cases,
    );
    refused(
        "state",
        [
            "XX",
            "C",
            "CAL",
            "",
            "C1",
            "ÇA",
            " CA",
            "CA ",
            "AA",
            "AE",
            "FM",
            "MH",
            "PW",
            "California",
        ]
        .map(|s| json!(s))
        .to_vec(),
        cases,
    );
    refused("state", vec![json!(6), Value::Null], cases);
}

/// A 5-digit ZIP, a 10-digit phone.
fn digit_cases(cases: &mut Vec<Case>) {
    accepted("zip", vec![json!("02134"), json!("99999")], cases);
    refused(
        "zip",
        [
            "",
            "2134",
            "021345",
            "0213a",
            "02134-1234",
            "０２１３４",
            " 02134",
        ]
        .map(|s| json!(s))
        .to_vec(),
        cases,
    );
    refused("zip", vec![json!(2134), Value::Null], cases);
    accepted("phone", vec![json!("5551234567")], cases);
    refused(
        "phone",
        [
            "",
            "555-123-4567",
            "(555) 123-4567",
            "555123456",
            "55512345678",
            "+15551234567",
            "555 123 4567",
        ]
        .map(|s| json!(s))
        .to_vec(),
        cases,
    );
    refused("phone", vec![json!(5_551_234_567_u64), Value::Null], cases);
}

/// The `sex` enum, exactly.
fn sex_cases(cases: &mut Vec<Case>) {
    accepted(
        "sex",
        ["male", "female", "M", "F", "m", "f"]
            .map(|s| json!(s))
            .to_vec(),
        cases,
    );
    refused(
        "sex",
        ["Male", "FEMALE", "x", "", "f ", "unknown"]
            .map(|s| json!(s))
            .to_vec(),
        cases,
    );
    refused("sex", vec![json!(true), Value::Null], cases);
}

/// `format: email`.
fn email_cases(cases: &mut Vec<Case>) {
    accepted(
        "email",
        [
            "a@b.co",
            "first.last+tag@example.org",
            "a.b+c@example.co.uk",
            "x_y-z@sub-domain.example.com",
            "o'neil@example.ie",
            "ANN@EXAMPLE.COM",
            "1@2.io",
            "a@b.xn--p1ai",
            "a@b.c0m",
        ]
        .map(|s| json!(s))
        .to_vec(),
        cases,
    );
    let long_local = format!("{}@example.com", "a".repeat(65));
    let long_total = format!("a@{}.com", "b".repeat(250));
    refused(
        "email",
        [
            "",
            "ab.co",
            "@b.co",
            "a@",
            "a@b",
            "ann@localhost",
            "a@@b.co",
            "a@b@c.co",
            "a b@c.co",
            "a@.co",
            "a@b.",
            "a..b@c.co",
            ".a@c.co",
            "a.@c.co",
            "a@b..co",
            "a@-b.co",
            "a@b-.co",
            "a@b_c.co",
            "é@b.co",
            "a@bé.co",
            "\"a\"@b.co",
            "a(b)@c.co",
            "a@[127.0.0.1]",
            "a@b.co ",
            "a@b.123",
            long_local.as_str(),
            long_total.as_str(),
        ]
        .map(|s| json!(s))
        .to_vec(),
        cases,
    );
    refused("email", vec![json!(1), Value::Null], cases);
}

/// Extra Help and Medicaid flags, the nested records, server-assigned and unknown keys.
fn other_cases(cases: &mut Vec<Case>) {
    for field in ["extra_help", "medicaid_eligible"] {
        accepted(field, vec![json!(true), json!(false), Value::Null], cases);
        refused(
            field,
            vec![json!("true"), json!("yes"), json!(1), json!(0), json!([])],
            cases,
        );
    }
    for field in ["drugs", "pharmacies", "providers"] {
        accepted(
            field,
            vec![json!([]), json!([{}]), json!([{"name": "x"}, {"npi": 1}])],
            cases,
        );
        refused(
            field,
            vec![
                json!([1]),
                json!(["aspirin"]),
                json!([{}, null]),
                json!([[{}]]),
                json!({}),
                json!("x"),
                Value::Null,
            ],
            cases,
        );
    }
    for field in ["id", "slug"] {
        refused(
            field,
            vec![json!("c7716192"), json!(""), Value::Null],
            cases,
        );
    }
    for key in ["nickname", "notes", "type", "agent_email", "First_Name", ""] {
        cases.push(Case {
            what: format!("unknown key {key:?}"),
            op: Op::Create,
            contact: with(key, json!("x")),
            refused: vec![],
        });
        let last = cases.len() - 1;
        cases[last].refused = vec![leak(key)];
    }
}

/// Field names built at run time, as `&'static str` for the table.
fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

/// Missing fields, every field at once, several violations at once.
fn create_cases(cases: &mut Vec<Case>) {
    cases.push(whole(
        "minimal create",
        Op::Create,
        json!(minimal()),
        vec![],
    ));
    cases.push(whole(
        "empty create",
        Op::Create,
        json!({}),
        vec!["external_id", "first_name", "last_name"],
    ));
    for missing in ["external_id", "first_name", "last_name"] {
        let mut contact = minimal();
        contact.remove(missing);
        cases.push(whole(
            &format!("create without {missing}"),
            Op::Create,
            Value::Object(contact),
            vec![missing],
        ));
    }
    cases.push(whole(
        "every field valid",
        Op::Create,
        json!({
            "external_id": "CRM-2", "first_name": "Ann", "last_name": "Lee",
            "address_1": "1215 19th St", "address_2": "Suite 100", "birth_date": "01/15/1955",
            "city": "Sacramento", "state": "CA", "zip": "95811", "phone": "8557722663",
            "sex": "female", "email": "ann@example.com", "medicare_number": "1EG4-TE5-MK72",
            "medicare_part_a_effective_date": "01/01/2024",
            "medicare_part_b_effective_date": "2024-01-01", "medicaid_number": "",
            "extra_help": false, "medicaid_eligible": null,
            "drugs": [{"name": "a"}], "pharmacies": [], "providers": [{}]
        }),
        vec![],
    ));
    cases.push(whole(
        "several violations",
        Op::Create,
        json!({"zip": "1", "phone": "2", "nickname": "x"}),
        vec![
            "nickname",
            "external_id",
            "first_name",
            "last_name",
            "zip",
            "phone",
        ],
    ));
}

/// Partial updates: nothing is required, everything given is checked.
fn update_cases(cases: &mut Vec<Case>) {
    cases.push(whole("empty update", Op::Update, json!({}), vec![]));
    cases.push(whole(
        "update of one field",
        Op::Update,
        json!({"city": "Boston"}),
        vec![],
    ));
    cases.push(whole(
        "update sending external_id",
        Op::Update,
        json!({"external_id": "CRM-1"}),
        vec![],
    ));
    cases.push(whole(
        "update with a bad ZIP",
        Op::Update,
        json!({"zip": "9"}),
        vec!["zip"],
    ));
    cases.push(whole(
        "update emptying a name",
        Op::Update,
        json!({"first_name": ""}),
        vec!["first_name"],
    ));
    cases.push(whole(
        "update sending the id",
        Op::Update,
        json!({"id": "c7716192-7625-4351-a689-3df3b65ba0e2"}),
        vec!["id"],
    ));
}

fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    create_cases(&mut cases);
    update_cases(&mut cases);
    text_cases(&mut cases);
    date_cases(&mut cases);
    state_cases(&mut cases);
    digit_cases(&mut cases);
    sex_cases(&mut cases);
    email_cases(&mut cases);
    other_cases(&mut cases);
    cases
}

fn client_verdict(case: &Case) -> Vec<String> {
    let mode = match case.op {
        Op::Create => client::Mode::Create,
        Op::Update => client::Mode::Update,
    };
    client::validate(&case.contact, mode)
        .into_iter()
        .map(|e| e.field)
        .collect()
}

fn sandbox_verdict(case: &Case) -> Vec<String> {
    let mode = match case.op {
        Op::Create => hsm_sandbox::Mode::Create,
        Op::Update => hsm_sandbox::Mode::Update,
    };
    hsm_sandbox::validate_contact(&case.contact, mode)
        .into_iter()
        .map(|v| v.field)
        .collect()
}

#[test]
fn client_and_sandbox_accept_and_refuse_the_same_contacts() {
    let cases = all_cases();
    assert!(cases.len() > 300, "{} cases", cases.len());
    let mut disagreements = Vec::new();
    for case in &cases {
        let documented: Vec<String> = case.refused.iter().map(|f| f.to_string()).collect();
        let (client, sandbox) = (client_verdict(case), sandbox_verdict(case));
        if client != documented || sandbox != documented {
            disagreements.push(format!(
                "{:?} {}: documented {documented:?}, client {client:?}, sandbox {sandbox:?}",
                case.op, case.what
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
}
