//! What register, login, refresh and the other sign-in flows answer with: a token
//! bundle holding a fresh access token for the session, its refresh token, and the user.

use serde::Serialize;
use shared::auth::refresh::NewRefreshToken;
use shared::records::user::User;
use shared::{ApiError, AppState};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct TokenBundle {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: User,
}

impl TokenBundle {
    pub fn new(state: &AppState, user: User, session_id: Uuid, refresh: NewRefreshToken) -> Result<Self, ApiError> {
        Ok(Self {
            access_token: state.jwt.issue(user.id, session_id, user.role)?,
            refresh_token: refresh.token,
            token_type: "Bearer",
            expires_in: state.jwt.ttl().as_secs(),
            user,
        })
    }
}

/// When a refresh token issued now stops working.
pub fn refresh_expiry(state: &AppState) -> OffsetDateTime {
    OffsetDateTime::now_utc() + state.settings.refresh_token_ttl
}
