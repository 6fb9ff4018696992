//! The flows that go through the user's mailbox: forgotten password and reset, email
//! verification and its resend. Tokens are 256 random bits, URL-safe, single use,
//! kept only as SHA-256 (`email_tokens`), and reach the user as a link built from
//! `APP_BASE_URL`. Each email is queued in the outbox by the statement that issues its
//! token, then sent at once (`shared::outbox`); what fails is retried by the operator.

use axum::extract::State;
use shared::audit::{Audit, Verdict};
use shared::auth::{Caller, password, refresh};
use shared::db::{Sql, Statement};
use shared::outbox::{self, Outgoing};
use shared::records::user::User;
use shared::records::{FromRow, column};
use shared::validate::{Form, any_string, email, new_password};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, Settings, sql};
use tokio_postgres::types::Type;

use crate::session::{NewSession, TokenBundle};

static FORGOT: Sql = sql!("sql/password_forgot.sql");
static RESET: Sql = sql!("sql/password_reset.sql");
static VERIFY: Sql = sql!("sql/email_verify.sql");
static RESEND: Sql = sql!("sql/email_resend.sql");

/// Emails of one kind an account may be sent per hour.
const PER_HOUR: i64 = 3;

fn bad_token() -> ApiError {
    ApiError::invalid_field("token", "is not valid: it may have been used already or have expired")
}

/// The link an email carries.
fn link(settings: &Settings, page: &str, token: &str) -> String {
    format!("{}/{page}?token={token}", settings.app_base_url)
}

/// The verification email for a new token (register and resend).
pub fn verification(settings: &Settings, token: &str) -> Result<Outgoing, ApiError> {
    let url = link(settings, "verify-email", token);
    let text = format!("Open this link to confirm your email address:\n\n{url}\n\nThe link works once, for 7 days.");
    Outgoing::new(settings, "Confirm your email address", text)
}

fn reset_link(settings: &Settings, token: &str) -> Result<Outgoing, ApiError> {
    let url = link(settings, "reset-password", token);
    let text = format!(
        "Someone asked to reset the password of this account. If it was you, open this link to choose a new \
         one:\n\n{url}\n\nThe link works once, for 30 minutes. If it was not you, ignore this email."
    );
    Outgoing::new(settings, "Reset your password", text)
}

