//! Access tokens: HS256 JWTs with `sub`, `sid` (the session), `role`, `iat`, `exp`, `iss`,
//! `aud`, all required. The session is checked live by every authenticated statement,
//! so a revoked session's tokens stop working at once, not at expiry.
//!
//! The algorithm is pinned: a token naming any other `alg` (`none` included) is refused
//! before its signature is looked at. The role is trusted only because the token is
//! signed, so a role change reaches a user at their next refresh, at most one access
//! token lifetime (15 minutes by default) later.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Role;
use crate::ApiError;
use crate::config::Settings;

/// Clock skew tolerated between Lambda instances, in seconds.
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub role: Role,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
}

/// A SMART app's access token (Part 4): the same session claims, the app, what was
/// granted and the launch patient. Its audience is `JWT_AUDIENCE` + `/fhir`, so the
/// first-party routes, which check `JWT_AUDIENCE`, refuse it (401) and only `/api/fhir`
/// takes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SmartClaims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub role: Role,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    pub aud: String,
    pub client_id: Uuid,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<Uuid>,
    /// The app's organization, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Uuid>,
}

/// What a SMART access token is issued for.
pub struct SmartGrant<'a> {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub role: Role,
    pub client_id: Uuid,
    pub scope: &'a str,
    pub patient: Option<Uuid>,
    pub organization: Option<Uuid>,
    pub ttl: Duration,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    smart_validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl JwtKeys {
    pub fn new(settings: &Settings) -> Self {
        let secret = settings.jwt_secret.expose().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_audience(&[&settings.jwt_audience]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        let mut smart_validation = validation.clone();
        smart_validation.set_audience(&[smart_audience(&settings.jwt_audience)]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            smart_validation,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            ttl: settings.access_token_ttl,
        }
    }

    /// Lifetime of an access token, for the bundle's `expires_in`.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user_id: Uuid, session_id: Uuid, role: Role) -> Result<String, ApiError> {
        let now = unix_now();
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            role,
            iat: now,
            exp: now + self.ttl.as_secs(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal_from("signing an access token", e))
    }

    /// Checks signature, algorithm, expiry, issuer, audience and claim presence.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::Unauthorized("The access token is invalid or has expired.".into()))
    }
}

impl JwtKeys {
    pub fn issue_smart(&self, grant: &SmartGrant<'_>) -> Result<String, ApiError> {
        let now = unix_now();
        let claims = SmartClaims {
            sub: grant.user_id,
            sid: grant.session_id,
            role: grant.role,
            iat: now,
            exp: now + grant.ttl.as_secs(),
            iss: self.issuer.clone(),
            aud: smart_audience(&self.audience),
            client_id: grant.client_id,
            scope: grant.scope.to_owned(),
            patient: grant.patient,
            organization: grant.organization,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::internal_from("signing a SMART access token", e))
    }

    /// A SMART app's access token, checked as `verify` checks a first-party one.
    pub fn verify_smart(&self, token: &str) -> Result<SmartClaims, ApiError> {
        jsonwebtoken::decode::<SmartClaims>(token, &self.decoding, &self.smart_validation)
            .map(|data| data.claims)
            .map_err(|_| ApiError::Unauthorized("The access token is invalid or has expired.".into()))
    }

    /// Whether a token's (unverified) audience is a SMART app's, to pick the check.
    pub fn is_smart(&self, token: &str) -> bool {
        let Some(payload) = token.split('.').nth(1) else { return false };
        use base64::Engine;
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else { return false };
        #[derive(Deserialize)]
        struct Audience {
            aud: Option<String>,
        }
        serde_json::from_slice::<Audience>(&bytes)
            .is_ok_and(|a| a.aud.as_deref() == Some(smart_audience(&self.audience).as_str()))
    }
}

fn smart_audience(audience: &str) -> String {
    format!("{audience}/fhir")
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
