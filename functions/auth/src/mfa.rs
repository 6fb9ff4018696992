//! TOTP multi-factor authentication: enrol (`POST /api/auth/mfa/totp`), confirm with a
//! first code and receive 10 recovery codes (`.../totp/confirm`), turn off with the
//! password and a code (`.../mfa/disable`), and the second step of a login
//! (`.../mfa/verify`), which trades the login's `mfa_token` and a code for a session.
//!
//! The secret is sealed with `DATA_KEY` (shared::crypto) before it is stored. A code is
//! accepted once: the step it was for becomes the last accepted one, and only a later
//! step is accepted after it. Wrong codes count towards the email's login throttling,
//! and an `mfa_token` is spent by one success or 5 wrong codes. It is a random token
//! looked up by its hash - never a JWT - so it can never pass as an access token.

use axum::extract::State;
use serde::Serialize;
use shared::audit::{self, Audit, Outcome, Verdict};
use shared::auth::{Caller, password, refresh, sha256};
use shared::crypto::DataKeys;
use shared::db::{Sql, Statement};
use shared::records::user::User;
use shared::records::{FromRow, column};
use shared::validate::{Form, Patch, any_string};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::session::{NewSession, TokenBundle, signed_in};
use crate::throttle::{MAX_FAILURES, WINDOW_MINUTES, throttled};
use shared::auth::totp;

static ENROL: Sql = sql!("sql/mfa_enrol.sql");
static FACTOR: Sql = sql!("sql/mfa_factor.sql");
static CONFIRM: Sql = sql!("sql/mfa_confirm.sql");
static DISABLE: Sql = sql!("sql/mfa_disable.sql");
static CHALLENGE: Sql = sql!("sql/mfa_challenge.sql");
static CHALLENGE_LOOKUP: Sql = sql!("sql/mfa_challenge_lookup.sql");
static FAILED: Sql = sql!("sql/mfa_failed.sql");
static SUCCEEDED: Sql = sql!("sql/mfa_succeeded.sql");

/// How long a login's `mfa_token` lives, and how many wrong codes it survives.
pub const CHALLENGE_SECONDS: i32 = 300;
const MAX_ATTEMPTS: i32 = 5;
const ISSUER: &str = "Healthcare API";

/// The key TOTP secrets are sealed under; without one this deployment offers no MFA
/// (503, and `GET /api/health` says so), rather than failing as if it were a bug.
fn data_keys(state: &AppState) -> Result<&DataKeys, ApiError> {
    match state.settings.data_keys.configured() {
        true => Ok(&state.settings.data_keys),
        false => Err(ApiError::NotConfigured(
            "Multi-factor authentication is not configured on this server (it has no data key); ask its operator."
                .into(),
        )),
    }
}

#[derive(Serialize)]
pub struct Enrolment {
    secret: String,
    otpauth_uri: String,
}

/// `POST /api/auth/mfa/totp`: a new secret, to be confirmed with a code from it.
pub async fn enrol(State(state): State<AppState>, caller: Caller) -> Result<Reply<Enrolment>, ApiError> {
    let mut secret = [0u8; totp::SECRET_BYTES];
    aws_lc_rs::rand::fill(&mut secret).map_err(|_| ApiError::internal("the system random source failed"))?;
    let sealed = data_keys(&state)?.seal(&secret)?;
    let row = enrol_statement(&caller, sealed).query_opt(&state.db).await?;
    let row = row.ok_or_else(|| ApiError::conflict("Multi-factor authentication is on already; turn it off first."))?;
    let email: String = column(&row, "email")?;
    let secret = totp::base32(&secret);
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20");
    let otpauth_uri = format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits=6&period=30",
        encode(ISSUER),
        encode(&email),
        encode(ISSUER)
    );
    Ok(Reply::success(
        "Scan the secret into an authenticator app, then confirm with a code.",
        Enrolment { secret, otpauth_uri },
    ))
}

fn enrol_statement(caller: &Caller, sealed: Vec<u8>) -> Statement {
    Statement::new(&ENROL).acting_as(caller).bind("sealed", sealed).reads(&[("email", Type::TEXT)])
}

/// The caller's factor row, with `recovery_hash` checked against their unused codes.
async fn factor(state: &AppState, caller: &Caller, recovery_hash: Option<Vec<u8>>) -> Result<Row, ApiError> {
    factor_statement(caller, recovery_hash).query_one(&state.db).await
}

