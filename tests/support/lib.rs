//! Test support: `spawn_app` gives each test its own fresh database, cloned from a
//! template that already has the migrations (CREATE DATABASE ... TEMPLATE is fast), and
//! the whole API Router over it, driven in-process. Every response is checked against
//! the contract's invariants (envelope shape, security headers) on the way back, so each
//! test asserts those for free.
//!
//! Needs `TEST_PG_BASE` (a superuser URL without a database), which `scripts/test` sets.

pub mod fhir;
pub mod lambda;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use shared::http::App;
use shared::{AppState, Settings};
use tokio::sync::OnceCell;
use tokio_postgres::{Client, NoTls};
use tower::ServiceExt;
use uuid::Uuid;

pub const JWT_SECRET: &str = "test-secret-of-at-least-32-bytes-long!!";
pub const PASSWORD: &str = "correct-horse-battery";
/// 32 bytes, base64: encrypts TOTP secrets in the tests.
pub const DATA_KEY: &str = "dGVzdC1kYXRhLWtleS1vZi0zMi1ieXRlcy1sb25nISE=";

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// The server, directly: for creating databases and for the tests' own SQL.
pub fn pg_base() -> String {
    std::env::var("TEST_PG_BASE").expect("TEST_PG_BASE is not set: run the tests through scripts/test")
}

/// What the app under test connects to: the server, or in the pooler pass a PgBouncer
/// in transaction mode in front of it (`TEST_PG_APP_BASE`), as Neon's pooled endpoint is.
pub fn app_base() -> String {
    std::env::var("TEST_PG_APP_BASE").unwrap_or_else(|_| pg_base())
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connecting to the test server");
    tokio::spawn(connection);
    client
}

/// The migrated template database, created once per schema version.
async fn template() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("template_{}", ops::fingerprint());
            let admin = connect(&format!("{}/postgres", pg_base())).await;
            // Several test processes may race to create it.
            admin.execute("SELECT pg_advisory_lock(7261)", &[]).await.unwrap();
            let exists = admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await.unwrap();
            if exists.is_none() {
                admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
                let mut client = connect(&format!("{}/{name}", pg_base())).await;
                ops::migrate(&mut client).await.expect("migrating the template");
            }
            admin.execute("SELECT pg_advisory_unlock(7261)", &[]).await.unwrap();
            name
        })
        .await
}

/// A fresh, migrated, empty database; returns the URL the app should use for it.
pub async fn fresh_database() -> String {
    let template = template().await;
    let name = format!("test_{}", Uuid::now_v7().simple());
    let admin = connect(&format!("{}/postgres", pg_base())).await;
    admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).await.unwrap();
    format!("{}/{name}?sslmode=disable", app_base())
}

/// The direct URL of the database behind an app URL.
pub fn direct_url(app_url: &str) -> String {
    app_url.replacen(&app_base(), &pg_base(), 1)
}

pub fn settings(database_url: &str, extra: &[(&str, &str)]) -> Settings {
    let mut vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), database_url.into()),
        ("JWT_SECRET".into(), JWT_SECRET.into()),
        ("DB_POOL_SIZE".into(), "4".into()),
        ("DATA_KEY".into(), DATA_KEY.into()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::from_lookup(move |key| vars.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone())).unwrap()
}

pub struct TestApp {
    pub app: App,
    pub state: AppState,
    pub database_url: String,
}

