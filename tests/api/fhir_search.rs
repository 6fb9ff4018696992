//! The searches integrators use (API.md Part 5, "Searches"): `_id`, name parts,
//! `birthdate` and `_lastUpdated` with prefixes, `organization`,
//! `general-practitioner`, `_include` (never a resource the caller could not read by
//! itself), `_summary=count` and paging, all through the one search statement.

use api_tests::TestApp;
use serde_json::{Value, json};

use crate::email::app_with_mail;
use crate::orgs::clinic;

fn names(bundle: &Value) -> Vec<String> {
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["name"][0]["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn search(app: &TestApp, token: &str, query: &str) -> Value {
    app.fhir_get(&format!("/api/fhir/Patient?{query}"), token).await.expect(200, None).clone()
}

async fn created(app: &TestApp, token: &str, name: &str, birth: &str) -> String {
    let body = json!({"resourceType": "Patient", "name": [{"text": name}], "birthDate": birth});
    app.fhir_create(token, &body).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn patient_searches_match_by_id_name_parts_and_date_ranges() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    let ada = created(&app, &token, "Ada King Lovelace", "1915-12-10").await;
    created(&app, &token, "Grace Brewster Hopper", "1906-12-09").await;
    let alan = created(&app, &token, "Alan Turing", "1912-06-23").await;
    created(&app, &token, "Cher", "1946-05-20").await;
    for (query, expected) in [
        (format!("_id={ada}"), vec!["Ada King Lovelace"]),
        (format!("_id={ada},{alan},does-not-exist"), vec!["Alan Turing", "Ada King Lovelace"]),
        ("_id=does-not-exist".into(), vec![]),
        ("family=hop".into(), vec!["Grace Brewster Hopper"]),
        ("family=brewster".into(), vec![]),
        ("given=brew".into(), vec!["Grace Brewster Hopper"]),
        ("given=ada&given=king".into(), vec!["Ada King Lovelace"]),
        ("given=ada&family=hopper".into(), vec![]),
        ("given=cher".into(), vec![]),
        ("family=cher".into(), vec![]),
        ("name=cher".into(), vec!["Cher"]),
        ("name=ada&name=love".into(), vec!["Ada King Lovelace"]),
        ("family=t.ring".into(), vec![]),
        ("birthdate=1906".into(), vec!["Grace Brewster Hopper"]),
        ("birthdate=1906-12-09".into(), vec!["Grace Brewster Hopper"]),
        ("birthdate=1912-06".into(), vec!["Alan Turing"]),
        ("birthdate=ge1900&birthdate=lt1913".into(), vec!["Alan Turing", "Grace Brewster Hopper"]),
        ("birthdate=gt1906-12-09&birthdate=le1946".into(), vec!["Cher", "Alan Turing", "Ada King Lovelace"]),
        ("birthdate=lt1910".into(), vec!["Grace Brewster Hopper"]),
        ("birthdate=ne1912&birthdate=ge1900".into(), vec!["Cher", "Grace Brewster Hopper", "Ada King Lovelace"]),
        ("birthdate=eq1915-12-10&gender=unknown".into(), vec!["Ada King Lovelace"]),
        ("birthdate=ge1907&birthdate=le1906".into(), vec![]),
    ] {
        assert_eq!(names(&search(&app, &token, &query).await), expected, "{query}");
    }
}

#[tokio::test]
async fn last_updated_compares_instants_at_the_precision_given() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    let old = created(&app, &token, "Old Record", "1950-01-01").await;
    created(&app, &token, "New Record", "1960-01-01").await;
    let sql = app.sql().await;
    let id: uuid::Uuid = old.parse().unwrap();
    sql.execute("UPDATE patients SET updated_at = '2020-03-15T10:30:20Z' WHERE id = $1", &[&id]).await.unwrap();
    for (query, expected) in [
        ("_lastUpdated=2020", vec!["Old Record"]),
        ("_lastUpdated=2020-03-15T10:30Z", vec!["Old Record"]),
        ("_lastUpdated=2020-03-15T11:30:20%2B01:00", vec!["Old Record"]),
        ("_lastUpdated=2020-03-15T10:30:21Z", vec![]),
        ("_lastUpdated=lt2021", vec!["Old Record"]),
        ("_lastUpdated=gt2020-03-15T10:30Z", vec!["New Record"]),
        ("_lastUpdated=ge2020-03-15T10:30Z", vec!["New Record", "Old Record"]),
        ("_lastUpdated=ne2020", vec!["New Record"]),
    ] {
        assert_eq!(names(&search(&app, &token, query).await), expected, "{query}");
    }
}

