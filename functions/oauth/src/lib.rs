//! The OAuth function: SMART on FHIR's authorization server (Part 4), its own Lambda so
//! the auth function keeps its size and cold start (docs/BENCHMARKS.md).
//!
//! - `authorize`: the authorize page (sign-in with MFA, consent, the patient picker),
//!   which ends in a redirect with a single-use, 60-second code;
//! - `token`: the token endpoint (`authorization_code` with PKCE, `refresh_token`,
//!   `client_credentials` with a signed assertion), introspection and revocation;
//! - `client`: registered apps and how a confidential one proves itself;
//! - `keys`: the RSA keys that sign ID tokens, and the JWKS that publishes them.
//!
//! A grant is a session (migrations/0010): the access tokens are `JwtKeys::issue_smart`
//! tokens naming it, checked live by every FHIR statement.

mod authorize;
mod client;
mod error;
mod keys;
mod page;
mod token;

use axum::Router;
use axum::routing::{get, post};
use shared::db::Statement;
use shared::{ApiError, AppState};

pub use error::OAuthError;

const AUTHORIZE: &str = "/api/auth/oauth/authorize";
const TOKEN: &str = "/api/auth/oauth/token";
const INTROSPECT: &str = "/api/auth/oauth/introspect";
const REVOKE: &str = "/api/auth/oauth/revoke";
const JWKS: &str = "/api/auth/oauth/jwks";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] = &[AUTHORIZE, TOKEN, INTROSPECT, REVOKE, JWKS];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(AUTHORIZE, get(authorize::start).post(authorize::step).fallback(method_not_allowed))
        .route(TOKEN, post(token::token).options(token::preflight).fallback(method_not_allowed))
        .route(INTROSPECT, post(token::introspect).fallback(method_not_allowed))
        .route(REVOKE, post(token::revoke).options(token::preflight).fallback(method_not_allowed))
        .route(JWKS, get(keys::jwks).fallback(method_not_allowed))
        .with_state(state)
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Every statement this function issues, for the schema test.
pub fn statements() -> Vec<Statement> {
    let mut all = client::statements();
    all.extend(authorize::statements());
    all.extend(token::statements());
    all
}
