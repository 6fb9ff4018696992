//! TOTP multi-factor authentication through the API: enrolment and confirmation, the
//! two-step login, replay refusal, single-use recovery codes, throttling, turning it
//! off; and the secret encrypted at rest.

use api_tests::{PASSWORD, TestApp, spawn_app};
use serde_json::{Value, json};
use shared::auth::totp;

pub(crate) fn base32_decode(text: &str) -> Vec<u8> {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.chars() {
        buffer = (buffer << 5) | alphabet.find(c).expect("base32") as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

struct Enrolled {
    token: String,
    secret: Vec<u8>,
    recovery_codes: Vec<String>,
}

/// Registers Ada and turns MFA on; the confirming code used the current step.
async fn enrolled(app: &TestApp) -> Enrolled {
    let token = app.user_token("ada@example.com").await;
    let started = app.post("/api/auth/mfa/totp", &json!({}), Some(&token)).await;
    started.expect(200, "success");
    let secret_text = started.data()["secret"].as_str().unwrap().to_string();
    assert!(secret_text.len() >= 32, "at least 160 bits: {secret_text}");
    let uri = started.data()["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret_text}")) && uri.contains("issuer="),
        "{uri}"
    );
    let secret = base32_decode(&secret_text);
    let confirmed = app
        .post("/api/auth/mfa/totp/confirm", &json!({"code": totp::code(&secret, totp::now_step())}), Some(&token))
        .await;
    confirmed.expect(200, "updated");
    let codes: Vec<String> = confirmed.data()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    Enrolled { token, secret, recovery_codes: codes }
}

/// The last accepted TOTP step: its code is spent, the next step's is not (and is
/// within the accepted window for the next 30 to 60 seconds).
async fn last_step(app: &TestApp) -> i64 {
    app.sql().await.query_one("SELECT mfa_last_step FROM users", &[]).await.unwrap().get(0)
}

async fn password_step(app: &TestApp) -> String {
    let login = app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": PASSWORD}), None).await;
    login.expect(200, "success");
    assert_eq!(login.data()["mfa_required"], true, "{:#}", login.body);
    assert_eq!(login.data()["expires_in"], 300);
    assert!(login.data().get("access_token").is_none() && login.data().get("refresh_token").is_none());
    login.data()["mfa_token"].as_str().unwrap().to_string()
}

async fn verify(app: &TestApp, body: Value) -> api_tests::TestResponse {
    app.post("/api/auth/mfa/verify", &body, None).await
}

#[tokio::test]
async fn enrolment_turns_mfa_on_with_ten_recovery_codes_and_a_sealed_secret() {
    let app = spawn_app().await;
    let ada = enrolled(&app).await;
    assert_eq!(ada.recovery_codes.len(), 10);
    let mut distinct = ada.recovery_codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    assert!(ada.recovery_codes.iter().all(|c| c.len() >= 8));
    assert_eq!(app.get("/api/auth/me", Some(&ada.token)).await.data()["mfa_enabled"], true);
    // Stored encrypted: the raw secret appears nowhere in the row.
    let sealed: Vec<u8> = app.sql().await.query_one("SELECT mfa_secret FROM users", &[]).await.unwrap().get(0);
    assert!(!sealed.windows(ada.secret.len()).any(|w| w == ada.secret.as_slice()));
    assert!(sealed.len() > ada.secret.len() + 16);
    // On already: a new enrolment is refused.
    app.post("/api/auth/mfa/totp", &json!({}), Some(&ada.token)).await.expect(409, "conflict");
    assert_eq!(app.audit("auth.mfa_enabled").await[0].2, "success");
}

