//! What every route shares: health, unknown routes and methods, trailing slashes, and
//! the headers on every answer (checked for all responses in `api_tests`).

use api_tests::spawn_app;
use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::json;

#[tokio::test]
async fn health_reports_the_database() {
    let app = spawn_app().await;
    let response = app.get("/api/health", None).await;
    response.expect(200, "success");
    assert_eq!(response.data()["database"], "ok");
}

#[tokio::test]
async fn health_is_503_when_the_database_is_unreachable() {
    // A port nobody listens on: connect fails fast, and the answer is 503, not 500.
    let url = "postgres://postgres:postgres@127.0.0.1:1/none?sslmode=disable";
    let settings = api_tests::settings(url, &[("DB_CONNECT_TIMEOUT_MS", "500")]);
    let app = api_tests::TestApp::with_settings(settings, url.into());
    let response = app.get("/api/health", None).await;
    response.expect(503, "failed");
    assert_eq!(response.headers["retry-after"], "2");
    let login = app.post("/api/auth/login", &json!({"email": "a@b.co", "password": "x"}), None).await;
    login.expect(503, "failed");
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_the_envelope() {
    let app = spawn_app().await;
    app.get("/api/nothing-here", None).await.expect(404, "not_found");
    app.get("/", None).await.expect(404, "not_found");
    app.get("/api/auth", None).await.expect(404, "not_found");
    // A 405 names the methods that would work (RFC 9110 requires `Allow` on a 405).
    let wrong_method = app.get("/api/auth/login", None).await;
    wrong_method.expect(405, "invalid");
    assert_eq!(wrong_method.headers["allow"], "POST");
    let wrong_method = app.call(Method::DELETE, "/api/auth/me", None, None).await;
    wrong_method.expect(405, "invalid");
    assert_eq!(wrong_method.headers["allow"], "GET,HEAD");
    let wrong_method = app.post("/api/health", &json!({}), None).await;
    wrong_method.expect(405, "invalid");
    assert_eq!(wrong_method.headers["allow"], "GET,HEAD");
}

#[tokio::test]
async fn paths_work_with_and_without_a_trailing_slash() {
    let app = spawn_app().await;
    app.get("/api/health/", None).await.expect(200, "success");
    let body = json!({"name": "Ada", "email": "ada@example.com", "password": api_tests::PASSWORD});
    let created = app.post("/api/auth/register/", &body, None).await;
    created.expect(201, "created");
    app.get("/api/auth/me/", created.data()["access_token"].as_str()).await.expect(200, "success");
}

#[tokio::test]
async fn every_response_has_its_own_request_id_which_audit_events_carry() {
    let app = spawn_app().await;
    let a = app.get("/api/health", None).await;
    let b = app.get("/api/nothing", None).await;
    assert_ne!(a.headers["x-request-id"], b.headers["x-request-id"]);
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/auth/register")
        .header("content-type", "application/json")
        .body(Body::from(json!({"name": "A", "email": "a@example.com", "password": api_tests::PASSWORD}).to_string()))
        .unwrap();
    let response = app.send(request).await;
    let request_id = response.headers["x-request-id"].to_str().unwrap().to_string();
    let stored: String = app
        .sql()
        .await
        .query_one("SELECT request_id FROM audit_trail WHERE action = 'auth.register'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, request_id);
}

#[tokio::test]
async fn health_reports_every_component_ok_when_configured() {
    let url = api_tests::fresh_database().await;
    let app =
        api_tests::TestApp::with_settings(api_tests::settings(&url, &[("MAIL_DIR", "/tmp/healthcare-mail")]), url);
    let response = app.get("/api/health", None).await;
    response.expect(200, "success");
    assert_eq!(response.data(), &json!({"database": "ok", "mfa": "ok", "mail": "ok", "degraded": []}));
}

/// Logs written to a file or a pipe (`scripts/dev > dev.log`) carry no colour codes.
#[test]
fn the_local_server_logs_plain_text_when_not_on_a_terminal() {
    let output = std::process::Command::new(api_tests::lambda::binary("local-api"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(!output.status.success(), "without JWT_SECRET it must refuse to start");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("ERROR") && log.contains("JWT_SECRET"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a piped log: {log:?}");
}
