//! SMART on FHIR (API.md Part 4) through the API: discovery, registration, the authorize
//! page's standalone launch with PKCE, the token endpoint's three grants, what a token
//! may do, grants as sessions, introspection and revocation.

use api_tests::{PASSWORD, TestApp, settings};
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::orgs::{clinic, org_patient};

const HOST: &str = "api.example.test";
pub(crate) const ORIGIN: &str = "http://api.example.test";
pub(crate) const REDIRECT: &str = "http://localhost:5555/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-long-enough-verifier";
pub(crate) const ID_TOKEN_KEY: &str = include_str!("../support/keys/id_token_rsa.pem");
pub(crate) const CLIENT_RSA: &str = include_str!("../support/keys/client_rsa.pem");
const CLIENT_EC: &str = include_str!("../support/keys/client_ec.pem");

pub(crate) async fn smart_app() -> TestApp {
    let database_url = api_tests::fresh_database().await;
    let keys = json!([{ "kid": "test-1", "pem": ID_TOKEN_KEY }]).to_string();
    TestApp::with_settings(settings(&database_url, &[("SMART_SIGNING_KEYS", &keys)]), database_url)
}

pub(crate) struct Raw {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    /// The hidden `csrf_token` of an HTML page.
    pub fn csrf(&self) -> String {
        let start = self.text.find("name=\"csrf_token\" value=\"").expect("a csrf_token field") + 25;
        let end = self.text[start..].find('"').unwrap() + start;
        self.text[start..end].to_owned()
    }
    /// A query parameter of the redirect's Location.
    pub fn location_param(&self, name: &str) -> Option<String> {
        let location = self.header("location");
        let query = location.split_once('?')?.1;
        form_pairs(query).into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    query.split('&').filter_map(|pair| pair.split_once('=')).map(|(n, v)| (n.to_owned(), urldecode(v))).collect()
}

fn urldecode(text: &str) -> String {
    let bytes = text.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

pub(crate) fn encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| {
            let escaped: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{n}={escaped}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) async fn raw(app: &TestApp, method: Method, uri: &str, form: Option<String>, token: Option<&str>) -> Raw {
    let mut request = Request::builder().method(method).uri(uri).header(header::HOST, HOST);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match form {
        Some(form) => {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(form)
        }
        None => Body::empty(),
    };
    let response = app.app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Raw { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(shared::auth::sha256(VERIFIER.as_bytes()))
}

pub(crate) async fn register(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let created = app.post(path, &body, Some(token)).await;
    created.expect(201, "created");
    created.data().clone()
}

pub(crate) fn authorize_query(client_id: &str, scope: &str) -> String {
    encode(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-123"),
        ("aud", &format!("{ORIGIN}/api/fhir")),
        ("code_challenge", &challenge()),
        ("code_challenge_method", "S256"),
    ])
}

/// Signs in on the authorize page and approves; picks `patient` when the page asks.
pub(crate) async fn approve(app: &TestApp, client_id: &str, scope: &str, email: &str, patient: Option<&str>) -> Raw {
    let page =
        raw(app, Method::GET, &format!("/api/auth/oauth/authorize?{}", authorize_query(client_id, scope)), None, None)
            .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let signed_in = raw(
        app,
        Method::POST,
        "/api/auth/oauth/authorize",
        Some(encode(&[("csrf_token", &page.csrf()), ("email", email), ("password", PASSWORD)])),
        None,
    )
    .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    assert!(signed_in.text.contains("name=\"decision\""), "the consent page: {}", signed_in.text);
    let approved = raw(
        app,
        Method::POST,
        "/api/auth/oauth/authorize",
        Some(encode(&[("csrf_token", &signed_in.csrf()), ("decision", "approve")])),
        None,
    )
    .await;
    match patient {
        None => approved,
        Some(patient) => {
            assert_eq!(approved.status, 200, "the picker: {}", approved.text);
            assert!(approved.text.contains(patient), "the picker lists the patient: {}", approved.text);
            raw(
                app,
                Method::POST,
                "/api/auth/oauth/authorize",
                Some(encode(&[("csrf_token", &approved.csrf()), ("patient", patient)])),
                None,
            )
            .await
        }
    }
}

/// An ID token's claims, verified with the key our JWKS publishes under its `kid`.
pub(crate) async fn id_claims(app: &TestApp, id_token: &str, client_id: &str) -> Value {
    let jwks: JwkSet =
        serde_json::from_value(raw(app, Method::GET, "/api/auth/oauth/jwks", None, None).await.json()).unwrap();
    let kid = jsonwebtoken::decode_header(id_token).unwrap().kid.unwrap();
    let key = DecodingKey::from_jwk(jwks.find(&kid).expect("the signing key is published")).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[format!("{ORIGIN}/api/fhir")]);
    jsonwebtoken::decode::<Value>(id_token, &key, &validation).unwrap().claims
}

/// The tokens of a grant for `email`, through the page (picking `patient` if asked).
pub(crate) async fn launch(app: &TestApp, client_id: &str, scope: &str, email: &str, patient: Option<&str>) -> Value {
    let redirected = approve(app, client_id, scope, email, patient).await;
    assert_eq!(redirected.status, 302, "{}", redirected.text);
    let tokens = exchange(app, client_id, &redirected.location_param("code").unwrap()).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    tokens.json()
}

pub(crate) async fn exchange(app: &TestApp, client_id: &str, code: &str) -> Raw {
    let form = encode(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", client_id),
    ]);
    raw(app, Method::POST, "/api/auth/oauth/token", Some(form), None).await
}

