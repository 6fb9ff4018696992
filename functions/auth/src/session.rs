//! What register, login and refresh all answer with: the user as clients see it, and a
//! token bundle holding a fresh access token and refresh token.

use serde::Serialize;
use shared::auth::{Role, refresh::NewRefreshToken};
use shared::{ApiError, AppState};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl UserView {
    /// Reads the columns `id, name, email, role, created_at`.
    pub fn from_row(row: &Row) -> Result<Self, ApiError> {
        Ok(Self {
            id: row.try_get("id").map_err(ApiError::internal)?,
            name: row.try_get("name").map_err(ApiError::internal)?,
            email: row.try_get("email").map_err(ApiError::internal)?,
            role: Role::parse(row.try_get("role").map_err(ApiError::internal)?)?,
            created_at: row.try_get("created_at").map_err(ApiError::internal)?,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct TokenBundle {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: UserView,
}

impl TokenBundle {
    pub fn new(state: &AppState, user: UserView, refresh: NewRefreshToken) -> Result<Self, ApiError> {
        Ok(Self {
            access_token: state.jwt.issue(user.id, user.role)?,
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
