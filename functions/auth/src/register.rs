//! `POST /api/auth/register`: create a user and sign them in.

use axum::extract::State;
use shared::auth::{password, refresh};
use shared::validate::{Form, Lines, email, new_password, text};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta};
use tokio_postgres::types::Type;

use shared::records::user::User;

use crate::session::{TokenBundle, refresh_expiry};

/// Fields of a user a client may see but never set.
pub const USER_READ_ONLY: &[&str] = &["id", "role", "created_at", "updated_at"];

pub async fn register(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<TokenBundle>, ApiError> {
    let mut form = Form::new(body, &["name", "email", "password"], USER_READ_ONLY);
    let name = form.required("name", text(1..=100, Lines::Single));
    let email = form.required("email", email());
    let password = form.required("password", new_password());
    form.finish()?;
    let (Some(name), Some(email), Some(password)) = (name, email, password) else {
        return Err(ApiError::internal("a validated field was absent"));
    };

    let password_hash = password::hash(password).await?;
    let session = refresh::generate()?;
    let expires_at = refresh_expiry(&state);
    // One statement: the user, their first refresh token and the audit event commit
    // together. ON CONFLICT turns a duplicate - including one from a registration racing
    // this one - into "no row", never into a half-made account.
    let row = state
        .db
        .query_opt(
                "WITH new_user AS (
                     INSERT INTO users (name, email, password_hash) VALUES ($1, $2, $3)
                     ON CONFLICT (email) DO NOTHING
                     RETURNING id, name, email, role, created_at
                 ), session AS (
                     INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at)
                     SELECT uuid_v7(), id, $4, $5 FROM new_user
                 ), audit AS (
                     INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                     SELECT u.id, 'auth.register', 'user', u.id,
                            CASE WHEN u.id IS NULL THEN 'denied' ELSE 'success' END, $6, $7
                     FROM (SELECT) AS one LEFT JOIN new_user u ON true
                 )
                 SELECT id, name, email, role, created_at FROM new_user",
                &[
                    (&name, Type::TEXT),
                    (&email, Type::TEXT),
                    (&password_hash, Type::TEXT),
                    (&session.hash, Type::BYTEA),
                    (&expires_at, Type::TIMESTAMPTZ),
                    (&meta.request_id, Type::TEXT),
                    (&meta.source_ip, Type::INET),
                ],
            )
        .await?;
    let row = row.ok_or_else(|| ApiError::Conflict {
        message: "An account with this email already exists.".into(),
        errors: vec![shared::error::FieldError::new("email", "is already registered")],
    })?;
    let user = User::from_row(&row)?;
    Ok(Reply::created("Account created.", TokenBundle::new(&state, user, session)?))
}
