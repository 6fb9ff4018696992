//! `/api/patients`: every route, what another user gets (404, as for a missing patient),
//! pagination, partial updates with If-Match (including ten racing updates), cascades,
//! audit events, and bad input.

use api_tests::{TestApp, spawn_app};
use futures::future::join_all;
use serde_json::{Value, json};

async fn patients_count(app: &TestApp) -> i64 {
    app.sql().await.query_one("SELECT count(*) FROM patients", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn create_answers_with_the_patient_its_age_and_an_etag() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let body = json!({"name": " Grace Hopper ", "date_of_birth": "1990-01-01", "phone": "+1 (555) 010-0000",
                      "email": "Grace@Example.com", "address": "1 Navy Way\nArlington", "notes": "Allergic to penicillin."});
    let response = app.post("/api/patients", &body, Some(&token)).await;
    response.expect(201, "created");
    let p = response.data();
    assert_eq!(p["name"], "Grace Hopper");
    assert_eq!(p["date_of_birth"], "1990-01-01");
    assert!(p["age"].as_i64().unwrap() >= 36);
    assert_eq!(p["gender"], "unknown");
    assert_eq!(p["email"], "grace@example.com");
    assert_eq!(p["version"], 1);
    assert_eq!(response.headers["etag"], "\"1\"");
    let me = app.get("/api/auth/me", Some(&token)).await;
    assert_eq!(p["owner_id"], me.data()["id"]);
    let mut keys: Vec<_> = p.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "address",
            "age",
            "created_at",
            "date_of_birth",
            "email",
            "gender",
            "id",
            "identifiers",
            "name",
            "notes",
            "organization_id",
            "owner_id",
            "phone",
            "restricted",
            "updated_at",
            "version"
        ]
    );
    let events = app.audit("patient.create").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.unwrap().to_string(), p["id"].as_str().unwrap());
}

#[tokio::test]
async fn create_names_each_bad_field_and_writes_nothing() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let ok = json!({"name": "A", "date_of_birth": "1980-01-01"});
    let with = |field: &str, value: Value| {
        let mut body = ok.clone();
        body[field] = value;
        body
    };
    let tomorrow = (time::OffsetDateTime::now_utc().date().next_day().unwrap()).to_string();
    let cases: Vec<(Value, &str, Vec<&str>)> = vec![
        (json!({}), "missing", vec!["name", "date_of_birth"]),
        (json!({"name": "A"}), "missing", vec!["date_of_birth"]),
        (with("date_of_birth", json!(tomorrow)), "invalid", vec!["date_of_birth"]),
        (with("date_of_birth", json!("1899-12-31")), "invalid", vec!["date_of_birth"]),
        (with("date_of_birth", json!("1980-13-01")), "invalid", vec!["date_of_birth"]),
        (with("date_of_birth", json!(19800101)), "invalid", vec!["date_of_birth"]),
        (with("name", json!("x".repeat(101))), "invalid", vec!["name"]),
        (with("gender", json!("Female")), "invalid", vec!["gender"]),
        (with("phone", json!("call me")), "invalid", vec!["phone"]),
        (with("email", json!("nope")), "invalid", vec!["email"]),
        (with("address", json!("x".repeat(501))), "invalid", vec!["address"]),
        (with("notes", json!("x".repeat(5001))), "invalid", vec!["notes"]),
        (with("notes", json!("bad\u{7}bell")), "invalid", vec!["notes"]),
        (with("id", json!("0190a1b2-0000-7000-8000-000000000000")), "invalid", vec!["id"]),
        (with("owner_id", json!("0190a1b2-0000-7000-8000-000000000000")), "invalid", vec!["owner_id"]),
        (with("version", json!(7)), "invalid", vec!["version"]),
        (with("age", json!(40)), "invalid", vec!["age"]),
        (with("created_at", json!("2020-01-01T00:00:00Z")), "invalid", vec!["created_at"]),
        (with("blood_type", json!("O+")), "invalid", vec!["blood_type"]),
    ];
    for (body, status, fields) in cases {
        let response = app.post("/api/patients", &body, Some(&token)).await;
        assert_eq!(
            (response.status.as_u16(), response.envelope_status()),
            (400, status),
            "{body}: {:#}",
            response.body
        );
        let mut got = response.error_fields();
        got.sort();
        let mut want: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{body}");
    }
    assert_eq!(patients_count(&app).await, 0);
    // Limits are inclusive.
    let edge = json!({"name": "x".repeat(100), "date_of_birth": "1900-01-01", "address": "a".repeat(500), "notes": "n".repeat(5000), "gender": "other"});
    app.post("/api/patients", &edge, Some(&token)).await.expect(201, "created");
}

