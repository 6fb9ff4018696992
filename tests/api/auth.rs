//! Register, login, throttling, refresh rotation and reuse, logout, me.

use api_tests::{PASSWORD, spawn_app};
use futures::future::join_all;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn register_answers_with_a_token_bundle_and_stores_only_a_hash() {
    let app = spawn_app().await;
    let body = json!({"name": "  Ada Lovelace ", "email": "Ada@Example.COM", "password": PASSWORD});
    let response = app.post("/api/auth/register", &body, None).await;
    response.expect(201, "created");
    let data = response.data();
    assert_eq!(data["token_type"], "Bearer");
    assert_eq!(data["expires_in"], 900);
    assert!(data["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(data["refresh_token"].as_str().unwrap().len() >= 43);
    let user = &data["user"];
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["role"], "user");
    let mut keys: Vec<_> = user.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    // Part 2 of the contract added email_verified, mfa_enabled and status.
    assert_eq!(keys, ["created_at", "email", "email_verified", "id", "mfa_enabled", "name", "role", "status"]);

    let id: Uuid = user["id"].as_str().unwrap().parse().unwrap();
    let row = app.sql().await.query_one("SELECT password_hash FROM users WHERE id = $1", &[&id]).await.unwrap();
    let hash: String = row.get(0);
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    assert_eq!(app.audit("auth.register").await, vec![(Some(id), Some(id), "success".into())]);
}

#[tokio::test]
async fn register_refuses_a_duplicate_email_whatever_its_case() {
    let app = spawn_app().await;
    app.register("Ada", "ada@example.com").await;
    let body = json!({"name": "Other", "email": " ADA@example.com", "password": PASSWORD});
    let response = app.post("/api/auth/register", &body, None).await;
    response.expect(409, "conflict");
    assert_eq!(response.error_fields(), ["email"]);
    let count: i64 = app.sql().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(count, 1);
    let outcomes: Vec<String> = app.audit("auth.register").await.into_iter().map(|e| e.2).collect();
    assert_eq!(outcomes, ["success", "denied"]);
}

#[tokio::test]
async fn racing_registrations_of_one_email_make_exactly_one_account() {
    let app = spawn_app().await;
    let body = json!({"name": "Racer", "email": "race@example.com", "password": PASSWORD});
    let attempts = (0..8).map(|_| app.post("/api/auth/register", &body, None));
    let statuses: Vec<u16> = join_all(attempts).await.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 7, "{statuses:?}");
    let sql = app.sql().await;
    let users: i64 = sql.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    let tokens: i64 = sql.query_one("SELECT count(*) FROM refresh_tokens", &[]).await.unwrap().get(0);
    assert_eq!((users, tokens), (1, 1));
}

#[tokio::test]
async fn login_succeeds_with_any_case_of_the_email_and_is_audited() {
    let app = spawn_app().await;
    let registered = app.register("Ada", "ada@example.com").await;
    let response =
        app.post("/api/auth/login", &json!({"email": " ADA@Example.com ", "password": PASSWORD}), None).await;
    response.expect(200, "success");
    assert_eq!(response.data()["user"], registered["user"]);
    assert_ne!(response.data()["refresh_token"], registered["refresh_token"]);
    let id: Uuid = registered["user"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.audit("auth.login").await, vec![(Some(id), Some(id), "success".into())]);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    let registered = app.register("Ada", "ada@example.com").await;
    let wrong_password =
        app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": "not-the-password"}), None).await;
    let unknown_email =
        app.post("/api/auth/login", &json!({"email": "nobody@example.com", "password": PASSWORD}), None).await;
    wrong_password.expect(401, "unauthorized");
    unknown_email.expect(401, "unauthorized");
    assert_eq!(wrong_password.body, unknown_email.body);
    let id: Uuid = registered["user"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        app.audit("auth.login_failed").await,
        vec![(Some(id), Some(id), "denied".into()), (None, None, "denied".into())]
    );
}

#[tokio::test]
async fn five_failures_in_fifteen_minutes_throttle_that_email_only() {
    let app = spawn_app().await;
    app.register("Ada", "ada@example.com").await;
    app.register("Bob", "bob@example.com").await;
    let wrong = json!({"email": "ada@example.com", "password": "wrong-password"});
    for _ in 0..5 {
        app.post("/api/auth/login", &wrong, None).await.expect(401, "unauthorized");
    }
    // Now even the right password is refused, with a Retry-After.
    let right = json!({"email": "ADA@example.com", "password": PASSWORD});
    let throttled = app.post("/api/auth/login", &right, None).await;
    throttled.expect(429, "rate_limited");
    let retry_after: u64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(app.audit("auth.login_throttled").await.len(), 1);
    // Another email is unaffected.
    app.post("/api/auth/login", &json!({"email": "bob@example.com", "password": PASSWORD}), None)
        .await
        .expect(200, "success");
    // The table holds no email address, only its hash.
    let sql = app.sql().await;
    let stored: i64 = sql
        .query_one("SELECT count(*) FROM login_failures WHERE position('ada' in encode(email_hash, 'escape')) > 0", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0);
    // Once the failures are older than the window, login works again.
    sql.execute("UPDATE login_failures SET failed_at = now() - interval '16 minutes'", &[]).await.unwrap();
    app.post("/api/auth/login", &right, None).await.expect(200, "success");
}

