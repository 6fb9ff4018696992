//! Sessions that end at once: every access token names its session, and every
//! authenticated statement - on every function - refuses a session that was revoked,
//! went idle, or whose user was disabled, on the very next request. Also the sessions
//! routes, the idle logoff, and disabling accounts.

use api_tests::{PASSWORD, TestApp, session_of, spawn_app};
use serde_json::{Value, json};

/// One authenticated request to each function that takes a user's token.
async fn every_function_answers(app: &TestApp, token: &str) -> Vec<(String, u16)> {
    let mut answers = Vec::new();
    for path in ["/api/auth/me", "/api/patients", "/api/doctors", "/api/mappings", "/api/auth/sessions"] {
        answers.push((path.to_string(), app.get(path, Some(token)).await.status.as_u16()));
    }
    answers
}

fn all(answers: &[(String, u16)], status: u16) -> bool {
    answers.iter().all(|(_, s)| *s == status)
}

async fn login(app: &TestApp, email: &str) -> Value {
    let response = app.post("/api/auth/login", &json!({"email": email, "password": PASSWORD}), None).await;
    response.expect(200, "success");
    response.data().clone()
}

fn access(bundle: &Value) -> &str {
    bundle["access_token"].as_str().unwrap()
}

#[tokio::test]
async fn logout_ends_the_session_s_access_tokens_on_the_next_request_everywhere() {
    let app = spawn_app().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    let other = login(&app, "ada@example.com").await;
    assert!(all(&every_function_answers(&app, access(&bundle)).await, 200));

    app.post("/api/auth/logout", &json!({"refresh_token": bundle["refresh_token"]}), None).await.expect(200, "success");
    let answers = every_function_answers(&app, access(&bundle)).await;
    assert!(all(&answers, 401), "{answers:?}");
    let refused = app.get("/api/patients", Some(access(&bundle))).await;
    assert_eq!(refused.body["message"], "The session has ended; sign in again.");
    // The other session is untouched.
    assert!(all(&every_function_answers(&app, access(&other)).await, 200));
}

#[tokio::test]
async fn an_admin_s_ended_session_is_refused_by_the_admin_function_too() {
    let app = spawn_app().await;
    let admin = app.admin_token("admin@example.com").await;
    app.get("/api/admin/users", Some(&admin)).await.expect(200, "success");
    app.get("/api/admin/audit", Some(&admin)).await.expect(200, "success");
    app.post("/api/auth/logout-all", &json!({}), Some(&admin)).await.expect(200, "success");
    for path in
        ["/api/admin/users", "/api/admin/audit", "/api/admin/patients", "/api/admin/doctors", "/api/admin/mappings"]
    {
        app.get(path, Some(&admin)).await.expect(401, "unauthorized");
    }
}

#[tokio::test]
async fn a_refused_statement_changes_nothing_and_records_nothing() {
    let app = spawn_app().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    let patient = app.create_patient(access(&bundle), "Grace").await;
    let path = format!("/api/patients/{}", patient["id"].as_str().unwrap());
    app.post("/api/auth/logout-all", &json!({}), Some(access(&bundle))).await.expect(200, "success");

    let events_before = app.audit("patient.update").await.len();
    app.put(&path, &json!({"notes": "written after logout"}), Some(access(&bundle))).await.expect(401, "unauthorized");
    app.delete(&path, Some(access(&bundle))).await.expect(401, "unauthorized");
    app.post("/api/patients", &json!({"name": "X", "date_of_birth": "1990-01-01"}), Some(access(&bundle)))
        .await
        .expect(401, "unauthorized");
    let sql = app.sql().await;
    let notes: Option<String> = sql.query_one("SELECT notes FROM patients", &[]).await.unwrap().get(0);
    assert_eq!(notes, None);
    let patients: i64 = sql.query_one("SELECT count(*) FROM patients", &[]).await.unwrap().get(0);
    assert_eq!(patients, 1);
    assert_eq!(app.audit("patient.update").await.len(), events_before);
    let sink: i64 = sql.query_one("SELECT count(*) FROM session_guard", &[]).await.unwrap().get(0);
    assert_eq!(sink, 0, "the guard's table is never written");
}