#[tokio::test]
async fn another_users_patient_is_404_exactly_like_a_missing_one_on_every_route() {
    let app = spawn_app().await;
    let owner = app.user_token("owner@example.com").await;
    let intruder = app.user_token("intruder@example.com").await;
    let patient = app.create_patient(&owner, "Private Person").await;
    let path = format!("/api/patients/{}", patient["id"].as_str().unwrap());
    let missing = "/api/patients/0190a1b2-0000-7000-8000-000000000000";

    for (theirs, nothing) in [
        (app.get(&path, Some(&intruder)).await, app.get(missing, Some(&intruder)).await),
        (
            app.put(&path, &json!({"name": "Hijacked"}), Some(&intruder)).await,
            app.put(missing, &json!({"name": "Hijacked"}), Some(&intruder)).await,
        ),
        (app.delete(&path, Some(&intruder)).await, app.delete(missing, Some(&intruder)).await),
    ] {
        theirs.expect(404, "not_found");
        assert_eq!(theirs.body, nothing.body);
    }
    let list = app.get("/api/patients", Some(&intruder)).await;
    assert_eq!(list.data()["items"], json!([]));
    // Still there, unchanged, for its owner.
    let still = app.get(&path, Some(&owner)).await;
    still.expect(200, "success");
    assert_eq!(still.data()["name"], "Private Person");
    assert_eq!(still.data()["version"], 1);
    let outcomes: Vec<String> = app.audit("patient.read").await.into_iter().map(|e| e.2).collect();
    assert_eq!(outcomes, ["not_found", "not_found", "success"]);
}

#[tokio::test]
async fn every_route_needs_a_token_and_a_uuid_id() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    app.get("/api/patients", None).await.expect(401, "unauthorized");
    app.post("/api/patients", &json!({}), None).await.expect(401, "unauthorized");
    let any = "/api/patients/0190a1b2-0000-7000-8000-000000000000";
    app.get(any, None).await.expect(401, "unauthorized");
    app.put(any, &json!({"name": "x"}), None).await.expect(401, "unauthorized");
    app.delete(any, None).await.expect(401, "unauthorized");
    for bad in ["not-a-uuid", "123", "0190a1b2-0000-7000-8000-00000000000g", "%27%20OR%201%3D1"] {
        let path = format!("/api/patients/{bad}");
        let response = app.get(&path, Some(&token)).await;
        response.expect(400, "invalid");
        assert_eq!(response.error_fields(), ["id"]);
        app.put(&path, &json!({"name": "x"}), Some(&token)).await.expect(400, "invalid");
        app.delete(&path, Some(&token)).await.expect(400, "invalid");
    }
}

#[tokio::test]
async fn list_pages_through_own_patients_newest_first_each_exactly_once() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let other = app.user_token("bob@example.com").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(app.create_patient(&token, &format!("Patient {i}")).await["id"].as_str().unwrap().to_string());
    }
    app.create_patient(&other, "Not Yours").await;
    created.reverse();
    for limit in [1, 2, 3, 7, 100] {
        assert_eq!(app.walk("/api/patients", &token, limit).await, created, "limit {limit}");
    }
    let first = app.get("/api/patients", Some(&token)).await;
    assert_eq!(first.data()["items"].as_array().unwrap().len(), 7);
    assert_eq!(first.data()["next_cursor"], Value::Null);
    assert!(!app.audit("patient.list").await.is_empty());
}

