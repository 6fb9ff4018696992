//! `POST /api/auth/oauth/token`, `…/introspect` and `…/revoke`, in OAuth's own JSON.
//!
//! - `authorization_code`: the code (single use: a second use revokes the grant the
//!   first started), the same `redirect_uri`, and a `code_verifier` whose S256 is the
//!   code's challenge; a public app names itself (`client_id`), a confidential one signs
//!   an assertion. The grant starts as a session in the same statement.
//! - `refresh_token`: rotated on every use; a reused one revokes the grant.
//! - `client_credentials`: a backend app's assertion and `system/` scopes; a grant of
//!   the app's registrant, ending with its one access token (at most 5 minutes).

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, PRAGMA};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use shared::auth::jwt::SmartGrant;
use shared::auth::scopes::{Context, Scopes};
use shared::auth::{Role, bearer_token, refresh, sha256};
use shared::db::{Sql, Statement};
use shared::extract::Origin;
use shared::records::column;
use shared::{AppState, RequestMeta, sql};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::OAuthError;
use crate::client::{self, ASSERTION_TYPE, Client};
use crate::keys::signing_keys;

static REDEEM: Sql = sql!("sql/code_redeem.sql");
static REFRESH: Sql = sql!("sql/refresh.sql");
static BACKEND: Sql = sql!("sql/backend_grant.sql");
static INTROSPECT: Sql = sql!("sql/introspect.sql");
static REVOKE: Sql = sql!("sql/revoke.sql");

/// Access tokens live at most this long (SMART: `expires_in` ≤ 3600).
const MAX_ACCESS_SECONDS: u64 = 3600;
/// A backend app's token, at most (SMART Backend Services: ≤ 300).
const BACKEND_SECONDS: u64 = 300;

/// The form's fields; a repeated one is `invalid_request` (RFC 6749 3.2).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
        let form_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
        if !form_type {
            return Err(OAuthError::invalid_request("send application/x-www-form-urlencoded"));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(body) {
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(OAuthError::invalid_request(format!("{name} is given twice")));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Form(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

/// OAuth's success answer: JSON, never cached, readable from any origin (tokens are
/// bearer, not cookies).
fn success(body: Value) -> Response {
    let mut response = (StatusCode::OK, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    response
}

/// CORS preflight for browser apps (public clients post the token form cross-origin).
pub async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert("access-control-allow-methods", HeaderValue::from_static("POST, OPTIONS"));
    headers.insert("access-control-allow-headers", HeaderValue::from_static("content-type, authorization, accept"));
    headers.insert("access-control-max-age", HeaderValue::from_static("600"));
    response
}

fn token_endpoint(origin: &str) -> String {
    format!("{origin}/api/auth/oauth/token")
}

/// Who is asking: a public app by `client_id`, or a confidential one by its assertion.
async fn client_of(state: &AppState, form: &Form, audiences: &[String]) -> Result<Client, OAuthError> {
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type") != Some(ASSERTION_TYPE) {
            return Err(OAuthError::invalid_client(format!("client_assertion_type must be {ASSERTION_TYPE}")));
        }
        let client = client::authenticate(state, assertion, audiences).await?;
        if form.get("client_id").is_some_and(|id| id != client.app.client_id.to_string()) {
            return Err(OAuthError::invalid_client("client_id does not match the assertion"));
        }
        return Ok(client);
    }
    let id = form
        .get("client_id")
        .ok_or_else(|| OAuthError::invalid_client("name the client (client_id) or sign an assertion"))?;
    let client = client::find(state, id).await?.ok_or_else(|| OAuthError::invalid_client("no such client"))?;
    if client.app.confidential {
        return Err(OAuthError::invalid_client("this client is confidential: sign a client assertion"));
    }
    Ok(client)
}

pub async fn token(
    State(state): State<AppState>,
    meta: RequestMeta,
    origin: Result<Origin, shared::ApiError>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let Origin(origin) = origin.map_err(|_| OAuthError::invalid_request("the request's Host is not usable"))?;
    let form = Form::parse(&headers, &body)?;
    let grant_type = form.required("grant_type")?;
    if !matches!(grant_type, "authorization_code" | "refresh_token" | "client_credentials") {
        return Err(OAuthError::unsupported_grant_type(format!("{grant_type} is not a grant type this server offers")));
    }
    let client = client_of(&state, &form, &[token_endpoint(&origin)]).await?;
    match grant_type {
        "authorization_code" => exchange_code(&state, &origin, &form, &client).await,
        "refresh_token" => refresh_grant(&state, &meta, &form, &client).await,
        _ => backend_grant(&state, &form, &client).await,
    }
}

fn access_ttl(state: &AppState) -> Duration {
    Duration::from_secs(state.settings.access_token_ttl.as_secs().min(MAX_ACCESS_SECONDS))
}

fn session_expiry(state: &AppState) -> OffsetDateTime {
    OffsetDateTime::now_utc() + state.settings.refresh_token_ttl
}

/// The S256 of a verifier (RFC 7636: 43-128 unreserved characters).
fn challenge_of(verifier: &str) -> Result<String, OAuthError> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(unreserved) {
        return Err(OAuthError::invalid_grant("code_verifier must be 43-128 unreserved characters"));
    }
    Ok(URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes())))
}

