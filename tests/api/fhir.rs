//! `/api/fhir`: every rule of the FHIR contract through the API - the
//! CapabilityStatement, the Patient and Practitioner mappings both ways, strict input,
//! full-replacement updates with `If-Match`, searchsets with absolute links, ownership,
//! audit events, and errors as OperationOutcomes with the REST routes' statuses. Every
//! answer is also checked against the FHIR invariants (`api_tests::fhir`).

use api_tests::fhir::HOST;
use api_tests::{TestApp, spawn_app};
use axum::http::Method;
use futures::future::join_all;
use serde_json::{Value, json};

fn ada() -> Value {
    json!({
        "resourceType": "Patient",
        "name": [{"text": "Ada King Lovelace"}],
        "gender": "female",
        "birthDate": "1990-12-10",
        "telecom": [{"system": "phone", "value": "+44 20 7946 0958"}, {"system": "email", "value": "Ada@Example.com"}],
        "address": [{"text": "12 St James's Square\nLondon"}],
    })
}

async fn patients_count(app: &TestApp) -> i64 {
    app.sql().await.query_one("SELECT count(*) FROM patients", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn metadata_needs_no_token_and_describes_what_is_served() {
    let app = spawn_app().await;
    let response = app.fhir(Method::GET, "/api/fhir/metadata").send().await;
    let cs = response.expect(200, None);
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(
        (&cs["status"], &cs["kind"], &cs["fhirVersion"]),
        (&json!("active"), &json!("instance"), &json!("4.0.1"))
    );
    assert!(cs["format"].as_array().unwrap().contains(&json!("json")));
    // R4's cpb-14: kind instance carries implementation.
    assert_eq!(cs["implementation"]["url"], "http://fhir.example.test/api/fhir");
    assert!(cs["implementation"]["description"].is_string());
    let resources = cs["rest"][0]["resource"].as_array().unwrap();
    let of = |kind: &str| resources.iter().find(|r| r["type"] == kind).unwrap_or_else(|| panic!("{kind} listed"));
    let codes = |r: &Value, key: &str, field: &str| -> Vec<String> {
        r[key].as_array().unwrap().iter().map(|i| i[field].as_str().unwrap().to_string()).collect()
    };
    let patient = of("Patient");
    assert_eq!(
        codes(patient, "interaction", "code"),
        ["read", "vread", "update", "delete", "history-instance", "create", "search-type"]
    );
    assert_eq!(
        codes(patient, "searchParam", "name"),
        [
            "_id",
            "identifier",
            "name",
            "family",
            "given",
            "birthdate",
            "gender",
            "_lastUpdated",
            "organization",
            "general-practitioner"
        ]
    );
    assert_eq!(
        (&patient["readHistory"], &patient["conditionalCreate"], &patient["versioning"]),
        (&json!(true), &json!(true), &json!("versioned-update"))
    );
    assert_eq!(patient["searchInclude"], json!(["Patient:general-practitioner"]));
    let practitioner = of("Practitioner");
    assert_eq!(codes(practitioner, "interaction", "code"), ["read", "search-type"]);
    assert_eq!(codes(practitioner, "searchParam", "name"), ["_id", "name", "identifier"]);
    assert_eq!((&practitioner["readHistory"], &practitioner["versioning"]), (&json!(false), &json!("versioned")));
    let organization = of("Organization");
    assert_eq!(codes(organization, "interaction", "code"), ["read", "search-type"]);
    assert_eq!((&organization["readHistory"], &organization["versioning"]), (&json!(false), &json!("versioned")));
    // Bulk Data: Patient/$export and Group/{id}/$export, and nothing else of Group.
    assert_eq!(cs["instantiates"], json!(["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"]));
    let export = |kind: &str| {
        json!([{"name": "export", "definition":
        format!("http://hl7.org/fhir/uv/bulkdata/OperationDefinition/{kind}-export")}])
    };
    assert_eq!(patient["operation"], export("patient"));
    assert_eq!(of("Group"), &json!({"type": "Group", "operation": export("group")}));
    assert_eq!(resources.len(), 4);
    // Every search parameter and include it lists is one the search accepts, at its type.
    let token = app.user_token("ada@example.com").await;
    for (kind, params) in [("Patient", patient), ("Practitioner", practitioner)] {
        for param in params["searchParam"].as_array().unwrap() {
            let name = param["name"].as_str().unwrap();
            let value = match (name, param["type"].as_str().unwrap()) {
                ("gender", _) => "female",
                (_, "date") => "ge1990-01-01",
                (_, "reference") | ("_id", _) => "0190a9a0-0000-7000-8000-000000000000",
                _ => "a",
            };
            app.fhir_get(&format!("/api/fhir/{kind}?{name}={value}"), &token).await.expect(200, None);
        }
    }
    app.fhir_get("/api/fhir/Patient?_include=Patient:general-practitioner", &token).await.expect(200, None);
}

#[tokio::test]
async fn create_maps_every_element_and_answers_with_location_and_etag() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let response = app.fhir(Method::POST, "/api/fhir/Patient").token(&token).json(&ada()).send().await;
    let p = response.expect(201, None).clone();
    let id = p["id"].as_str().unwrap();
    assert_eq!(response.headers["location"], format!("/api/fhir/Patient/{id}/_history/1"));
    assert_eq!(response.etag(), "W/\"1\"");
    assert_eq!(p["meta"]["versionId"], "1");
    assert!(p["meta"]["lastUpdated"].as_str().unwrap().ends_with('Z'));
    assert_eq!(p["name"], json!([{"text": "Ada King Lovelace", "family": "Lovelace", "given": ["Ada", "King"]}]));
    assert_eq!((&p["gender"], &p["birthDate"]), (&json!("female"), &json!("1990-12-10")));
    assert_eq!(
        p["telecom"],
        json!([{"system": "phone", "value": "+44 20 7946 0958"}, {"system": "email", "value": "ada@example.com"}])
    );
    assert_eq!(p["address"], json!([{"text": "12 St James's Square\nLondon"}]));
    assert!(p.get("generalPractitioner").is_none() && p.get("notes").is_none());
    // The same patient on the REST side, owned by the caller, with no notes.
    let rest = app.get(&format!("/api/patients/{id}"), Some(&token)).await;
    rest.expect(200, "success");
    assert_eq!((&rest.data()["name"], &rest.data()["notes"]), (&json!("Ada King Lovelace"), &Value::Null));
    assert_eq!(app.audit("patient.create").await.len(), 1);
    // application/json is accepted too; an id in the body is ignored (FHIR: the server assigns it).
    let mut body = ada();
    body["id"] = json!("client-chosen");
    let plain =
        app.fhir(Method::POST, "/api/fhir/Patient").token(&token).raw("application/json", body.to_string().into());
    let created = plain.send().await;
    assert_ne!(created.expect(201, None)["id"], "client-chosen");
    // A name from its parts; gender left out is unknown.
    let parts = json!({"resourceType": "Patient", "name": [{"given": ["Grace", "Brewster"], "family": "Hopper"}],
                       "birthDate": "1906-12-09"});
    let grace = app.fhir_create(&token, &parts).await;
    assert_eq!(grace["name"][0]["text"], "Grace Brewster Hopper");
    assert_eq!(grace["gender"], "unknown");
}

#[tokio::test]
async fn elements_that_cannot_be_stored_are_refused_by_path_and_nothing_is_written() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = ada();
        change(&mut body);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (with(&|b| b["active"] = json!(true)), "Patient.active"),
        (with(&|b| b["name"] = json!([{"text": "A"}, {"text": "B"}])), "Patient.name[1]"),
        (with(&|b| b["name"] = json!([{"text": "Ada", "use": "official"}])), "Patient.name[0].use"),
        (with(&|b| b["name"] = json!([{"text": "Ada Byron", "family": "Lovelace"}])), "Patient.name[0]"),
        (with(&|b| b["address"] = json!([{"line": ["1 Way"], "city": "London"}])), "Patient.address[0].city"),
        (with(&|b| b["gender"] = json!("woman")), "Patient.gender"),
        (with(&|b| b["birthDate"] = json!("1990-12")), "Patient.birthDate"),
        (with(&|b| b["birthDate"] = json!(null)), "Patient.birthDate"),
        (with(&|b| b["telecom"] = json!([{"system": "fax", "value": "0123456789"}])), "Patient.telecom[0].system"),
        (
            with(&|b| b["telecom"].as_array_mut().unwrap().push(json!({"system": "phone", "value": "0123456789"}))),
            "Patient.telecom[2]",
        ),
        (with(&|b| b["telecom"][0]["use"] = json!("home")), "Patient.telecom[0].use"),
        (with(&|b| b["resourceType"] = json!("Practitioner")), "Patient.resourceType"),
        (with(&|b| b["name"] = json!("Ada")), "Patient.name"),
        (
            with(&|b| b["generalPractitioner"] = json!([{"reference": "Doctor/1"}])),
            "Patient.generalPractitioner[0].reference",
        ),
        (with(&|b| b["name"] = json!([["Ada", "Lovelace"]])), "Patient.name[0]"),
        (json!([ada()]), "Patient"),
    ];
    for (body, path) in cases {
        let response = app.fhir(Method::POST, "/api/fhir/Patient").token(&token).json(&body).send().await;
        response.expect(400, Some("invalid"));
        assert!(response.expressions().iter().any(|e| e == path), "{path} not named for {body}: {:#}", response.body);
    }
    for (content_type, raw, status) in [
        ("application/fhir+json", "{\"resourceType\": ", 400),
        ("application/fhir+json", "{\"resourceType\": \"Patient\"} trailing", 400),
        ("application/fhir+json", "", 400),
        ("application/xml", "<Patient/>", 415),
    ] {
        let response =
            app.fhir(Method::POST, "/api/fhir/Patient").token(&token).raw(content_type, raw.into()).send().await;
        assert_eq!(response.status.as_u16(), status, "{raw}: {:#}", response.body);
    }
    let large = json!({"resourceType": "Patient", "name": [{"text": "x".repeat(70_000)}]});
    let response = app.fhir(Method::POST, "/api/fhir/Patient").token(&token).json(&large).send().await;
    response.expect(413, Some("too-costly"));
    assert_eq!(patients_count(&app).await, 0);
    assert!(app.audit("patient.create").await.is_empty());
}