fn factor_statement(caller: &Caller, recovery_hash: Option<Vec<u8>>) -> Statement {
    Statement::new(&FACTOR).acting_as(caller).bind("recovery_hash", recovery_hash).reads(&[
        ("mfa_secret", Type::BYTEA),
        ("mfa_pending_secret", Type::BYTEA),
        ("mfa_last_step", Type::INT8),
        ("password_hash", Type::TEXT),
        ("recovery_ok", Type::BOOL),
    ])
}

#[derive(Serialize)]
pub struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// `POST /api/auth/mfa/totp/confirm`: MFA is on once a code from the pending secret
/// checks out; the answer carries the recovery codes, shown this once.
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<RecoveryCodes>, ApiError> {
    let mut form = Form::new(body, &["code"], &[]);
    let code = form.required("code", any_string(16));
    let code = form.finish_with(code)?;
    let row = factor(&state, &caller, None).await?;
    let no_enrolment = || ApiError::conflict("No enrolment is waiting: start one with POST /api/auth/mfa/totp.");
    if column::<Option<Vec<u8>>>(&row, "mfa_secret")?.is_some() {
        return Err(ApiError::conflict("Multi-factor authentication is on already."));
    }
    let pending: Vec<u8> = column::<Option<Vec<u8>>>(&row, "mfa_pending_secret")?.ok_or_else(no_enrolment)?;
    let secret = data_keys(&state)?.open(&pending)?;
    let step = totp::matching_step(&secret, &code, totp::now_step())
        .ok_or_else(|| ApiError::invalid_field("code", "is not the current code of the new secret"))?;

    let mut codes = Vec::with_capacity(totp::RECOVERY_CODES);
    while codes.len() < totp::RECOVERY_CODES {
        let mut random = [0u8; 10];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| ApiError::internal("the system random source failed"))?;
        let code = totp::recovery_code(&random);
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    let hashes = codes.iter().map(|c| sha256(totp::normalise_recovery_code(c).as_bytes())).collect();
    let confirmed = confirm_statement(&caller, &meta, pending, step, hashes).query_opt(&state.db).await?;
    confirmed.ok_or_else(no_enrolment)?;
    Ok(Reply::updated(
        "Multi-factor authentication is on. Keep the recovery codes somewhere safe.",
        RecoveryCodes { recovery_codes: codes },
    ))
}

fn confirm_statement(
    caller: &Caller,
    meta: &RequestMeta,
    pending: Vec<u8>,
    step: i64,
    hashes: Vec<Vec<u8>>,
) -> Statement {
    Statement::new(&CONFIRM)
        .acting_as(caller)
        .bind("pending", pending)
        .bind("step", step)
        .bind("code_hashes", hashes)
        .audit(
            meta,
            Audit::new("auth.mfa_enabled", "user").resource(caller.id).outcome(Verdict::DoneElseDenied("confirmed")),
        )
}

/// The second factor a request offers: a TOTP code or a recovery code, exactly one.
enum Offered {
    Code(String),
    Recovery(String),
}

impl Offered {
    fn recovery_hash(&self) -> Option<Vec<u8>> {
        match self {
            Offered::Recovery(code) => Some(sha256(totp::normalise_recovery_code(code).as_bytes())),
            Offered::Code(_) => None,
        }
    }

    /// The TOTP step it proves (`Some(step)`), or for a recovery code `Some(None)`
    /// when the code is one of the user's unused ones; `None`: wrong or replayed.
    fn check(&self, secret: &[u8], last_step: Option<i64>, recovery_ok: bool) -> Option<Option<i64>> {
        match self {
            Offered::Code(code) => totp::matching_step(secret, code, totp::now_step())
                .filter(|step| last_step.is_none_or(|last| *step > last))
                .map(Some),
            Offered::Recovery(_) => recovery_ok.then_some(None),
        }
    }
}

fn offered(form: &mut Form) -> Option<Offered> {
    let code = form.optional("code", any_string(16));
    let recovery = form.optional("recovery_code", any_string(32));
    match (code, recovery) {
        (Patch::Set(code), Patch::Absent) => Some(Offered::Code(code)),
        (Patch::Absent, Patch::Set(recovery)) => Some(Offered::Recovery(recovery)),
        _ => None,
    }
}

