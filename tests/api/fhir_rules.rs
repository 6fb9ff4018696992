//! The FHIR rules an outside test pack checks one by one (API.md Part 5): what a page's
//! links and includes hold, `_format` and `_pretty`, `Prefer` on every answer of a
//! create or an update (a conditional create's match included), what a create-only app
//! may learn, identifiers refused where FHIR names them, ids we never issued, and who
//! reads the notes of a patient's old versions.

use api_tests::TestApp;
use axum::http::Method;
use serde_json::{Value, json};

use crate::email::app_with_mail;
use crate::orgs::{clinic, join, org_patient, verify_email};

const MRN: &str = "urn:oid:2.16.840.1.113883.19.5";

fn patient(name: &str, birth: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"text": name}], "birthDate": birth})
}

fn with_mrn(name: &str, mrn: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"text": name}], "birthDate": "1980-04-01",
           "identifier": [{"system": MRN, "value": mrn}]})
}

fn entries(bundle: &Value) -> Vec<(String, String)> {
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|e| (e["resource"]["resourceType"].as_str().unwrap().into(), e["resource"]["id"].as_str().unwrap().into()))
        .collect()
}

fn link<'a>(bundle: &'a Value, relation: &str) -> Option<&'a str> {
    bundle["link"].as_array()?.iter().find(|l| l["relation"] == relation)?["url"].as_str()
}

/// A link's path and query, to send again.
fn path_of(url: &str) -> &str {
    &url[url.find("/api/").unwrap()..]
}

async fn assign(app: &TestApp, token: &str, patient: &str, doctor: &str) {
    let body = json!({"patient_id": patient, "doctor_id": doctor});
    app.post("/api/mappings", &body, Some(token)).await.expect(201, "created");
}

#[tokio::test]
async fn a_page_includes_only_its_own_matches_doctors_and_its_self_link_names_that_page() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    let older =
        app.fhir_create(&token, &patient("Older Patient", "1950-01-01")).await["id"].as_str().unwrap().to_owned();
    let newer =
        app.fhir_create(&token, &patient("Newer Patient", "1960-01-01")).await["id"].as_str().unwrap().to_owned();
    let older_doctor = app.create_doctor(&token, "Dr Older", "Cardiology").await["id"].as_str().unwrap().to_owned();
    let newer_doctor = app.create_doctor(&token, "Dr Newer", "Oncology").await["id"].as_str().unwrap().to_owned();
    assign(&app, &token, &older, &older_doctor).await;
    assign(&app, &token, &newer, &newer_doctor).await;

    let first = app.fhir_get("/api/fhir/Patient?_include=Patient:general-practitioner&_count=1", &token).await;
    let first = first.expect(200, None).clone();
    assert_eq!(
        entries(&first),
        [("Patient".into(), newer.clone()), ("Practitioner".into(), newer_doctor.clone())],
        "the next page's doctor is not on this one"
    );
    let next = link(&first, "next").expect("a next link");
    let second = app.fhir_get(path_of(next), &token).await.expect(200, None).clone();
    assert_eq!(entries(&second), [("Patient".into(), older), ("Practitioner".into(), older_doctor)]);
    // `self` is the page as asked for: the second page's names its cursor, and reading
    // it again answers that same page.
    let own = link(&second, "self").unwrap();
    assert_eq!(own, next, "self names the page it is");
    let again = app.fhir_get(path_of(own), &token).await.expect(200, None).clone();
    assert_eq!(entries(&again), entries(&second));
    assert!(!link(&first, "self").unwrap().contains("_cursor"));
}

#[tokio::test]
async fn format_and_pretty_are_accepted_in_every_spelling_fhir_gives() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    let id = app.fhir_create(&token, &patient("Ada Lovelace", "1915-12-10")).await["id"].as_str().unwrap().to_owned();
    for query in [
        "_format=json",
        "_format=application/json",
        "_format=application/fhir%2Bjson",
        "_pretty=true",
        "_pretty=false",
        "_format=json&_pretty=true",
    ] {
        let found = app.fhir_get(&format!("/api/fhir/Patient?{query}"), &token).await;
        assert_eq!(entries(found.expect(200, None)), [("Patient".into(), id.clone())], "{query}");
        app.fhir_get(&format!("/api/fhir/Practitioner?{query}"), &token).await.expect(200, None);
    }
    for (query, named) in [("_format=xml", "_format"), ("_pretty=1", "_pretty"), ("specialty=x", "specialty")] {
        let refused = app.fhir_get(&format!("/api/fhir/Practitioner?{query}"), &token).await;
        refused.expect(400, Some("invalid"));
        assert_eq!(refused.expressions(), [named], "{query}");
    }
}