#[tokio::test]
async fn read_is_owner_only_audited_and_lists_doctors_most_recent_first() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let other = app.user_token("eve@example.com").await;
    let id = app.fhir_create(&token, &ada()).await["id"].as_str().unwrap().to_string();
    let (first, second) =
        (app.create_doctor(&token, "Dr First", "GP").await, app.create_doctor(&token, "Dr Second", "ENT").await);
    for doctor in [&first, &second] {
        let body = json!({"patient_id": id, "doctor_id": doctor["id"]});
        app.post("/api/mappings", &body, Some(&token)).await.expect(201, "created");
    }
    let response = app.fhir_get(&format!("/api/fhir/Patient/{id}"), &token).await;
    let p = response.expect(200, None);
    assert_eq!(response.etag(), "W/\"1\"");
    response.assert_last_modified();
    let refs: Vec<String> =
        [&second, &first].iter().map(|d| format!("Practitioner/{}", d["id"].as_str().unwrap())).collect();
    assert_eq!(p["generalPractitioner"], json!([{"reference": refs[0]}, {"reference": refs[1]}]));

    app.fhir_get(&format!("/api/fhir/Patient/{id}"), &other).await.expect(404, Some("not-found"));
    app.fhir_get("/api/fhir/Patient/0190a1b2-0000-7000-8000-000000000000", &token).await.expect(404, Some("not-found"));
    // An id of FHIR's syntax that we never issued names nothing; one outside it is no id.
    app.fhir_get("/api/fhir/Patient/does-not-exist", &token).await.expect(404, Some("not-found"));
    app.fhir_get("/api/fhir/Practitioner/1.2", &token).await.expect(404, Some("not-found"));
    app.fhir(Method::DELETE, "/api/fhir/Patient/does-not-exist")
        .token(&token)
        .send()
        .await
        .expect(404, Some("not-found"));
    app.fhir_get(&format!("/api/fhir/Patient/{}", "a".repeat(65)), &token).await.expect(400, Some("invalid"));
    app.fhir_get("/api/fhir/Organization/bad_id", &token).await.expect(400, Some("invalid"));
    app.fhir_get("/api/fhir/Patient/bad%20id", &token).await.expect(400, Some("invalid"));
    app.fhir(Method::GET, &format!("/api/fhir/Patient/{id}")).send().await.expect(401, Some("login"));
    let admin = app.admin_token("root@example.com").await;
    app.fhir_get(&format!("/api/fhir/Patient/{id}"), &admin).await.expect(200, None);
    let outcomes: Vec<String> = app.audit("patient.read").await.into_iter().map(|(_, _, o)| o).collect();
    assert_eq!(outcomes.len(), 4, "one event per access: {outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| o.as_str() == "success").count(), 2);
}

