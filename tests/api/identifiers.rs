//! Patient identifiers and conditional create (API.md Part 5): `{system, value}` lists
//! in REST and FHIR, one patient per pair within an organization or among one user's
//! personal patients (409), FHIR search by identifier, and `If-None-Exist`: 201, 200
//! with the match, 412 for several, 400 for other criteria, and one patient when two
//! race.

use api_tests::TestApp;
use axum::http::Method;
use serde_json::{Value, json};

use crate::email::app_with_mail;
use crate::orgs::{clinic, join};

const MRN: &str = "urn:oid:2.16.840.1.113883.19.5";

fn patient(name: &str, identifiers: Value) -> Value {
    json!({"name": name, "date_of_birth": "1980-04-01", "identifiers": identifiers})
}

fn fhir_patient(name: &str, value: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"text": name}], "birthDate": "1980-04-01",
           "identifier": [{"system": MRN, "value": value}]})
}

async fn count_patients(app: &TestApp) -> i64 {
    app.sql().await.query_one("SELECT count(*) FROM patients", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn identifiers_are_unique_per_organization_and_per_personal_owner() {
    let (app, mailbox) = app_with_mail().await;
    let ada = app.user_token("ada@example.com").await;
    let eve = app.user_token("eve@example.com").await;
    let mrn = json!([{"system": MRN, "value": "12345"}, {"system": "https://hospital.example/ids", "value": "A-1"}]);
    let created = app.post("/api/patients", &patient("Grace Hopper", mrn.clone()), Some(&ada)).await;
    created.expect(201, "created");
    assert_eq!(created.data()["identifiers"], mrn);
    let id = created.data()["id"].as_str().unwrap().to_owned();

    // Among one user's personal patients a pair names one patient; another user's is another.
    let again = app.post("/api/patients", &patient("Grace Again", json!([mrn[0]])), Some(&ada)).await;
    again.expect(409, "conflict");
    assert_eq!(again.error_fields(), ["identifiers"]);
    app.post("/api/patients", &patient("Eve's Grace", json!([mrn[0]])), Some(&eve)).await.expect(201, "created");

    // Within an organization, and not across organizations.
    let north = clinic(&app, "north@example.com", "North").await;
    let south = clinic(&app, "south@example.com", "South").await;
    for org in [&north, &south] {
        let mut body = patient("Org Grace", json!([mrn[0]]));
        body["organization_id"] = json!(org.id);
        app.post("/api/patients", &body, Some(&org.owner)).await.expect(201, "created");
    }
    let mut twin = patient("Org Twin", json!([mrn[0]]));
    twin["organization_id"] = json!(north.id);
    app.post("/api/patients", &twin, Some(&north.owner)).await.expect(409, "conflict");

    // An update replaces the list; a duplicate there is 409 and changes nothing.
    let path = format!("/api/patients/{id}");
    let second = app.post("/api/patients", &patient("Second", json!([])), Some(&ada)).await;
    let second_path = format!("/api/patients/{}", second.data()["id"].as_str().unwrap());
    app.put(&second_path, &json!({"identifiers": [mrn[1]]}), Some(&ada)).await.expect(409, "conflict");
    assert_eq!(app.get(&second_path, Some(&ada)).await.data()["version"], 1);
    let replaced = app.put(&path, &json!({"identifiers": [{"system": MRN, "value": "99"}]}), Some(&ada)).await;
    replaced.expect(200, "updated");
    assert_eq!(replaced.data()["identifiers"], json!([{"system": MRN, "value": "99"}]));
    app.put(&second_path, &json!({"identifiers": [mrn[1]]}), Some(&ada)).await.expect(200, "updated");
    // The version it replaced keeps the identifiers it had.
    let versions = app.get(&format!("{path}/versions"), Some(&ada)).await;
    assert_eq!(versions.data()["items"][1]["identifiers"], mrn);

    // A personal patient moved into an organization where its pair is taken: 409, not moved.
    let clinician = join(&app, &mailbox, &north, "cli@example.com", "clinician").await;
    let theirs = app.post("/api/patients", &patient("Moving Grace", json!([mrn[0]])), Some(&clinician)).await;
    let theirs = format!("/api/patients/{}", theirs.data()["id"].as_str().unwrap());
    let moved = app.put(&theirs, &json!({"organization_id": north.id}), Some(&clinician)).await;
    moved.expect(409, "conflict");
    assert_eq!(app.get(&theirs, Some(&clinician)).await.data()["organization_id"], Value::Null);
    app.put(&theirs, &json!({"identifiers": [{"system": MRN, "value": "moved"}]}), Some(&clinician)).await;
    app.put(&theirs, &json!({"organization_id": north.id}), Some(&clinician)).await.expect(200, "updated");

    // Bad lists: every fault named by the field.
    for bad in [
        json!({"system": MRN}),
        json!([{"system": "mrn", "value": "1"}]),
        json!([{"system": MRN, "value": ""}]),
        json!([{"system": MRN, "value": "1", "use": "usual"}]),
        json!([{"system": MRN, "value": "1"}, {"system": MRN, "value": "1"}]),
        json!([{"system": MRN, "value": "x".repeat(101)}]),
        json!("urn:x|1"),
    ] {
        let refused = app.post("/api/patients", &patient("Bad", bad.clone()), Some(&ada)).await;
        refused.expect(400, "invalid");
        assert_eq!(refused.error_fields(), ["identifiers"], "{bad}");
    }
}

#[tokio::test]
async fn fhir_identifiers_search_and_conditional_create() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    let created = app.fhir_create(&token, &fhir_patient("Grace Hopper", "MRN-1")).await;
    assert_eq!(created["identifier"], json!([{"system": MRN, "value": "MRN-1"}]));
    let id = created["id"].as_str().unwrap().to_owned();
    let ids = |bundle: &Value| -> Vec<String> {
        let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
        entries.iter().map(|e| e["resource"]["id"].as_str().unwrap().to_owned()).collect()
    };
    for query in [format!("identifier={MRN}|MRN-1"), "identifier=MRN-1".into(), format!("identifier={MRN}|")] {
        let found = app.fhir_get(&format!("/api/fhir/Patient?{query}"), &token).await;
        assert_eq!(ids(found.expect(200, None)), std::slice::from_ref(&id), "{query}");
    }
    for query in ["identifier=urn:other|MRN-1".to_string(), "identifier=MRN-2".into(), "identifier=|MRN-1".into()] {
        let found = app.fhir_get(&format!("/api/fhir/Patient?{query}"), &token).await;
        assert!(ids(found.expect(200, None)).is_empty(), "{query}");
    }

    // A duplicate without a condition is a 409 naming the element.
    let duplicate =
        app.fhir(Method::POST, "/api/fhir/Patient").token(&token).json(&fhir_patient("Dup", "MRN-1")).send().await;
    duplicate.expect(409, Some("conflict"));
    assert_eq!(duplicate.expressions(), ["Patient.identifier"]);

    let conditional = |value: &str, criterion: String| {
        let body = fhir_patient("Conditional", value);
        let token = token.clone();
        let app = &app;
        async move {
            app.fhir(Method::POST, "/api/fhir/Patient")
                .token(&token)
                .header("if-none-exist", &criterion)
                .json(&body)
                .send()
                .await
        }
    };
    // One match: 200 with it, nothing created.
    let before = count_patients(&app).await;
    let matched = conditional("MRN-1", format!("identifier={MRN}|MRN-1")).await;
    assert_eq!(matched.expect(200, None)["id"], json!(id));
    assert_eq!(count_patients(&app).await, before);
    let by_value = conditional("MRN-1", "identifier=MRN-1".into()).await;
    assert_eq!(by_value.expect(200, None)["id"], json!(id));
    // No match: 201, as a create.
    let fresh = conditional("MRN-7", format!("Patient?identifier={MRN}|MRN-7")).await;
    fresh.expect(201, None);
    assert_eq!(count_patients(&app).await, before + 1);
    // Two matches (one value in two systems): 412, nothing created.
    let mut other_system = fhir_patient("Other System", "MRN-1");
    other_system["identifier"][0]["system"] = json!("urn:other");
    app.fhir_create(&token, &other_system).await;
    let ambiguous = conditional("MRN-1", "identifier=MRN-1".into()).await;
    ambiguous.expect(412, None);
    assert_eq!(count_patients(&app).await, before + 2);
    // Other criteria are refused before anything runs.
    for criterion in ["name=Grace", "identifier=MRN-1&name=Grace", "identifier=", "identifier=urn:x|", "_id=1"] {
        conditional("MRN-8", criterion.into()).await.expect(400, Some("invalid"));
    }
    // Another user's patient is no match: the match is among the patients the caller reaches.
    let eve = app.user_token("eve@example.com").await;
    let theirs = app
        .fhir(Method::POST, "/api/fhir/Patient")
        .token(&eve)
        .header("if-none-exist", &format!("identifier={MRN}|MRN-1"))
        .json(&fhir_patient("Eve's", "MRN-1"))
        .send()
        .await;
    theirs.expect(201, None);
}

#[tokio::test]
async fn two_racing_conditional_creates_make_one_patient() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    for round in 0..5 {
        let value = format!("RACE-{round}");
        let send = || {
            app.fhir(Method::POST, "/api/fhir/Patient")
                .token(&token)
                .header("if-none-exist", &format!("identifier={MRN}|{value}"))
                .json(&fhir_patient("Racer", &value))
                .send()
        };
        let (a, b) = tokio::join!(send(), send());
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 201], "round {round}: {:#} {:#}", a.body, b.body);
        assert_eq!(a.body["id"], b.body["id"], "both answer the one patient");
    }
    assert_eq!(count_patients(&app).await, 5);
}
