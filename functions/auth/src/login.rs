//! `POST /api/auth/login`, with throttling that holds across Lambda instances and
//! against concurrent guesses.
//!
//! Failed attempts are rows in `login_failures` (keyed by a hash of the email), so every
//! instance sees the same count. After `MAX_FAILURES` within `WINDOW_MINUTES`, attempts
//! for that email get 429 until enough failures age out. An unknown email and a wrong
//! password take the same path: one argon2 verify (against a dummy hash when there is
//! no user), one write, the same 401 - neither the answer nor its timing tells which.
//!
//! Concurrency: a wrong password is recorded by `record_login_failure` (migrations/0003),
//! which counts and inserts under a per-email lock, so of any number of concurrent wrong
//! guesses at most `MAX_FAILURES` are answered 401 and the rest 429. A correct password
//! takes no lock at all - 32 concurrent correct logins all succeed - and is refused
//! (429) only if the allowance was used up while it was being checked. What this cannot
//! do is stop the guesses of one burst from being *checked*: every request that arrives
//! before the allowance is used up has its password verified, so a burst from a clean
//! state is answered at most 5 × 401 (and a correct guess in it succeeds if it finishes
//! first). Sequential guessing gets exactly 5 per window.

use axum::extract::State;
use serde::Serialize;
use shared::audit::{self, Audit, Outcome, Verdict};
use shared::auth::{password, sha256};
use shared::db::{Sql, Statement};
use shared::records::user::{Status, User};
use shared::records::{FromRow, column};
use shared::validate::{Form, any_string};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, metrics, sql};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::mfa::{self, Challenge};
use crate::session::{NewSession, TokenBundle, signed_in};
use crate::throttle::{MAX_FAILURES, WINDOW_MINUTES, throttled};

static LOOKUP: Sql = sql!("sql/login_lookup.sql");
static SUCCEEDED: Sql = sql!("sql/login_succeeded.sql");
static FAILED: Sql = sql!("sql/login_failed.sql");

const WRONG_CREDENTIALS: &str = "The email or password is incorrect.";

/// A correct password answers with tokens, or - for an account with MFA - with the
/// challenge that `POST /api/auth/mfa/verify` completes.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Answer {
    Tokens(TokenBundle),
    Mfa(Challenge),
}

/// A password login; its outcome is also counted (the `Logins` metric).
pub async fn login(state: State<AppState>, meta: RequestMeta, body: JsonObject) -> Result<Reply<Answer>, ApiError> {
    let result = attempt(state, meta, body).await;
    metrics::login_outcome(match &result {
        Ok(reply) if matches!(reply.data(), Answer::Mfa(_)) => "mfa_required",
        Ok(_) => "success",
        Err(ApiError::Unauthorized(_)) => "invalid_credentials",
        Err(ApiError::RateLimited { .. }) => "throttled",
        Err(ApiError::Forbidden(_)) => "disabled",
        Err(ApiError::Missing(_) | ApiError::Invalid { .. }) => "invalid_request",
        Err(ApiError::Unavailable | ApiError::Busy) => "unavailable",
        Err(_) => "error",
    });
    result
}