#[tokio::test]
async fn update_replaces_the_resource_keeps_notes_and_checks_versions() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let created = app.fhir_create(&token, &ada()).await;
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/fhir/Patient/{id}");
    app.put(&format!("/api/patients/{id}"), &json!({"notes": "Allergic to penicillin."}), Some(&token))
        .await
        .expect(200, "updated");

    // Read-modify-write of the resource as read (meta and all), with its ETag.
    let read = app.fhir_get(&path, &token).await;
    let mut body = read.body.clone();
    body["name"] = json!([{"text": "Augusta Ada King"}]);
    body.as_object_mut().unwrap().remove("telecom");
    let response = app.fhir(Method::PUT, &path).token(&token).header("if-match", read.etag()).json(&body).send().await;
    let p = response.expect(200, None);
    assert_eq!((&p["meta"]["versionId"], response.etag()), (&json!("3"), "W/\"3\""));
    response.assert_last_modified();
    assert_eq!(p["name"][0]["text"], "Augusta Ada King");
    assert!(p.get("telecom").is_none(), "left-out elements are cleared: {p}");
    let rest = app.get(&format!("/api/patients/{id}"), Some(&token)).await;
    assert_eq!((&rest.data()["phone"], &rest.data()["notes"]), (&Value::Null, &json!("Allergic to penicillin.")));

    let stale = app.fhir(Method::PUT, &path).token(&token).header("if-match", read.etag()).json(&body).send().await;
    stale.expect(412, Some("conflict"));
    let mut wrong_id = body.clone();
    wrong_id["id"] = json!("0190a1b2-0000-7000-8000-000000000000");
    app.fhir(Method::PUT, &path).token(&token).json(&wrong_id).send().await.expect(400, Some("invalid"));
    wrong_id.as_object_mut().unwrap().remove("id");
    app.fhir(Method::PUT, &path).token(&token).json(&wrong_id).send().await.expect(400, Some("invalid"));
    let other = app.user_token("eve@example.com").await;
    app.fhir(Method::PUT, &path).token(&other).json(&body).send().await.expect(404, Some("not-found"));
    let bad_etag = app.fhir(Method::PUT, &path).token(&token).header("if-match", "W/\"x\"").json(&body).send().await;
    bad_etag.expect(400, Some("invalid"));
    let versions: i32 = app.sql().await.query_one("SELECT version FROM patients", &[]).await.unwrap().get(0);
    assert_eq!(versions, 3);
    let outcomes: Vec<String> = app.audit("patient.update").await.into_iter().map(|(_, _, o)| o).collect();
    assert_eq!(outcomes.iter().filter(|o| o.as_str() == "success").count(), 2, "{outcomes:?}");
}