#[tokio::test]
async fn a_successful_login_clears_earlier_failures() {
    let app = spawn_app().await;
    app.register("Ada", "ada@example.com").await;
    let wrong = json!({"email": "ada@example.com", "password": "wrong-password"});
    for _ in 0..4 {
        app.post("/api/auth/login", &wrong, None).await.expect(401, "unauthorized");
    }
    app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": PASSWORD}), None)
        .await
        .expect(200, "success");
    for _ in 0..4 {
        app.post("/api/auth/login", &wrong, None).await.expect(401, "unauthorized");
    }
    app.post("/api/auth/login", &wrong, None).await.expect(401, "unauthorized");
    app.post("/api/auth/login", &wrong, None).await.expect(429, "rate_limited");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = spawn_app().await;
    let first = app.register("Ada", "ada@example.com").await;
    let first_token = first["refresh_token"].clone();

    let second = app.post("/api/auth/refresh", &json!({"refresh_token": first_token}), None).await;
    second.expect(200, "success");
    let second_token = second.data()["refresh_token"].clone();
    assert_ne!(second_token, first_token);
    assert_eq!(second.data()["user"], first["user"]);
    app.get("/api/auth/me", second.data()["access_token"].as_str()).await.expect(200, "success");

    // The rotated token presented again: theft. It fails, and so does the live one.
    let reuse = app.post("/api/auth/refresh", &json!({"refresh_token": first_token}), None).await;
    reuse.expect(401, "unauthorized");
    app.post("/api/auth/refresh", &json!({"refresh_token": second_token}), None).await.expect(401, "unauthorized");
    let id: Uuid = first["user"]["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.audit("auth.refresh_reused").await, vec![(Some(id), Some(id), "denied".into())]);

    // Other sessions (families) of the same user are untouched.
    let other = app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": PASSWORD}), None).await;
    app.post("/api/auth/refresh", &json!({"refresh_token": other.data()["refresh_token"]}), None)
        .await
        .expect(200, "success");
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_let_exactly_one_through() {
    let app = spawn_app().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    let body = json!({"refresh_token": bundle["refresh_token"]});
    let attempts = (0..6).map(|_| app.post("/api/auth/refresh", &body, None));
    let statuses: Vec<u16> = join_all(attempts).await.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
}

#[tokio::test]
async fn refresh_refuses_unknown_expired_and_malformed_tokens() {
    let app = spawn_app().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    app.post("/api/auth/refresh", &json!({"refresh_token": "not-a-token"}), None).await.expect(401, "unauthorized");
    app.post("/api/auth/refresh", &json!({}), None).await.expect(400, "missing");
    app.post("/api/auth/refresh", &json!({"refresh_token": 42}), None).await.expect(400, "invalid");
    app.post("/api/auth/refresh", &json!({"refresh_token": "x".repeat(10_000)}), None).await.expect(400, "invalid");
    app.sql().await.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'", &[]).await.unwrap();
    app.post("/api/auth/refresh", &json!({"refresh_token": bundle["refresh_token"]}), None)
        .await
        .expect(401, "unauthorized");
}

#[tokio::test]
async fn logout_revokes_the_family_and_is_idempotent() {
    let app = spawn_app().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    let rotated = app.post("/api/auth/refresh", &json!({"refresh_token": bundle["refresh_token"]}), None).await;
    let live = rotated.data()["refresh_token"].clone();
    app.post("/api/auth/logout", &json!({"refresh_token": live}), None).await.expect(200, "success");
    app.post("/api/auth/refresh", &json!({"refresh_token": live}), None).await.expect(401, "unauthorized");
    app.post("/api/auth/logout", &json!({"refresh_token": live}), None).await.expect(200, "success");
    app.post("/api/auth/logout", &json!({"refresh_token": "never-issued"}), None).await.expect(200, "success");
    app.post("/api/auth/logout", &json!({}), None).await.expect(400, "missing");
}

#[tokio::test]
async fn a_role_change_reaches_the_user_at_the_next_refresh() {
    let app = spawn_app().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    app.sql().await.execute("UPDATE users SET role = 'admin'", &[]).await.unwrap();
    let refreshed = app.post("/api/auth/refresh", &json!({"refresh_token": bundle["refresh_token"]}), None).await;
    assert_eq!(refreshed.data()["user"]["role"], "admin");
    let me = app.get("/api/auth/me", refreshed.data()["access_token"].as_str()).await;
    assert_eq!(me.data()["role"], "admin");
}

#[tokio::test]
async fn me_answers_with_the_caller_and_refuses_a_deleted_account() {
    let app = spawn_app().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    let token = bundle["access_token"].as_str();
    let me = app.get("/api/auth/me", token).await;
    me.expect(200, "success");
    assert_eq!(me.data(), &bundle["user"]);
    app.sql().await.execute("DELETE FROM users", &[]).await.unwrap();
    app.get("/api/auth/me", token).await.expect(401, "unauthorized");
}