#[tokio::test]
async fn logout_all_ends_every_session_and_their_refresh_tokens() {
    let app = spawn_app().await;
    let first = app.register("Ada", "ada@example.com").await;
    let second = login(&app, "ada@example.com").await;
    app.post("/api/auth/logout-all", &json!({}), Some(access(&second))).await.expect(200, "success");
    for bundle in [&first, &second] {
        assert!(all(&every_function_answers(&app, access(bundle)).await, 401));
        app.post("/api/auth/refresh", &json!({"refresh_token": bundle["refresh_token"]}), None)
            .await
            .expect(401, "unauthorized");
    }
    assert_eq!(app.audit("auth.session_revoked").await.len(), 2);
    // Signing in again works.
    assert!(all(&every_function_answers(&app, access(&login(&app, "ada@example.com").await)).await, 200));
}

#[tokio::test]
async fn sessions_are_listed_and_one_can_be_ended_but_not_someone_else_s() {
    let app = spawn_app().await;
    let first = app.register("Ada", "ada@example.com").await;
    let second = login(&app, "ada@example.com").await;
    let grace = app.register("Grace", "grace@example.com").await;

    let list = app.get("/api/auth/sessions", Some(access(&second))).await;
    list.expect(200, "success");
    let items = list.data()["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let current: Vec<_> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], session_of(access(&second)));
    for field in ["created_at", "last_used_at", "expires_at"] {
        assert!(items[0][field].is_string(), "{field}");
    }

    let grace_session = session_of(access(&grace));
    app.delete(&format!("/api/auth/sessions/{grace_session}"), Some(access(&second))).await.expect(404, "not_found");
    app.get("/api/auth/me", Some(access(&grace))).await.expect(200, "success");
    app.delete(&format!("/api/auth/sessions/{}", uuid::Uuid::now_v7()), Some(access(&second)))
        .await
        .expect(404, "not_found");
    app.delete("/api/auth/sessions/not-a-uuid", Some(access(&second))).await.expect(400, "invalid");

    let first_session = session_of(access(&first));
    let ended = app.delete(&format!("/api/auth/sessions/{first_session}"), Some(access(&second))).await;
    ended.expect(200, "deleted");
    assert_eq!(ended.data()["id"], first_session);
    app.get("/api/auth/me", Some(access(&first))).await.expect(401, "unauthorized");
    app.get("/api/auth/me", Some(access(&second))).await.expect(200, "success");
    // Ended once is gone: a second delete finds no live session.
    app.delete(&format!("/api/auth/sessions/{first_session}"), Some(access(&second))).await.expect(404, "not_found");
    let list = app.get("/api/auth/sessions", Some(access(&second))).await;
    assert_eq!(list.data()["items"].as_array().unwrap().len(), 1);

    // Ending the calling session is allowed, and is the end of it.
    let own = session_of(access(&second));
    app.delete(&format!("/api/auth/sessions/{own}"), Some(access(&second))).await.expect(200, "deleted");
    app.get("/api/auth/me", Some(access(&second))).await.expect(401, "unauthorized");
}

#[tokio::test]
async fn an_idle_session_is_over_for_access_and_refresh_tokens() {
    let app = spawn_app().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    let sql = app.sql().await;
    sql.execute("UPDATE sessions SET last_used_at = now() - interval '61 minutes'", &[]).await.unwrap();
    app.get("/api/patients", Some(access(&bundle))).await.expect(401, "unauthorized");
    app.post("/api/auth/refresh", &json!({"refresh_token": bundle["refresh_token"]}), None)
        .await
        .expect(401, "unauthorized");

    // Just inside the limit it still works, and the refresh restarts the idle clock.
    let fresh = login(&app, "ada@example.com").await;
    let sid = session_of(access(&fresh));
    let id: uuid::Uuid = sid.parse().unwrap();
    sql.execute("UPDATE sessions SET last_used_at = now() - interval '59 minutes' WHERE id = $1", &[&id])
        .await
        .unwrap();
    let refreshed = app.post("/api/auth/refresh", &json!({"refresh_token": fresh["refresh_token"]}), None).await;
    refreshed.expect(200, "success");
    assert_eq!(session_of(refreshed.data()["access_token"].as_str().unwrap()), sid, "a refresh stays in its session");
    let idle: f64 = sql
        .query_one("SELECT extract(epoch FROM now() - last_used_at)::float8 FROM sessions WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert!(idle < 5.0, "the refresh moved last_used_at ({idle} s ago)");
}

/// A process (a Lambda instance, the local server) writes a session's `last_used_at` at
/// most once a minute, not once a request; a process that has not touched the session
/// this minute moves a stale clock on its first request.
#[tokio::test]
async fn requests_move_last_used_at_at_most_once_a_minute() {
    let app = spawn_app().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    let id: uuid::Uuid = session_of(access(&bundle)).parse().unwrap();
    let sql = app.sql().await;
    let last_used = || async {
        let row = sql.query_one("SELECT last_used_at FROM sessions WHERE id = $1", &[&id]).await.unwrap();
        row.get::<_, time::OffsetDateTime>(0)
    };
    sql.execute("UPDATE sessions SET last_used_at = now() - interval '2 minutes' WHERE id = $1", &[&id]).await.unwrap();
    let stale = last_used().await;
    app.get("/api/doctors", Some(access(&bundle))).await.expect(200, "success");
    let moved = last_used().await;
    assert!(moved > stale + time::Duration::seconds(60), "{stale} -> {moved}");

    // Within the minute, requests write nothing, even with the clock set back.
    sql.execute("UPDATE sessions SET last_used_at = now() - interval '2 minutes' WHERE id = $1", &[&id]).await.unwrap();
    let before = last_used().await;
    for path in ["/api/patients", "/api/doctors", "/api/auth/me"] {
        app.get(path, Some(access(&bundle))).await.expect(200, "success");
    }
    assert_eq!(last_used().await, before, "no write per request");

    // Another process (here: a second app over the same database) moves it at once.
    let other = TestApp::with_settings(api_tests::settings(&app.database_url, &[]), app.database_url.clone());
    other.get("/api/patients", Some(access(&bundle))).await.expect(200, "success");
    assert!(last_used().await > before + time::Duration::seconds(60));
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_at_once_and_refuses_their_login() {
    let app = spawn_app().await;
    let admin = app.admin_token("admin@example.com").await;
    let ada = app.register("Ada", "ada@example.com").await;
    let ada_id = ada["user"]["id"].as_str().unwrap();
    let path = format!("/api/admin/users/{ada_id}/status");

    let disabled = app.put(&path, &json!({"status": "disabled"}), Some(&admin)).await;
    disabled.expect(200, "updated");
    assert_eq!(disabled.data()["status"], "disabled");
    assert!(all(&every_function_answers(&app, access(&ada)).await, 401));
    app.post("/api/auth/refresh", &json!({"refresh_token": ada["refresh_token"]}), None)
        .await
        .expect(401, "unauthorized");
    // A correct password is 403; a wrong one stays the usual 401.
    let refused = app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": PASSWORD}), None).await;
    refused.expect(403, "forbidden");
    app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": "wrong-password"}), None)
        .await
        .expect(401, "unauthorized");
    let again = app.put(&path, &json!({"status": "disabled"}), Some(&admin)).await;
    again.expect(200, "updated");
    assert_eq!(again.body["message"], "The user already had this status.");

    app.put(&path, &json!({"status": "active"}), Some(&admin)).await.expect(200, "updated");
    // The old sessions stay ended; a new login works.
    app.get("/api/auth/me", Some(access(&ada))).await.expect(401, "unauthorized");
    assert!(all(&every_function_answers(&app, access(&login(&app, "ada@example.com").await)).await, 200));
    let events = app.audit("user.status_changed").await;
    assert_eq!(events.iter().map(|e| e.2.as_str()).collect::<Vec<_>>(), ["success", "success", "success"]);
}

#[tokio::test]
async fn an_admin_cannot_disable_themselves_or_the_last_active_admin() {
    let app = spawn_app().await;
    let first = app.admin_token("first@example.com").await;
    let me = app.get("/api/auth/me", Some(&first)).await.data()["id"].as_str().unwrap().to_string();
    let own = app.put(&format!("/api/admin/users/{me}/status"), &json!({"status": "disabled"}), Some(&first)).await;
    own.expect(409, "conflict");
    assert_eq!(own.body["message"], "You cannot disable your own account.");

    let second = app.admin_token("second@example.com").await;
    let second_id = app.get("/api/auth/me", Some(&second)).await.data()["id"].as_str().unwrap().to_string();
    // Two active admins: the first may disable the second...
    let path = format!("/api/admin/users/{second_id}/status");
    app.put(&path, &json!({"status": "disabled"}), Some(&first)).await.expect(200, "updated");
    app.put(&path, &json!({"status": "active"}), Some(&first)).await.expect(200, "updated");
    // ...but of two admins disabling each other at once, one is refused.
    let second = login(&app, "second@example.com").await;
    let (disable, own_path) = (json!({"status": "disabled"}), format!("/api/admin/users/{me}/status"));
    let (a, b) =
        tokio::join!(app.put(&path, &disable, Some(&first)), app.put(&own_path, &disable, Some(access(&second))));
    // The loser is refused by the last-admin rule (409) or, if the winner disabled it
    // before its statement began, by its own session guard (401).
    let statuses = [a.status.as_u16(), b.status.as_u16()];
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| [200, 401, 409].contains(s)), "{statuses:?}");
    let active: i64 = app
        .sql()
        .await
        .query_one("SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(active, 1);

    for bad in [json!({"status": "gone"}), json!({}), json!({"status": "active", "role": "admin"})] {
        let r = app.put(&path, &bad, Some(&first)).await;
        assert_eq!(r.status, 400, "{bad}: {:#}", r.body);
    }
    let user = app.user_token("user@example.com").await;
    app.put(&path, &json!({"status": "disabled"}), Some(&user)).await.expect(403, "forbidden");
}

/// The contract's race rules: 20 concurrent wrong passwords for one email are at most
/// 5 × 401 and the rest 429; 32 concurrent correct logins of one account all succeed.
#[tokio::test]
async fn throttling_holds_under_concurrency_and_never_refuses_concurrent_correct_logins() {
    let app = spawn_app().await;
    app.register("Ada", "ada@example.com").await;
    let correct = json!({"email": "ada@example.com", "password": PASSWORD});
    let logins: Vec<_> = (0..32).map(|_| app.post("/api/auth/login", &correct, None)).collect();
    let statuses: Vec<u16> = futures::future::join_all(logins).await.iter().map(|r| r.status.as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let wrong = json!({"email": "ada@example.com", "password": "not-the-password"});
    let guesses: Vec<_> = (0..20).map(|_| app.post("/api/auth/login", &wrong, None)).collect();
    let statuses: Vec<u16> = futures::future::join_all(guesses).await.iter().map(|r| r.status.as_u16()).collect();
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert!(unauthorized <= 5 && unauthorized + limited == 20, "{statuses:?}");
    let failures: i64 = app.sql().await.query_one("SELECT count(*) FROM login_failures", &[]).await.unwrap().get(0);
    assert_eq!(failures as usize, unauthorized, "every 401 is a recorded failure, and only those");
    // And now even the right password waits.
    app.post("/api/auth/login", &correct, None).await.expect(429, "rate_limited");
}