#[tokio::test]
async fn general_practitioner_is_accepted_only_as_the_current_doctors() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let id = app.fhir_create(&token, &ada()).await["id"].as_str().unwrap().to_string();
    let path = format!("/api/fhir/Patient/{id}");
    let (a, b) = (app.create_doctor(&token, "Dr A", "GP").await, app.create_doctor(&token, "Dr B", "ENT").await);
    let reference = |d: &Value| json!({"reference": format!("Practitioner/{}", d["id"].as_str().unwrap())});
    app.post("/api/mappings", &json!({"patient_id": id, "doctor_id": a["id"]}), Some(&token))
        .await
        .expect(201, "created");
    app.post("/api/mappings", &json!({"patient_id": id, "doctor_id": b["id"]}), Some(&token))
        .await
        .expect(201, "created");

    let mut body = app.fhir_get(&path, &token).await.body.clone();
    body["generalPractitioner"] = json!([reference(&a), reference(&b)]); // any order
    app.fhir(Method::PUT, &path).token(&token).json(&body).send().await.expect(200, None);
    for refused in [json!([reference(&a)]), json!([]), json!([reference(&a), reference(&b), reference(&a)])] {
        body["generalPractitioner"] = refused;
        let response = app.fhir(Method::PUT, &path).token(&token).json(&body).send().await;
        response.expect(400, Some("invalid"));
    }
    body.as_object_mut().unwrap().remove("generalPractitioner");
    let kept = app.fhir(Method::PUT, &path).token(&token).json(&body).send().await;
    assert_eq!(kept.expect(200, None)["generalPractitioner"].as_array().unwrap().len(), 2, "left out: unchanged");
    let mappings: i64 = app.sql().await.query_one("SELECT count(*) FROM mappings", &[]).await.unwrap().get(0);
    assert_eq!(mappings, 2);

    let mut new = ada();
    new["generalPractitioner"] = json!([reference(&a)]);
    app.fhir(Method::POST, "/api/fhir/Patient").token(&token).json(&new).send().await.expect(400, Some("invalid"));
}

