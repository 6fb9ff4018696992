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
}

impl Caller {
    /// A caller that never came from a token, for building statements outside a request
    /// (each function's `statements()`, for the schema test): as most requests are, with
    /// no `last_used_at` write due.
    pub fn placeholder(role: Role) -> Self {
        Self { id: Uuid::nil(), role, session_id: Uuid::nil(), session_idle_minutes: 60, touch_session: false }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthorized("Authentication is required: send Authorization: Bearer <token>.".into())
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("The Authorization header must be: Bearer <token>.".into()))?;
        let claims = state.jwt.verify(token)?;
        Ok(Caller {
            id: claims.sub,
            role: claims.role,
            session_id: claims.sid,
            session_idle_minutes: state.settings.session_idle_minutes,
            touch_session: state.session_touches.due(claims.sid),
        })
    }
}
