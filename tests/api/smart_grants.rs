//! SMART grants as sessions and scopes as permissions (API.md Part 4, "What a SMART
//! token may do"): a grant ends with its membership, its user and its session; MFA on
//! the authorize page; each interaction granted or refused by scope.

use api_tests::PASSWORD;
use axum::http::Method;
use serde_json::json;
use shared::auth::totp;

use crate::email::app_with_mail;
use crate::mfa::base32_decode;
use crate::orgs::{clinic, join, org_patient};
use crate::smart::{REDIRECT, authorize_query, encode, launch, raw, register, smart_app};

/// A grant's access token for `email`, and the token answer.
async fn granted(app: &api_tests::TestApp, client_id: &str, scope: &str, email: &str) -> (String, serde_json::Value) {
    let body = launch(app, client_id, scope, email, None).await;
    (body["access_token"].as_str().unwrap().to_owned(), body)
}

#[tokio::test]
async fn a_grant_reaches_the_app_s_organization_and_ends_with_the_membership_user_or_session() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let nia = join(&app, &mailbox, &clinic, "nia@example.com", "clinician").await;
    let ours = org_patient(&app, &clinic.owner, &clinic.id, None).await;
    let own = app.create_patient(&nia, "Nia's Own Patient").await;
    let created = register(
        &app,
        &format!("/api/orgs/{}/apps", clinic.id),
        &clinic.owner,
        json!({"name": "Ward board", "redirect_uris": [REDIRECT], "scopes": "user/Patient.rs"}),
    )
    .await;
    let client_id = created["client_id"].as_str().unwrap();

    // Nia's grant lists the clinic's patient, never her personal one.
    let (access, _) = granted(&app, client_id, "user/Patient.rs", "nia@example.com").await;
    let found = app.fhir_get("/api/fhir/Patient", &access).await;
    let ids: Vec<String> = found.expect(200, None)["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [ours["id"].as_str().unwrap()]);
    let own_path = format!("/api/fhir/Patient/{}", own["id"].as_str().unwrap());
    app.fhir_get(&own_path, &access).await.expect(404, Some("not-found"));

    // Removed from the clinic: the grant stops on the next request.
    let me = app.get("/api/auth/me", Some(&nia)).await.data()["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/api/orgs/{}/members/{me}", clinic.id), Some(&clinic.owner)).await.expect(200, "deleted");
    app.fhir_get("/api/fhir/Patient", &access).await.expect(401, Some("login"));

    // The owner's grant ends when the session is revoked, and with a disabled account.
    let (access, _) = granted(&app, client_id, "user/Patient.rs", "owner@example.com").await;
    let sessions = app.get("/api/auth/sessions", Some(&clinic.owner)).await;
    let grant =
        sessions.data()["items"].as_array().unwrap().iter().find(|s| s["client_id"] == client_id).unwrap().clone();
    app.delete(&format!("/api/auth/sessions/{}", grant["id"].as_str().unwrap()), Some(&clinic.owner))
        .await
        .expect(200, "deleted");
    app.fhir_get("/api/fhir/Patient", &access).await.expect(401, Some("login"));
    let (access, _) = granted(&app, client_id, "user/Patient.rs", "owner@example.com").await;
    app.fhir_get("/api/fhir/Patient", &access).await.expect(200, None);
    app.sql()
        .await
        .execute("UPDATE users SET status = 'disabled' WHERE email = 'owner@example.com'", &[])
        .await
        .unwrap();
    app.fhir_get("/api/fhir/Patient", &access).await.expect(401, Some("login"));
}