#[tokio::test]
async fn ten_racing_updates_naming_one_version_change_it_once() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let created = app.fhir_create(&token, &ada()).await;
    let path = format!("/api/fhir/Patient/{}", created["id"].as_str().unwrap());
    let responses =
        join_all(
            (0..10).map(|i| {
                let mut body = created.clone();
                body["name"] = json!([{"text": format!("Writer {i}")}]);
                let (app, path, token) = (&app, path.clone(), token.clone());
                async move {
                    app.fhir(Method::PUT, &path).token(&token).header("if-match", "W/\"1\"").json(&body).send().await
                }
            }),
        )
        .await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 412).count(), 9, "{statuses:?}");
    assert_eq!(app.fhir_get(&path, &token).await.body["meta"]["versionId"], "2");
}

#[tokio::test]
async fn delete_answers_204_then_the_patient_is_gone() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let other = app.user_token("eve@example.com").await;
    let path = format!("/api/fhir/Patient/{}", app.fhir_create(&token, &ada()).await["id"].as_str().unwrap());
    app.fhir(Method::DELETE, &path).token(&other).send().await.expect(404, Some("not-found"));
    app.fhir(Method::DELETE, &path).token(&token).send().await.expect(204, None);
    app.fhir_get(&path, &token).await.expect(404, Some("not-found"));
    app.fhir(Method::DELETE, &path).token(&token).send().await.expect(404, Some("not-found"));
    assert_eq!(patients_count(&app).await, 0);
    let outcomes: Vec<String> = app.audit("patient.delete").await.into_iter().map(|(_, _, o)| o).collect();
    assert_eq!(outcomes.len(), 3);
}

#[tokio::test]
async fn search_pages_through_next_links_as_given() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let other = app.user_token("eve@example.com").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = ada();
        body["name"] = json!([{"text": format!("Ada Number{i}")}]);
        ids.push(app.fhir_create(&token, &body).await["id"].as_str().unwrap().to_string());
    }
    app.fhir_create(&other, &ada()).await;
    ids.reverse(); // newest first

    let mut seen = Vec::new();
    let mut url = "/api/fhir/Patient?name=ADA&_count=2".to_string();
    for page in 0.. {
        assert!(page < 5, "paging did not end");
        let response = app.fhir(Method::GET, &url).token(&token).header("x-forwarded-proto", "https").send().await;
        let bundle = response.expect(200, None).clone();
        assert_eq!((&bundle["resourceType"], &bundle["type"]), (&json!("Bundle"), &json!("searchset")));
        let links = bundle["link"].as_array().unwrap();
        assert_eq!(links[0]["relation"], "self");
        assert!(links[0]["url"].as_str().unwrap().starts_with(&format!("https://{HOST}/api/fhir/Patient?")));
        for entry in bundle["entry"].as_array().cloned().unwrap_or_default() {
            let id = entry["resource"]["id"].as_str().unwrap().to_string();
            assert_eq!(entry["fullUrl"], format!("https://{HOST}/api/fhir/Patient/{id}"));
            assert_eq!(entry["search"]["mode"], "match");
            seen.push(id);
        }
        match links.iter().find(|l| l["relation"] == "next") {
            Some(next) => {
                let next = next["url"].as_str().unwrap();
                assert!(next.contains("name=ADA") && next.contains("_count=2"), "{next}");
                url = next.strip_prefix(&format!("https://{HOST}")).expect("absolute, on the request's host").into();
            }
            None => break,
        }
    }
    assert_eq!(seen, ids, "every own patient once, newest first");
}