#[tokio::test]
async fn confirming_needs_a_started_enrolment_and_the_right_code() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    app.post("/api/auth/mfa/totp/confirm", &json!({"code": "123456"}), Some(&token)).await.expect(409, "conflict");
    let started = app.post("/api/auth/mfa/totp", &json!({}), Some(&token)).await;
    let secret = base32_decode(started.data()["secret"].as_str().unwrap());
    let wrong = totp::code(&secret, totp::now_step() + 5);
    let refused = app.post("/api/auth/mfa/totp/confirm", &json!({"code": wrong}), Some(&token)).await;
    refused.expect(400, "invalid");
    assert_eq!(refused.error_fields(), ["code"]);
    // Restarting replaces the secret: a code of the first one no longer confirms.
    let restarted = app.post("/api/auth/mfa/totp", &json!({}), Some(&token)).await;
    let second = base32_decode(restarted.data()["secret"].as_str().unwrap());
    assert_ne!(second, secret);
    app.post("/api/auth/mfa/totp/confirm", &json!({"code": totp::code(&secret, totp::now_step())}), Some(&token))
        .await
        .expect(400, "invalid");
    app.post("/api/auth/mfa/totp/confirm", &json!({"code": totp::code(&second, totp::now_step())}), Some(&token))
        .await
        .expect(200, "updated");
    app.post("/api/auth/mfa/totp/confirm", &json!({}), Some(&token)).await.expect(400, "missing");
}

#[tokio::test]
async fn login_takes_two_steps_and_a_code_works_once() {
    let app = spawn_app().await;
    let ada = enrolled(&app).await;
    let mfa_token = password_step(&app).await;
    // The mfa_token is no access token.
    app.get("/api/auth/me", Some(&mfa_token)).await.expect(401, "unauthorized");

    // The confirming code's step is spent; the next step's code works.
    let last = last_step(&app).await;
    let next = totp::code(&ada.secret, last + 1);
    let replayed = totp::code(&ada.secret, last);
    verify(&app, json!({"mfa_token": mfa_token, "code": replayed})).await.expect(401, "unauthorized");
    let signed_in = verify(&app, json!({"mfa_token": mfa_token, "code": next})).await;
    signed_in.expect(200, "success");
    let access = signed_in.data()["access_token"].as_str().unwrap();
    app.get("/api/patients", Some(access)).await.expect(200, "success");
    // The token is spent, and the same code again is a replay even with a new token.
    verify(&app, json!({"mfa_token": mfa_token, "code": next})).await.expect(401, "unauthorized");
    let again = password_step(&app).await;
    verify(&app, json!({"mfa_token": again, "code": next})).await.expect(401, "unauthorized");
    assert!(!app.audit("auth.mfa_failed").await.is_empty());
}

#[tokio::test]
async fn recovery_codes_work_once_each() {
    let app = spawn_app().await;
    let ada = enrolled(&app).await;
    let code = ada.recovery_codes[0].clone();
    let first = password_step(&app).await;
    verify(&app, json!({"mfa_token": first, "recovery_code": code.to_uppercase()})).await.expect(200, "success");
    let second = password_step(&app).await;
    verify(&app, json!({"mfa_token": second, "recovery_code": code})).await.expect(401, "unauthorized");
    verify(&app, json!({"mfa_token": second, "recovery_code": ada.recovery_codes[1]})).await.expect(200, "success");
}

#[tokio::test]
async fn an_mfa_token_is_spent_after_five_wrong_codes_and_wrong_codes_count_towards_throttling() {
    let app = spawn_app().await;
    let ada = enrolled(&app).await;
    let mfa_token = password_step(&app).await;
    let last = last_step(&app).await;
    let wrong = totp::code(&ada.secret, last + 7);
    for _ in 0..5 {
        verify(&app, json!({"mfa_token": mfa_token, "code": wrong})).await.expect(401, "unauthorized");
    }
    // Spent: even the right code is refused now.
    let right = totp::code(&ada.secret, last + 1);
    verify(&app, json!({"mfa_token": mfa_token, "code": right})).await.expect(401, "unauthorized");
    // Five wrong codes are five failed logins for the email.
    app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": PASSWORD}), None)
        .await
        .expect(429, "rate_limited");
    assert_eq!(app.audit("auth.mfa_failed").await.len(), 5);
}