#[tokio::test]
async fn an_mfa_user_signs_in_with_a_code_and_a_denial_goes_back_to_the_app() {
    let app = smart_app().await;
    let token = app.user_token("ada@example.com").await;
    let started = app.post("/api/auth/mfa/totp", &json!({}), Some(&token)).await;
    let secret = base32_decode(started.data()["secret"].as_str().unwrap());
    let spent = totp::now_step() - 1;
    app.post("/api/auth/mfa/totp/confirm", &json!({"code": totp::code(&secret, spent)}), Some(&token))
        .await
        .expect(200, "updated");
    let admin = app.admin_token("admin@example.com").await;
    let created = register(
        &app,
        "/api/admin/apps",
        &admin,
        json!({"name": "Notes app", "redirect_uris": [REDIRECT], "scopes": "user/Patient.rs"}),
    )
    .await;
    let client_id = created["client_id"].as_str().unwrap();

    let page = raw(
        &app,
        Method::GET,
        &format!("/api/auth/oauth/authorize?{}", authorize_query(client_id, "user/Patient.rs")),
        None,
        None,
    )
    .await;
    let signed_in = raw(
        &app,
        Method::POST,
        "/api/auth/oauth/authorize",
        Some(encode(&[("csrf_token", &page.csrf()), ("email", "ada@example.com"), ("password", PASSWORD)])),
        None,
    )
    .await;
    assert_eq!(signed_in.status, 200);
    assert!(signed_in.text.contains("name=\"code\""), "the code page: {}", signed_in.text);
    let wrong = raw(
        &app,
        Method::POST,
        "/api/auth/oauth/authorize",
        Some(encode(&[("csrf_token", &signed_in.csrf()), ("code", "000000")])),
        None,
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    // The step the confirmation spent is not accepted again; the next one is.
    let replayed = raw(
        &app,
        Method::POST,
        "/api/auth/oauth/authorize",
        Some(encode(&[("csrf_token", &wrong.csrf()), ("code", &totp::code(&secret, spent))])),
        None,
    )
    .await;
    assert_eq!(replayed.status, 401, "{}", replayed.text);
    let passed = raw(
        &app,
        Method::POST,
        "/api/auth/oauth/authorize",
        Some(encode(&[("csrf_token", &replayed.csrf()), ("code", &totp::code(&secret, spent + 1))])),
        None,
    )
    .await;
    assert_eq!(passed.status, 200, "{}", passed.text);
    assert!(
        passed.text.contains("Read and search patients&#39; records that you can see"),
        "in words: {}",
        passed.text
    );
    let denied = raw(
        &app,
        Method::POST,
        "/api/auth/oauth/authorize",
        Some(encode(&[("csrf_token", &passed.csrf()), ("decision", "deny")])),
        None,
    )
    .await;
    assert_eq!(denied.status, 302);
    assert_eq!(denied.location_param("error").as_deref(), Some("access_denied"));
    assert_eq!(denied.location_param("state").as_deref(), Some("st-123"));
    // A consent-step token cannot be replayed as a sign-in step.
    let moved = raw(
        &app,
        Method::POST,
        "/api/auth/oauth/authorize",
        Some(encode(&[("csrf_token", &passed.csrf()), ("email", "ada@example.com"), ("password", "x")])),
        None,
    )
    .await;
    assert_ne!(moved.status, 302);
}

#[tokio::test]
async fn scopes_grant_each_interaction_or_it_is_403() {
    let app = smart_app().await;
    let admin = app.admin_token("admin@example.com").await;
    let mine = app.create_patient(&admin, "Admin's Patient").await;
    let created = register(
        &app,
        "/api/admin/apps",
        &admin,
        json!({"name": "Directory", "redirect_uris": [REDIRECT], "scopes": "user/*.cruds"}),
    )
    .await;
    let client_id = created["client_id"].as_str().unwrap();

    // v1: user/Patient.read is read and search, nothing else.
    let (access, body) = granted(&app, client_id, "user/Patient.read", "admin@example.com").await;
    assert_eq!(body["scope"], "user/Patient.rs");
    app.fhir_get(&format!("/api/fhir/Patient/{}", mine["id"].as_str().unwrap()), &access).await.expect(200, None);
    app.fhir_get("/api/fhir/Patient", &access).await.expect(200, None);
    let audit = app.get("/api/admin/audit?action=patient.read", Some(&admin)).await;
    assert_eq!(audit.data()["items"][0]["client_id"], client_id, "{:#}", audit.body);
    app.fhir_get("/api/fhir/Practitioner", &access).await.expect(403, Some("forbidden"));
    let new = json!({"resourceType": "Patient", "name": [{"text": "New"}], "birthDate": "1980-01-01"});
    app.fhir(Method::POST, "/api/fhir/Patient").token(&access).json(&new).send().await.expect(403, Some("forbidden"));

    // v2: only read, no search.
    let (access, _) = granted(&app, client_id, "user/Patient.r user/Practitioner.s", "admin@example.com").await;
    app.fhir_get("/api/fhir/Patient", &access).await.expect(403, Some("forbidden"));
    app.fhir_get("/api/fhir/Practitioner", &access).await.expect(200, None);
    app.fhir(Method::DELETE, &format!("/api/fhir/Patient/{}", mine["id"].as_str().unwrap()))
        .token(&access)
        .send()
        .await
        .expect(403, Some("forbidden"));

    // A scope beyond the registration is dropped; nothing left to grant is invalid_scope.
    let refused = raw(
        &app,
        Method::GET,
        &format!("/api/auth/oauth/authorize?{}", authorize_query(client_id, "system/*.rs")),
        None,
        None,
    )
    .await;
    assert_eq!(refused.location_param("error").as_deref(), Some("invalid_scope"));
}