#[tokio::test]
async fn search_filters_by_name_birthdate_and_gender_and_refuses_what_it_cannot_do() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    app.fhir_create(&token, &ada()).await;
    let grace = json!({"resourceType": "Patient", "name": [{"text": "Grace Hopper"}], "gender": "female",
                       "birthDate": "1906-12-09"});
    app.fhir_create(&token, &grace).await;
    let alan = json!({"resourceType": "Patient", "name": [{"text": "Alan 100% Turing"}], "gender": "male",
                      "birthDate": "1912-06-23"});
    app.fhir_create(&token, &alan).await;
    let names = |bundle: &Value| -> Vec<String> {
        let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
        entries.iter().map(|e| e["resource"]["name"][0]["text"].as_str().unwrap().to_string()).collect()
    };
    for (query, expected) in [
        ("name=hopp", vec!["Grace Hopper"]),
        ("name=100%25", vec!["Alan 100% Turing"]),
        ("name=_", vec![]),
        ("birthdate=1906-12-09", vec!["Grace Hopper"]),
        ("birthdate=eq1912-06-23", vec!["Alan 100% Turing"]),
        ("gender=female", vec!["Grace Hopper", "Ada King Lovelace"]),
        ("gender=female&birthdate=1990-12-10", vec!["Ada King Lovelace"]),
        ("name=grace&_format=application/fhir%2Bjson", vec!["Grace Hopper"]),
    ] {
        let response = app.fhir_get(&format!("/api/fhir/Patient?{query}"), &token).await;
        assert_eq!(names(response.expect(200, None)), expected, "{query}");
    }
    for (query, parameter) in [
        ("name:exact=Ada", "name:exact"),
        ("birthdate=sa1900-01-01", "birthdate"),
        ("birthdate=1906-13", "birthdate"),
        ("birthdate=1906-02-30", "birthdate"),
        ("_lastUpdated=2026-01-01T10:00", "_lastUpdated"),
        ("gender=woman", "gender"),
        ("gender=female&gender=male", "gender"),
        ("_count=0", "_count"),
        ("_count=101", "_count"),
        ("_cursor=garbage", "_cursor"),
        ("_format=xml", "_format"),
        ("_pretty=yes", "_pretty"),
        ("_summary=true", "_summary"),
        ("_include=Patient:organization", "_include"),
        ("_id=no%20spaces", "_id"),
        ("organization=Practitioner/1", "organization"),
        ("family=", "family"),
        ("_sort=name", "_sort"),
    ] {
        let response = app.fhir_get(&format!("/api/fhir/Patient?{query}"), &token).await;
        response.expect(400, Some("invalid"));
        assert_eq!(response.expressions(), [parameter], "{query}");
    }
    // A parameter with no name is refused too, without an empty expression (FHIR has none).
    let unnamed = app.fhir_get("/api/fhir/Patient?=x", &token).await;
    unnamed.expect(400, Some("invalid"));
    assert!(unnamed.expressions().is_empty(), "{:#}", unnamed.body);
    let admin = app.admin_token("root@example.com").await;
    let everyone = app.fhir_get("/api/fhir/Patient", &admin).await;
    assert_eq!(everyone.body["entry"].as_array().unwrap().len(), 3, "an admin sees every patient");
    let lists = app.audit("patient.list").await.len();
    assert_eq!(lists, 9, "one audit event per search that ran");
}

#[tokio::test]
async fn practitioners_map_the_directory() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let body = json!({"name": "Dr Jane Smith", "specialization": "Cardiology", "email": "jane@clinic.example",
                      "phone": "+1 555 0100", "license_number": "MD-123"});
    let doctor = app.post("/api/doctors", &body, Some(&token)).await.data().clone();
    app.create_doctor(&token, "Dr Who", "Time").await;
    let other = app.user_token("eve@example.com").await;
    let response = app.fhir_get(&format!("/api/fhir/Practitioner/{}", doctor["id"].as_str().unwrap()), &other).await;
    let p = response.expect(200, None);
    assert_eq!(response.etag(), "W/\"1\"");
    response.assert_last_modified();
    assert_eq!(p["resourceType"], "Practitioner");
    assert_eq!(p["name"][0]["text"], "Dr Jane Smith");
    assert_eq!(p["identifier"], json!([{"system": "urn:healthcare-api:license", "value": "MD-123"}]));
    assert_eq!(p["qualification"], json!([{"code": {"text": "Cardiology"}}]));
    assert_eq!(
        p["telecom"],
        json!([{"system": "phone", "value": "+1 555 0100"}, {"system": "email", "value": "jane@clinic.example"}])
    );
    let found = app.fhir_get("/api/fhir/Practitioner?name=jane", &other).await;
    let entries = found.expect(200, None)["entry"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["fullUrl"],
        format!("http://{HOST}/api/fhir/Practitioner/{}", doctor["id"].as_str().unwrap())
    );
    let all = app.fhir_get("/api/fhir/Practitioner?_count=1", &other).await;
    assert!(all.body["link"].as_array().unwrap().iter().any(|l| l["relation"] == "next"));
    app.fhir_get("/api/fhir/Practitioner/0190a1b2-0000-7000-8000-000000000000", &other)
        .await
        .expect(404, Some("not-found"));
    app.fhir_get("/api/fhir/Practitioner?specialization=x", &other).await.expect(400, Some("invalid"));
    app.fhir(Method::PUT, "/api/fhir/Practitioner/0190a1b2-0000-7000-8000-000000000000")
        .token(&other)
        .json(&json!({}))
        .send()
        .await
        .expect(405, Some("invalid"));
}

