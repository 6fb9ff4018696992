//! Accounts a clinic can run: changing a password ends every session.

use api_tests::{PASSWORD, session_of, spawn_app};
use serde_json::json;

#[tokio::test]
async fn a_password_change_ends_every_session_and_starts_a_new_one() {
    let app = spawn_app().await;
    let first = app.register("Ada", "ada@example.com").await;
    let token = first["access_token"].as_str().unwrap();
    let other = app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": PASSWORD}), None).await;
    let other_token = other.data()["access_token"].as_str().unwrap();

    let change = json!({"current_password": PASSWORD, "new_password": "a-brand-new-password"});
    let changed = app.put("/api/auth/password", &change, Some(token)).await;
    changed.expect(200, "updated");
    let bundle = changed.data();
    assert_eq!(bundle["user"]["email"], "ada@example.com");
    let new_token = bundle["access_token"].as_str().unwrap();
    assert_ne!(session_of(new_token), session_of(token));

    for old in [token, other_token] {
        app.get("/api/patients", Some(old)).await.expect(401, "unauthorized");
    }
    app.post("/api/auth/refresh", &json!({"refresh_token": first["refresh_token"]}), None)
        .await
        .expect(401, "unauthorized");
    app.get("/api/patients", Some(new_token)).await.expect(200, "success");
    app.post("/api/auth/refresh", &json!({"refresh_token": bundle["refresh_token"]}), None)
        .await
        .expect(200, "success");

    app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": PASSWORD}), None)
        .await
        .expect(401, "unauthorized");
    app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": "a-brand-new-password"}), None)
        .await
        .expect(200, "success");
    let events = app.audit("auth.password_changed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].2, "success");
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_a_valid_new_one() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let wrong = app
        .put(
            "/api/auth/password",
            &json!({"current_password": "not-it", "new_password": "another-password"}),
            Some(&token),
        )
        .await;
    wrong.expect(403, "forbidden");
    app.get("/api/patients", Some(&token)).await.expect(200, "success");
    assert_eq!(app.audit("auth.password_changed").await[0].2, "denied");

    let same = app
        .put("/api/auth/password", &json!({"current_password": PASSWORD, "new_password": PASSWORD}), Some(&token))
        .await;
    same.expect(400, "invalid");
    assert_eq!(same.error_fields(), ["new_password"]);
    let short = app
        .put("/api/auth/password", &json!({"current_password": PASSWORD, "new_password": "short"}), Some(&token))
        .await;
    short.expect(400, "invalid");
    assert_eq!(short.error_fields(), ["new_password"]);
    app.put("/api/auth/password", &json!({"new_password": "another-password"}), Some(&token))
        .await
        .expect(400, "missing");
    app.put(
        "/api/auth/password",
        &json!({"current_password": PASSWORD, "new_password": "x".repeat(20), "extra": 1}),
        Some(&token),
    )
    .await
    .expect(400, "invalid");
    app.put("/api/auth/password", &json!({"current_password": PASSWORD, "new_password": "another-password"}), None)
        .await
        .expect(401, "unauthorized");
    // Nothing above changed the password.
    app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": PASSWORD}), None)
        .await
        .expect(200, "success");
}