#[tokio::test]
async fn discovery_names_every_endpoint_and_the_capabilities_we_serve() {
    let app = smart_app().await;
    let config = raw(&app, Method::GET, "/api/fhir/.well-known/smart-configuration", None, None).await;
    assert_eq!(config.status, 200);
    assert_eq!(config.header("access-control-allow-origin"), "*");
    let body = config.json();
    assert_eq!(body["token_endpoint"], format!("{ORIGIN}/api/auth/oauth/token"));
    assert_eq!(body["authorization_endpoint"], format!("{ORIGIN}/api/auth/oauth/authorize"));
    assert_eq!(body["code_challenge_methods_supported"], json!(["S256"]));
    for capability in [
        "launch-standalone",
        "client-public",
        "client-confidential-asymmetric",
        "context-standalone-patient",
        "permission-patient",
        "permission-user",
        "permission-v1",
        "permission-v2",
        "permission-offline",
        "sso-openid-connect",
    ] {
        assert!(body["capabilities"].as_array().unwrap().contains(&json!(capability)), "{capability}");
    }
    let jwks = raw(&app, Method::GET, "/api/auth/oauth/jwks", None, None).await.json();
    assert_eq!(jwks["keys"][0]["kid"], "test-1");
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert!(jwks["keys"][0].get("d").is_none(), "no private part: {jwks}");
    let metadata = raw(&app, Method::GET, "/api/fhir/metadata", None, None).await.json();
    let security = &metadata["rest"][0]["security"];
    assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
    assert_eq!(security["extension"][0]["extension"][1]["valueUri"], format!("{ORIGIN}/api/auth/oauth/token"));
}

#[tokio::test]
async fn owners_register_apps_and_others_cannot() {
    let app = smart_app().await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let apps = format!("/api/orgs/{}/apps", clinic.id);
    let good = json!({"name": "Chart viewer", "redirect_uris": [REDIRECT], "scopes": "openid patient/Patient.rs"});
    let stranger = app.user_token("stranger@example.com").await;
    app.post(&apps, &good, Some(&stranger)).await.expect(404, "not_found");
    for (body, field) in [
        (json!({"name": "x", "redirect_uris": ["http://evil.example/cb"], "scopes": "user/*.rs"}), "redirect_uris"),
        (json!({"name": "x", "redirect_uris": [REDIRECT], "scopes": "user/Observation.rs"}), "scopes"),
        (json!({"name": "x", "backend": true, "scopes": "system/*.rs"}), "backend"),
        (json!({"name": "x", "redirect_uris": [REDIRECT], "scopes": "system/*.rs"}), "scopes"),
        (json!({"name": "x", "scopes": "user/*.rs"}), "redirect_uris"),
        (json!({"name": "x", "confidential": true, "redirect_uris": [REDIRECT], "scopes": "user/*.rs"}), "jwks"),
    ] {
        let refused = app.post(&apps, &body, Some(&clinic.owner)).await;
        refused.expect(400, "invalid");
        assert_eq!(refused.error_fields(), [field], "{body}");
    }
    let created = register(&app, &apps, &clinic.owner, good).await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let listed = app.get(&apps, Some(&clinic.owner)).await;
    assert_eq!(listed.data()["items"][0]["client_id"], client_id.as_str());
    let admin = app.admin_token("admin@example.com").await;
    let admin_app = register(
        &app,
        "/api/admin/apps",
        &admin,
        json!({"name": "Admin tool", "redirect_uris": [REDIRECT],
        "scopes": "user/*.cruds"}),
    )
    .await;
    assert!(admin_app["organization_id"].is_null());
    app.get("/api/admin/apps", Some(&clinic.owner)).await.expect(403, "forbidden");
    app.delete(&format!("{apps}/{client_id}"), Some(&clinic.owner)).await.expect(200, "deleted");
    app.delete(&format!("{apps}/{client_id}"), Some(&clinic.owner)).await.expect(404, "not_found");
}