async fn exchange_code(state: &AppState, origin: &str, form: &Form, client: &Client) -> Result<Response, OAuthError> {
    if client.app.backend {
        return Err(OAuthError::unauthorized_client("a backend app uses client_credentials"));
    }
    let code = form.required("code")?;
    let redirect_uri = form.required("redirect_uri")?;
    let challenge = challenge_of(form.required("code_verifier")?)?;
    let refresh = refresh::generate()?;
    let session_id = Uuid::now_v7();
    let redeemed = Redeem {
        code_hash: refresh::hash(code),
        client_id: client.app.client_id,
        redirect_uri: redirect_uri.to_owned(),
        challenge,
        session_id,
        refresh_hash: refresh.hash.clone(),
        expires_at: session_expiry(state),
    };
    let row = redeem_statement(redeemed).query_one(&state.db).await?;
    let Some(session_id) = column::<Option<Uuid>>(&row, "session_id")? else {
        return Err(OAuthError::invalid_grant(
            "the code is invalid, expired, already used, or not for this client, redirect_uri and code_verifier",
        ));
    };
    let grant = Granted::from_row(&row, session_id, client)?;
    let id_token = match grant.scopes.has("openid") {
        true => id_token(state, origin, &grant, column(&row, "nonce")?)?,
        false => None,
    };
    let offline = grant.scopes.has("offline_access") || grant.scopes.has("online_access");
    let mut body = grant.answer(state)?;
    if offline {
        body["refresh_token"] = json!(refresh.token);
    }
    if let Some(id_token) = id_token {
        body["id_token"] = json!(id_token);
    }
    Ok(success(body))
}

struct Redeem {
    code_hash: Vec<u8>,
    client_id: Uuid,
    redirect_uri: String,
    challenge: String,
    session_id: Uuid,
    refresh_hash: Vec<u8>,
    expires_at: OffsetDateTime,
}

fn redeem_statement(r: Redeem) -> Statement {
    Statement::new(&REDEEM)
        .bind("code_hash", r.code_hash)
        .bind("client_id", r.client_id)
        .bind("redirect_uri", r.redirect_uri)
        .bind("code_challenge", r.challenge)
        .bind("session_id", r.session_id)
        .bind("session_token_hash", r.refresh_hash)
        .bind("session_expires_at", r.expires_at)
        .reads(GRANTED)
        .reads(&[("nonce", Type::TEXT), ("revoked", Type::INT8)])
}

const GRANTED: &[shared::db::Column] = &[
    ("user_id", Type::UUID),
    ("scope", Type::TEXT),
    ("patient_id", Type::UUID),
    ("fhir_user", Type::TEXT),
    ("role", Type::TEXT),
    ("session_id", Type::UUID),
];

/// A grant as a token answer needs it.
struct Granted {
    user_id: Uuid,
    session_id: Uuid,
    role: Role,
    client_id: Uuid,
    organization: Option<Uuid>,
    scopes: Scopes,
    patient: Option<Uuid>,
    fhir_user: Option<String>,
}

impl Granted {
    fn from_row(row: &Row, session_id: Uuid, client: &Client) -> Result<Self, OAuthError> {
        let scope: String = column(row, "scope")?;
        Ok(Granted {
            user_id: column(row, "user_id")?,
            session_id,
            role: Role::parse(&column::<String>(row, "role")?)?,
            client_id: client.app.client_id,
            organization: client.app.organization_id,
            scopes: Scopes::parse(&scope).unwrap_or_default(),
            patient: column(row, "patient_id")?,
            fhir_user: column(row, "fhir_user")?,
        })
    }

    fn answer(&self, state: &AppState) -> Result<Value, OAuthError> {
        let ttl = access_ttl(state);
        let scope = self.scopes.to_string();
        let token = state.jwt.issue_smart(&SmartGrant {
            user_id: self.user_id,
            session_id: self.session_id,
            role: self.role,
            client_id: self.client_id,
            scope: &scope,
            patient: self.patient,
            organization: self.organization,
            ttl,
        })?;
        let mut body =
            json!({ "access_token": token, "token_type": "Bearer", "expires_in": ttl.as_secs(), "scope": scope });
        if let Some(patient) = self.patient {
            body["patient"] = json!(patient);
        }
        Ok(body)
    }
}