fn one_factor() -> ApiError {
    ApiError::invalid_field("code", "send either code or recovery_code (one of them)")
}

/// `POST /api/auth/mfa/disable`: the password and a second factor, or 403.
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<serde_json::Value>, ApiError> {
    let mut form = Form::new(body, &["password", "code", "recovery_code"], &[]);
    let password = form.required("password", any_string(1024));
    let factor_offered = offered(&mut form);
    let password = form.finish_with(password)?;
    let factor_offered = factor_offered.ok_or_else(one_factor)?;

    let row = factor(&state, &caller, factor_offered.recovery_hash()).await?;
    let Some(sealed) = column::<Option<Vec<u8>>>(&row, "mfa_secret")? else {
        return Err(ApiError::conflict("Multi-factor authentication is off already."));
    };
    let password_ok = password::verify(password, column(&row, "password_hash")?).await?;
    let secret = data_keys(&state)?.open(&sealed)?;
    let proof = factor_offered.check(&secret, column(&row, "mfa_last_step")?, column(&row, "recovery_ok")?);
    let disabled = match (password_ok, proof) {
        (true, Some(step)) => {
            disable_statement(&caller, &meta, sealed, step, factor_offered.recovery_hash()).query_opt(&state.db).await?
        }
        _ => None,
    };
    if disabled.is_none() {
        let event =
            Audit::new("auth.mfa_disabled", "user").resource(caller.id).outcome(Verdict::Always(Outcome::Denied));
        audit::event_only(&meta, event).acting_as(&caller).execute(&state.db).await?;
        return Err(ApiError::Forbidden("The password or the code is wrong.".into()));
    }
    Ok(Reply::updated("Multi-factor authentication is off.", serde_json::Value::Null))
}

fn disable_statement(
    caller: &Caller,
    meta: &RequestMeta,
    secret: Vec<u8>,
    step: Option<i64>,
    recovery_hash: Option<Vec<u8>>,
) -> Statement {
    Statement::new(&DISABLE)
        .acting_as(caller)
        .bind("secret", secret)
        .bind("step", step)
        .bind("recovery_hash", recovery_hash)
        .audit(
            meta,
            Audit::new("auth.mfa_disabled", "user").resource(caller.id).outcome(Verdict::DoneElseDenied("disabled")),
        )
}

/// What a correct password answers for an account with MFA.
#[derive(Serialize)]
pub struct Challenge {
    mfa_required: bool,
    mfa_token: String,
    expires_in: i32,
}

/// Opens the login's challenge; `None` when the email was throttled meanwhile.
pub async fn challenge(state: &AppState, email_hash: Vec<u8>, user_id: Uuid) -> Result<Option<Challenge>, ApiError> {
    let token = refresh::generate()?;
    let row = challenge_statement(email_hash, user_id, token.hash).query_one(&state.db).await?;
    Ok(column::<bool>(&row, "challenged")?.then_some(Challenge {
        mfa_required: true,
        mfa_token: token.token,
        expires_in: CHALLENGE_SECONDS,
    }))
}

fn challenge_statement(email_hash: Vec<u8>, user_id: Uuid, token_hash: Vec<u8>) -> Statement {
    Statement::new(&CHALLENGE)
        .bind("email_hash", email_hash)
        .bind("user_id", user_id)
        .bind("token_hash", token_hash)
        .bind("lifetime_seconds", CHALLENGE_SECONDS)
        .bind("max_failures", MAX_FAILURES)
        .bind("window_minutes", WINDOW_MINUTES)
        .reads(&[("challenged", Type::BOOL)])
}

