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

#[tokio::test]
async fn prune_removes_only_what_is_past_its_window() {
    let app = spawn_app().await;
    let ada = app.register("Ada", "ada@example.com").await;
    let bob = app.register("Bob", "bob@example.com").await;
    app.post("/api/auth/logout", &json!({"refresh_token": bob["refresh_token"]}), None).await.expect(200, "success");
    let sql = app.sql().await;
    sql.batch_execute(
        "UPDATE email_tokens SET expires_at = now() - interval '1 second' WHERE email = 'bob@example.com';
         INSERT INTO login_failures (email_hash, failed_at)
         VALUES ('\\x01', now() - interval '16 minutes'), ('\\x02', now() - interval '1 minute');
         INSERT INTO mfa_challenges (token_hash, user_id, expires_at)
         SELECT '\\x03'::bytea, id, now() - interval '1 second' FROM users WHERE email = 'bob@example.com'
         UNION ALL SELECT '\\x04'::bytea, id, now() + interval '5 minutes' FROM users WHERE email = 'bob@example.com';
         INSERT INTO oauth_apps (id, created_by, name, redirect_uris, confidential, backend, scopes)
         SELECT '00000000-0000-7000-8000-000000000001', id, 'App', '{}', false, false, 'user/*.rs'
         FROM users WHERE email = 'ada@example.com';
         -- A code is kept a day past its expiry (its reuse must still find it), an
         -- assertion's jti until its exp.
         INSERT INTO oauth_codes (code_hash, client_id, user_id, redirect_uri, scope, code_challenge, expires_at)
         SELECT h, '00000000-0000-7000-8000-000000000001', id, 'http://localhost/cb', 'user/*.rs', 'c', at
         FROM users, (VALUES ('\\x05'::bytea, now() - interval '25 hours'), ('\\x06', now() - interval '23 hours')) v (h, at)
         WHERE email = 'ada@example.com';
         INSERT INTO oauth_assertions (client_id, jti, expires_at)
         VALUES ('00000000-0000-7000-8000-000000000001', 'spent', now() - interval '1 second'),
                ('00000000-0000-7000-8000-000000000001', 'live', now() + interval '4 minutes');
         -- A bulk export is kept a day.
         INSERT INTO export_jobs (user_id, role, types, request, transaction_time, state)
         SELECT id, 'user', '{Patient}', 'x', at, 'done'
         FROM users, (VALUES (now() - interval '25 hours'), (now() - interval '23 hours')) v (at)
         WHERE email = 'ada@example.com';",
    )
    .await
    .unwrap();

    let pruned = ops::prune(&sql).await.unwrap();
    let expected = ops::Pruned {
        sessions: 1,
        refresh_tokens: 0,
        email_tokens: 1,
        login_failures: 1,
        mfa_challenges: 1,
        oauth_codes: 1,
        oauth_assertions: 1,
        exports: 1,
        mail_discarded: 0,
    };
    assert_eq!(pruned, expected);
    let left = |table: &'static str| {
        let sql = &sql;
        async move { sql.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!((left("sessions").await, left("refresh_tokens").await), (1, 1), "Ada's session and token stay");
    assert_eq!(left("email_tokens").await, 1);
    assert_eq!(left("login_failures").await, 1);
    assert_eq!(left("mfa_challenges").await, 1);
    assert_eq!((left("oauth_codes").await, left("oauth_assertions").await), (1, 1));
    assert_eq!(left("export_jobs").await, 1);
    app.get("/api/patients", ada["access_token"].as_str()).await.expect(200, "success");
    app.post("/api/auth/refresh", &json!({"refresh_token": ada["refresh_token"]}), None).await.expect(200, "success");
    // A second prune finds nothing more.
    let again = ops::prune(&sql).await.unwrap();
    assert_eq!(
        again,
        ops::Pruned {
            sessions: 0,
            refresh_tokens: 0,
            email_tokens: 0,
            login_failures: 0,
            mfa_challenges: 0,
            oauth_codes: 0,
            oauth_assertions: 0,
            exports: 0,
            mail_discarded: 0
        }
    );
}
