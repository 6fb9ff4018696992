//! Registered apps, and how a confidential one proves itself: a client assertion
//! (RFC 7523, SMART Backend Services) — a JWT signed RS384 or ES384 with a key of the
//! app's JWK Set (inline, or fetched from its `jwks_uri`), chosen by `kid`; `iss` = `sub`
//! = `client_id`, `aud` this server's token endpoint, `exp` at most five minutes ahead,
//! and a `jti` the app never used before (recorded in `oauth_assertions`). Any failure is
//! `invalid_client`, without saying which check failed beyond a short reason.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use shared::auth::scopes::Scopes;
use shared::db::{Sql, Statement};
use shared::records::app::{App, parse_jwks};
use shared::records::{FromRow, column};
use shared::{AppState, sql};
use time::OffsetDateTime;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::OAuthError;

static APP: Sql = sql!("sql/app.sql");
static ASSERTION_SEEN: Sql = sql!("sql/assertion_seen.sql");

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How far ahead an assertion's `exp` may be.
const MAX_ASSERTION_SECONDS: i64 = 300;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 30;

/// An app, with its registered scopes parsed.
pub struct Client {
    pub app: App,
    pub scopes: Scopes,
}

/// The app with this `client_id`, if any.
pub async fn find(state: &AppState, client_id: &str) -> Result<Option<Client>, OAuthError> {
    let Ok(id) = client_id.parse::<Uuid>() else { return Ok(None) };
    let Some(row) = app_statement(id).query_opt(&state.db).await? else { return Ok(None) };
    let app = App::from_row(&row)?;
    let scopes = Scopes::parse(&app.scopes).unwrap_or_default();
    Ok(Some(Client { app, scopes }))
}

fn app_statement(id: Uuid) -> Statement {
    Statement::new(&APP).bind("client_id", id).reads(App::COLUMNS)
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: i64,
    jti: String,
}

/// Checks a client assertion made for one of `audiences`; the app it proves.
pub async fn authenticate(state: &AppState, assertion: &str, audiences: &[String]) -> Result<Client, OAuthError> {
    let refused = |why: &str| OAuthError::invalid_client(format!("The client assertion was refused: {why}."));
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| refused("it is not a JWT"))?;
    if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
        return Err(refused("it must be signed RS384 or ES384"));
    }
    let kid = header.kid.ok_or_else(|| refused("its header names no kid"))?;
    let issuer = unverified_issuer(assertion).ok_or_else(|| refused("it names no iss"))?;
    let client = find(state, &issuer).await?.ok_or_else(|| refused("no such client"))?;
    if !client.app.confidential {
        return Err(refused("this client is public and has no keys"));
    }
    let keys = match (&client.app.jwks, &client.app.jwks_uri) {
        (Some(jwks), _) => parse_jwks(jwks.clone()).map_err(|_| refused("the registered keys are unusable"))?,
        (None, Some(uri)) => fetch_jwks(uri).await.map_err(|why| refused(&format!("its jwks_uri {why}")))?,
        (None, None) => return Err(refused("this client has no keys")),
    };
    let jwk = keys.find(&kid).ok_or_else(|| refused("no key of the client has that kid"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| refused("the key with that kid is unusable"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud", "jti"]);
    validation.set_issuer(&[&issuer]);
    validation.set_audience(audiences);
    validation.sub = Some(issuer.clone());
    validation.leeway = LEEWAY_SECONDS;
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
        .map_err(|_| refused("its signature, aud, iss, sub or exp is wrong"))?
        .claims;
    if claims.iss != claims.sub {
        return Err(refused("iss and sub must both be the client_id"));
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if claims.exp > now + MAX_ASSERTION_SECONDS + LEEWAY_SECONDS as i64 {
        return Err(refused("its exp is more than five minutes ahead"));
    }
    if claims.jti.is_empty() || claims.jti.len() > 255 {
        return Err(refused("its jti is missing or too long"));
    }
    let expires_at = OffsetDateTime::from_unix_timestamp(claims.exp + LEEWAY_SECONDS as i64)
        .map_err(|_| refused("its exp is out of range"))?;
    let row = seen_statement(client.app.client_id, claims.jti, expires_at).query_one(&state.db).await?;
    if !column::<bool>(&row, "fresh")? {
        return Err(refused("its jti was used before"));
    }
    Ok(client)
}

fn seen_statement(client_id: Uuid, jti: String, expires_at: OffsetDateTime) -> Statement {
    Statement::new(&ASSERTION_SEEN)
        .bind("client_id", client_id)
        .bind("jti", jti)
        .bind("expires_at", expires_at)
        .reads(&[("fresh", Type::BOOL)])
}

/// `iss`, read before the signature is checked, only to find whose keys check it.
fn unverified_issuer(assertion: &str) -> Option<String> {
    use base64::Engine;
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Issuer>(&bytes).ok().map(|i| i.iss)
}

async fn fetch_jwks(uri: &str) -> Result<JwkSet, String> {
    let value = shared::fetch::get_json(uri, Duration::from_secs(3)).await?;
    parse_jwks(value).map_err(|why| format!("answered a set that {why}"))
}

pub(crate) fn statements() -> Vec<Statement> {
    vec![app_statement(Uuid::nil()), seen_statement(Uuid::nil(), String::new(), OffsetDateTime::UNIX_EPOCH)]
}