pub async fn spawn_app() -> TestApp {
    let database_url = fresh_database().await;
    TestApp::with_settings(settings(&database_url, &[]), database_url)
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    pub fn envelope_status(&self) -> &str {
        self.body["status"].as_str().unwrap_or("")
    }
    /// Asserts the HTTP status and the envelope's status word together.
    #[track_caller]
    pub fn expect(&self, status: u16, envelope: &str) -> &Self {
        assert_eq!(
            (self.status.as_u16(), self.envelope_status()),
            (status, envelope),
            "unexpected answer: {:#}",
            self.body
        );
        self
    }
    /// The fields named in `data.errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.data()["errors"]
            .as_array()
            .map(|errors| errors.iter().map(|e| e["field"].as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    }
}

impl TestApp {
    pub fn with_settings(settings: Settings, database_url: String) -> Self {
        let state = AppState::new(settings).unwrap();
        let app = shared::http::app(local_api::router(state.clone()));
        Self { app, state, database_url }
    }

    /// One function's Router alone over these settings: no bulk export worker runs in
    /// the process (the local server's), so a test runs it when it chooses.
    pub fn with_router_and_settings(
        router: fn(AppState) -> axum::Router,
        settings: Settings,
        database_url: String,
    ) -> Self {
        let state = AppState::new(settings).unwrap();
        Self { app: shared::http::app(router(state.clone())), state, database_url }
    }

    /// One function's Router alone (as its Lambda serves it), over this database.
    pub fn with_router(router: axum::Router, database_url: String) -> Self {
        let state = AppState::new(settings(&database_url, &[])).unwrap();
        Self { app: shared::http::app(router), state, database_url }
    }

    /// A direct connection to this test's database (never through the pooler), to look
    /// behind the API.
    pub async fn sql(&self) -> Client {
        connect(&direct_url(&self.database_url)).await
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        check_invariants(status, &headers, &body);
        TestResponse { status, headers, body }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>, token: Option<&str>) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(body).unwrap())),
            None => request.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.call(Method::GET, path, None, token).await
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> TestResponse {
        self.call(Method::POST, path, Some(body), token).await
    }

    pub async fn put(&self, path: &str, body: &Value, token: Option<&str>) -> TestResponse {
        self.call(Method::PUT, path, Some(body), token).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.call(Method::DELETE, path, None, token).await
    }

    /// PUT with an `If-Match` header.
    pub async fn put_if_match(&self, path: &str, body: &Value, token: &str, if_match: &str) -> TestResponse {
        let request = Request::builder()
            .method(Method::PUT)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::IF_MATCH, if_match)
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(request).await
    }

    /// Registers a user, makes them an admin in the database, and signs in again so the
    /// token carries the role.
    pub async fn admin_token(&self, email: &str) -> String {
        self.register("Admin", email).await;
        self.sql().await.execute("UPDATE users SET role = 'admin' WHERE email = $1", &[&email]).await.unwrap();
        let body = serde_json::json!({ "email": email, "password": PASSWORD });
        let response = self.post("/api/auth/login", &body, None).await;
        response.expect(200, "success");
        response.data()["access_token"].as_str().unwrap().to_string()
    }

    /// Creates a patient owned by the token's user; returns the patient (`data`).
    pub async fn create_patient(&self, token: &str, name: &str) -> Value {
        let body = serde_json::json!({ "name": name, "date_of_birth": "1980-05-17" });
        let response = self.post("/api/patients", &body, Some(token)).await;
        response.expect(201, "created");
        response.data().clone()
    }

    /// Adds a doctor to the directory; returns the doctor (`data`).
    pub async fn create_doctor(&self, token: &str, name: &str, specialization: &str) -> Value {
        let body = serde_json::json!({ "name": name, "specialization": specialization });
        let response = self.post("/api/doctors", &body, Some(token)).await;
        response.expect(201, "created");
        response.data().clone()
    }

    /// Walks a list from the first page to the last; returns every item's id in order.
    pub async fn walk(&self, path: &str, token: &str, limit: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        let separator = if path.contains('?') { '&' } else { '?' };
        for _ in 0..1000 {
            let url = match &cursor {
                Some(c) => format!("{path}{separator}limit={limit}&cursor={c}"),
                None => format!("{path}{separator}limit={limit}"),
            };
            let page = self.get(&url, Some(token)).await;
            page.expect(200, "success");
            let items = page.data()["items"].as_array().unwrap();
            assert!(items.len() <= limit);
            ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
            match page.data()["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return ids,
            }
        }
        panic!("pagination did not end");
    }

    /// Registers a user and returns the token bundle (`data`).
    pub async fn register(&self, name: &str, email: &str) -> Value {
        let body = serde_json::json!({ "name": name, "email": email, "password": PASSWORD });
        let response = self.post("/api/auth/register", &body, None).await;
        response.expect(201, "created");
        response.data().clone()
    }

    /// Registers a user and returns their access token.
    pub async fn user_token(&self, email: &str) -> String {
        self.register("Test User", email).await["access_token"].as_str().unwrap().to_string()
    }

    /// Audit events with this action, as (actor_id, resource_id, outcome), oldest first.
    pub async fn audit(&self, action: &str) -> Vec<(Option<Uuid>, Option<Uuid>, String)> {
        self.sql()
            .await
            .query("SELECT actor_id, resource_id, outcome FROM audit_trail WHERE action = $1 ORDER BY id", &[&action])
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    /// The ids of the events `condition` keeps (SQL on `audit_trail`), newest first, as
    /// the audit lists order them: what a walk of a list should give back.
    pub async fn audit_ids_where(&self, condition: &str) -> Vec<String> {
        let sql = format!("SELECT id::text FROM audit_trail WHERE {condition} ORDER BY id DESC");
        self.sql().await.query(&sql, &[]).await.unwrap().iter().map(|row| row.get(0)).collect()
    }
}

/// The session an access token belongs to (its `sid` claim).
pub fn session_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["sid"].as_str().expect("a sid claim").to_string()
}

/// What the contract promises of every response, whatever the route.
#[track_caller]
fn check_invariants(status: StatusCode, headers: &HeaderMap, body: &Value) {
    let object = body.as_object().unwrap_or_else(|| panic!("body is not an object: {body}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["data", "message", "status"], "envelope keys: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "message: {body}");
    assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), "application/json");
    check_transport(status, headers, body);
}

/// What every answer carries, the envelope's and FHIR's alike: the request id and the
/// security headers, no internals leaked, and no 5xx but 503.
#[track_caller]
pub(crate) fn check_transport(status: StatusCode, headers: &HeaderMap, body: &Value) {
    assert!(headers.contains_key("x-request-id"), "x-request-id missing ({status})");
    assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    assert_eq!(headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
    let text = body.to_string();
    for leak in ["$argon2", "password_hash", "SQLSTATE", "panicked", "tokio_postgres", "PatientInput"] {
        assert!(!text.contains(leak), "response leaks {leak:?}: {text}");
    }
    if status.is_server_error() {
        assert!(status == StatusCode::SERVICE_UNAVAILABLE, "a 5xx other than 503: {status} {body}");
    }
}