#[tokio::test]
async fn name_search_is_a_case_insensitive_literal_substring() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    for name in ["Anna Smith", "JOANNA Brown", "Bob", "100% Real", "under_score", "underXscore"] {
        app.create_patient(&token, name).await;
    }
    let names = |response: api_tests::TestResponse| -> Vec<String> {
        let mut names: Vec<String> = response.data()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(app.get("/api/patients?q=anna", Some(&token)).await), ["Anna Smith", "JOANNA Brown"]);
    assert_eq!(names(app.get("/api/patients?q=%25", Some(&token)).await), ["100% Real"]);
    assert_eq!(names(app.get("/api/patients?q=_", Some(&token)).await), ["under_score"]);
    assert_eq!(names(app.get("/api/patients?q=zzz", Some(&token)).await), Vec::<String>::new());
    assert_eq!(app.walk("/api/patients?q=a", &token, 1).await.len(), 3);
}

#[tokio::test]
async fn bad_list_parameters_are_400_naming_them() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("cursor=garbage", "cursor"),
        ("sort=name", "sort"),
        ("q=a&q=b", "q"),
        (&format!("q={}", "x".repeat(101)), "q"),
    ] {
        let response = app.get(&format!("/api/patients?{query}"), Some(&token)).await;
        response.expect(400, "invalid");
        assert_eq!(response.error_fields(), [field], "{query}");
    }
}

#[tokio::test]
async fn update_changes_only_the_fields_sent_and_bumps_the_version() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let body = json!({"name": "Ann", "date_of_birth": "1970-03-03", "phone": "555 123 4567", "notes": "first"});
    let created = app.post("/api/patients", &body, Some(&token)).await;
    let path = format!("/api/patients/{}", created.data()["id"].as_str().unwrap());

    let response = app.put(&path, &json!({"notes": "second", "gender": "female"}), Some(&token)).await;
    response.expect(200, "updated");
    let p = response.data();
    assert_eq!(
        (p["notes"].as_str(), p["gender"].as_str(), p["version"].as_i64()),
        (Some("second"), Some("female"), Some(2))
    );
    assert_eq!((p["name"].as_str(), p["phone"].as_str()), (Some("Ann"), Some("555 123 4567")));
    assert_eq!(p["created_at"], created.data()["created_at"]);
    assert_eq!(response.headers["etag"], "\"2\"");

    // null clears an optional field; a required one cannot be cleared.
    let cleared = app.put(&path, &json!({"phone": null}), Some(&token)).await;
    assert_eq!(cleared.data()["phone"], Value::Null);
    let refused = app.put(&path, &json!({"name": null}), Some(&token)).await;
    refused.expect(400, "invalid");
    assert_eq!(refused.error_fields(), ["name"]);
    app.put(&path, &json!({}), Some(&token)).await.expect(400, "invalid");
    app.put(&path, &json!({"version": 9}), Some(&token)).await.expect(400, "invalid");
    app.put(&path, &json!({"date_of_birth": "2999-01-01"}), Some(&token)).await.expect(400, "invalid");
    let now = app.get(&path, Some(&token)).await;
    assert_eq!(now.data()["version"], 3);
    assert_eq!(now.data()["name"], "Ann");
    assert_eq!(app.audit("patient.update").await.len(), 2);
}