/// The OpenID Connect ID token (RS256), when keys are configured.
fn id_token(
    state: &AppState,
    origin: &str,
    grant: &Granted,
    nonce: Option<String>,
) -> Result<Option<String>, OAuthError> {
    let Some(keys) = signing_keys(state)? else { return Ok(None) };
    let Ok(keys) = keys.as_ref() else { return Ok(None) };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": format!("{origin}/api/fhir"),
        "sub": grant.user_id,
        "aud": grant.client_id,
        "iat": now,
        "exp": now + access_ttl(state).as_secs() as i64,
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(fhir_user) = &grant.fhir_user {
        claims["fhirUser"] = json!(format!("{origin}/api/fhir/{fhir_user}"));
    }
    Ok(Some(keys.sign(&claims)?))
}

async fn refresh_grant(
    state: &AppState,
    meta: &RequestMeta,
    form: &Form,
    client: &Client,
) -> Result<Response, OAuthError> {
    let presented = refresh::hash(form.required("refresh_token")?);
    let next = refresh::generate()?;
    let (expires_at, idle) = (session_expiry(state), state.settings.session_idle_minutes);
    let row = refresh_statement(presented.clone(), next.hash.clone(), client.app.client_id, expires_at, idle)
        .query_opt(&state.db)
        .await?;
    let Some(row) = row else {
        // Unknown, expired, revoked - or reused: only reuse changes anything.
        auth::sign_in::reused_statement(meta, presented).execute(&state.db).await?;
        return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked"));
    };
    let session_id = column(&row, "session_id")?;
    let mut body = Granted::from_row(&row, session_id, client)?.answer(state)?;
    body["refresh_token"] = json!(next.token);
    Ok(success(body))
}

fn refresh_statement(
    presented: Vec<u8>,
    next: Vec<u8>,
    client_id: Uuid,
    expires_at: OffsetDateTime,
    idle_minutes: i32,
) -> Statement {
    Statement::new(&REFRESH)
        .bind("presented", presented)
        .bind("next_hash", next)
        .bind("client_id", client_id)
        .bind("expires_at", expires_at)
        .bind("idle_minutes", idle_minutes)
        .reads(GRANTED)
}

async fn backend_grant(state: &AppState, form: &Form, client: &Client) -> Result<Response, OAuthError> {
    if !client.app.backend {
        return Err(OAuthError::unauthorized_client("only a backend app may use client_credentials"));
    }
    let requested = Scopes::parse_requested(form.get("scope").unwrap_or("")).map_err(OAuthError::invalid_scope)?;
    let granted = requested.within(&client.scopes).without(&[Context::Patient, Context::User]);
    if granted.resources().is_empty() {
        return Err(OAuthError::invalid_scope("none of the requested system/ scopes is one this app may be granted"));
    }
    let session_id = Uuid::now_v7();
    let scope = granted.to_string();
    let ttl = Duration::from_secs(BACKEND_SECONDS.min(access_ttl(state).as_secs()));
    let expires_at = OffsetDateTime::now_utc() + ttl;
    let row = backend_statement(client.app.client_id, session_id, scope.clone(), expires_at)
        .query_opt(&state.db)
        .await?
        .ok_or_else(|| OAuthError::invalid_client("the app's registrant can no longer act for it"))?;
    let token = state.jwt.issue_smart(&SmartGrant {
        user_id: column(&row, "user_id")?,
        session_id,
        role: Role::parse(&column::<String>(&row, "role")?)?,
        client_id: client.app.client_id,
        scope: &scope,
        patient: None,
        organization: client.app.organization_id,
        ttl,
    })?;
    Ok(success(json!({ "access_token": token, "token_type": "Bearer", "expires_in": ttl.as_secs(), "scope": scope })))
}

fn backend_statement(client_id: Uuid, session_id: Uuid, scope: String, expires_at: OffsetDateTime) -> Statement {
    // The grant's refresh token is never handed out: its hash is of a token nobody holds.
    let unheld = sha256(Uuid::now_v7().as_bytes());
    Statement::new(&BACKEND)
        .bind("client_id", client_id)
        .bind("session_id", session_id)
        .bind("scope", scope)
        .bind("session_token_hash", unheld)
        .bind("session_expires_at", expires_at)
        .reads(&[("user_id", Type::UUID), ("role", Type::TEXT), ("session_id", Type::UUID)])
}

/// Who may introspect: a confidential app by assertion (its own tokens only), or an
/// admin by Bearer (any token).
enum Introspector {
    App(Uuid),
    Admin,
}

