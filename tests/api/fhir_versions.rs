//! Versions of a patient (API.md Part 5, "Versions and history"): every change keeps the
//! version it replaced, with who made it; vread answers each version; the `Location` of
//! a create and of an update resolves; the versions are append-only and go with the
//! patient.

use api_tests::spawn_app;
use axum::http::Method;
use serde_json::json;

fn location(response: &api_tests::fhir::FhirResponse) -> String {
    response.headers.get("location").expect("Location").to_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_change_keeps_the_version_it_replaced_and_vread_answers_each() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let other = app.user_token("eve@example.com").await;
    let body = json!({"resourceType": "Patient", "name": [{"text": "Ada King"}], "birthDate": "1990-12-10"});
    let created = app.fhir(Method::POST, "/api/fhir/Patient").token(&token).json(&body).send().await;
    let id = created.expect(201, None)["id"].as_str().unwrap().to_owned();
    let first = location(&created);
    assert_eq!(first, format!("/api/fhir/Patient/{id}/_history/1"));

    // A REST update makes version 2, a FHIR update version 3, whose Location resolves.
    let rest = format!("/api/patients/{id}");
    app.put(&rest, &json!({"name": "Augusta Ada King", "notes": "v2 notes"}), Some(&token))
        .await
        .expect(200, "updated");
    let path = format!("/api/fhir/Patient/{id}");
    let mut current = app.fhir_get(&path, &token).await.body;
    current["name"] = json!([{"text": "Ada Lovelace"}]);
    let updated = app.fhir(Method::PUT, &path).token(&token).json(&current).send().await;
    updated.expect(200, None);
    assert_eq!(location(&updated), format!("{path}/_history/3"));

    for (version, name) in [(1, "Ada King"), (2, "Augusta Ada King"), (3, "Ada Lovelace")] {
        let read = app.fhir_get(&format!("{path}/_history/{version}"), &token).await;
        let resource = read.expect(200, None);
        assert_eq!(
            (&resource["meta"]["versionId"], &resource["name"][0]["text"]),
            (&json!(version.to_string()), &json!(name))
        );
        assert_eq!(read.etag(), format!("W/\"{version}\""));
        read.assert_last_modified();
        assert!(resource.get("notes").is_none());
    }
    let v1 = app.fhir_get(&first, &token).await.body;
    assert_ne!(v1["meta"]["lastUpdated"], current["meta"]["lastUpdated"], "each version keeps its own time");

    // Versions we never made, and ids that are no version id.
    for missing in ["4", "0", "-1", "abc", "2.0"] {
        app.fhir_get(&format!("{path}/_history/{missing}"), &token).await.expect(404, Some("not-found"));
    }
    app.fhir_get(&format!("{path}/_history/bad_vid"), &token).await.expect(400, Some("invalid"));
    // Whoever does not reach the patient finds no version of it.
    app.fhir_get(&first, &other).await.expect(404, Some("not-found"));
    // One event per request that reached the statement: the four reads, version 4, and
    // the stranger's (an id no version could have is refused before any statement).
    let audited = app.audit("patient.history").await;
    assert_eq!(
        audited.iter().filter(|(_, resource, _)| resource.map(|r| r.to_string()) == Some(id.clone())).count(),
        6,
        "{audited:?}"
    );

    // Who made each replaced version, kept beside it; notes as they were.
    let sql = app.sql().await;
    let me: uuid::Uuid = app.get("/api/auth/me", Some(&token)).await.data()["id"].as_str().unwrap().parse().unwrap();
    let patient: uuid::Uuid = id.parse().unwrap();
    let kept = sql
        .query(
            "SELECT version, changed_by, notes FROM patient_versions WHERE patient_id = $1 ORDER BY version",
            &[&patient],
        )
        .await
        .unwrap();
    let kept: Vec<(i32, Option<uuid::Uuid>, Option<String>)> =
        kept.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(kept, [(1, Some(me), None), (2, Some(me), Some("v2 notes".to_owned()))]);

    // Append-only; the patient's deletion takes its versions with it.
    for change in ["UPDATE patient_versions SET name = 'Forged'", "DELETE FROM patient_versions"] {
        let refused = sql.execute(change, &[]).await.expect_err(change);
        assert!(
            refused.to_string().contains("append-only") || format!("{refused:?}").contains("append-only"),
            "{refused:?}"
        );
    }
    app.fhir(Method::DELETE, &path).token(&token).send().await.expect(204, None);
    let left: i64 = sql.query_one("SELECT count(*) FROM patient_versions", &[]).await.unwrap().get(0);
    assert_eq!(left, 0);
    app.fhir_get(&first, &token).await.expect(404, Some("not-found"));
}

#[tokio::test]
async fn linking_a_portal_user_is_no_new_version() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let patient = app.create_patient(&token, "Grace Hopper").await;
    let id: uuid::Uuid = patient["id"].as_str().unwrap().parse().unwrap();
    let sql = app.sql().await;
    let other: uuid::Uuid = sql.query_one("SELECT id FROM users LIMIT 1", &[]).await.unwrap().get(0);
    sql.execute("UPDATE patients SET portal_user_id = $1 WHERE id = $2", &[&other, &id]).await.unwrap();
    let kept: i64 = sql.query_one("SELECT count(*) FROM patient_versions", &[]).await.unwrap().get(0);
    assert_eq!(kept, 0);
}
