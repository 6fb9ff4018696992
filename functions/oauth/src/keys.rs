//! The RSA keys that sign ID tokens (RS256), from `SMART_SIGNING_KEYS` (or its secret):
//! a JSON list of `{"kid": "...", "pem": "-----BEGIN RSA PRIVATE KEY-----..."}`. The first
//! signs; all are published at `/api/auth/oauth/jwks`, so during a rotation the previous
//! key (listed second) keeps verifying the tokens it signed until they expire.
//!
//! Parsed once per cold start; a deployment without keys issues no `id_token`, and one
//! with unusable keys answers 503 where they are needed, naming the setting.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use axum::Json;
use axum::extract::State;
use axum::http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use shared::{ApiError, AppState};

pub struct SigningKeys {
    /// The signer: its `kid` and key.
    current: (String, EncodingKey),
    published: JwkSet,
}

#[derive(Deserialize)]
struct KeyEntry {
    kid: String,
    pem: String,
}

type Parsed = Arc<Result<SigningKeys, String>>;

/// Parsed keys by their setting's text: on Lambda one entry per cold start; a process
/// serving several settings (the tests) keeps each apart.
static KEYS: LazyLock<RwLock<HashMap<String, Parsed>>> = LazyLock::new(Default::default);

/// The keys, parsed on first use (a cold start's first ID token or JWKS read).
pub fn signing_keys(state: &AppState) -> Result<Option<Parsed>, ApiError> {
    let Some(text) = state.settings.smart_signing_keys.as_ref().map(|s| s.expose()) else { return Ok(None) };
    let cached = KEYS.read().unwrap_or_else(|e| e.into_inner()).get(text).cloned();
    let parsed = match cached {
        Some(parsed) => parsed,
        None => {
            let parsed = Arc::new(parse(text));
            KEYS.write().unwrap_or_else(|e| e.into_inner()).insert(text.to_owned(), parsed.clone());
            parsed
        }
    };
    match parsed.as_ref() {
        Ok(_) => Ok(Some(parsed)),
        Err(why) => Err(ApiError::NotConfigured(format!("SMART_SIGNING_KEYS is unusable: {why}").into())),
    }
}

fn parse(text: &str) -> Result<SigningKeys, String> {
    let entries: Vec<KeyEntry> =
        serde_json::from_str(text).map_err(|_| "must be a JSON list of {\"kid\", \"pem\"}".to_string())?;
    let mut keys = Vec::with_capacity(entries.len());
    for entry in entries {
        let der = pem_body(&entry.pem).ok_or_else(|| format!("key {:?}: not an RSA PRIVATE KEY PEM", entry.kid))?;
        let key = EncodingKey::from_rsa_der(&der);
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256)
            .map_err(|_| format!("key {:?}: not a usable RSA private key", entry.kid))?;
        jwk.common.key_id = Some(entry.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        keys.push((entry.kid, key, jwk));
    }
    let published = JwkSet { keys: keys.iter().map(|(_, _, jwk)| jwk.clone()).collect() };
    let (kid, key, _) = keys.into_iter().next().ok_or("lists no key")?;
    Ok(SigningKeys { current: (kid, key), published })
}

/// The DER inside a PKCS#1 PEM (`openssl genrsa -traditional`).
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body =
        pem.trim().strip_prefix("-----BEGIN RSA PRIVATE KEY-----")?.strip_suffix("-----END RSA PRIVATE KEY-----")?;
    let joined: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(joined).ok()
}

impl SigningKeys {
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, ApiError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.current.0.clone());
        jsonwebtoken::encode(&header, claims, &self.current.1)
            .map_err(|e| ApiError::internal_from("signing an ID token", e))
    }
}

/// `GET /api/auth/oauth/jwks`: the public keys, for anyone.
pub async fn jwks(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let set = match signing_keys(&state)? {
        Some(keys) => keys.as_ref().as_ref().map(|k| k.published.clone()).unwrap_or(JwkSet { keys: Vec::new() }),
        None => JwkSet { keys: Vec::new() },
    };
    Ok(([(ACCESS_CONTROL_ALLOW_ORIGIN, "*"), (CACHE_CONTROL, "public, max-age=300")], Json(set)))
}
