//! `/api/mappings`: assigning doctors to one's own patients.

use api_tests::spawn_app;
use futures::future::join_all;
use serde_json::json;

#[tokio::test]
async fn assign_list_read_and_remove() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let patient = app.create_patient(&token, "Pat").await;
    let cardio = app.create_doctor(&token, "Dr Heart", "Cardiology").await;
    let derm = app.create_doctor(&token, "Dr Skin", "Dermatology").await;
    let first =
        app.post("/api/mappings", &json!({"patient_id": patient["id"], "doctor_id": cardio["id"]}), Some(&token)).await;
    first.expect(201, "created");
    let m = first.data();
    assert_eq!((&m["patient_id"], &m["doctor_id"]), (&patient["id"], &cardio["id"]));
    let me = app.get("/api/auth/me", Some(&token)).await;
    assert_eq!(m["assigned_by"], me.data()["id"]);
    app.post("/api/mappings", &json!({"patient_id": patient["id"], "doctor_id": derm["id"]}), Some(&token))
        .await
        .expect(201, "created");

    let of_patient = app.get(&format!("/api/mappings/{}", patient["id"].as_str().unwrap()), Some(&token)).await;
    of_patient.expect(200, "success");
    assert_eq!(of_patient.data()["patient_id"], patient["id"]);
    let doctors = of_patient.data()["doctors"].as_array().unwrap();
    assert_eq!(doctors.len(), 2);
    assert_eq!(doctors[1]["name"], "Dr Heart");
    assert_eq!(doctors[1]["mapping_id"], m["id"]);
    assert_eq!(doctors[1]["specialization"], "Cardiology");
    assert!(doctors[1]["assigned_at"].is_string());

    let list = app.get("/api/mappings", Some(&token)).await;
    assert_eq!(list.data()["items"].as_array().unwrap().len(), 2);
    let filtered = app.get(&format!("/api/mappings?doctor_id={}", derm["id"].as_str().unwrap()), Some(&token)).await;
    assert_eq!(filtered.data()["items"].as_array().unwrap().len(), 1);
    let filtered =
        app.get(&format!("/api/mappings?patient_id={}", patient["id"].as_str().unwrap()), Some(&token)).await;
    assert_eq!(filtered.data()["items"].as_array().unwrap().len(), 2);

    let path = format!("/api/mappings/{}", m["id"].as_str().unwrap());
    app.delete(&path, Some(&token)).await.expect(200, "deleted");
    app.delete(&path, Some(&token)).await.expect(404, "not_found");
    assert_eq!(app.walk("/api/mappings", &token, 1).await.len(), 1);
    assert_eq!(app.audit("mapping.create").await.len(), 2);
    assert_eq!(app.audit("mapping.delete").await.len(), 2);
}

#[tokio::test]
async fn a_patient_without_doctors_has_an_empty_list() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let patient = app.create_patient(&token, "Pat").await;
    let response = app.get(&format!("/api/mappings/{}", patient["id"].as_str().unwrap()), Some(&token)).await;
    response.expect(200, "success");
    assert_eq!(response.data()["doctors"], json!([]));
}

#[tokio::test]
async fn another_users_patient_and_mappings_are_404() {
    let app = spawn_app().await;
    let owner = app.user_token("owner@example.com").await;
    let intruder = app.user_token("intruder@example.com").await;
    let patient = app.create_patient(&owner, "Pat").await;
    let doctor = app.create_doctor(&owner, "Dr A", "GP").await;
    let mapping =
        app.post("/api/mappings", &json!({"patient_id": patient["id"], "doctor_id": doctor["id"]}), Some(&owner)).await;
    let mapping_id = mapping.data()["id"].as_str().unwrap();

    // Assigning a doctor to someone else's patient: as if the patient did not exist.
    let theirs = app
        .post("/api/mappings", &json!({"patient_id": patient["id"], "doctor_id": doctor["id"]}), Some(&intruder))
        .await;
    let nobody = app
        .post(
            "/api/mappings",
            &json!({"patient_id": "0190a1b2-0000-7000-8000-000000000000", "doctor_id": doctor["id"]}),
            Some(&intruder),
        )
        .await;
    theirs.expect(404, "not_found");
    assert_eq!(theirs.body, nobody.body);
    app.get(&format!("/api/mappings/{}", patient["id"].as_str().unwrap()), Some(&intruder))
        .await
        .expect(404, "not_found");
    app.delete(&format!("/api/mappings/{mapping_id}"), Some(&intruder)).await.expect(404, "not_found");
    assert_eq!(app.get("/api/mappings", Some(&intruder)).await.data()["items"], json!([]));
    let filtered =
        app.get(&format!("/api/mappings?patient_id={}", patient["id"].as_str().unwrap()), Some(&intruder)).await;
    assert_eq!(filtered.data()["items"], json!([]));
    // The owner's mapping is intact.
    assert_eq!(app.get("/api/mappings", Some(&owner)).await.data()["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_assignments_are_refused_with_the_right_status() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let patient = app.create_patient(&token, "Pat").await;
    let doctor = app.create_doctor(&token, "Dr A", "GP").await;
    let body = json!({"patient_id": patient["id"], "doctor_id": doctor["id"]});
    app.post("/api/mappings", &body, Some(&token)).await.expect(201, "created");
    let duplicate = app.post("/api/mappings", &body, Some(&token)).await;
    duplicate.expect(409, "conflict");
    assert_eq!(duplicate.error_fields(), ["doctor_id"]);
    let no_doctor = app
        .post(
            "/api/mappings",
            &json!({"patient_id": patient["id"], "doctor_id": "0190a1b2-0000-7000-8000-000000000000"}),
            Some(&token),
        )
        .await;
    no_doctor.expect(404, "not_found");
    app.post("/api/mappings", &json!({"patient_id": patient["id"]}), Some(&token)).await.expect(400, "missing");
    let bad = app.post("/api/mappings", &json!({"patient_id": "x", "doctor_id": 5}), Some(&token)).await;
    bad.expect(400, "invalid");
    assert_eq!(bad.error_fields(), ["patient_id", "doctor_id"]);
    app.post(
        "/api/mappings",
        &json!({"patient_id": patient["id"], "doctor_id": doctor["id"], "assigned_by": "x"}),
        Some(&token),
    )
    .await
    .expect(400, "invalid");
    app.get("/api/mappings?patient_id=nope", Some(&token)).await.expect(400, "invalid");
    app.get("/api/mappings/not-a-uuid", Some(&token)).await.expect(400, "invalid");
    app.post("/api/mappings", &body, None).await.expect(401, "unauthorized");
    let count: i64 = app.sql().await.query_one("SELECT count(*) FROM mappings", &[]).await.unwrap().get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn racing_duplicate_assignments_make_one_mapping() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let patient = app.create_patient(&token, "Pat").await;
    let doctor = app.create_doctor(&token, "Dr A", "GP").await;
    let body = json!({"patient_id": patient["id"], "doctor_id": doctor["id"]});
    let results = join_all((0..8).map(|_| app.post("/api/mappings", &body, Some(&token)))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 7, "{statuses:?}");
}
