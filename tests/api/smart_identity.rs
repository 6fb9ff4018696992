//! Who a SMART grant is, and how long it lives (API.md Part 4): `fhirUser` names the doctor
//! a user holds or the patient whose portal they use; a clinic's portal users launch the
//! clinic's apps and nobody outside the clinic can; introspection by an admin shows the
//! grant's patient and FHIR user; grants go idle like sessions; an admin's backend app
//! reaches every patient; the previous ID-token key stays published.

use axum::http::Method;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::email::app_with_mail_and;
use crate::orgs::{clinic, join, org_patient};
use crate::portal::portal_user;
use crate::smart::{
    CLIENT_RSA, ID_TOKEN_KEY, ORIGIN, REDIRECT, assertion, authorize_query, encode, id_claims, launch, pem_der,
    public_jwk, raw, register, smart_app,
};

fn smart_keys() -> String {
    json!([{ "kid": "test-1", "pem": ID_TOKEN_KEY }]).to_string()
}

async fn introspected(app: &api_tests::TestApp, admin: &str, token: &str) -> Value {
    let seen =
        raw(app, Method::POST, "/api/auth/oauth/introspect", Some(encode(&[("token", token)])), Some(admin)).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
    seen.json()
}

#[tokio::test]
async fn fhir_user_is_the_held_doctor_or_the_portal_patient_and_only_the_clinic_s_people_launch_its_apps() {
    let (app, mailbox) = app_with_mail_and(&[("SMART_SIGNING_KEYS", &smart_keys())]).await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let admin = app.admin_token("admin@example.com").await;
    let dee = join(&app, &mailbox, &clinic, "dee@example.com", "clinician").await;
    let body = json!({"name": "Dr Dee", "specialization": "Cardiology", "email": "dee@example.com"});
    let doctor = app.post("/api/doctors", &body, Some(&clinic.owner)).await.data()["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/doctors/{doctor}/claim"), &json!({}), Some(&dee)).await.expect(200, "updated");
    let patient = org_patient(&app, &clinic.owner, &clinic.id, None).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/patients/{patient}");
    portal_user(&app, &mailbox, &path, &clinic.owner, "pat@example.com").await;
    let created = register(
        &app,
        &format!("/api/orgs/{}/apps", clinic.id),
        &clinic.owner,
        json!({"name": "Clinic app", "redirect_uris": [REDIRECT],
               "scopes": "openid fhirUser launch/patient patient/Patient.rs user/Patient.rs user/Practitioner.rs"}),
    )
    .await;
    let client_id = created["client_id"].as_str().unwrap();

    // A clinician holding a doctor is that Practitioner.
    let tokens = launch(&app, client_id, "openid fhirUser user/Patient.rs", "dee@example.com", None).await;
    assert_eq!(tokens["scope"], "openid fhirUser user/Patient.rs");
    let claims = id_claims(&app, tokens["id_token"].as_str().unwrap(), client_id).await;
    assert_eq!(claims["fhirUser"], format!("{ORIGIN}/api/fhir/Practitioner/{doctor}"));
    let seen = introspected(&app, &admin, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (seen["active"].as_bool(), seen["fhirUser"].as_str()),
        (Some(true), Some(&*format!("{ORIGIN}/api/fhir/Practitioner/{doctor}")))
    );
    assert_eq!(seen["client_id"], client_id);

    // The portal user launches the clinic's app with their own record, and is that Patient.
    let scope = "openid fhirUser launch/patient patient/Patient.rs";
    let tokens = launch(&app, client_id, scope, "pat@example.com", Some(&patient)).await;
    assert_eq!(tokens["patient"], patient.as_str());
    let claims = id_claims(&app, tokens["id_token"].as_str().unwrap(), client_id).await;
    assert_eq!(claims["fhirUser"], format!("{ORIGIN}/api/fhir/Patient/{patient}"));
    let access = tokens["access_token"].as_str().unwrap();
    app.fhir_get(&format!("/api/fhir/Patient/{patient}"), access).await.expect(200, None);
    let seen = introspected(&app, &admin, access).await;
    assert_eq!(
        (seen["patient"].as_str(), seen["fhirUser"].as_str()),
        (Some(&*patient), Some(&*format!("{ORIGIN}/api/fhir/Patient/{patient}")))
    );

    // Someone outside the clinic is told so at sign-in, before any consent.
    app.user_token("stranger@example.com").await;
    let page =
        raw(&app, Method::GET, &format!("/api/auth/oauth/authorize?{}", authorize_query(client_id, scope)), None, None)
            .await;
    let refused = raw(
        &app,
        Method::POST,
        "/api/auth/oauth/authorize",
        Some(encode(&[
            ("csrf_token", &page.csrf()),
            ("email", "stranger@example.com"),
            ("password", api_tests::PASSWORD),
        ])),
        None,
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(
        refused.text.contains("not part of the clinic") && refused.text.contains("name=\"password\""),
        "{}",
        refused.text
    );

    // A portal user whose link is gone holds a grant nobody honours any more.
    app.sql().await.execute("UPDATE patients SET portal_user_id = NULL", &[]).await.unwrap();
    app.fhir_get(&format!("/api/fhir/Patient/{patient}"), access).await.expect(401, Some("login"));
    assert_eq!(introspected(&app, &admin, access).await, json!({"active": false}));
}