#[tokio::test]
async fn last_updated_takes_le_and_an_explicit_eq() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    let old = app.fhir_create(&token, &patient("Old Record", "1950-01-01")).await["id"].as_str().unwrap().to_owned();
    let new = app.fhir_create(&token, &patient("New Record", "1960-01-01")).await["id"].as_str().unwrap().to_owned();
    let id: uuid::Uuid = old.parse().unwrap();
    let sql = app.sql().await;
    sql.execute("UPDATE patients SET updated_at = '2020-03-15T10:30:20Z' WHERE id = $1", &[&id]).await.unwrap();
    for (query, expected) in [
        ("_lastUpdated=le2020-03-15T10:30:20Z", vec![old.clone()]),
        ("_lastUpdated=le2020-03-15T10:30:19Z", vec![]),
        ("_lastUpdated=le2020-03", vec![old.clone()]),
        ("_lastUpdated=eq2020-03-15", vec![old.clone()]),
        ("_lastUpdated=eq2021", vec![]),
        ("_lastUpdated=gt2020-03-15T10:30:20Z&_lastUpdated=le2100", vec![new.clone()]),
    ] {
        let found = app.fhir_get(&format!("/api/fhir/Patient?{query}"), &token).await;
        let ids: Vec<String> = entries(found.expect(200, None)).into_iter().map(|(_, id)| id).collect();
        assert_eq!(ids, expected, "{query}");
    }
    app.fhir_get("/api/fhir/Patient?_lastUpdated=sa2020", &token).await.expect(400, Some("invalid"));
}

#[tokio::test]
async fn family_and_given_match_from_the_start_of_a_part_only() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    app.fhir_create(&token, &patient("Grace Brewster Hopper", "1906-12-09")).await;
    for query in ["family=opper", "given=race", "given=rewster", "family=HOPPER%20x"] {
        let found = app.fhir_get(&format!("/api/fhir/Patient?{query}"), &token).await;
        assert!(entries(found.expect(200, None)).is_empty(), "{query}");
    }
    let found = app.fhir_get("/api/fhir/Patient?family=HOP&given=GRACE", &token).await;
    assert_eq!(entries(found.expect(200, None)).len(), 1);
}