#[tokio::test]
async fn a_standalone_launch_reads_the_picked_patient_only_and_its_tokens_are_a_session() {
    let app = smart_app().await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let picked = org_patient(&app, &clinic.owner, &clinic.id, None).await;
    let other = org_patient(&app, &clinic.owner, &clinic.id, None).await;
    let personal = app.create_patient(&clinic.owner, "Personal Patient").await;
    let created = register(
        &app,
        &format!("/api/orgs/{}/apps", clinic.id),
        &clinic.owner,
        json!({"name": "Chart viewer", "redirect_uris": [REDIRECT],
               "scopes": "openid fhirUser launch/patient offline_access patient/Patient.rs"}),
    )
    .await;
    let client_id = created["client_id"].as_str().unwrap();
    let picked_id = picked["id"].as_str().unwrap();

    let redirected = approve(
        &app,
        client_id,
        "openid fhirUser launch/patient offline_access patient/Patient.read",
        "owner@example.com",
        Some(picked_id),
    )
    .await;
    assert_eq!(redirected.status, 302, "{}", redirected.text);
    assert!(redirected.header("location").starts_with(REDIRECT));
    assert_eq!(redirected.location_param("state").as_deref(), Some("st-123"));
    let code = redirected.location_param("code").unwrap();

    let tokens = exchange(&app, client_id, &code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert_eq!(tokens.header("cache-control"), "no-store");
    assert_eq!(tokens.header("pragma"), "no-cache");
    let body = tokens.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["patient"], picked_id);
    assert!(body["expires_in"].as_u64().unwrap() <= 3600);
    // The owner holds no doctor and is no portal user: no fhirUser.
    assert_eq!(body["scope"], "openid launch/patient offline_access patient/Patient.rs");
    let access = body["access_token"].as_str().unwrap().to_owned();

    let claims = id_claims(&app, body["id_token"].as_str().unwrap(), client_id).await;
    assert!(claims.get("fhirUser").is_none(), "{claims}");

    // Reads the launch patient; nobody else, and nothing outside FHIR.
    app.fhir_get(&format!("/api/fhir/Patient/{picked_id}"), &access).await.expect(200, None);
    let other_id = other["id"].as_str().unwrap();
    app.fhir_get(&format!("/api/fhir/Patient/{other_id}"), &access).await.expect(404, Some("not-found"));
    let found = app.fhir_get("/api/fhir/Patient", &access).await;
    let found = found.expect(200, None);
    let ids: Vec<&str> =
        found["entry"].as_array().unwrap().iter().map(|e| e["resource"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [picked_id]);
    let personal_id = personal["id"].as_str().unwrap();
    app.fhir_get(&format!("/api/fhir/Patient/{personal_id}"), &access).await.expect(404, Some("not-found"));
    app.get("/api/patients", Some(&access)).await.expect(401, "unauthorized");
    app.get("/api/auth/me", Some(&access)).await.expect(401, "unauthorized");
    // The scopes grant no update.
    let update =
        json!({"resourceType": "Patient", "id": picked_id, "name": [{"text": "Changed"}], "birthDate": "1970-01-02"});
    app.fhir(Method::PUT, &format!("/api/fhir/Patient/{picked_id}"))
        .token(&access)
        .json(&update)
        .send()
        .await
        .expect(403, Some("forbidden"));

    // The read is audited with the app's client_id.
    let sql = app.sql().await;
    let client: Option<Uuid> = sql
        .query_one("SELECT client_id FROM audit_trail WHERE action = 'patient.read' ORDER BY id DESC LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(client.map(|c| c.to_string()).as_deref(), Some(client_id));

    // The grant is a session, listed with its app.
    let sessions = app.get("/api/auth/sessions", Some(&clinic.owner)).await;
    let items = sessions.data()["items"].as_array().unwrap().clone();
    assert!(items.iter().any(|s| s["client_id"] == client_id && s["client_name"] == "Chart viewer"), "{items:?}");

    // Refresh rotates; the old refresh token, used again, revokes the grant.
    let refresh = body["refresh_token"].as_str().unwrap();
    let refresh_form =
        |token: &str| encode(&[("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", client_id)]);
    let rotated = raw(&app, Method::POST, "/api/auth/oauth/token", Some(refresh_form(refresh)), None).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let fresh_access = rotated.json()["access_token"].as_str().unwrap().to_owned();
    app.fhir_get(&format!("/api/fhir/Patient/{picked_id}"), &fresh_access).await.expect(200, None);
    // A first-party refresh does not take a grant's token.
    app.post("/api/auth/refresh", &json!({"refresh_token": rotated.json()["refresh_token"]}), None)
        .await
        .expect(401, "unauthorized");
    let reused = raw(&app, Method::POST, "/api/auth/oauth/token", Some(refresh_form(refresh)), None).await;
    assert_eq!((reused.status, reused.json()["error"].as_str()), (400, Some("invalid_grant")));
    app.fhir_get(&format!("/api/fhir/Patient/{picked_id}"), &fresh_access).await.expect(401, Some("login"));
}

#[tokio::test]
async fn a_code_works_once_and_its_reuse_revokes_the_grant() {
    let app = smart_app().await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let patient = org_patient(&app, &clinic.owner, &clinic.id, None).await;
    let created = register(
        &app,
        &format!("/api/orgs/{}/apps", clinic.id),
        &clinic.owner,
        json!({"name": "Dashboard", "redirect_uris": [REDIRECT], "scopes": "user/Patient.rs"}),
    )
    .await;
    let client_id = created["client_id"].as_str().unwrap();
    let redirected = approve(&app, client_id, "user/Patient.rs", "owner@example.com", None).await;
    let code = redirected.location_param("code").unwrap();

    let wrong_verifier = encode(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &"x".repeat(43)),
        ("client_id", client_id),
    ]);
    let refused = raw(&app, Method::POST, "/api/auth/oauth/token", Some(wrong_verifier), None).await;
    assert_eq!((refused.status, refused.json()["error"].as_str()), (400, Some("invalid_grant")));

    let first = exchange(&app, client_id, &code).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let access = first.json()["access_token"].as_str().unwrap().to_owned();
    let path = format!("/api/fhir/Patient/{}", patient["id"].as_str().unwrap());
    app.fhir_get(&path, &access).await.expect(200, None);
    let again = exchange(&app, client_id, &code).await;
    assert_eq!((again.status, again.json()["error"].as_str()), (400, Some("invalid_grant")));
    app.fhir_get(&path, &access).await.expect(401, Some("login"));
}

