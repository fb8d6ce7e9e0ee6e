//! The contacts API: authentication, create, update and search, with every validation rule.

use reqwest::StatusCode;
use reqwest::blocking::Response;
use serde_json::{Value, json};

use crate::common::*;

// ---------- API authentication ----------

#[test]
fn exact_401_bodies_and_challenges() {
    let sb = Sandbox::new();
    let resp = api(
        &sb,
        reqwest::Method::POST,
        "/v2/contacts",
        None,
        Some(json!({"contact": ann()})),
    );
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.text().expect("body"), MISSING_AUTH);
    for token in ["sbx_at_unknown", ""] {
        let resp = create(&sb, token, ann());
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            resp.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
        assert_eq!(resp.text().expect("body"), INVALID_TOKEN);
    }
    let resp = sb
        .client()
        .post(sb.url("/v2/contacts"))
        .basic_auth("a", Some("b"))
        .send()
        .expect("POST");
    assert_eq!(resp.text().expect("body"), INVALID_TOKEN);
    // A refresh token is not an access token.
    let tokens = sb.mint(json!({}));
    let resp = search(
        &sb,
        s(&tokens["refresh_token"]),
        json!({"medicare_number": "1"}),
    );
    assert_eq!(resp.text().expect("body"), INVALID_TOKEN);
    assert_eq!(sb.stats()["contacts_created"], 0);
}

#[test]
fn wrong_scope_is_403_and_no_agent_is_404() {
    let sb = Sandbox::new();
    let resp = create(&sb, &access_token(&sb, json!({"scope": "profile"})), ann());
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().expect("JSON");
    assert_eq!(body["error"], "insufficient_scope");
    assert!(body["error_description"].is_string());

    let resp = create(&sb, &access_token(&sb, json!({"agent": null})), ann());
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        resp.json::<Value>().expect("JSON"),
        json!({"error": {"code": "agent_not_found", "message": "Agent not found for the authenticated user"}})
    );
    assert_eq!(sb.stats()["contacts_created"], 0);
}

// ---------- create ----------

#[test]
fn create_returns_the_contact_with_id_slug_and_redirect_url() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    let resp = create(&sb, &at, ann());
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().expect("JSON");
    let contact = &body["data"]["contact"];
    let id = s(&contact["id"]);
    assert_eq!(id.len(), 36);
    assert_eq!(id.matches('-').count(), 4);
    let slug = s(&contact["slug"]);
    assert!(slug.starts_with("ann-lee-"), "{slug}");
    for (k, v) in ann().as_object().expect("object") {
        assert_eq!(&contact[k], v, "{k}");
    }
    let url = s(&body["data"]["redirect_url"]);
    assert_eq!(url, format!("{}/quotes/{slug}?zip=02134", sb.base_url));
    let quote = sb.client().get(url).send().expect("quote page");
    assert_eq!(quote.status(), StatusCode::OK);

    let minimal = json!({"external_id": "2", "first_name": "Bo", "last_name": "Ng"});
    let body: Value = create(&sb, &at, minimal).json().expect("JSON");
    assert!(
        !s(&body["data"]["redirect_url"]).contains('?'),
        "no zip, no zip parameter"
    );
}

#[test]
fn duplicate_external_ids_are_created_and_counted() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    let other = access_token(&sb, json!({"agent": "b@sandbox.test"}));
    let first = created(create(&sb, &at, ann()));
    let second = created(create(&sb, &at, ann()));
    assert_ne!(first["id"], second["id"]);
    created(create(&sb, &other, ann()));
    let stats = sb.stats();
    assert_eq!(stats["contacts_created"], 3);
    assert_eq!(
        stats["duplicate_external_ids"], 1,
        "another agent's same id is no duplicate"
    );
}