/// `POST /api/auth/password/forgot`: the same answer whether or not the account exists.
pub async fn forgot(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<serde_json::Value>, ApiError> {
    let mut form = Form::new(body, &["email"], &[]);
    let address = form.required("email", email());
    let address = form.finish_with(address)?;
    let token = refresh::generate()?;
    let mail = reset_link(&state.settings, &token.token)?;
    if let Some(row) = forgot_statement(&meta, address, token.hash, &mail).query_opt(&state.db).await? {
        outbox::send_now(&state, column(&row, "mail_id")?, column(&row, "email")?, mail).await;
    }
    Ok(Reply::success(
        "If an account has this email, a link to reset its password is on its way.",
        serde_json::Value::Null,
    ))
}

fn forgot_statement(meta: &RequestMeta, address: String, token_hash: Vec<u8>, mail: &Outgoing) -> Statement {
    let statement =
        Statement::new(&FORGOT).bind("email", address).bind("token_hash", token_hash).bind("per_hour", PER_HOUR);
    mail.queued_in(statement)
        .audit(
            meta,
            Audit::new("auth.password_reset_requested", "user")
                .actor(None)
                .resource_from("(SELECT id FROM target)")
                .outcome(Verdict::Refused { done: "issued", target: "target" }),
        )
        .reads(MAIL_COLUMNS)
}

/// What a statement that queues an email answers: where to, and the outbox row.
const MAIL_COLUMNS: &[shared::db::Column] = &[("email", Type::TEXT), ("mail_id", Type::UUID)];

/// `POST /api/auth/password/reset`: a new password, and a new session.
pub async fn reset(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<TokenBundle>, ApiError> {
    let mut form = Form::new(body, &["token", "new_password"], &[]);
    let token = form.required("token", any_string(512));
    let new = form.required("new_password", new_password());
    let (token, new) = form.finish_with((token, new))?;
    let session = NewSession::new(&state)?;
    let change = Reset { token_hash: refresh::hash(&token), password_hash: password::hash(new).await? };
    let row = reset_statement(&meta, change, &session).query_opt(&state.db).await?;
    let row = row.ok_or_else(bad_token)?;
    let user = User::from_row(&row)?;
    Ok(Reply::success(
        "Password reset; every earlier session has ended.",
        session.bundle(&state, user, column(&row, "session_id")?)?,
    ))
}

struct Reset {
    token_hash: Vec<u8>,
    password_hash: String,
}

fn reset_statement(meta: &RequestMeta, reset: Reset, session: &NewSession) -> Statement {
    let statement =
        Statement::new(&RESET).bind("token_hash", reset.token_hash).bind("password_hash", reset.password_hash);
    session
        .starting_in(statement)
        .audit(
            meta,
            Audit::new("auth.password_reset", "user")
                .actor_from("(SELECT id FROM changed)")
                .resource_from("(SELECT id FROM changed)")
                .outcome(Verdict::DoneElseDenied("changed")),
        )
        .reads(User::COLUMNS)
        .reads(&[("session_id", Type::UUID)])
}

/// `POST /api/auth/email/verify`.
pub async fn verify(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<serde_json::Value>, ApiError> {
    let mut form = Form::new(body, &["token"], &[]);
    let token = form.required("token", any_string(512));
    let token = form.finish_with(token)?;
    let verified = verify_statement(&meta, refresh::hash(&token)).query_opt(&state.db).await?;
    verified.ok_or_else(bad_token)?;
    Ok(Reply::success("Email address verified.", serde_json::json!({ "email_verified": true })))
}

fn verify_statement(meta: &RequestMeta, token_hash: Vec<u8>) -> Statement {
    Statement::new(&VERIFY).bind("token_hash", token_hash).audit(
        meta,
        Audit::new("auth.email_verified", "user")
            .actor_from("(SELECT id FROM verified)")
            .resource_from("(SELECT id FROM verified)")
            .outcome(Verdict::DoneElseDenied("verified")),
    )
}

/// `POST /api/auth/email/verify/resend`: a new link, unless already verified.
pub async fn resend(State(state): State<AppState>, caller: Caller) -> Result<Reply<serde_json::Value>, ApiError> {
    let token = refresh::generate()?;
    let mail = verification(&state.settings, &token.token)?;
    if let Some(row) = resend_statement(&caller, token.hash, &mail).query_opt(&state.db).await? {
        outbox::send_now(&state, column(&row, "mail_id")?, column(&row, "email")?, mail).await;
        return Ok(Reply::success("A new verification link is on its way.", serde_json::Value::Null));
    }
    Ok(Reply::success(
        "No link was sent: the address is verified already, or enough links were sent this hour.",
        serde_json::Value::Null,
    ))
}

fn resend_statement(caller: &Caller, token_hash: Vec<u8>, mail: &Outgoing) -> Statement {
    let statement = Statement::new(&RESEND).acting_as(caller).bind("token_hash", token_hash).bind("per_hour", PER_HOUR);
    mail.queued_in(statement).reads(MAIL_COLUMNS)
}

pub(crate) fn statements(caller: &Caller, meta: &RequestMeta) -> Vec<Statement> {
    let reset = Reset { token_hash: Vec::new(), password_hash: String::new() };
    let mail = Outgoing::placeholder();
    vec![
        forgot_statement(meta, String::new(), Vec::new(), &mail),
        reset_statement(meta, reset, &NewSession::placeholder()),
        verify_statement(meta, Vec::new()),
        resend_statement(caller, Vec::new(), &mail),
    ]
}
