//! Doctors with accounts (API.md Part 3): a verified user claims the doctor with their
//! email, and then reaches every patient that doctor is assigned to - until the mapping
//! or the claim ends, on the very next request with the same token.

use api_tests::spawn_app;
use serde_json::json;

use crate::orgs::verify_email;

#[tokio::test]
async fn a_doctor_is_claimed_by_the_verified_owner_of_its_email_only() {
    let app = spawn_app().await;
    let alice = app.user_token("alice@example.com").await;
    let body = json!({"name": "Dr Dee", "specialization": "Cardiology", "email": "Dee@Example.com"});
    let doctor = app.post("/api/doctors", &body, Some(&alice)).await.data().clone();
    let claim = format!("/api/doctors/{}/claim", doctor["id"].as_str().unwrap());
    assert!(doctor["user_id"].is_null());

    let dee = app.user_token("dee@example.com").await;
    app.post(&claim, &json!({}), Some(&dee)).await.expect(403, "forbidden");
    app.post(&claim, &json!({}), Some(&alice)).await.expect(403, "forbidden");
    verify_email(&app, "dee@example.com").await;
    let claimed = app.post(&claim, &json!({}), Some(&dee)).await;
    claimed.expect(200, "updated");
    let dee_id = app.get("/api/auth/me", Some(&dee)).await.data()["id"].clone();
    assert_eq!(claimed.data()["user_id"], dee_id);
    // Claiming again is no change; the directory shows the holder.
    app.post(&claim, &json!({}), Some(&dee)).await.expect(200, "updated");
    let read = app.get(&format!("/api/doctors/{}", doctor["id"].as_str().unwrap()), Some(&alice)).await;
    assert_eq!(read.data()["user_id"], dee_id);
    // Someone else: 409; a second doctor for the same account: 409; no email: 403.
    verify_email(&app, "alice@example.com").await;
    app.post(&claim, &json!({}), Some(&alice)).await.expect(409, "conflict");
    let second = json!({"name": "Dr Dee Again", "specialization": "Surgery", "email": "dee@example.com"});
    let second = app.post("/api/doctors", &second, Some(&alice)).await.data().clone();
    let second_claim = format!("/api/doctors/{}/claim", second["id"].as_str().unwrap());
    app.post(&second_claim, &json!({}), Some(&dee)).await.expect(409, "conflict");
    let nameless = app.create_doctor(&alice, "Dr Nomail", "Surgery").await;
    app.post(&format!("/api/doctors/{}/claim", nameless["id"].as_str().unwrap()), &json!({}), Some(&dee))
        .await
        .expect(403, "forbidden");
    app.post(&format!("/api/doctors/{}/claim", uuid::Uuid::now_v7()), &json!({}), Some(&dee))
        .await
        .expect(404, "not_found");
    // `user_id` is read-only.
    let path = format!("/api/doctors/{}", doctor["id"].as_str().unwrap());
    let written = app.put(&path, &json!({"user_id": dee_id}), Some(&alice)).await;
    assert_eq!(written.error_fields(), ["user_id"]);
    assert_eq!(app.audit("doctor.claimed").await.iter().filter(|e| e.2 == "success").count(), 2);
}

#[tokio::test]
async fn the_care_team_reaches_the_doctor_s_patients_until_the_mapping_or_the_claim_ends() {
    let app = spawn_app().await;
    let alice = app.user_token("alice@example.com").await;
    let admin = app.admin_token("admin@example.com").await;
    let patient = app.create_patient(&alice, "Pat").await;
    let path = format!("/api/patients/{}", patient["id"].as_str().unwrap());
    app.put(&path, &json!({"notes": "history"}), Some(&alice)).await.expect(200, "updated");
    let body = json!({"name": "Dr Dee", "specialization": "Cardiology", "email": "dee@example.com"});
    let doctor = app.post("/api/doctors", &body, Some(&alice)).await.data().clone();
    let other = app.create_doctor(&alice, "Dr Other", "Surgery").await;
    let dee = app.user_token("dee@example.com").await;
    verify_email(&app, "dee@example.com").await;
    let doctor_id = doctor["id"].as_str().unwrap();
    app.post(&format!("/api/doctors/{doctor_id}/claim"), &json!({}), Some(&dee)).await.expect(200, "updated");

    // Not assigned yet: nothing.
    app.get(&path, Some(&dee)).await.expect(404, "not_found");
    let assign = json!({"patient_id": patient["id"], "doctor_id": doctor_id});
    let mapping = app.post("/api/mappings", &assign, Some(&alice)).await.data().clone();

    let seen = app.get(&path, Some(&dee)).await;
    seen.expect(200, "success");
    assert_eq!(seen.data()["notes"], "history");
    assert_eq!(app.walk("/api/patients", &dee, 5).await, [patient["id"].as_str().unwrap()]);
    assert_eq!(app.walk("/api/patients?organization_id=none", &dee, 5).await.len(), 1);
    app.put(&path, &json!({"notes": "seen by the cardiologist"}), Some(&dee)).await.expect(200, "updated");
    assert_eq!(app.fhir_get(&format!("/api/fhir/Patient/{}", patient["id"].as_str().unwrap()), &dee).await.status, 200);
    // Not delete, not assign.
    app.delete(&path, Some(&dee)).await.expect(403, "forbidden");
    let more = json!({"patient_id": patient["id"], "doctor_id": other["id"]});
    app.post("/api/mappings", &more, Some(&dee)).await.expect(403, "forbidden");
    let mapping_path = format!("/api/mappings/{}", mapping["id"].as_str().unwrap());
    app.delete(&mapping_path, Some(&dee)).await.expect(403, "forbidden");

    // The mapping goes: so does the access, at once.
    app.delete(&mapping_path, Some(&alice)).await.expect(200, "deleted");
    app.get(&path, Some(&dee)).await.expect(404, "not_found");
    assert!(app.walk("/api/patients", &dee, 5).await.is_empty());

    // Assigned again, then the claim is undone by an admin: gone again.
    app.post("/api/mappings", &assign, Some(&alice)).await.expect(201, "created");
    app.get(&path, Some(&dee)).await.expect(200, "success");
    let unclaim = format!("/api/admin/doctors/{doctor_id}/claim");
    app.delete(&unclaim, Some(&alice)).await.expect(403, "forbidden");
    let unclaimed = app.delete(&unclaim, Some(&admin)).await;
    unclaimed.expect(200, "updated");
    assert!(unclaimed.data()["user_id"].is_null());
    app.get(&path, Some(&dee)).await.expect(404, "not_found");
    app.delete(&format!("/api/admin/doctors/{}/claim", uuid::Uuid::now_v7()), Some(&admin))
        .await
        .expect(404, "not_found");
    assert_eq!(app.audit("doctor.unclaimed").await.len(), 2);
}