#[tokio::test]
async fn if_match_makes_the_update_conditional() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let id = app.create_patient(&token, "Ann").await["id"].as_str().unwrap().to_string();
    let path = format!("/api/patients/{id}");
    app.put_if_match(&path, &json!({"name": "Bee"}), &token, "\"1\"").await.expect(200, "updated");
    app.put_if_match(&path, &json!({"name": "Cee"}), &token, "2").await.expect(200, "updated");
    let stale = app.put_if_match(&path, &json!({"name": "Dee"}), &token, "\"2\"").await;
    stale.expect(412, "conflict");
    app.put_if_match(&path, &json!({"name": "Eve"}), &token, "*").await.expect(200, "updated");
    for bad in ["abc", "\"\"", "0", "-1", "W/\"x\""] {
        let response = app.put_if_match(&path, &json!({"name": "Fay"}), &token, bad).await;
        response.expect(400, "invalid");
        assert_eq!(response.error_fields(), ["If-Match"], "{bad}");
    }
    let now = app.get(&path, Some(&token)).await;
    assert_eq!((now.data()["name"].as_str(), now.data()["version"].as_i64()), (Some("Eve"), Some(4)));
    // Another user's patient with a stale version is still 404, never 412.
    let other = app.user_token("bob@example.com").await;
    app.put_if_match(&path, &json!({"name": "X"}), &other, "\"1\"").await.expect(404, "not_found");
}

#[tokio::test]
async fn ten_concurrent_updates_with_the_same_version_have_exactly_one_winner() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let id = app.create_patient(&token, "Ann").await["id"].as_str().unwrap().to_string();
    let path = format!("/api/patients/{id}");
    let bodies: Vec<Value> = (0..10).map(|i| json!({"notes": format!("writer {i}")})).collect();
    let results = join_all(bodies.iter().map(|b| app.put_if_match(&path, b, &token, "\"1\""))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 412).count(), 9, "{statuses:?}");
    let winner = results.iter().find(|r| r.status == 200).unwrap();
    let now = app.get(&path, Some(&token)).await;
    assert_eq!(now.data()["version"], 2);
    assert_eq!(now.data()["notes"], winner.data()["notes"]);
}

#[tokio::test]
async fn delete_removes_the_patient_and_its_mappings_but_not_its_audit_trail() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let patient = app.create_patient(&token, "Ann").await;
    let doctor = app.create_doctor(&token, "Dr Who", "Time").await;
    app.post("/api/mappings", &json!({"patient_id": patient["id"], "doctor_id": doctor["id"]}), Some(&token))
        .await
        .expect(201, "created");
    let path = format!("/api/patients/{}", patient["id"].as_str().unwrap());
    let deleted = app.delete(&path, Some(&token)).await;
    deleted.expect(200, "deleted");
    assert_eq!(deleted.data()["id"], patient["id"]);
    app.get(&path, Some(&token)).await.expect(404, "not_found");
    app.delete(&path, Some(&token)).await.expect(404, "not_found");
    let sql = app.sql().await;
    let mappings: i64 = sql.query_one("SELECT count(*) FROM mappings", &[]).await.unwrap().get(0);
    assert_eq!(mappings, 0);
    let id: uuid::Uuid = patient["id"].as_str().unwrap().parse().unwrap();
    let events: i64 = sql
        .query_one("SELECT count(*) FROM audit_trail WHERE resource_id = $1 AND resource_type = 'patient'", &[&id])
        .await
        .unwrap()
        .get(0);
    assert!(events >= 3, "create, delete, and the failed read and delete stay: {events}");
    // The doctor is still in the directory.
    app.get(&format!("/api/doctors/{}", doctor["id"].as_str().unwrap()), Some(&token)).await.expect(200, "success");
}

#[tokio::test]
async fn audit_events_hold_ids_never_patient_details() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let body = json!({"name": "Zebediah Quux", "date_of_birth": "1961-07-04", "notes": "secret-diagnosis", "email": "zq@example.com"});
    let created = app.post("/api/patients", &body, Some(&token)).await;
    let path = format!("/api/patients/{}", created.data()["id"].as_str().unwrap());
    app.get(&path, Some(&token)).await;
    app.get("/api/patients?q=Zebediah", Some(&token)).await;
    app.put(&path, &json!({"notes": "another-secret"}), Some(&token)).await;
    let dump: String = app
        .sql()
        .await
        .query_one("SELECT string_agg(row_to_json(a)::text, ' ') FROM audit_trail a", &[])
        .await
        .unwrap()
        .get(0);
    for secret in ["Zebediah", "1961", "secret", "zq@example.com", "ada@example.com"] {
        assert!(!dump.contains(secret), "audit trail holds {secret:?}");
    }
}