#[tokio::test]
async fn a_grant_goes_idle_like_a_session_and_an_admin_s_backend_app_reaches_every_patient() {
    let app = smart_app().await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let rival = clinic_patient(&app, "rival@example.com", "Rival").await;
    let ours = org_patient(&app, &clinic.owner, &clinic.id, None).await["id"].as_str().unwrap().to_owned();
    let nobody_s = app.create_patient(&clinic.owner, "Personal Patient").await["id"].as_str().unwrap().to_owned();
    let admin = app.admin_token("admin@example.com").await;

    // An aud with a trailing slash is this server's FHIR base too.
    let public = register(
        &app,
        &format!("/api/orgs/{}/apps", clinic.id),
        &clinic.owner,
        json!({"name": "Viewer", "redirect_uris": [REDIRECT], "scopes": "offline_access user/Patient.rs"}),
    )
    .await;
    let client_id = public["client_id"].as_str().unwrap();
    let slashed = authorize_query(client_id, "user/Patient.rs").replace("%2Fapi%2Ffhir", "%2Fapi%2Ffhir%2F");
    assert_ne!(slashed, authorize_query(client_id, "user/Patient.rs"));
    let page = raw(&app, Method::GET, &format!("/api/auth/oauth/authorize?{slashed}"), None, None).await;
    assert_eq!(page.status, 200, "{}", page.text);

    // Idle for longer than the logoff: the grant is over for access and refresh alike.
    let tokens = launch(&app, client_id, "offline_access user/Patient.rs", "owner@example.com", None).await;
    let access = tokens["access_token"].as_str().unwrap();
    app.fhir_get(&format!("/api/fhir/Patient/{ours}"), access).await.expect(200, None);
    app.sql()
        .await
        .execute("UPDATE sessions SET last_used_at = now() - interval '61 minutes' WHERE client_id IS NOT NULL", &[])
        .await
        .unwrap();
    app.fhir_get(&format!("/api/fhir/Patient/{ours}"), access).await.expect(401, Some("login"));
    let form = encode(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", client_id),
    ]);
    let refused = raw(&app, Method::POST, "/api/auth/oauth/token", Some(form), None).await;
    assert_eq!((refused.status, refused.json()["error"].as_str()), (400, Some("invalid_grant")));

    // An admin's backend app: every patient, of every organization and of none.
    let rsa = EncodingKey::from_rsa_der(&pem_der(CLIENT_RSA));
    let jwks = json!({"keys": [public_jwk(&rsa, Algorithm::RS384, "rsa-1")]});
    let backend = register(&app, "/api/admin/apps", &admin,
        json!({"name": "Registry feed", "confidential": true, "backend": true, "jwks": jwks, "scopes": "system/Patient.rs"}))
    .await;
    let backend_id = backend["client_id"].as_str().unwrap();
    let token_url = format!("{ORIGIN}/api/auth/oauth/token");
    let signed = |aud: &str, jti: &str| assertion(&rsa, Algorithm::RS384, "rsa-1", backend_id, aud, 60, jti);
    let grant = encode(&[
        ("grant_type", "client_credentials"),
        ("scope", "system/Patient.rs"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", &signed(&token_url, "a-1")),
    ]);
    let issued = raw(&app, Method::POST, "/api/auth/oauth/token", Some(grant), None).await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let access = issued.json()["access_token"].as_str().unwrap().to_owned();
    let found = app.fhir_get("/api/fhir/Patient?_count=50", &access).await;
    let found = found.expect(200, None);
    let mut ids: Vec<String> =
        found["entry"].as_array().unwrap().iter().map(|e| e["resource"]["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    let mut every = vec![ours, nobody_s, rival];
    every.sort();
    assert_eq!(ids, every);

    // Introspection takes an assertion addressed to the introspection URL as well.
    let form = encode(&[
        ("token", &access),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", &signed(&format!("{ORIGIN}/api/auth/oauth/introspect"), "a-2")),
    ]);
    let seen = raw(&app, Method::POST, "/api/auth/oauth/introspect", Some(form), None).await.json();
    assert_eq!((seen["active"].as_bool(), seen["scope"].as_str()), (Some(true), Some("system/Patient.rs")));
}

async fn clinic_patient(app: &api_tests::TestApp, owner: &str, name: &str) -> String {
    let other = clinic(app, owner, name).await;
    org_patient(app, &other.owner, &other.id, None).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn during_a_key_rotation_the_new_key_signs_and_the_previous_one_stays_published() {
    let database_url = api_tests::fresh_database().await;
    let keys = json!([{ "kid": "new-2", "pem": CLIENT_RSA }, { "kid": "old-1", "pem": ID_TOKEN_KEY }]).to_string();
    let app = api_tests::TestApp::with_settings(
        api_tests::settings(&database_url, &[("SMART_SIGNING_KEYS", &keys)]),
        database_url,
    );
    let jwks = raw(&app, Method::GET, "/api/auth/oauth/jwks", None, None).await.json();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, ["new-2", "old-1"]);
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let created = register(
        &app,
        &format!("/api/orgs/{}/apps", clinic.id),
        &clinic.owner,
        json!({"name": "Viewer", "redirect_uris": [REDIRECT], "scopes": "openid user/Patient.rs"}),
    )
    .await;
    let client_id = created["client_id"].as_str().unwrap();
    let tokens = launch(&app, client_id, "openid user/Patient.rs", "owner@example.com", None).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(jsonwebtoken::decode_header(id_token).unwrap().kid.as_deref(), Some("new-2"));
    let claims = id_claims(&app, id_token, client_id).await;
    assert!(claims["sub"].is_string(), "{claims}");
}