#[tokio::test]
async fn prefer_applies_to_an_update_and_to_a_conditional_create_s_match() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    let created = app.fhir_create(&token, &with_mrn("Grace Hopper", "P-1")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/fhir/Patient/{id}");
    let mut body = created.clone();
    for (prefer, version) in [("return=OperationOutcome", 2), ("return=representation", 3), ("return=minimal", 4)] {
        body["name"] = json!([{"text": format!("Grace Hopper {version}")}]);
        let updated = app.fhir(Method::PUT, &path).token(&token).header("prefer", prefer).json(&body).send().await;
        updated.expect(200, None);
        let location = updated.headers.get("location").unwrap().to_str().unwrap();
        assert!(location.ends_with(&format!("{path}/_history/{version}")), "{location}");
        assert_eq!(updated.etag(), format!("W/\"{version}\""));
        match prefer {
            "return=OperationOutcome" => {
                assert_eq!(updated.body["resourceType"], "OperationOutcome");
                assert_eq!(updated.body["issue"][0]["severity"], "information");
                assert_eq!(updated.headers["preference-applied"], prefer);
            }
            "return=representation" => {
                assert_eq!(
                    (&updated.body["resourceType"], &updated.body["meta"]["versionId"]),
                    (&json!("Patient"), &json!("3"))
                );
                updated.assert_last_modified();
            }
            _ => {
                assert!(updated.body.is_null());
                assert_eq!(updated.headers["preference-applied"], prefer);
            }
        }
    }

    // A conditional create that finds its match answers it as Prefer asks.
    let conditional = |prefer: &'static str| {
        app.fhir(Method::POST, "/api/fhir/Patient")
            .token(&token)
            .header("if-none-exist", &format!("identifier={MRN}|P-1"))
            .header("prefer", prefer)
            .json(&with_mrn("Conditional", "P-1"))
            .send()
    };
    let minimal = conditional("return=minimal").await;
    minimal.expect(200, None);
    assert!(minimal.body.is_null());
    assert_eq!(minimal.headers["preference-applied"], "return=minimal");
    let outcome = conditional("return=OperationOutcome").await;
    assert_eq!(outcome.expect(200, None)["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn identifiers_are_refused_where_fhir_names_them_on_create_and_update() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    let long_system = format!("urn:x:{}", "s".repeat(195));
    for (identifier, expression) in [
        (json!([{"value": "1"}]), "Patient.identifier[0]"),
        (json!([{"system": MRN}]), "Patient.identifier[0]"),
        (json!([{"system": "mrn", "value": "1"}]), "Patient.identifier[0].system"),
        (json!([{"system": long_system, "value": "1"}]), "Patient.identifier[0].system"),
        (json!([{"system": MRN, "value": ""}]), "Patient.identifier[0].value"),
        (json!([{"system": MRN, "value": "v".repeat(101)}]), "Patient.identifier[0].value"),
    ] {
        let mut body = patient("Bad Identifier", "1980-01-01");
        body["identifier"] = identifier.clone();
        let refused = app.fhir(Method::POST, "/api/fhir/Patient").token(&token).json(&body).send().await;
        refused.expect(400, Some("invalid"));
        assert_eq!(refused.expressions(), [expression], "{identifier}");
    }
    // A system of 200 characters is stored; one of 201 is not (above), through REST too.
    let at_limit = format!("urn:x:{}", "s".repeat(194));
    let rest = |system: &str| {
        json!({"name": "Rest", "date_of_birth": "1980-01-01",
                                    "identifiers": [{"system": system, "value": "1"}]})
    };
    app.post("/api/patients", &rest(&at_limit), Some(&token)).await.expect(201, "created");
    let refused = app.post("/api/patients", &rest(&long_system), Some(&token)).await;
    refused.expect(400, "invalid");
    assert_eq!(refused.error_fields(), ["identifiers"]);

    // An update that takes another patient's identifier: 409 at Patient.identifier, nothing changed.
    app.fhir_create(&token, &with_mrn("Holder", "TAKEN")).await;
    let other = app.fhir_create(&token, &with_mrn("Other", "FREE")).await;
    let mut taking = other.clone();
    taking["identifier"][0]["value"] = json!("TAKEN");
    let path = format!("/api/fhir/Patient/{}", other["id"].as_str().unwrap());
    let clash = app.fhir(Method::PUT, &path).token(&token).json(&taking).send().await;
    clash.expect(409, Some("conflict"));
    assert_eq!(clash.expressions(), ["Patient.identifier"]);
    let unchanged = app.fhir_get(&path, &token).await;
    assert_eq!(unchanged.expect(200, None)["identifier"][0]["value"], "FREE");
    assert_eq!(unchanged.body["meta"]["versionId"], "1");
}

#[tokio::test]
async fn ids_we_never_issued_name_nothing_on_every_interaction() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    let body = json!({"resourceType": "Patient", "id": "does-not-exist", "name": [{"text": "X Y"}], "birthDate": "1980-01-01"});
    let update = app.fhir(Method::PUT, "/api/fhir/Patient/does-not-exist").token(&token).json(&body).send().await;
    update.expect(404, Some("not-found"));
    for path in [
        "/api/fhir/Patient/does-not-exist/_history",
        "/api/fhir/Patient/does-not-exist/_history/1",
        "/api/fhir/Organization/does-not-exist",
    ] {
        app.fhir_get(path, &token).await.expect(404, Some("not-found"));
    }
    let long = "a".repeat(65);
    for path in [format!("/api/fhir/Patient/{long}/_history"), "/api/fhir/Patient/a_b/_history/1".into()] {
        app.fhir_get(&path, &token).await.expect(400, Some("invalid"));
    }
}