#[tokio::test]
async fn the_authorize_page_shows_what_it_cannot_redirect_and_redirects_the_rest() {
    let app = smart_app().await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let created = register(
        &app,
        &format!("/api/orgs/{}/apps", clinic.id),
        &clinic.owner,
        json!({"name": "Dashboard <b>", "redirect_uris": [REDIRECT], "scopes": "user/Patient.rs"}),
    )
    .await;
    let client_id = created["client_id"].as_str().unwrap();
    let page = raw(
        &app,
        Method::GET,
        &format!("/api/auth/oauth/authorize?{}", authorize_query(client_id, "user/Patient.rs")),
        None,
        None,
    )
    .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(page.header("x-frame-options"), "DENY");
    assert_eq!(page.header("cache-control"), "no-store");
    let csp = page.header("content-security-policy");
    assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self' http://localhost:5555"), "{csp}");
    assert!(page.text.contains("Dashboard &lt;b&gt;") && !page.text.contains("<b>"), "escaped: {}", page.text);
    assert!(page.text.contains("<label for=\"email\">Email</label>"));

    let unknown = authorize_query(&Uuid::nil().to_string(), "user/Patient.rs");
    let shown = raw(&app, Method::GET, &format!("/api/auth/oauth/authorize?{unknown}"), None, None).await;
    assert_eq!((shown.status, shown.header("location")), (400, ""));
    let elsewhere = authorize_query(client_id, "user/Patient.rs").replace("localhost%3A5555", "localhost%3A6666");
    let shown = raw(&app, Method::GET, &format!("/api/auth/oauth/authorize?{elsewhere}"), None, None).await;
    assert_eq!((shown.status, shown.header("location")), (400, ""));

    let plain = authorize_query(client_id, "user/Patient.rs").replace("S256", "plain");
    let refused = raw(&app, Method::GET, &format!("/api/auth/oauth/authorize?{plain}"), None, None).await;
    assert_eq!(refused.status, 302);
    assert_eq!(refused.location_param("error").as_deref(), Some("invalid_request"));
    assert_eq!(refused.location_param("state").as_deref(), Some("st-123"));
    let bad_scope = authorize_query(client_id, "user/Patient.xyz");
    let refused = raw(&app, Method::GET, &format!("/api/auth/oauth/authorize?{bad_scope}"), None, None).await;
    assert_eq!(refused.location_param("error").as_deref(), Some("invalid_scope"));

    // A post without the page's anti-forgery token is refused; a forged one too.
    let forged = raw(
        &app,
        Method::POST,
        "/api/auth/oauth/authorize",
        Some(encode(&[("email", "owner@example.com"), ("password", PASSWORD)])),
        None,
    )
    .await;
    assert_eq!(forged.status, 400);
    let forged = raw(
        &app,
        Method::POST,
        "/api/auth/oauth/authorize",
        Some(encode(&[("csrf_token", "eyJhbGciOiJIUzI1NiJ9.e30.x"), ("decision", "approve")])),
        None,
    )
    .await;
    assert_eq!(forged.status, 400);

    // A wrong password counts towards the login throttle: the sixth try is 429.
    for attempt in 1..=6 {
        let wrong = raw(
            &app,
            Method::POST,
            "/api/auth/oauth/authorize",
            Some(encode(&[
                ("csrf_token", &page.csrf()),
                ("email", "owner@example.com"),
                ("password", "wrong-password"),
            ])),
            None,
        )
        .await;
        assert_eq!(wrong.status, if attempt <= 5 { 401 } else { 429 }, "attempt {attempt}");
    }
    app.post("/api/auth/login", &json!({"email": "owner@example.com", "password": PASSWORD}), None)
        .await
        .expect(429, "rate_limited");
}