#[tokio::test]
async fn every_error_is_an_operation_outcome_with_the_rest_status() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    for path in
        ["/api/fhir/Observation", "/api/fhir/Patient/0190a1b2-0000-7000-8000-000000000000/_history/1", "/api/fhir"]
    {
        app.fhir_get(path, &token).await.expect(404, Some("not-found"));
    }
    app.fhir(Method::PATCH, "/api/fhir/Patient").token(&token).send().await.expect(405, Some("invalid"));
    app.fhir(Method::DELETE, "/api/fhir/metadata").send().await.expect(405, Some("invalid"));
    app.fhir(Method::GET, "/api/fhir/Patient").token("not-a-token").send().await.expect(401, Some("login"));
    let no_host = axum::http::Request::get("/api/fhir/Patient")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.app.clone(), no_host).await.unwrap();
    assert_eq!(response.status(), 400, "links need the host the client used");
    // A session ended elsewhere is refused here too, by the same check as every statement.
    app.post("/api/auth/logout-all", &json!({}), Some(&token)).await.expect(200, "success");
    app.fhir_get("/api/fhir/Patient", &token).await.expect(401, Some("login"));
}

#[tokio::test]
async fn prefer_chooses_what_a_create_or_an_update_answers() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let create = |prefer: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            app.fhir(Method::POST, "/api/fhir/Patient").token(&token).header("prefer", prefer).json(&ada()).send().await
        }
    };
    let applied =
        |r: &api_tests::fhir::FhirResponse| r.headers.get("preference-applied").map(|v| v.to_str().unwrap().to_owned());

    let minimal = create("return=minimal").await;
    assert_eq!((minimal.status.as_u16(), &minimal.body), (201, &Value::Null), "no body");
    assert_eq!(applied(&minimal).as_deref(), Some("return=minimal"));
    assert_eq!(minimal.etag(), "W/\"1\"");
    assert!(minimal.headers.contains_key("last-modified"));
    let location = minimal.headers["location"].to_str().unwrap().to_owned();
    let id = location.trim_start_matches("/api/fhir/Patient/").split('/').next().unwrap().to_owned();
    app.fhir_get(&format!("/api/fhir/Patient/{id}"), &token).await.expect(200, None);

    let outcome = create("return=OperationOutcome").await;
    assert_eq!(outcome.status.as_u16(), 201);
    assert_eq!(outcome.body["resourceType"], "OperationOutcome");
    assert_eq!(
        (&outcome.body["issue"][0]["severity"], &outcome.body["issue"][0]["code"]),
        (&json!("information"), &json!("informational"))
    );
    assert!(outcome.headers.contains_key("location"));
    // The resource itself when asked, when nothing is asked, and for a preference we do
    // not know (RFC 7240: ignored).
    for prefer in ["return=representation", "respond-async, return=everything", "handling=strict"] {
        let answered = create(prefer).await;
        assert_eq!((answered.status.as_u16(), &answered.body["resourceType"]), (201, &json!("Patient")), "{prefer}");
        assert_eq!(applied(&answered), None, "{prefer}");
    }

    let path = format!("/api/fhir/Patient/{id}");
    let mut body = app.fhir_get(&path, &token).await.body;
    body["name"] = json!([{"text": "Augusta Ada King"}]);
    let updated =
        app.fhir(Method::PUT, &path).token(&token).header("prefer", "return=minimal").json(&body).send().await;
    assert_eq!((updated.status.as_u16(), &updated.body, updated.etag()), (200, &Value::Null, "W/\"2\""));
    // A refusal is an OperationOutcome whatever was preferred.
    body["birthDate"] = json!("not a date");
    let refused =
        app.fhir(Method::PUT, &path).token(&token).header("prefer", "return=minimal").json(&body).send().await;
    refused.expect(400, Some("invalid"));
}