async fn attempt(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<Answer>, ApiError> {
    let mut form = Form::new(body, &["email", "password"], &[]);
    let email = form.required("email", any_string(1024));
    let password = form.required("password", any_string(1024));
    let (email, password) = form.finish_with((email, password))?;
    let email = email.trim().to_lowercase();
    let email_hash = sha256(email.as_bytes());

    let row = lookup_statement(email_hash.clone(), email).query_one(&state.db).await?;
    let user_id: Option<Uuid> = column(&row, "id")?;
    if let Some(secs) = column::<Option<i64>>(&row, "retry_after")? {
        return Err(refuse_throttled(&state, &meta, user_id, secs).await);
    }

    let stored_hash: Option<String> = column(&row, "password_hash")?;
    let matches = password::verify(password, stored_hash.unwrap_or_else(|| password::DUMMY_HASH.into())).await?;
    match user_id.filter(|_| matches) {
        Some(user_id) => sign_in(&state, &meta, &row, email_hash, user_id).await,
        None => {
            let recorded: bool =
                column(&failed_statement(&meta, email_hash, user_id).query_one(&state.db).await?, "recorded")?;
            match recorded {
                true => Err(ApiError::Unauthorized(WRONG_CREDENTIALS.into())),
                false => Err(throttled()),
            }
        }
    }
}

/// The password was right: a disabled account is refused (403), anyone else gets a
/// session unless the email was throttled meanwhile.
async fn sign_in(
    state: &AppState,
    meta: &RequestMeta,
    row: &Row,
    email_hash: Vec<u8>,
    user_id: Uuid,
) -> Result<Reply<Answer>, ApiError> {
    let user = User::from_row(row)?;
    if user.status == Status::Disabled {
        let event = Audit::new("auth.login", "user").actor(Some(user_id)).resource(user_id);
        audit::event_only(meta, event.outcome(Verdict::Always(Outcome::Denied))).execute(&state.db).await?;
        return Err(ApiError::Forbidden("This account is disabled; ask an administrator.".into()));
    }
    if user.mfa_enabled {
        let challenge = mfa::challenge(state, email_hash, user_id).await?;
        let challenge = challenge.ok_or_else(throttled)?;
        return Ok(Reply::success(
            "Password accepted; now send a code to /api/auth/mfa/verify.",
            Answer::Mfa(challenge),
        ));
    }
    let session = NewSession::new(state)?;
    let started = succeeded_statement(meta, email_hash, user_id, &session).query_one(&state.db).await?;
    let session_id = column::<Option<Uuid>>(&started, "session_id")?.ok_or_else(throttled)?;
    Ok(Reply::success("Signed in.", Answer::Tokens(session.bundle(state, user, session_id)?)))
}

/// Records the throttled attempt and answers 429.
async fn refuse_throttled(state: &AppState, meta: &RequestMeta, user_id: Option<Uuid>, retry_after: i64) -> ApiError {
    let event = Audit::new("auth.login_throttled", "user").actor(user_id).resource(user_id);
    match audit::event_only(meta, event.outcome(Verdict::Always(Outcome::Denied))).execute(&state.db).await {
        Ok(()) => ApiError::RateLimited { retry_after_secs: retry_after.max(1) as u64 },
        Err(e) => e,
    }
}

pub fn lookup_statement(email_hash: Vec<u8>, email: String) -> Statement {
    Statement::new(&LOOKUP)
        .bind("email_hash", email_hash)
        .bind("email", email)
        .bind("max_failures", MAX_FAILURES)
        .bind("window_minutes", WINDOW_MINUTES)
        .reads(User::COLUMNS)
        .reads(&[("password_hash", Type::TEXT), ("retry_after", Type::INT8)])
}

fn succeeded_statement(meta: &RequestMeta, email_hash: Vec<u8>, user_id: Uuid, session: &NewSession) -> Statement {
    let statement = Statement::new(&SUCCEEDED)
        .bind("email_hash", email_hash)
        .bind("user_id", user_id)
        .bind("max_failures", MAX_FAILURES)
        .bind("window_minutes", WINDOW_MINUTES);
    session.starting_in(statement).audit(meta, signed_in(user_id)).reads(&[("session_id", Type::UUID)])
}

pub fn failed_statement(meta: &RequestMeta, email_hash: Vec<u8>, user_id: Option<Uuid>) -> Statement {
    let event = Audit::new("auth.login_failed", "user").actor(user_id).resource(user_id);
    Statement::new(&FAILED)
        .bind("email_hash", email_hash)
        .bind("max_failures", MAX_FAILURES)
        .bind("window_minutes", WINDOW_MINUTES)
        .audit(meta, event.outcome(Verdict::Always(Outcome::Denied)))
        .reads(&[("recorded", Type::BOOL)])
}

pub(crate) fn statements(meta: &RequestMeta) -> Vec<Statement> {
    let id = Uuid::nil();
    let event = Audit::new("auth.login_throttled", "user").actor(None).resource(None);
    vec![
        lookup_statement(Vec::new(), String::new()),
        audit::event_only(meta, event.outcome(Verdict::Always(Outcome::Denied))),
        succeeded_statement(meta, Vec::new(), id, &NewSession::placeholder()),
        failed_statement(meta, Vec::new(), None),
    ]
}