#[tokio::test]
async fn a_stale_mfa_token_and_bad_input_are_refused() {
    let app = spawn_app().await;
    let ada = enrolled(&app).await;
    let mfa_token = password_step(&app).await;
    app.sql().await.execute("UPDATE mfa_challenges SET expires_at = now() - interval '1 second'", &[]).await.unwrap();
    let right = totp::code(&ada.secret, last_step(&app).await + 1);
    verify(&app, json!({"mfa_token": mfa_token, "code": right})).await.expect(401, "unauthorized");
    for bad in [
        json!({"mfa_token": "x", "code": "123456", "recovery_code": "abc"}),
        json!({"mfa_token": "x"}),
        json!({"code": "123456"}),
        json!({"mfa_token": "x", "code": 123456}),
    ] {
        let r = verify(&app, bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {:#}", r.body);
    }
}

#[tokio::test]
async fn turning_mfa_off_needs_the_password_and_a_fresh_code() {
    let app = spawn_app().await;
    let ada = enrolled(&app).await;
    let last = last_step(&app).await;
    let next = totp::code(&ada.secret, last + 1);
    let path = "/api/auth/mfa/disable";
    app.post(path, &json!({"password": "wrong-password", "code": next}), Some(&ada.token))
        .await
        .expect(403, "forbidden");
    let spent = totp::code(&ada.secret, last);
    app.post(path, &json!({"password": PASSWORD, "code": spent}), Some(&ada.token)).await.expect(403, "forbidden");
    app.post(path, &json!({"password": PASSWORD}), Some(&ada.token)).await.expect(400, "invalid");
    app.post(path, &json!({"password": PASSWORD, "code": next}), Some(&ada.token)).await.expect(200, "updated");
    assert_eq!(app.get("/api/auth/me", Some(&ada.token)).await.data()["mfa_enabled"], false);
    let login = app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": PASSWORD}), None).await;
    assert!(login.data()["access_token"].is_string(), "one step again: {:#}", login.body);
    app.post(path, &json!({"password": PASSWORD, "code": next}), Some(&ada.token)).await.expect(409, "conflict");
    let outcomes: Vec<String> = app.audit("auth.mfa_disabled").await.into_iter().map(|e| e.2).collect();
    assert_eq!(outcomes, ["denied", "denied", "success"]);
}

#[tokio::test]
async fn a_recovery_code_can_turn_mfa_off() {
    let app = spawn_app().await;
    let ada = enrolled(&app).await;
    let body = json!({"password": PASSWORD, "recovery_code": ada.recovery_codes[3]});
    app.post("/api/auth/mfa/disable", &body, Some(&ada.token)).await.expect(200, "updated");
    let codes: i64 = app.sql().await.query_one("SELECT count(*) FROM mfa_recovery_codes", &[]).await.unwrap().get(0);
    assert_eq!(codes, 0, "the recovery codes go with it");
}

/// A deployment without a data key offers no MFA: a clear 503 that names what is
/// missing (not a generic 500), and health says so while staying up.
#[tokio::test]
async fn without_a_data_key_mfa_answers_503_not_configured_and_health_reports_it() {
    let url = api_tests::fresh_database().await;
    let app = TestApp::with_settings(api_tests::settings(&url, &[("DATA_KEY", "")]), url);
    let token = app.user_token("ada@example.com").await;
    let enrol = app.post("/api/auth/mfa/totp", &json!({}), Some(&token)).await;
    enrol.expect(503, "failed");
    let message = enrol.body["message"].as_str().unwrap();
    assert!(message.contains("not configured"), "{message}");
    assert!(enrol.headers.get("retry-after").is_none(), "retrying will not help");

    let health = app.get("/api/health", None).await;
    health.expect(200, "success");
    assert_eq!(health.data()["database"], "ok");
    assert_eq!(health.data()["mfa"], "not_configured");
    assert_eq!(health.data()["degraded"], json!(["mfa", "mail"]));
}
