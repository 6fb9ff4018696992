//! The auth function: `/api/auth/*` and `/api/health`. Handlers live in one module per
//! flow, each flow's statements in `sql/`; `session` holds what the flows share (the
//! token bundle).

mod login;
mod register;
mod session;
mod tokens;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use shared::auth::{Caller, Role};
use shared::db::{Sql, Statement};
use shared::records::FromRow;
use shared::records::user::User;
use shared::{ApiError, AppState, Reply, RequestMeta, sql};

pub use session::TokenBundle;

const REGISTER: &str = "/api/auth/register";
const LOGIN: &str = "/api/auth/login";
const REFRESH: &str = "/api/auth/refresh";
const LOGOUT: &str = "/api/auth/logout";
const ME: &str = "/api/auth/me";
const HEALTH: &str = "/api/health";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] = &[REGISTER, LOGIN, REFRESH, LOGOUT, ME, HEALTH];

static ME_SQL: Sql = sql!("sql/me.sql");

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(REGISTER, post(register::register))
        .route(LOGIN, post(login::login))
        .route(REFRESH, post(tokens::refresh))
        .route(LOGOUT, post(tokens::logout))
        .route(ME, get(me))
        .route(HEALTH, get(health))
        .with_state(state)
}

async fn me(State(state): State<AppState>, caller: Caller) -> Result<Reply<User>, ApiError> {
    let row = me_statement(&caller).query_opt(&state.db).await?;
    // A valid token for a deleted account: the identity it names is gone.
    let row = row.ok_or_else(|| ApiError::Unauthorized("The account behind this token no longer exists.".into()))?;
    Ok(Reply::success("Current user.", User::from_row(&row)?))
}

fn me_statement(caller: &Caller) -> Statement {
    Statement::new(&ME_SQL).acting_as(caller).reads(User::COLUMNS)
}

async fn health(State(state): State<AppState>) -> Result<Reply<serde_json::Value>, ApiError> {
    state.db.ping().await.map_err(|_| ApiError::Unavailable)?;
    Ok(Reply::success("The service is healthy.", serde_json::json!({ "database": "ok" })))
}

/// Every statement this function issues, built as its handlers build them (with
/// placeholder values), for the test that prepares each against the schema.
pub fn statements() -> Vec<Statement> {
    let meta = RequestMeta::placeholder();
    let mut all = vec![me_statement(&Caller { id: uuid::Uuid::nil(), role: Role::User })];
    all.extend(login::statements(&meta));
    all.extend(register::statements(&meta));
    all.extend(tokens::statements(&meta));
    all
}