#[tokio::test]
async fn organization_practitioner_include_and_count() {
    let (app, _) = app_with_mail().await;
    let north = clinic(&app, "north@example.com", "North").await;
    let token = north.owner.clone();
    let personal = created(&app, &token, "Personal Patient", "1970-01-01").await;
    let body = json!({"resourceType": "Patient", "name": [{"text": "Clinic Patient"}], "birthDate": "1971-01-01",
                      "managingOrganization": {"reference": format!("Organization/{}", north.id)}});
    let in_clinic = app.fhir_create(&token, &body).await;
    assert_eq!(in_clinic["managingOrganization"]["reference"], format!("Organization/{}", north.id));
    let in_clinic = in_clinic["id"].as_str().unwrap().to_owned();
    let doctor = app.create_doctor(&token, "Dr Ruth Example", "Cardiology").await;
    let doctor_id = doctor["id"].as_str().unwrap();
    app.post("/api/mappings", &json!({"patient_id": in_clinic, "doctor_id": doctor_id}), Some(&token))
        .await
        .expect(201, "created");

    for (query, expected) in [
        (format!("organization=Organization/{}", north.id), vec!["Clinic Patient"]),
        (format!("organization={}", north.id), vec!["Clinic Patient"]),
        ("organization=does-not-exist".into(), vec![]),
        (format!("general-practitioner=Practitioner/{doctor_id}"), vec!["Clinic Patient"]),
        (format!("general-practitioner={personal}"), vec![]),
    ] {
        assert_eq!(names(&search(&app, &token, &query).await), expected, "{query}");
    }

    // _include: the matches' doctors, once each, as `include`; only with the matches that hold them.
    let included = search(&app, &token, "_include=Patient:general-practitioner").await;
    let entries = included["entry"].as_array().unwrap();
    let modes: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["resource"]["resourceType"].as_str().unwrap(), e["search"]["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(modes, [("Patient", "match"), ("Patient", "match"), ("Practitioner", "include")]);
    assert_eq!(entries[2]["resource"]["id"], json!(doctor_id));
    assert!(entries[2]["fullUrl"].as_str().unwrap().ends_with(&format!("/api/fhir/Practitioner/{doctor_id}")));
    let only_personal = search(&app, &token, &format!("_id={personal}&_include=Patient:general-practitioner")).await;
    assert_eq!(only_personal["entry"].as_array().unwrap().len(), 1, "no doctor of another patient comes in");

    // _summary=count: a total, no entries; over every page.
    for _ in 0..3 {
        created(&app, &token, "Counted Patient", "1990-01-01").await;
    }
    let counted = search(&app, &token, "_summary=count&_count=1").await;
    assert_eq!((&counted["type"], &counted["total"]), (&json!("searchset"), &json!(5)));
    assert!(counted.get("entry").is_none());
    let counted = search(&app, &token, "_summary=count&name=counted").await;
    assert_eq!(counted["total"], 3);
    // Filters the sources cannot see still page: the same five, two at a time.
    let mut seen = Vec::new();
    let mut url = "/api/fhir/Patient?birthdate=ge1900&_count=2".to_owned();
    loop {
        let page = app.fhir_get(&url, &token).await.body;
        seen.extend(names(&page));
        match page["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next") {
            Some(next) => {
                let next = next["url"].as_str().unwrap();
                url = next[next.find("/api/").unwrap()..].to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");

    // Another user reaches none of them, whatever the parameters.
    let eve = app.user_token("eve@example.com").await;
    for query in [format!("_id={in_clinic}"), format!("general-practitioner={doctor_id}"), "_summary=count".into()] {
        let theirs = search(&app, &eve, &query).await;
        assert!(names(&theirs).is_empty() && theirs["total"].as_i64().unwrap_or(0) == 0, "{query}");
    }
    let theirs = search(&app, &eve, "_include=Patient:general-practitioner").await;
    assert!(theirs.get("entry").is_none(), "an include brings nothing with no match");
}

#[tokio::test]
async fn practitioner_searches_by_id_name_and_identifier() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    let body = json!({"name": "Dr Jane Smith", "specialization": "Cardiology", "license_number": "LIC-42"});
    let jane = app.post("/api/doctors", &body, Some(&token)).await.data()["id"].as_str().unwrap().to_owned();
    let other = app.create_doctor(&token, "Dr John Other", "Oncology").await["id"].as_str().unwrap().to_owned();
    let found = |bundle: &Value| -> Vec<String> {
        let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
        entries.iter().map(|e| e["resource"]["id"].as_str().unwrap().to_owned()).collect()
    };
    for (query, expected) in [
        (format!("_id={jane}"), vec![jane.clone()]),
        (format!("_id={jane},{other}"), vec![other.clone(), jane.clone()]),
        ("identifier=urn:healthcare-api:license|LIC-42".into(), vec![jane.clone()]),
        ("identifier=LIC-42".into(), vec![jane.clone()]),
        ("identifier=urn:other|LIC-42".into(), vec![]),
        ("name=john".into(), vec![other.clone()]),
    ] {
        let bundle = app.fhir_get(&format!("/api/fhir/Practitioner?{query}"), &token).await;
        assert_eq!(found(bundle.expect(200, None)), expected, "{query}");
    }
    app.fhir_get("/api/fhir/Practitioner?specialty=x", &token).await.expect(400, Some("invalid"));
}

#[tokio::test]
async fn an_include_brings_in_only_what_the_app_may_read_by_itself() {
    let app = crate::smart::smart_app().await;
    let north = clinic(&app, "owner@example.com", "North").await;
    let body = json!({"resourceType": "Patient", "name": [{"text": "Clinic Patient"}], "birthDate": "1971-01-01",
                      "managingOrganization": {"reference": format!("Organization/{}", north.id)}});
    let patient = app.fhir_create(&north.owner, &body).await["id"].as_str().unwrap().to_owned();
    let doctor = app.create_doctor(&north.owner, "Dr Ruth Example", "Cardiology").await;
    app.post("/api/mappings", &json!({"patient_id": patient, "doctor_id": doctor["id"]}), Some(&north.owner))
        .await
        .expect(201, "created");
    let scopes = "user/Patient.rs user/Practitioner.rs";
    let registered = crate::smart::register(
        &app,
        &format!("/api/orgs/{}/apps", north.id),
        &north.owner,
        json!({"name": "Viewer", "redirect_uris": [crate::smart::REDIRECT], "scopes": scopes}),
    )
    .await;
    let client_id = registered["client_id"].as_str().unwrap();
    let kinds = |bundle: &Value| -> Vec<String> {
        let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
        entries.iter().map(|e| e["resource"]["resourceType"].as_str().unwrap().to_owned()).collect()
    };
    for (granted, expected) in [
        ("user/Patient.rs", vec!["Patient"]),
        ("user/Patient.rs user/Practitioner.rs", vec!["Patient", "Practitioner"]),
    ] {
        let tokens = crate::smart::launch(&app, client_id, granted, "owner@example.com", None).await;
        let token = tokens["access_token"].as_str().unwrap();
        let bundle = search(&app, token, "_include=Patient:general-practitioner").await;
        assert_eq!(kinds(&bundle), expected, "{granted}");
    }
}
