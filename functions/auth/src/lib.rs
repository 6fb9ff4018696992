//! The auth function: `/api/auth/*` and `/api/health`. Handlers live in one module per
//! flow, each flow's statements in `sql/`; `session` holds what the sign-in flows share
//! (how a session starts, the token bundle), `throttle` the login limits.

mod email;
mod login;
mod mfa;
mod password;
mod register;
mod session;
mod sessions;
mod throttle;
mod tokens;

use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get, post, put};
use shared::auth::{Caller, Role};
use shared::db::{Sql, Statement};
use shared::records::FromRow;
use shared::records::user::User;
use shared::{ApiError, AppState, Reply, RequestMeta, sql};

pub use session::TokenBundle;

/// What the OAuth function's sign-in shares with the password login: the same lookup,
/// the same failure counting and the same throttle (Part 4: "failed sign-ins count
/// towards the login throttle as in Part 1").
pub mod sign_in {
    pub use crate::login::{failed_statement, lookup_statement};
    pub use crate::throttle::{MAX_FAILURES, WINDOW_MINUTES, throttled};
    pub use crate::tokens::reused_statement;
}

const REGISTER: &str = "/api/auth/register";
const LOGIN: &str = "/api/auth/login";
const REFRESH: &str = "/api/auth/refresh";
const LOGOUT: &str = "/api/auth/logout";
const ME: &str = "/api/auth/me";
const SESSIONS: &str = "/api/auth/sessions";
const SESSION: &str = "/api/auth/sessions/{id}";
const LOGOUT_ALL: &str = "/api/auth/logout-all";
const PASSWORD: &str = "/api/auth/password";
const PASSWORD_FORGOT: &str = "/api/auth/password/forgot";
const PASSWORD_RESET: &str = "/api/auth/password/reset";
const EMAIL_VERIFY: &str = "/api/auth/email/verify";
const EMAIL_RESEND: &str = "/api/auth/email/verify/resend";
const MFA_TOTP: &str = "/api/auth/mfa/totp";
const MFA_CONFIRM: &str = "/api/auth/mfa/totp/confirm";
const MFA_DISABLE: &str = "/api/auth/mfa/disable";
const MFA_VERIFY: &str = "/api/auth/mfa/verify";
const HEALTH: &str = "/api/health";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] = &[
    REGISTER,
    LOGIN,
    REFRESH,
    LOGOUT,
    ME,
    SESSIONS,
    SESSION,
    LOGOUT_ALL,
    PASSWORD,
    PASSWORD_FORGOT,
    PASSWORD_RESET,
    EMAIL_VERIFY,
    EMAIL_RESEND,
    MFA_TOTP,
    MFA_CONFIRM,
    MFA_DISABLE,
    MFA_VERIFY,
    HEALTH,
];

static ME_SQL: Sql = sql!("sql/me.sql");

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(REGISTER, post(register::register))
        .route(LOGIN, post(login::login))
        .route(REFRESH, post(tokens::refresh))
        .route(LOGOUT, post(tokens::logout))
        .route(ME, get(me))
        .route(SESSIONS, get(sessions::list))
        .route(SESSION, delete(sessions::revoke))
        .route(LOGOUT_ALL, post(sessions::logout_all))
        .route(PASSWORD, put(password::change))
        .route(PASSWORD_FORGOT, post(email::forgot))
        .route(PASSWORD_RESET, post(email::reset))
        .route(EMAIL_VERIFY, post(email::verify))
        .route(EMAIL_RESEND, post(email::resend))
        .route(MFA_TOTP, post(mfa::enrol))
        .route(MFA_CONFIRM, post(mfa::confirm))
        .route(MFA_DISABLE, post(mfa::disable))
        .route(MFA_VERIFY, post(mfa::verify))
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

/// 200 while Postgres answers. A feature the deployment left unconfigured (MFA without a
/// data key, email without a sender) is reported as degraded, not as a failure: the rest
/// of the API works, and a load balancer must not take the function out for it.
async fn health(State(state): State<AppState>) -> Result<Reply<serde_json::Value>, ApiError> {
    state.db.ping().await.map_err(|_| ApiError::Unavailable)?;
    let mfa = if state.settings.data_keys.configured() { "ok" } else { "not_configured" };
    let mail = if state.settings.mail.configured() { "ok" } else { "not_configured" };
    let degraded: Vec<&str> = [("mfa", mfa), ("mail", mail)]
        .into_iter()
        .filter(|(_, status)| *status != "ok")
        .map(|(component, _)| component)
        .collect();
    let message = match degraded.is_empty() {
        true => "The service is healthy.",
        false => "The service is up; some features are not configured (see degraded).",
    };
    let data = serde_json::json!({ "database": "ok", "mfa": mfa, "mail": mail, "degraded": degraded });
    Ok(Reply::success(message, data))
}

/// Every statement this function issues, built as its handlers build them (with
/// placeholder values), for the test that prepares each against the schema.
pub fn statements() -> Vec<Statement> {
    let (caller, meta) = (Caller::placeholder(Role::User), RequestMeta::placeholder());
    // `me` once more as the once-a-minute request that also moves `last_used_at`.
    let mut all = vec![me_statement(&caller), me_statement(&Caller { touch_session: true, ..caller })];
    all.extend(sessions::statements(&caller, &meta));
    all.extend(password::statements(&caller, &meta));
    all.extend(email::statements(&caller, &meta));
    all.extend(mfa::statements(&caller, &meta));
    all.extend(login::statements(&meta));
    all.extend(register::statements(&meta));
    all.extend(tokens::statements(&meta));
    all
}