/// `POST /api/auth/mfa/verify`: the login's second step.
pub async fn verify(
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<TokenBundle>, ApiError> {
    let mut form = Form::new(body, &["mfa_token", "code", "recovery_code"], &[]);
    let mfa_token = form.required("mfa_token", any_string(512));
    let factor_offered = offered(&mut form);
    let mfa_token = form.finish_with(mfa_token)?;
    let factor_offered = factor_offered.ok_or_else(one_factor)?;
    let token_hash = refresh::hash(&mfa_token);
    let refused = || ApiError::Unauthorized("The code or the mfa_token is wrong, used or expired.".into());

    let row = lookup_statement(token_hash.clone(), factor_offered.recovery_hash()).query_opt(&state.db).await?;
    let row = row.ok_or_else(refused)?;
    if column::<bool>(&row, "throttled")? {
        return Err(throttled());
    }
    let user = User::from_row(&row)?;
    let email_hash = sha256(user.email.as_bytes());
    let secret = data_keys(&state)?.open(&column::<Vec<u8>>(&row, "mfa_secret")?)?;
    let proof = factor_offered.check(&secret, column(&row, "mfa_last_step")?, column(&row, "recovery_ok")?);
    let session_id = match proof {
        Some(step) => {
            let session = NewSession::new(&state)?;
            let factor = Spent { token_hash, step, recovery_hash: factor_offered.recovery_hash() };
            let row =
                succeeded_statement(&meta, user.id, email_hash.clone(), factor, &session).query_one(&state.db).await?;
            column::<Option<Uuid>>(&row, "session_id")?.map(|id| (id, session))
        }
        None => None,
    };
    match session_id {
        Some((session_id, session)) => Ok(Reply::success("Signed in.", session.bundle(&state, user, session_id)?)),
        None => {
            let row =
                failed_statement(&meta, user.id, refresh::hash(&mfa_token), email_hash).query_one(&state.db).await?;
            match column::<bool>(&row, "recorded")? {
                true => Err(refused()),
                false => Err(throttled()),
            }
        }
    }
}

fn lookup_statement(token_hash: Vec<u8>, recovery_hash: Option<Vec<u8>>) -> Statement {
    Statement::new(&CHALLENGE_LOOKUP)
        .bind("token_hash", token_hash)
        .bind("recovery_hash", recovery_hash)
        .bind("max_attempts", MAX_ATTEMPTS)
        .bind("max_failures", MAX_FAILURES)
        .bind("window_minutes", WINDOW_MINUTES)
        .reads(User::COLUMNS)
        .reads(&[
            ("mfa_secret", Type::BYTEA),
            ("mfa_last_step", Type::INT8),
            ("recovery_ok", Type::BOOL),
            ("throttled", Type::BOOL),
        ])
}

struct Spent {
    token_hash: Vec<u8>,
    step: Option<i64>,
    recovery_hash: Option<Vec<u8>>,
}

fn succeeded_statement(
    meta: &RequestMeta,
    user_id: Uuid,
    email_hash: Vec<u8>,
    spent: Spent,
    session: &NewSession,
) -> Statement {
    let statement = Statement::new(&SUCCEEDED)
        .bind("token_hash", spent.token_hash)
        .bind("step", spent.step)
        .bind("recovery_hash", spent.recovery_hash)
        .bind("email_hash", email_hash)
        .bind("max_attempts", MAX_ATTEMPTS);
    session.starting_in(statement).audit(meta, signed_in(user_id)).reads(&[("session_id", Type::UUID)])
}

fn failed_statement(meta: &RequestMeta, user_id: Uuid, token_hash: Vec<u8>, email_hash: Vec<u8>) -> Statement {
    Statement::new(&FAILED)
        .bind("token_hash", token_hash)
        .bind("email_hash", email_hash)
        .bind("max_attempts", MAX_ATTEMPTS)
        .bind("max_failures", MAX_FAILURES)
        .bind("window_minutes", WINDOW_MINUTES)
        .audit(
            meta,
            Audit::new("auth.mfa_failed", "user")
                .actor(Some(user_id))
                .resource(user_id)
                .outcome(Verdict::Always(Outcome::Denied)),
        )
        .reads(&[("recorded", Type::BOOL)])
}

pub(crate) fn statements(caller: &Caller, meta: &RequestMeta) -> Vec<Statement> {
    let id = Uuid::nil();
    let spent = Spent { token_hash: Vec::new(), step: None, recovery_hash: None };
    vec![
        enrol_statement(caller, Vec::new()),
        factor_statement(caller, None),
        confirm_statement(caller, meta, Vec::new(), 0, Vec::new()),
        disable_statement(caller, meta, Vec::new(), None, None),
        challenge_statement(Vec::new(), id, Vec::new()),
        lookup_statement(Vec::new(), None),
        succeeded_statement(meta, id, Vec::new(), spent, &NewSession::placeholder()),
        failed_statement(meta, id, Vec::new(), Vec::new()),
    ]
}
