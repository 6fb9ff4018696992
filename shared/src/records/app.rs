//! A registered SMART app (Part 4), as its registrants see it, and the rules for a
//! registration body.

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{FromRow, Reader};
use crate::ApiError;
use crate::auth::scopes::{Context, Scopes};
use crate::body::JsonObject;
use crate::db::{Column, Statement};
use crate::error::FieldError;
use crate::validate::{Form, Lines, Parser, boolean, text};

const READ_ONLY: &[&str] = &["client_id", "organization_id", "created_at"];
const MAX_REDIRECT_URIS: usize = 10;
const MAX_URI_CHARS: usize = 2000;

#[derive(Debug, Serialize)]
pub struct App {
    pub client_id: Uuid,
    pub organization_id: Option<Uuid>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub confidential: bool,
    pub backend: bool,
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub scopes: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl FromRow for App {
    const COLUMNS: &'static [Column] = &[
        ("client_id", Type::UUID),
        ("organization_id", Type::UUID),
        ("name", Type::TEXT),
        ("redirect_uris", Type::TEXT_ARRAY),
        ("confidential", Type::BOOL),
        ("backend", Type::BOOL),
        ("jwks", Type::JSONB),
        ("jwks_uri", Type::TEXT),
        ("scopes", Type::TEXT),
        ("created_at", Type::TIMESTAMPTZ),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            client_id: row.get("client_id")?,
            organization_id: row.get("organization_id")?,
            name: row.get("name")?,
            redirect_uris: row.get("redirect_uris")?,
            confidential: row.get("confidential")?,
            backend: row.get("backend")?,
            jwks: row.get("jwks")?,
            jwks_uri: row.get("jwks_uri")?,
            scopes: row.get("scopes")?,
            created_at: row.get("created_at")?,
        })
    }
}

/// A registration, checked.
#[derive(Debug, Clone)]
pub struct NewApp {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub confidential: bool,
    pub backend: bool,
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    pub scopes: String,
}

impl NewApp {
    /// Binds the fields as `:name`, `:redirect_uris`, ... `:scopes`.
    pub fn bound_into(self, statement: Statement) -> Statement {
        statement
            .bind("name", self.name)
            .bind("redirect_uris", self.redirect_uris)
            .bind("confidential", self.confidential)
            .bind("backend", self.backend)
            .bind("jwks", self.jwks)
            .bind("jwks_uri", self.jwks_uri)
            .bind("scopes", self.scopes)
    }

    /// For building statements outside a request (the schema test).
    pub fn placeholder() -> Self {
        NewApp {
            name: String::new(),
            redirect_uris: Vec::new(),
            confidential: false,
            backend: false,
            jwks: None,
            jwks_uri: None,
            scopes: String::new(),
        }
    }
}

/// A redirect URI or `jwks_uri` we accept: `https://…`, or plain HTTP on this machine
/// (`http://localhost…`, `http://127.0.0.1…`) for development; no fragment.
pub fn acceptable_uri(uri: &str) -> bool {
    let rest = uri.strip_prefix("https://").or_else(|| {
        ["http://localhost", "http://127.0.0.1"]
            .iter()
            .find(|p| uri.strip_prefix(**p).is_some_and(|r| r.is_empty() || r.starts_with([':', '/'])))
            .map(|_| "local")
    });
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && uri.len() <= MAX_URI_CHARS
        && !uri.contains('#')
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn uri() -> Parser<String> {
    Box::new(|value| match value {
        Value::String(s) if acceptable_uri(&s) => Ok(s),
        Value::String(_) => {
            Err("must be an https:// URL (or http://localhost / http://127.0.0.1), without a fragment".into())
        }
        _ => Err("must be a string".into()),
    })
}

fn redirect_uris() -> Parser<Vec<String>> {
    Box::new(|value| {
        let Value::Array(items) = value else { return Err("must be a list of URLs".into()) };
        if items.len() > MAX_REDIRECT_URIS {
            return Err(format!("may list at most {MAX_REDIRECT_URIS} URLs"));
        }
        let mut uris = Vec::with_capacity(items.len());
        for item in items {
            let uri = uri()(item)?;
            if !uris.contains(&uri) {
                uris.push(uri);
            }
        }
        Ok(uris)
    })
}

/// A JWK Set whose every key is an RS384 or ES384 public key we can verify with.
pub fn parse_jwks(value: Value) -> Result<JwkSet, String> {
    let set: JwkSet = serde_json::from_value(value).map_err(|_| "must be a JWK Set: {\"keys\": [...]}".to_string())?;
    if set.keys.is_empty() || set.keys.len() > 10 {
        return Err("must hold 1 to 10 keys".into());
    }
    for key in &set.keys {
        DecodingKey::from_jwk(key).map_err(|_| "holds a key that is not a usable RSA or EC public key".to_string())?;
        if key.common.key_id.as_deref().is_none_or(str::is_empty) {
            return Err("must give every key a kid".into());
        }
    }
    Ok(set)
}

fn jwks() -> Parser<Value> {
    Box::new(|value| parse_jwks(value.clone()).map(|_| value))
}

fn scopes() -> Parser<Scopes> {
    Box::new(|value| match value {
        Value::String(s) => Scopes::parse(&s),
        _ => Err("must be a space-separated string of SMART scopes".into()),
    })
}

/// The body of `POST …/apps`. Every rule that ties fields together is a 400 naming
/// the field at fault.
pub fn parse_app(body: JsonObject) -> Result<NewApp, ApiError> {
    let writable = ["name", "redirect_uris", "confidential", "backend", "jwks", "jwks_uri", "scopes"];
    let mut form = Form::new(body, &writable, READ_ONLY);
    let name = form.required("name", text(1..=100, Lines::Single));
    let redirect_uris = form.optional("redirect_uris", redirect_uris()).into_option().unwrap_or_default();
    let confidential = form.optional("confidential", boolean()).into_option().unwrap_or(false);
    let backend = form.optional("backend", boolean()).into_option().unwrap_or(false);
    let jwks = form.optional("jwks", jwks()).into_option();
    let jwks_uri = form.optional("jwks_uri", uri()).into_option();
    let scopes = form.required("scopes", scopes());
    let (name, scopes) = form.finish_with((name, scopes))?;
    let fault = |field: &str, message: &str| ApiError::Invalid {
        message: "Some fields are invalid.".into(),
        errors: vec![FieldError::new(field, message)],
    };
    if backend && !confidential {
        return Err(fault("backend", "a backend app must be confidential (it signs in with a key)"));
    }
    if confidential && jwks.is_some() == jwks_uri.is_some() {
        return Err(fault("jwks", "a confidential app gives exactly one of jwks and jwks_uri"));
    }
    if !confidential && (jwks.is_some() || jwks_uri.is_some()) {
        return Err(fault("jwks", "only a confidential app has keys"));
    }
    if !backend && redirect_uris.is_empty() {
        return Err(fault("redirect_uris", "must list at least one URL (only a backend app may have none)"));
    }
    if backend && !scopes.has_context(Context::System) {
        return Err(fault("scopes", "a backend app needs at least one system/ scope"));
    }
    if backend && (scopes.has_context(Context::Patient) || scopes.has_context(Context::User)) {
        return Err(fault("scopes", "a backend app acts for no user: system/ scopes only"));
    }
    if !backend && scopes.has_context(Context::System) {
        return Err(fault("scopes", "system/ scopes are for backend apps"));
    }
    Ok(NewApp { name, redirect_uris, confidential, backend, jwks, jwks_uri, scopes: scopes.to_string() })
}
