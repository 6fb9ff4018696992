//! `POST /api/auth/login`, with throttling that holds across Lambda instances.
//!
//! Failed attempts are rows in `login_failures` (keyed by a hash of the email), so every
//! instance sees the same count. After 5 failures within 15 minutes (the rule is in
//! `sql/login_lookup.sql`), attempts for that email get 429 until enough failures age
//! out. An unknown email and a wrong password take the same path: one argon2 verify
//! (against a dummy hash when there is no user), one write, the same 401 - neither the
//! answer nor its timing tells which it was.
//!
//! Two concurrent wrong guesses can both pass the check before either is recorded, so
//! a burst may get a few attempts past the limit; sequential guessing cannot.

use axum::extract::State;
use shared::audit::{self, Audit, Outcome, Verdict};
use shared::auth::{password, refresh, sha256};
use shared::db::{Sql, Statement};
use shared::records::user::User;
use shared::records::{FromRow, flag};
use shared::validate::{Form, any_string};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use time::OffsetDateTime;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::session::{TokenBundle, refresh_expiry};

static LOOKUP: Sql = sql!("sql/login_lookup.sql");
static SUCCEEDED: Sql = sql!("sql/login_succeeded.sql");
static FAILED: Sql = sql!("sql/login_failed.sql");

const WRONG_CREDENTIALS: &str = "The email or password is incorrect.";

pub async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<TokenBundle>, ApiError> {
    let mut form = Form::new(body, &["email", "password"], &[]);
    let email = form.required("email", any_string(1024));
    let password = form.required("password", any_string(1024));
    let (email, password) = form.finish_with((email, password))?;
    let email = email.trim().to_lowercase();
    let email_hash = sha256(email.as_bytes());

    let row = lookup_statement(email_hash.clone(), email).query_one(&state.db).await?;
    let user_id: Option<Uuid> = flag(&row, "id")?;
    if let Some(secs) = flag::<Option<i64>>(&row, "retry_after")? {
        throttled_statement(&meta, user_id).execute(&state.db).await?;
        return Err(ApiError::RateLimited { retry_after_secs: secs.max(1) as u64 });
    }

    let stored_hash: Option<String> = flag(&row, "password_hash")?;
    let matches = password::verify(password, stored_hash.unwrap_or_else(|| password::DUMMY_HASH.into())).await?;
    match user_id.filter(|_| matches) {
        Some(user_id) => {
            let session = refresh::generate()?;
            succeeded_statement(&meta, email_hash, user_id, session.hash.clone(), refresh_expiry(&state))
                .execute(&state.db)
                .await?;
            let user = User::from_row(&row)?;
            Ok(Reply::success("Signed in.", TokenBundle::new(&state, user, session)?))
        }
        None => {
            failed_statement(&meta, email_hash, user_id).execute(&state.db).await?;
            Err(ApiError::Unauthorized(WRONG_CREDENTIALS.into()))
        }
    }
}

fn lookup_statement(email_hash: Vec<u8>, email: String) -> Statement {
    Statement::new(&LOOKUP)
        .bind("email_hash", email_hash)
        .bind("email", email)
        .reads(User::COLUMNS)
        .reads(&[("password_hash", Type::TEXT), ("retry_after", Type::INT8)])
}

fn throttled_statement(meta: &RequestMeta, user_id: Option<Uuid>) -> Statement {
    let event = Audit::new("auth.login_throttled", "user").actor(user_id).resource(user_id);
    audit::event_only(meta, event.outcome(Verdict::Always(Outcome::Denied)))
}

fn succeeded_statement(
    meta: &RequestMeta,
    email_hash: Vec<u8>,
    user_id: Uuid,
    token_hash: Vec<u8>,
    expires_at: OffsetDateTime,
) -> Statement {
    Statement::new(&SUCCEEDED)
        .bind("email_hash", email_hash)
        .bind("user_id", user_id)
        .bind("token_hash", token_hash)
        .bind("expires_at", expires_at)
        .audit(meta, Audit::new("auth.login", "user").actor(Some(user_id)).resource(user_id))
}

fn failed_statement(meta: &RequestMeta, email_hash: Vec<u8>, user_id: Option<Uuid>) -> Statement {
    let event = Audit::new("auth.login_failed", "user").actor(user_id).resource(user_id);
    Statement::new(&FAILED).bind("email_hash", email_hash).audit(meta, event.outcome(Verdict::Always(Outcome::Denied)))
}

pub(crate) fn statements(meta: &RequestMeta) -> Vec<Statement> {
    let id = Uuid::nil();
    vec![
        lookup_statement(Vec::new(), String::new()),
        throttled_statement(meta, None),
        succeeded_statement(meta, Vec::new(), id, Vec::new(), OffsetDateTime::UNIX_EPOCH),
        failed_statement(meta, Vec::new(), None),
    ]
}