#[tokio::test]
async fn an_app_that_may_only_create_learns_nothing_from_a_conditional_create() {
    let app = crate::smart::smart_app().await;
    let north = clinic(&app, "owner@example.com", "North").await;
    let mut existing = with_mrn("Existing", "KNOWN");
    existing["managingOrganization"] = json!({"reference": format!("Organization/{}", north.id)});
    app.fhir_create(&north.owner, &existing).await;
    let registered = crate::smart::register(
        &app,
        &format!("/api/orgs/{}/apps", north.id),
        &north.owner,
        json!({"name": "Intake", "redirect_uris": [crate::smart::REDIRECT], "scopes": "user/Patient.cruds"}),
    )
    .await;
    let client_id = registered["client_id"].as_str().unwrap();
    let tokens = crate::smart::launch(&app, client_id, "user/Patient.c", "owner@example.com", None).await;
    let token = tokens["access_token"].as_str().unwrap();
    let mut body = with_mrn("Intake", "KNOWN");
    body["managingOrganization"] = json!({"reference": format!("Organization/{}", north.id)});
    let conditional = app
        .fhir(Method::POST, "/api/fhir/Patient")
        .token(token)
        .header("if-none-exist", &format!("identifier={MRN}|KNOWN"))
        .json(&body)
        .send()
        .await;
    conditional.expect(403, Some("forbidden"));
    // A plain create is what it may do (the clash is then a 409, which says no more).
    body["identifier"][0]["value"] = json!("NEW");
    app.fhir(Method::POST, "/api/fhir/Patient").token(token).json(&body).send().await.expect(201, None);
}

#[tokio::test]
async fn old_versions_show_notes_to_whoever_reads_the_notes_now() {
    let (app, mailbox) = app_with_mail().await;
    let north = clinic(&app, "owner@example.com", "North").await;
    let auditor = join(&app, &mailbox, &north, "auditor@example.com", "auditor").await;
    let clinician = join(&app, &mailbox, &north, "clinician@example.com", "clinician").await;
    let patient = org_patient(&app, &north.owner, &north.id, Some("first notes")).await;
    let id = patient["id"].as_str().unwrap().to_owned();
    let path = format!("/api/patients/{id}");
    app.put(&path, &json!({"notes": "second notes"}), Some(&north.owner)).await.expect(200, "updated");
    // The care team: a doctor the patient is assigned to, held by a user outside the clinic.
    let doctor = json!({"name": "Dr Dee", "specialization": "Cardiology", "email": "dee@example.com"});
    let doctor = app.post("/api/doctors", &doctor, Some(&north.owner)).await.data()["id"].as_str().unwrap().to_owned();
    assign(&app, &north.owner, &id, &doctor).await;
    let dee = app.user_token("dee@example.com").await;
    verify_email(&app, "dee@example.com").await;
    app.post(&format!("/api/doctors/{doctor}/claim"), &json!({}), Some(&dee)).await.expect(200, "updated");

    let notes = |page: &Value| -> Vec<Value> {
        page["items"].as_array().unwrap().iter().map(|v| v.get("notes").cloned().unwrap_or(json!("<absent>"))).collect()
    };
    let versions = format!("{path}/versions");
    for (who, token) in [("clinician", &clinician), ("care team", &dee), ("owner", &north.owner)] {
        let listed = app.get(&versions, Some(token)).await;
        listed.expect(200, "success");
        assert_eq!(notes(listed.data()), [json!("second notes"), json!("first notes")], "{who}");
    }
    // Restricted: the clinician still reaches the chart but no longer reads its notes,
    // in any version; the care team still does.
    app.put(&path, &json!({"restricted": true}), Some(&north.owner)).await.expect(200, "updated");
    let clinician_view = app.get(&versions, Some(&clinician)).await;
    assert_eq!(notes(clinician_view.data()), vec![json!("<absent>"); 3]);
    let care_team_view = app.get(&versions, Some(&dee)).await;
    assert_eq!(notes(care_team_view.data()), [json!("second notes"), json!("second notes"), json!("first notes")]);
    // An auditor reads the clinic's audit, not its charts.
    app.get(&versions, Some(&auditor)).await.expect(404, "not_found");
}
