//! `Caller`: the authenticated user behind a request, taken from its bearer token.
//! Adding `caller: Caller` to a handler's arguments makes the route authenticated.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ApiError, AppState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// Roles as the database stores them; anything else is a corrupt row.
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        match value {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(ApiError::internal(format!("unknown role in database: {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub id: Uuid,
    pub role: Role,
    /// The session the access token belongs to (claim `sid`), which every statement
    /// the caller runs checks is still live.
    pub session_id: Uuid,
    /// How long that session may go unused (`SESSION_IDLE_MINUTES`).
    pub session_idle_minutes: i32,
    /// This request should move the session's `last_used_at` (once a minute, see
    /// `state::SessionTouches`).
    pub touch_session: bool,
    /// The app acting for the user, when the token is a SMART grant's (`/api/fhir` only).
    pub app: Option<AppGrant>,
}

/// What a SMART app's token narrows a user's reach to, for one request: the app (its
/// `client_id`, which audit events record), its organization (an app of an organization
/// reaches only that organization's patients) and, when the interaction is granted only
/// by `patient/` scopes, the launch patient. `Statement::acting_as` composes these into
/// every access piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppGrant {
    pub client_id: Uuid,
    pub organization: Option<Uuid>,
    pub patient: Option<Uuid>,
}

impl Caller {
    /// A caller that never came from a token, for building statements outside a request
    /// (each function's `statements()`, for the schema test): as most requests are, with
    /// no `last_used_at` write due.
    pub fn placeholder(role: Role) -> Self {
        Self {
            id: Uuid::nil(),
            role,
            session_id: Uuid::nil(),
            session_idle_minutes: 60,
            touch_session: false,
            app: None,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let claims = state.jwt.verify(bearer_token(parts)?)?;
        Ok(Caller::from_token(state, claims.sub, claims.role, claims.sid, None))
    }
}

impl Caller {
    /// The caller a verified token names.
    pub fn from_token(state: &AppState, id: Uuid, role: Role, session_id: Uuid, app: Option<AppGrant>) -> Self {
        Caller {
            id,
            role,
            session_id,
            session_idle_minutes: state.settings.session_idle_minutes,
            touch_session: state.session_touches.due(session_id),
            app,
        }
    }
}

/// The token of the request's `Authorization: Bearer` header (401 without one).
pub fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized("Authentication is required: send Authorization: Bearer <token>.".into())
    })?;
    header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("The Authorization header must be: Bearer <token>.".into()))
}