pub(crate) fn assertion(
    key: &EncodingKey,
    alg: Algorithm,
    kid: &str,
    client_id: &str,
    aud: &str,
    exp_in: i64,
    jti: &str,
) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": now + exp_in, "jti": jti});
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

pub(crate) fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

pub(crate) fn public_jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(key, alg).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    serde_json::to_value(jwk).unwrap()
}

#[tokio::test]
async fn a_backend_app_signs_in_with_its_key_and_reads_its_organization_only() {
    let app = smart_app().await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let ours = org_patient(&app, &clinic.owner, &clinic.id, None).await;
    let elsewhere = crate::orgs::clinic(&app, "rival@example.com", "Rival").await;
    let theirs = org_patient(&app, &elsewhere.owner, &elsewhere.id, None).await;
    let rsa = EncodingKey::from_rsa_der(&pem_der(CLIENT_RSA));
    let ec = EncodingKey::from_ec_der(&pem_der(CLIENT_EC));
    let jwks =
        json!({"keys": [public_jwk(&rsa, Algorithm::RS384, "rsa-1"), public_jwk(&ec, Algorithm::ES384, "ec-1")]});
    let created = register(&app, &format!("/api/orgs/{}/apps", clinic.id), &clinic.owner,
        json!({"name": "Warehouse", "confidential": true, "backend": true, "jwks": jwks, "scopes": "system/Patient.rs"})).await;
    let client_id = created["client_id"].as_str().unwrap();
    let aud = format!("{ORIGIN}/api/auth/oauth/token");
    let grant = |assertion: String| {
        encode(&[
            ("grant_type", "client_credentials"),
            ("scope", "system/Patient.rs"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", &assertion),
        ])
    };
    let good = assertion(&rsa, Algorithm::RS384, "rsa-1", client_id, &aud, 240, "jti-1");
    let token = raw(&app, Method::POST, "/api/auth/oauth/token", Some(grant(good.clone())), None).await;
    assert_eq!(token.status, 200, "{}", token.text);
    let body = token.json();
    assert!(body["expires_in"].as_u64().unwrap() <= 300);
    assert!(body.get("refresh_token").is_none());
    let access = body["access_token"].as_str().unwrap().to_owned();
    app.fhir_get(&format!("/api/fhir/Patient/{}", ours["id"].as_str().unwrap()), &access).await.expect(200, None);
    app.fhir_get(&format!("/api/fhir/Patient/{}", theirs["id"].as_str().unwrap()), &access)
        .await
        .expect(404, Some("not-found"));

    // Every failure of the client's authentication is 401 invalid_client.
    // A bulk client asks for every type it knows (smart-fetch: system/<Type>.read for 21):
    // those we do not serve are left out of the grant, not refused.
    let ec_ok = assertion(&ec, Algorithm::ES384, "ec-1", client_id, &aud, 60, "jti-2");
    let asking_more = grant(ec_ok).replace(
        "scope=system%2FPatient.rs",
        "scope=system%2FObservation.read%20system%2FPatient.read%20system%2FBinary.rs",
    );
    let granted = raw(&app, Method::POST, "/api/auth/oauth/token", Some(asking_more), None).await;
    assert_eq!(
        (granted.status, granted.json()["scope"].as_str()),
        (200, Some("system/Patient.rs")),
        "{}",
        granted.text
    );
    for (why, bad) in [
        ("a replay", good),
        ("an unknown kid", assertion(&rsa, Algorithm::RS384, "nope", client_id, &aud, 60, "jti-3")),
        ("exp too far", assertion(&rsa, Algorithm::RS384, "rsa-1", client_id, &aud, 3600, "jti-4")),
        ("a wrong aud", assertion(&rsa, Algorithm::RS384, "rsa-1", client_id, "https://elsewhere/token", 60, "jti-5")),
        ("the wrong key", assertion(&rsa, Algorithm::RS384, "ec-1", client_id, &aud, 60, "jti-6")),
    ] {
        let refused = raw(&app, Method::POST, "/api/auth/oauth/token", Some(grant(bad)), None).await;
        assert_eq!((refused.status, refused.json()["error"].as_str()), (401, Some("invalid_client")), "{why}");
        assert!(refused.header("www-authenticate").starts_with("Bearer"), "{why}");
    }

    // Introspection: the app sees its own token; revocation ends it.
    let introspect = |token: &str, jti: &str| {
        encode(&[
            ("token", token),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", &assertion(&rsa, Algorithm::RS384, "rsa-1", client_id, &aud, 60, jti)),
        ])
    };
    let seen =
        raw(&app, Method::POST, "/api/auth/oauth/introspect", Some(introspect(&access, "jti-7")), None).await.json();
    assert_eq!((seen["active"].as_bool(), seen["client_id"].as_str()), (Some(true), Some(client_id)));
    let unauthenticated =
        raw(&app, Method::POST, "/api/auth/oauth/introspect", Some(encode(&[("token", &access)])), None).await;
    assert_eq!(unauthenticated.status, 401);
    let revoked = raw(&app, Method::POST, "/api/auth/oauth/revoke", Some(introspect(&access, "jti-8")), None).await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    app.fhir_get(&format!("/api/fhir/Patient/{}", ours["id"].as_str().unwrap()), &access)
        .await
        .expect(401, Some("login"));
    let seen =
        raw(&app, Method::POST, "/api/auth/oauth/introspect", Some(introspect(&access, "jti-9")), None).await.json();
    assert_eq!(seen["active"], false);

    // Deleting the app stops its tokens.
    let next = assertion(&rsa, Algorithm::RS384, "rsa-1", client_id, &aud, 60, "jti-10");
    let access = raw(&app, Method::POST, "/api/auth/oauth/token", Some(grant(next)), None).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete(&format!("/api/orgs/{}/apps/{client_id}", clinic.id), Some(&clinic.owner)).await.expect(200, "deleted");
    app.fhir_get(&format!("/api/fhir/Patient/{}", ours["id"].as_str().unwrap()), &access)
        .await
        .expect(401, Some("login"));
}
