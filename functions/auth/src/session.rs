//! What every sign-in flow shares: the one way a session starts (`NewSession`, bound
//! into the flow's statement for `start_session`, migrations/0007), the audit event of a
//! sign-in, and the token bundle the flow answers with.

use serde::Serialize;
use shared::audit::{Audit, Verdict};
use shared::auth::refresh::{self, NewRefreshToken};
use shared::db::Statement;
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
    /// A fresh access token for the session, beside its current refresh token.
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

/// A session about to start: its first refresh token and its expiry. The flow's
/// statement calls `start_session(user, :session_token_hash, :session_expires_at)` from
/// its `session` CTE; `starting_in` binds those, `bundle` makes the answer from the id.
pub struct NewSession {
    refresh: NewRefreshToken,
    expires_at: OffsetDateTime,
}

impl NewSession {
    pub fn new(state: &AppState) -> Result<Self, ApiError> {
        Ok(Self { refresh: refresh::generate()?, expires_at: refresh_expiry(state) })
    }

    /// What the statement builders are given for the schema test.
    pub fn placeholder() -> Self {
        Self {
            refresh: NewRefreshToken { token: String::new(), hash: Vec::new() },
            expires_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    pub fn starting_in(&self, statement: Statement) -> Statement {
        statement.bind("session_token_hash", self.refresh.hash.clone()).bind("session_expires_at", self.expires_at)
    }

    pub fn bundle(self, state: &AppState, user: User, session_id: Uuid) -> Result<TokenBundle, ApiError> {
        TokenBundle::new(state, user, session_id, self.refresh)
    }
}

/// The event of a sign-in that starts a session (a password, or with MFA the code step):
/// `success` when the statement's `session` CTE made one.
pub fn signed_in(user_id: Uuid) -> Audit {
    Audit::new("auth.login", "user").actor(Some(user_id)).resource(user_id).outcome(Verdict::DoneElseDenied("session"))
}

/// When a refresh token issued now stops working.
pub fn refresh_expiry(state: &AppState) -> OffsetDateTime {
    OffsetDateTime::now_utc() + state.settings.refresh_token_ttl
}
