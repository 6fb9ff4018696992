//! `POST /api/auth/refresh` and `POST /api/auth/logout`: the refresh-token family.
//!
//! A refresh rotates: the presented token is marked used and a new one joins its session
//! (its family), in one statement that lets exactly one of two concurrent refreshes win.
//! Presenting a token that was already rotated means two parties hold it - the classic
//! sign of theft - so the whole session is revoked and both must sign in again. (A
//! client that refreshes twice in parallel trips this too; clients must serialise
//! refreshes.) A session unused past `SESSION_IDLE_MINUTES` cannot be refreshed.

use axum::extract::State;
use shared::audit::{Audit, Outcome, Verdict};
use shared::auth::refresh;
use shared::db::{Sql, Statement};
use shared::records::user::User;
use shared::records::{FromRow, column};
use shared::validate::{Form, any_string};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use time::OffsetDateTime;
use tokio_postgres::types::Type;

use crate::session::{TokenBundle, refresh_expiry};

static ROTATE: Sql = sql!("sql/refresh_rotate.sql");
static REUSED: Sql = sql!("sql/refresh_reused.sql");
static LOGOUT: Sql = sql!("sql/logout.sql");

const REFRESH_REFUSED: &str = "The refresh token is invalid, expired or revoked; sign in again.";

/// The hash of the body's `refresh_token`.
fn presented_token(body: JsonObject) -> Result<Vec<u8>, ApiError> {
    let mut form = Form::new(body, &["refresh_token"], &[]);
    let token = form.required("refresh_token", any_string(512));
    Ok(refresh::hash(&form.finish_with(token)?))
}

pub async fn refresh(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<TokenBundle>, ApiError> {
    let presented = presented_token(body)?;
    let next = refresh::generate()?;
    let rotated = rotate_statement(
        presented.clone(),
        next.hash.clone(),
        refresh_expiry(&state),
        state.settings.session_idle_minutes,
    )
    .query_opt(&state.db)
    .await?;
    if let Some(row) = rotated {
        let user = User::from_row(&row)?;
        let session_id = column(&row, "session_id")?;
        return Ok(Reply::success("Tokens refreshed.", TokenBundle::new(&state, user, session_id, next)?));
    }
    // Unknown, expired, revoked - or reused. Only reuse changes anything.
    reused_statement(&meta, presented).execute(&state.db).await?;
    Err(ApiError::Unauthorized(REFRESH_REFUSED.into()))
}

fn rotate_statement(
    presented: Vec<u8>,
    next_hash: Vec<u8>,
    expires_at: OffsetDateTime,
    idle_minutes: i32,
) -> Statement {
    Statement::new(&ROTATE)
        .bind("presented", presented)
        .bind("next_hash", next_hash)
        .bind("expires_at", expires_at)
        .bind("idle_minutes", idle_minutes)
        .reads(User::COLUMNS)
        .reads(&[("session_id", Type::UUID)])
}

pub fn reused_statement(meta: &RequestMeta, presented: Vec<u8>) -> Statement {
    let event = Audit::new("auth.refresh_reused", "user").actor_from("user_id").resource_from("user_id");
    Statement::new(&REUSED)
        .bind("presented", presented)
        .audit(meta, event.outcome(Verdict::Always(Outcome::Denied)).for_each_row_of("reused"))
}

/// Revokes the presented token's whole family. Answers the same whether or not the
/// token was known or still live, so logging out is idempotent and reveals nothing.
pub async fn logout(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<serde_json::Value>, ApiError> {
    let presented = presented_token(body)?;
    logout_statement(&meta, presented).execute(&state.db).await?;
    Ok(Reply::success("Signed out.", serde_json::Value::Null))
}

fn logout_statement(meta: &RequestMeta, presented: Vec<u8>) -> Statement {
    let event = Audit::new("auth.logout", "user").actor_from("user_id").resource_from("user_id");
    Statement::new(&LOGOUT).bind("presented", presented).audit(meta, event.for_each_row_of("family"))
}

pub(crate) fn statements(meta: &RequestMeta) -> Vec<Statement> {
    vec![
        rotate_statement(Vec::new(), Vec::new(), OffsetDateTime::UNIX_EPOCH, 60),
        reused_statement(meta, Vec::new()),
        logout_statement(meta, Vec::new()),
    ]
}