pub async fn introspect(
    State(state): State<AppState>,
    origin: Result<Origin, shared::ApiError>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let Origin(origin) = origin.map_err(|_| OAuthError::invalid_request("the request's Host is not usable"))?;
    let form = Form::parse(&headers, &body)?;
    let introspector = match form.get("client_assertion") {
        Some(_) => {
            let audiences = [token_endpoint(&origin), format!("{origin}/api/auth/oauth/introspect")];
            Introspector::App(client_of(&state, &form, &audiences).await?.app.client_id)
        }
        None => admin(&state, &headers).await?,
    };
    let token = form.required("token")?;
    let inactive = || success(json!({ "active": false }));
    let Ok(claims) = state.jwt.verify_smart(token) else { return Ok(inactive()) };
    if matches!(introspector, Introspector::App(id) if id != claims.client_id) {
        return Ok(inactive());
    }
    let idle = state.settings.session_idle_minutes;
    let row = introspect_statement(claims.sid, claims.sub, claims.client_id, idle).query_opt(&state.db).await?;
    let Some(row) = row else { return Ok(inactive()) };
    let mut body = json!({
        "active": true,
        "scope": claims.scope,
        "client_id": claims.client_id,
        "exp": claims.exp,
        "sub": claims.sub,
        "iss": format!("{origin}/api/fhir"),
        "token_type": "Bearer",
    });
    if let Some(patient) = claims.patient {
        body["patient"] = json!(patient);
    }
    if let Some(fhir_user) = column::<Option<String>>(&row, "fhir_user")? {
        body["fhirUser"] = json!(format!("{origin}/api/fhir/{fhir_user}"));
    }
    Ok(success(body))
}

/// An admin's first-party Bearer token, checked live like any request's.
async fn admin(state: &AppState, headers: &HeaderMap) -> Result<Introspector, OAuthError> {
    let (mut parts, _) = axum::http::Request::new(()).into_parts();
    parts.headers = headers.clone();
    let unauthenticated =
        || OAuthError::invalid_client("authenticate with a client assertion or an admin's Bearer token");
    let token = bearer_token(&parts).map_err(|_| unauthenticated())?;
    let claims = state.jwt.verify(token).map_err(|_| unauthenticated())?;
    if claims.role != Role::Admin {
        return Err(unauthenticated());
    }
    let caller = shared::auth::Caller::from_token(state, claims.sub, claims.role, claims.sid, None);
    live(state, &caller).await.map_err(|_| unauthenticated())?;
    Ok(Introspector::Admin)
}

static LIVE: Sql = sql!("sql/live.sql");

/// The session check on its own, for the admin's introspection.
async fn live(state: &AppState, caller: &shared::auth::Caller) -> Result<(), shared::ApiError> {
    Statement::new(&LIVE).acting_as(caller).execute(&state.db).await
}

fn introspect_statement(session_id: Uuid, user_id: Uuid, client_id: Uuid, idle_minutes: i32) -> Statement {
    Statement::new(&INTROSPECT)
        .bind("session_id", session_id)
        .bind("user_id", user_id)
        .bind("client_id", client_id)
        .bind("idle_minutes", idle_minutes)
        .reads(&[("fhir_user", Type::TEXT)])
}

/// RFC 7009: the app's own token (access or refresh) is revoked with its grant; the
/// answer is 200 whether or not it existed.
pub async fn revoke(
    State(state): State<AppState>,
    origin: Result<Origin, shared::ApiError>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let Origin(origin) = origin.map_err(|_| OAuthError::invalid_request("the request's Host is not usable"))?;
    let form = Form::parse(&headers, &body)?;
    let client =
        client_of(&state, &form, &[token_endpoint(&origin), format!("{origin}/api/auth/oauth/revoke")]).await?;
    let token = form.required("token")?;
    let session = state.jwt.verify_smart(token).ok().filter(|c| c.client_id == client.app.client_id).map(|c| c.sid);
    revoke_statement(client.app.client_id, session, refresh::hash(token)).execute(&state.db).await?;
    Ok(success(json!({})))
}

fn revoke_statement(client_id: Uuid, session_id: Option<Uuid>, token_hash: Vec<u8>) -> Statement {
    Statement::new(&REVOKE)
        .bind("client_id", client_id)
        .bind("session_id", session_id)
        .bind("token_hash", token_hash)
        .reads(&[("revoked", Type::INT8)])
}

pub(crate) fn statements() -> Vec<Statement> {
    let id = Uuid::nil();
    let epoch = OffsetDateTime::UNIX_EPOCH;
    let redeem = Redeem {
        code_hash: Vec::new(),
        client_id: id,
        redirect_uri: String::new(),
        challenge: String::new(),
        session_id: id,
        refresh_hash: Vec::new(),
        expires_at: epoch,
    };
    let caller = shared::auth::Caller::placeholder(Role::Admin);
    vec![
        redeem_statement(redeem),
        refresh_statement(Vec::new(), Vec::new(), id, epoch, 60),
        backend_statement(id, id, String::new(), epoch),
        introspect_statement(id, id, id, 60),
        revoke_statement(id, None, Vec::new()),
        Statement::new(&LIVE).acting_as(&caller),
    ]
}
