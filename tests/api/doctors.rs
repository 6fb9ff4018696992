//! `/api/doctors`: a shared directory; only the creator or an admin writes (403 else).

use api_tests::spawn_app;
use serde_json::{Value, json};

#[tokio::test]
async fn anyone_signed_in_adds_lists_and_reads_doctors() {
    let app = spawn_app().await;
    let ada = app.user_token("ada@example.com").await;
    let bob = app.user_token("bob@example.com").await;
    let body = json!({"name": "Dr. Ruth", "specialization": "Cardiology", "email": "Ruth@Clinic.org",
                      "phone": "+1 555 000 1111", "license_number": "CA-12345"});
    let created = app.post("/api/doctors", &body, Some(&ada)).await;
    created.expect(201, "created");
    assert_eq!(created.headers["etag"], "\"1\"");
    let d = created.data();
    assert_eq!((d["email"].as_str(), d["license_number"].as_str()), (Some("ruth@clinic.org"), Some("CA-12345")));
    let me = app.get("/api/auth/me", Some(&ada)).await;
    assert_eq!(d["created_by"], me.data()["id"]);
    let read = app.get(&format!("/api/doctors/{}", d["id"].as_str().unwrap()), Some(&bob)).await;
    read.expect(200, "success");
    assert_eq!(read.data(), d);
    assert_eq!(app.get("/api/doctors", Some(&bob)).await.data()["items"][0]["id"], d["id"]);
    app.get("/api/doctors", None).await.expect(401, "unauthorized");
    app.get("/api/doctors/0190a1b2-0000-7000-8000-000000000000", Some(&bob)).await.expect(404, "not_found");
    app.get("/api/doctors/nope", Some(&bob)).await.expect(400, "invalid");
    assert_eq!(app.audit("doctor.create").await.len(), 1);
}

#[tokio::test]
async fn doctor_input_is_validated_field_by_field() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let cases = [
        (json!({}), "missing", vec!["name", "specialization"]),
        (json!({"name": "A"}), "missing", vec!["specialization"]),
        (json!({"name": "A", "specialization": ""}), "invalid", vec!["specialization"]),
        (json!({"name": "A", "specialization": "x".repeat(101)}), "invalid", vec!["specialization"]),
        (
            json!({"name": "A", "specialization": "B", "license_number": "x".repeat(51)}),
            "invalid",
            vec!["license_number"],
        ),
        (json!({"name": "A", "specialization": "B", "phone": "12"}), "invalid", vec!["phone"]),
        (json!({"name": "A", "specialization": "B", "created_by": "x"}), "invalid", vec!["created_by"]),
        (json!({"name": "A", "specialization": "B", "hospital": "x"}), "invalid", vec!["hospital"]),
    ];
    for (body, status, fields) in cases {
        let response = app.post("/api/doctors", &body, Some(&token)).await;
        assert_eq!((response.status.as_u16(), response.envelope_status()), (400, status), "{body}");
        let mut got = response.error_fields();
        got.sort();
        assert_eq!(got, fields, "{body}");
    }
    let count: i64 = app.sql().await.query_one("SELECT count(*) FROM doctors", &[]).await.unwrap().get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn licence_numbers_are_unique_ignoring_case_and_optional() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let with_licence =
        |name: &str, licence: Value| json!({"name": name, "specialization": "GP", "license_number": licence});
    app.post("/api/doctors", &with_licence("A", json!("ab-1")), Some(&token)).await.expect(201, "created");
    let duplicate = app.post("/api/doctors", &with_licence("B", json!("AB-1")), Some(&token)).await;
    duplicate.expect(409, "conflict");
    assert_eq!(duplicate.error_fields(), ["license_number"]);
    for name in ["C", "D"] {
        app.post("/api/doctors", &with_licence(name, Value::Null), Some(&token)).await.expect(201, "created");
    }
    // Changing a licence to one already taken is a conflict too.
    let e = app.post("/api/doctors", &with_licence("E", json!("E-1")), Some(&token)).await;
    let path = format!("/api/doctors/{}", e.data()["id"].as_str().unwrap());
    app.put(&path, &json!({"license_number": "Ab-1"}), Some(&token)).await.expect(409, "conflict");
}

