//! Bad input of every kind, on every route that takes a body: a clear envelope error
//! and a 4xx, never a 5xx, and nothing written.

use api_tests::{PASSWORD, TestApp, spawn_app};
use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::json;

const BODY_ROUTES: &[&str] = &["/api/auth/register", "/api/auth/login", "/api/auth/refresh", "/api/auth/logout"];

fn raw(path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::builder().method(Method::POST).uri(path);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    request.body(body.into()).unwrap()
}

async fn users(app: &TestApp) -> i64 {
    app.sql().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let app = spawn_app().await;
    for path in BODY_ROUTES {
        for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/jsonx")] {
            app.send(raw(path, ct, "{}")).await.expect(415, "invalid");
        }
        // Parameters on the right type are fine (then the empty object is 400, not 415).
        app.send(raw(path, Some("application/json; charset=utf-8"), "{}")).await.expect(400, "missing");
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_413_before_parsing() {
    let app = spawn_app().await;
    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(64 * 1024));
    let not_even_json = "x".repeat(64 * 1024 + 1);
    for path in BODY_ROUTES {
        app.send(raw(path, Some("application/json"), huge.clone())).await.expect(413, "invalid");
        app.send(raw(path, Some("application/json"), not_even_json.clone())).await.expect(413, "invalid");
    }
    // Exactly at the limit is parsed (and then judged on its fields).
    let mut at_limit = r#"{"email": "a@b.co", "password": "x", "pad": ""#.to_string();
    at_limit.push_str(&" ".repeat(64 * 1024 - at_limit.len() - 2));
    at_limit.push_str("\"}");
    assert_eq!(at_limit.len(), 64 * 1024);
    let response = app.send(raw("/api/auth/login", Some("application/json"), at_limit)).await;
    response.expect(400, "invalid");
    assert_eq!(response.error_fields(), ["pad"]);
}

#[tokio::test]
async fn malformed_json_and_non_objects_are_400_invalid() {
    let app = spawn_app().await;
    let bodies = [
        "",
        "   ",
        "{",
        "{\"name\": }",
        "not json",
        "[]",
        "[1,2]",
        "\"text\"",
        "42",
        "null",
        "true",
        "{}}",
        "\u{feff}{}",
    ];
    for path in BODY_ROUTES {
        for body in bodies {
            let response = app.send(raw(path, Some("application/json"), body)).await;
            assert_eq!((response.status.as_u16(), response.envelope_status()), (400, "invalid"), "{path} {body:?}");
        }
        // Invalid UTF-8 inside a string.
        let bytes: Vec<u8> = [b"{\"email\": \"".as_slice(), &[0xff, 0xfe], b"\"}"].concat();
        app.send(raw(path, Some("application/json"), bytes)).await.expect(400, "invalid");
    }
    assert_eq!(users(&app).await, 0);
}

#[tokio::test]
async fn register_names_every_field_at_fault() {
    let app = spawn_app().await;
    let cases = [
        (json!({}), "missing", vec!["name", "email", "password"]),
        (json!({"name": null, "email": null, "password": null}), "missing", vec!["name", "email", "password"]),
        (json!({"name": "A", "email": "a@example.com"}), "missing", vec!["password"]),
        (json!({"name": "", "email": "a@example.com", "password": PASSWORD}), "invalid", vec!["name"]),
        (json!({"name": "   ", "email": "a@example.com", "password": PASSWORD}), "invalid", vec!["name"]),
        (json!({"name": "x".repeat(101), "email": "a@example.com", "password": PASSWORD}), "invalid", vec!["name"]),
        (json!({"name": "A\u{0}B", "email": "a@example.com", "password": PASSWORD}), "invalid", vec!["name"]),
        (json!({"name": "A", "email": "not-an-email", "password": PASSWORD}), "invalid", vec!["email"]),
        (
            json!({"name": "A", "email": format!("{}@example.com", "a".repeat(250)), "password": PASSWORD}),
            "invalid",
            vec!["email"],
        ),
        (json!({"name": "A", "email": "a@example.com", "password": "short"}), "invalid", vec!["password"]),
        (json!({"name": "A", "email": "a@example.com", "password": "p".repeat(129)}), "invalid", vec!["password"]),
        (
            json!({"name": 7, "email": ["a@example.com"], "password": {"p": 1}}),
            "invalid",
            vec!["name", "email", "password"],
        ),
        (
            json!({"name": "A", "email": "a@example.com", "password": PASSWORD, "role": "admin"}),
            "invalid",
            vec!["role"],
        ),
        (json!({"name": "A", "email": "a@example.com", "password": PASSWORD, "id": "x"}), "invalid", vec!["id"]),
        (
            json!({"name": "A", "email": "a@example.com", "password": PASSWORD, "is_admin": true}),
            "invalid",
            vec!["is_admin"],
        ),
        (json!({"email": "bad", "nickname": "A"}), "invalid", vec!["nickname", "email", "name", "password"]),
    ];
    for (body, status, fields) in cases {
        let response = app.post("/api/auth/register", &body, None).await;
        assert_eq!(
            (response.status.as_u16(), response.envelope_status()),
            (400, status),
            "{body}: {:#}",
            response.body
        );
        let mut got = response.error_fields();
        let mut want: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{body}");
    }
    assert_eq!(users(&app).await, 0, "nothing may be written by a refused request");
}

#[tokio::test]
async fn login_input_errors_are_400_and_do_not_count_as_failures() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({"email": "a@example.com"}),
        json!({"email": 1, "password": "x"}),
        json!({"email": "a@b.co", "password": "x", "remember": true}),
    ] {
        let response = app.post("/api/auth/login", &body, None).await;
        assert_eq!(response.status, 400, "{body}");
    }
    let failures: i64 = app.sql().await.query_one("SELECT count(*) FROM login_failures", &[]).await.unwrap().get(0);
    assert_eq!(failures, 0);
}
