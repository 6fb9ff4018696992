//! `POST /api/auth/refresh` and `POST /api/auth/logout`: the refresh-token family.
//!
//! A refresh rotates: the presented token is marked used and a new one joins its family,
//! in one statement whose `WHERE rotated_at IS NULL` lets exactly one of two concurrent
//! refreshes win. Presenting a token that was already rotated means two parties hold
//! it - the classic sign of theft - so the whole family is revoked and both must sign in
//! again. (A client that refreshes twice in parallel trips this too; clients must
//! serialise refreshes.)

use axum::extract::State;
use shared::auth::refresh;
use shared::validate::{Form, any_string};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta};
use tokio_postgres::types::Type;

use shared::records::user::User;

use crate::session::{TokenBundle, refresh_expiry};

const REFRESH_REFUSED: &str = "The refresh token is invalid, expired or revoked; sign in again.";

fn presented_token(body: JsonObject) -> Result<Vec<u8>, ApiError> {
    let mut form = Form::new(body, &["refresh_token"], &[]);
    let token = form.required("refresh_token", any_string(512));
    form.finish()?;
    token.map(|t| refresh::hash(&t)).ok_or_else(|| ApiError::internal("a validated field was absent"))
}

pub async fn refresh(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<TokenBundle>, ApiError> {
    let presented = presented_token(body)?;
    let next = refresh::generate()?;
    let expires_at = refresh_expiry(&state);
    let rotated = state
        .db
        .query_opt(
            "WITH old AS (
                     UPDATE refresh_tokens SET rotated_at = now()
                     WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now()
                     RETURNING family_id, user_id
                 ), next AS (
                     INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
                     SELECT family_id, user_id, $2, $3 FROM old
                 )
                 SELECT u.id, u.name, u.email, u.role, u.created_at FROM old JOIN users u ON u.id = old.user_id",
            &[(&presented, Type::BYTEA), (&next.hash, Type::BYTEA), (&expires_at, Type::TIMESTAMPTZ)],
        )
        .await?;
    if let Some(row) = rotated {
        // The role is read from the user row, so a promotion or demotion lands here.
        let user = User::from_row(&row)?;
        return Ok(Reply::success("Tokens refreshed.", TokenBundle::new(&state, user, next)?));
    }

    // Unknown, expired, revoked - or reused. Only reuse changes anything.
    state
        .db
        .execute(
            "WITH reused AS (
                     SELECT family_id, user_id FROM refresh_tokens
                     WHERE token_hash = $1 AND rotated_at IS NOT NULL
                 ), revoked AS (
                     UPDATE refresh_tokens SET revoked_at = now()
                     WHERE family_id IN (SELECT family_id FROM reused) AND revoked_at IS NULL
                 )
                 INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                 SELECT user_id, 'auth.refresh_reused', 'user', user_id, 'denied', $2, $3 FROM reused",
            &[(&presented, Type::BYTEA), (&meta.request_id, Type::TEXT), (&meta.source_ip, Type::INET)],
        )
        .await?;
    Err(ApiError::Unauthorized(REFRESH_REFUSED.into()))
}

/// Revokes the presented token's whole family. Answers the same whether or not the
/// token was known or still live, so logging out is idempotent and reveals nothing.
pub async fn logout(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<serde_json::Value>, ApiError> {
    let presented = presented_token(body)?;
    state
        .db
        .execute(
            "WITH family AS (
                     SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = $1
                 ), revoked AS (
                     UPDATE refresh_tokens SET revoked_at = now()
                     WHERE family_id IN (SELECT family_id FROM family) AND revoked_at IS NULL
                 )
                 INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                 SELECT user_id, 'auth.logout', 'user', user_id, 'success', $2, $3 FROM family",
            &[(&presented, Type::BYTEA), (&meta.request_id, Type::TEXT), (&meta.source_ip, Type::INET)],
        )
        .await?;
    Ok(Reply::success("Signed out.", serde_json::Value::Null))
}