#[test]
fn create_validates_every_field_rule() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    let long = "x".repeat(101);
    let date_rule = "must be a real date as MM/DD/YYYY, MM-DD-YYYY, YYYY-MM-DD or YYYY/MM/DD";
    let server = "is assigned by the server and must not be sent";
    let cases: Vec<(&str, Value, &str)> = vec![
        ("external_id", json!(""), "must be 1 to 100 characters"),
        ("first_name", json!(long), "must be 1 to 100 characters"),
        ("last_name", json!(5), "must be a string"),
        ("address_1", json!(long), "must be 1 to 100 characters"),
        ("address_2", json!(""), "must be 1 to 100 characters"),
        ("city", json!(long), "must be 1 to 100 characters"),
        ("medicare_number", json!(""), "must be 1 to 100 characters"),
        ("birth_date", json!("1955-02-30"), date_rule),
        (
            "medicare_part_a_effective_date",
            json!("2024.01.01"),
            date_rule,
        ),
        (
            "medicare_part_b_effective_date",
            json!("13/01/2024"),
            date_rule,
        ),
        (
            "state",
            json!("ZZ"),
            "must be a two-letter US state or territory code",
        ),
        ("zip", json!("1234"), "must be 5 digits"),
        (
            "phone",
            json!("555-123-4567"),
            "must be 10 digits without formatting",
        ),
        (
            "sex",
            json!("Female"),
            "must be one of male, female, M, F, m, f",
        ),
        (
            "email",
            json!("ann@localhost"),
            "must be a valid email address",
        ),
        (
            "medicaid_number",
            json!(long),
            "must be at most 100 characters",
        ),
        ("extra_help", json!("yes"), "must be true, false or null"),
        ("medicaid_eligible", json!(1), "must be true, false or null"),
        ("drugs", json!(["aspirin"]), "must be an array of objects"),
        ("pharmacies", json!({}), "must be an array"),
        ("providers", json!("x"), "must be an array"),
        ("id", json!("abc"), server),
        ("slug", json!("abc"), server),
        ("nickname", json!("Annie"), "unknown field"),
    ];
    for (field, value, message) in &cases {
        let mut contact = ann();
        contact[*field] = value.clone();
        let resp = create(&sb, &at, contact);
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{field}");
        let body: Value = resp.json().expect("JSON");
        assert_eq!(body["error"]["code"], "validation_error");
        assert_eq!(
            body["error"]["errors"],
            json!([{"field": field, "message": message}]),
            "{field}"
        );
        assert_eq!(body["error"]["message"], format!("{field}: {message}"));
    }
    assert_eq!(sb.stats()["contacts_created"], 0);
}

#[test]
fn create_accepts_every_valid_form_and_lists_every_violation() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    let goods: Vec<(&str, Value)> = vec![
        ("birth_date", json!("1955/01/15")),
        ("birth_date", json!("02-29-2000")),
        ("state", json!("pr")),
        ("sex", json!("f")),
        ("address_2", Value::Null),
        ("extra_help", Value::Null),
        ("medicaid_eligible", json!(true)),
        ("drugs", json!([{"name": "aspirin"}])),
        ("email", json!("a.b+c@example.co.uk")),
    ];
    for (field, value) in &goods {
        let mut contact = ann();
        contact[*field] = value.clone();
        assert_eq!(
            create(&sb, &at, contact).status(),
            StatusCode::CREATED,
            "{field}={value}"
        );
    }
    // All violations at once, joined in the message.
    let body: Value = create(&sb, &at, json!({"zip": "1", "phone": "2"}))
        .json()
        .expect("JSON");
    assert_eq!(
        body["error"]["message"],
        "external_id: is required; first_name: is required; last_name: is required; \
         zip: must be 5 digits; phone: must be 10 digits without formatting"
    );
    assert_eq!(sb.stats()["contacts_created"], goods.len() as u64);
}

#[test]
fn create_refuses_bodies_that_are_not_a_contact() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    let post = |body: Vec<u8>| {
        sb.client()
            .post(sb.url("/v2/contacts"))
            .bearer_auth(&at)
            .body(body)
            .send()
            .expect("POST")
    };
    for body in [
        "{",
        "[]",
        "{\"external_id\": \"1\"}",
        "{\"contact\": []}",
        "",
    ] {
        let resp = post(body.as_bytes().to_vec());
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(resp.json::<Value>().expect("JSON envelope")["error"]["code"].is_string());
    }
    assert_eq!(
        post(vec![0xff, 0xfe, b'{']).status(),
        StatusCode::BAD_REQUEST
    );
    health_ok(&sb);
}

// ---------- update ----------

