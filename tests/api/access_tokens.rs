//! The bearer-token checks: every way a token can be wrong is 401, and a hand-made token
//! with exactly the right claims is accepted (so each refusal below is for its reason).

use api_tests::{JWT_SECRET, session_of, spawn_app};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn claims(sub: &str, sid: &str) -> Value {
    json!({"sub": sub, "sid": sid, "role": "user", "iat": now(), "exp": now() + 600, "iss": "healthcare-api", "aud": "healthcare-api"})
}

fn sign(claims: &Value, secret: &str, alg: Algorithm) -> String {
    encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[tokio::test]
async fn every_malformed_or_misissued_token_is_refused() {
    let app = spawn_app().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    let sub = bundle["user"]["id"].as_str().unwrap();
    let sid = session_of(bundle["access_token"].as_str().unwrap());
    let claims = |sub: &str| claims(sub, &sid);

    let good = sign(&claims(sub), JWT_SECRET, Algorithm::HS256);
    app.get("/api/auth/me", Some(&good)).await.expect(200, "success");

    let mut cases: Vec<(&str, String)> = vec![
        ("garbage", "not.a.jwt".into()),
        ("other secret", sign(&claims(sub), "another-secret-that-is-32-bytes-long!!", Algorithm::HS256)),
        ("HS512", sign(&claims(sub), JWT_SECRET, Algorithm::HS512)),
    ];
    let mut expired = claims(sub);
    expired["iat"] = json!(now() - 3600);
    expired["exp"] = json!(now() - 1800);
    cases.push(("expired", sign(&expired, JWT_SECRET, Algorithm::HS256)));
    // Signed and well-formed, but naming a session that does not exist.
    let mut stranger = claims(sub);
    stranger["sid"] = json!(uuid::Uuid::now_v7().to_string());
    cases.push(("unknown session", sign(&stranger, JWT_SECRET, Algorithm::HS256)));
    for (field, value) in [
        ("iss", "someone-else"),
        ("aud", "another-api"),
        ("role", "superuser"),
        ("sub", "not-a-uuid"),
        ("sid", "not-a-uuid"),
    ] {
        let mut c = claims(sub);
        c[field] = json!(value);
        cases.push((field, sign(&c, JWT_SECRET, Algorithm::HS256)));
    }
    for missing in ["sub", "sid", "iat", "exp", "iss", "aud", "role"] {
        let mut c = claims(sub);
        c.as_object_mut().unwrap().remove(missing);
        cases.push((missing, sign(&c, JWT_SECRET, Algorithm::HS256)));
    }
    // alg "none": a valid payload with no signature at all.
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(sub).to_string())
    );
    cases.push(("alg none", unsigned));
    // The good token with its signature stripped or its payload swapped.
    let parts: Vec<&str> = good.split('.').collect();
    cases.push(("no signature", format!("{}.{}.", parts[0], parts[1])));
    let mut admin = claims(sub);
    admin["role"] = json!("admin");
    cases
        .push(("tampered payload", format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(admin.to_string()), parts[2])));

    for (what, token) in cases {
        let response = app.get("/api/auth/me", Some(&token)).await;
        assert_eq!(response.status, 401, "{what}: {:#}", response.body);
        assert_eq!(response.envelope_status(), "unauthorized", "{what}");
    }
}

#[tokio::test]
async fn a_missing_or_non_bearer_authorization_header_is_refused() {
    let app = spawn_app().await;
    app.get("/api/auth/me", None).await.expect(401, "unauthorized");
    for header in ["Basic YWRhOnB3", "Bearer", "Bearer    ", "Token abc"] {
        let request = axum::http::Request::builder()
            .uri("/api/auth/me")
            .header("authorization", header)
            .body(axum::body::Body::empty())
            .unwrap();
        app.send(request).await.expect(401, "unauthorized");
    }
}