#[tokio::test]
async fn list_filters_by_name_and_exact_specialization_and_pages() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    for (name, spec) in [
        ("Ann Heart", "Cardiology"),
        ("Bo Heart", "cardiology"),
        ("Cy Skin", "Dermatology"),
        ("Di Kid", "Paediatric Cardiology"),
    ] {
        app.create_doctor(&token, name, spec).await;
    }
    let names = |r: api_tests::TestResponse| -> Vec<String> {
        let mut v: Vec<String> =
            r.data()["items"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().into()).collect();
        v.sort();
        v
    };
    assert_eq!(names(app.get("/api/doctors?specialization=CARDIOLOGY", Some(&token)).await), ["Ann Heart", "Bo Heart"]);
    assert_eq!(names(app.get("/api/doctors?q=heart", Some(&token)).await), ["Ann Heart", "Bo Heart"]);
    assert_eq!(names(app.get("/api/doctors?q=heart&specialization=cardiology", Some(&token)).await).len(), 2);
    assert_eq!(app.walk("/api/doctors", &token, 3).await.len(), 4);
    app.get("/api/doctors?speciality=x", Some(&token)).await.expect(400, "invalid");
}

#[tokio::test]
async fn only_the_creator_or_an_admin_changes_or_deletes_a_doctor() {
    let app = spawn_app().await;
    let creator = app.user_token("creator@example.com").await;
    let other = app.user_token("other@example.com").await;
    let admin = app.admin_token("admin@example.com").await;
    let doctor = app.create_doctor(&creator, "Dr A", "GP").await;
    let path = format!("/api/doctors/{}", doctor["id"].as_str().unwrap());

    app.put(&path, &json!({"name": "Dr Hijack"}), Some(&other)).await.expect(403, "forbidden");
    app.delete(&path, Some(&other)).await.expect(403, "forbidden");
    // Even with a stale If-Match, a non-creator learns only that they may not.
    app.put_if_match(&path, &json!({"name": "X"}), &other, "\"9\"").await.expect(403, "forbidden");

    let by_creator =
        app.put(&path, &json!({"specialization": "Surgery", "phone": "020 7946 0000"}), Some(&creator)).await;
    by_creator.expect(200, "updated");
    assert_eq!((by_creator.data()["name"].as_str(), by_creator.data()["version"].as_i64()), (Some("Dr A"), Some(2)));
    app.put_if_match(&path, &json!({"name": "Dr B"}), &creator, "\"1\"").await.expect(412, "conflict");
    app.put_if_match(&path, &json!({"name": "Dr B"}), &admin, "\"2\"").await.expect(200, "updated");
    app.put(&path, &json!({}), Some(&creator)).await.expect(400, "invalid");
    app.put(&path, &json!({"specialization": null}), Some(&creator)).await.expect(400, "invalid");

    let outcomes: Vec<String> = app.audit("doctor.update").await.into_iter().map(|e| e.2).collect();
    assert_eq!(outcomes, ["denied", "denied", "success", "denied", "success"]);

    app.delete(&path, Some(&admin)).await.expect(200, "deleted");
    app.get(&path, Some(&creator)).await.expect(404, "not_found");
    app.put(&path, &json!({"name": "Ghost"}), Some(&creator)).await.expect(404, "not_found");
    app.delete(&path, Some(&creator)).await.expect(404, "not_found");
}

#[tokio::test]
async fn deleting_a_doctor_removes_its_mappings() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let patient = app.create_patient(&token, "Pat").await;
    let doctor = app.create_doctor(&token, "Dr A", "GP").await;
    app.post("/api/mappings", &json!({"patient_id": patient["id"], "doctor_id": doctor["id"]}), Some(&token))
        .await
        .expect(201, "created");
    app.delete(&format!("/api/doctors/{}", doctor["id"].as_str().unwrap()), Some(&token)).await.expect(200, "deleted");
    let doctors = app.get(&format!("/api/mappings/{}", patient["id"].as_str().unwrap()), Some(&token)).await;
    assert_eq!(doctors.data()["doctors"], json!([]));
}