#[test]
fn update_rules() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    let other = access_token(&sb, json!({"agent": "b@sandbox.test"}));
    let mut contact = ann();
    contact["drugs"] = json!([{"name": "a"}, {"name": "b"}]);
    let stored = created(create(&sb, &at, contact));
    let id = s(&stored["id"]);

    let expect = |resp: Response, status: StatusCode, code: &str| {
        let (got_status, got_code) = error_code(resp);
        assert_eq!((got_status, got_code.as_str()), (status, code));
    };
    expect(
        update(&sb, &at, "no-such-id", json!({"city": "X"})),
        StatusCode::NOT_FOUND,
        "contact_not_found",
    );
    expect(
        update(&sb, &other, id, json!({"city": "X"})),
        StatusCode::NOT_FOUND,
        "contact_not_found",
    );
    expect(
        update(&sb, &at, id, json!({"external_id": "CRM-2"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "external_id_immutable",
    );
    expect(
        update(&sb, &at, id, json!({"zip": "9"})),
        StatusCode::BAD_REQUEST,
        "validation_error",
    );

    // Same values, including the unchanged external_id: nothing to do.
    let resp = update(
        &sb,
        &at,
        id,
        json!({"external_id": "CRM-1", "zip": "02134"}),
    );
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.bytes().expect("body").is_empty());
    assert_eq!(
        update(&sb, &at, id, json!({})).status(),
        StatusCode::NO_CONTENT
    );

    let change = json!({"city": "Boston", "drugs": [{"name": "c"}], "address_2": null});
    let resp = update(&sb, &at, id, change);
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().expect("JSON");
    let updated = &body["data"]["contact"];
    assert_eq!(updated["city"], "Boston");
    assert_eq!(
        updated["drugs"],
        json!([{"name": "c"}]),
        "nested arrays replace"
    );
    assert_eq!(updated["first_name"], "Ann", "untouched fields stay");
    assert_eq!(updated["id"], stored["id"]);
    assert!(body["data"]["redirect_url"].is_string());
    let resp = api(
        &sb,
        reqwest::Method::PATCH,
        &format!("/v2/contacts/{id}"),
        Some(&at),
        None,
    );
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(sb.stats()["contacts_updated"], 1);
}

// ---------- search ----------

#[test]
fn search_rules_match_and_no_match() {
    let sb = Sandbox::new();
    let at = access_token(&sb, json!({}));
    let other = access_token(&sb, json!({"agent": "b@sandbox.test"}));
    let stored = created(create(&sb, &at, ann()));

    for bad in [
        json!({}),
        json!({"first_name": "Ann"}),
        json!({"birth_date": "1955-01-15", "email": "ann@example.com"}),
        json!({"first_name": "Ann", "birth_date": "1955-02-30"}),
        json!({"medicare_number": "1EG4-TE5-MK72", "city": "Boston"}),
        json!({"medicare_number": 12}),
    ] {
        let (status, code) = error_code(search(&sb, &at, bad.clone()));
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "validation_error"),
            "{bad}"
        );
    }
    for query in [
        json!({"medicare_number": "1EG4-TE5-MK72"}),
        json!({"first_name": "ann", "birth_date": "1955-01-15"}),
        json!({"last_name": "Lee", "email": "ANN@example.com"}),
        json!({"first_name": "Ann", "last_name": "Lee", "birth_date": "01-15-1955"}),
    ] {
        let resp = search(&sb, &at, query.clone());
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().expect("JSON");
        assert_eq!(body["data"]["contact"]["id"], stored["id"], "{query}");
        assert!(s(&body["data"]["redirect_url"]).contains("/quotes/"));
    }
    let no_match = json!({"data": {"contact": null, "redirect_url": null}});
    for query in [
        json!({"medicare_number": "0000"}),
        json!({"first_name": "Ann", "phone": "5550000000"}),
    ] {
        let resp = search(&sb, &at, query);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.json::<Value>().expect("JSON"), no_match);
    }
    let resp = search(&sb, &other, json!({"medicare_number": "1EG4-TE5-MK72"}));
    assert_eq!(
        resp.json::<Value>().expect("JSON"),
        no_match,
        "another agent's contact is invisible"
    );
    assert_eq!(sb.stats()["searches"], 7);
}
