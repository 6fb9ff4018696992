//! Emergency access ("break-glass"): a clinician who cannot read a restricted chart's
//! notes opens a grant with a reason, a duration and a fresh re-authentication (the
//! password, and a TOTP code with MFA on); the organization's owners get an alert each;
//! the grant's holder reads the notes until `expires_at` - `patient_reach` checks the
//! clock in every statement, so the end needs no token to expire - or until it is ended
//! early. Every access under it is audited with the grant (`crate::audit`).
//!
//! The alert names the requester, the grant and the reason, never the patient: it is
//! written before the statement runs, from what the request and the first look know.

use axum::extract::State;
use serde_json::{Value, json};
use shared::access::Reach;
use shared::audit::{self, Audit, Outcome, Verdict};
use shared::auth::{Caller, LOGIN_MAX_FAILURES, LOGIN_WINDOW_MINUTES, password, totp};
use shared::db::{Sql, Statement};
use shared::extract::{Id, Ids};
use shared::outbox::{self, Outgoing};
use shared::records::emergency::{Grant, GrantRequest};
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, Settings, metrics, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

static STANDING: Sql = sql!("sql/emergency_standing.sql");
static OPEN: Sql = sql!("sql/emergency_open.sql");
static END: Sql = sql!("sql/emergency_end.sql");
static FAILED: Sql = sql!("sql/emergency_failed.sql");

const ACTION: &str = "patient.emergency_access";

fn alert(settings: &Settings, requester: &str, grant_id: Uuid, reason: &str) -> Result<Outgoing, ApiError> {
    let url = format!("{}/emergency-access/{grant_id}", settings.app_base_url);
    let text = format!(
        "{requester} has opened emergency access to a restricted chart of your organization.\n\nGrant: \
         {grant_id}\nReason given: {reason}\n\nEvery use of this access is recorded. Review it here:\n\n{url}\n"
    );
    Outgoing::new(settings, "Emergency access was opened in your organization", text)
}

/// What the first look found: where the caller stands, and the proof to check.
struct Standing {
    standing: String,
    name: String,
    password_hash: String,
    mfa_secret: Option<Vec<u8>>,
    mfa_last_step: Option<i64>,
    throttled: bool,
}

pub async fn open(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Id(id): Id,
    body: JsonObject,
) -> Result<Reply<Grant>, ApiError> {
    let request = GrantRequest::parse(body)?;
    let row = standing_statement(&caller, id).query_one(&state.db).await?;
    let first = Standing {
        standing: column(&row, "standing")?,
        name: column(&row, "name")?,
        password_hash: column(&row, "password_hash")?,
        mfa_secret: column(&row, "mfa_secret")?,
        mfa_last_step: column(&row, "mfa_last_step")?,
        throttled: column(&row, "throttled")?,
    };
    if let Err(refusal) = refused(&first.standing) {
        let outcome = if matches!(refusal, ApiError::NotFound(_)) { Outcome::NotFound } else { Outcome::Denied };
        record_refusal(&state, &caller, &meta, id, outcome).await?;
        return Err(refusal);
    }
    if first.throttled {
        record_refusal(&state, &caller, &meta, id, Outcome::Denied).await?;
        return Err(throttled());
    }
    let step = match reauthenticate(&state, &first, &request).await? {
        Some(step) => step,
        None => {
            failed_statement(&caller, &meta, id).execute(&state.db).await?;
            return Err(ApiError::Forbidden("The password or the code is wrong.".into()));
        }
    };
    let grant_id = Uuid::now_v7();
    let mail = alert(&state.settings, &first.name, grant_id, &request.reason)?;
    let row = open_statement(&caller, &meta, id, grant_id, &request, step, &mail).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_none() {
        // The standing changed since the first look, or the code was spent meanwhile.
        refused(&column::<String>(&row, "standing")?)?;
        return Err(ApiError::Forbidden("The code has been used already; wait for the next one.".into()));
    }
    metrics::emergency_access_granted();
    let (mail_ids, mail_to): (Vec<Uuid>, Vec<String>) = (column(&row, "mail_ids")?, column(&row, "mail_to")?);
    for (mail_id, to) in mail_ids.into_iter().zip(mail_to) {
        outbox::send_now(&state, mail_id, to, mail.clone()).await;
    }
    Ok(Reply::created("Emergency access granted.", Grant::from_row(&row)?))
}

/// Too many wrong passwords or codes for this account, here or at login.
fn throttled() -> ApiError {
    ApiError::RateLimited { retry_after_secs: LOGIN_WINDOW_MINUTES as u64 * 60 }
}

/// The answer for a standing that does not allow a grant.
fn refused(standing: &str) -> Result<(), ApiError> {
    match standing {
        "allowed" => Ok(()),
        "reads_notes" => Err(ApiError::conflict("You can already read this patient's notes.")),
        "refused" => {
            Err(ApiError::Forbidden("Only a clinician of the patient's organization may open emergency access.".into()))
        }
        _ => Err(ApiError::NotFound("No such patient.".into())),
    }
}

/// The TOTP step the code spends (`None` inside when MFA is off); `None` when the
/// password or the code is wrong.
async fn reauthenticate(
    state: &AppState,
    first: &Standing,
    request: &GrantRequest,
) -> Result<Option<Option<i64>>, ApiError> {
    let password_ok = password::verify(request.password.clone(), first.password_hash.clone()).await?;
    let Some(sealed) = &first.mfa_secret else {
        return Ok(password_ok.then_some(None));
    };
    let Some(code) = &request.code else { return Ok(None) };
    let secret = state.settings.data_keys.open(sealed)?;
    let step = totp::matching_step(&secret, code, totp::now_step())
        .filter(|step| first.mfa_last_step.is_none_or(|last| *step > last));
    Ok(match (password_ok, step) {
        (true, Some(step)) => Some(Some(step)),
        _ => None,
    })
}

async fn record_refusal(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    id: Uuid,
    outcome: Outcome,
) -> Result<(), ApiError> {
    let event = Audit::new(ACTION, "patient").resource(id).outcome(Verdict::Always(outcome));
    audit::event_only(meta, event).acting_as(caller).execute(&state.db).await
}

fn failed_statement(caller: &Caller, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&FAILED)
        .acting_as(caller)
        .bind("max_failures", LOGIN_MAX_FAILURES)
        .bind("window_minutes", LOGIN_WINDOW_MINUTES)
        .audit(meta, Audit::new(ACTION, "patient").resource(id).outcome(Verdict::Always(Outcome::Denied)))
        .reads(&[("recorded", Type::BOOL)])
}

fn standing_statement(caller: &Caller, id: Uuid) -> Statement {
    Statement::new(&STANDING)
        .acting_as(caller)
        .bind("id", id)
        .bind("max_failures", LOGIN_MAX_FAILURES)
        .bind("window_minutes", LOGIN_WINDOW_MINUTES)
        .reads(&[
            ("standing", Type::TEXT),
            ("name", Type::TEXT),
            ("password_hash", Type::TEXT),
            ("mfa_secret", Type::BYTEA),
            ("mfa_last_step", Type::INT8),
            ("throttled", Type::BOOL),
        ])
}

fn open_statement(
    caller: &Caller,
    meta: &RequestMeta,
    id: Uuid,
    grant_id: Uuid,
    request: &GrantRequest,
    step: Option<i64>,
    mail: &Outgoing,
) -> Statement {
    let statement = Statement::new(&OPEN)
        .acting_as(caller)
        .reaching(Reach::Patient("id"))
        .bind("id", id)
        .bind("grant_id", grant_id)
        .bind("reason", request.reason.clone())
        .bind("minutes", request.minutes as i32)
        .bind("step", step);
    mail.queued_in(statement)
        .audit(
            meta,
            Audit::new(ACTION, "patient")
                .resource(id)
                .opening_grant("(SELECT id FROM created)")
                .outcome(Verdict::Refused { done: "created", target: "reach" }),
        )
        .reads(Grant::COLUMNS)
        .reads(&[("standing", Type::TEXT), ("mail_ids", Type::UUID_ARRAY), ("mail_to", Type::TEXT_ARRAY)])
}

pub async fn end(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Ids(id, grant_id): Ids,
) -> Result<Reply<Value>, ApiError> {
    let row = end_statement(&caller, &meta, id, grant_id).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_some() {
        return Ok(Reply::deleted("Emergency access ended.", json!({ "id": grant_id })));
    }
    match (column::<bool>(&row, "sees")?, column::<bool>(&row, "may_end")?) {
        (false, _) => Err(ApiError::NotFound("No such emergency access grant.".into())),
        (true, false) => Err(ApiError::Forbidden("Only its holder or an owner may end a grant.".into())),
        (true, true) => Err(ApiError::conflict("This grant has ended already.")),
    }
}

fn end_statement(caller: &Caller, meta: &RequestMeta, id: Uuid, grant_id: Uuid) -> Statement {
    Statement::new(&END)
        .acting_as(caller)
        .on_grant("grant_id")
        .bind("grant_id", grant_id)
        .bind("id", id)
        .audit(
            meta,
            Audit::new("patient.emergency_access_ended", "patient")
                .resource(id)
                .organization_from("(SELECT organization_id FROM target)")
                .grant_from("(SELECT id FROM target)")
                .outcome(Verdict::Refused { done: "ended", target: "target" }),
        )
        .reads(&[("sees", Type::BOOL), ("may_end", Type::BOOL), ("id", Type::UUID)])
}

pub(crate) fn statements() -> Vec<Statement> {
    let (caller, meta, id) = (Caller::placeholder(shared::auth::Role::User), RequestMeta::placeholder(), Uuid::nil());
    let request = GrantRequest { reason: String::new(), minutes: 60, password: String::new(), code: None };
    vec![
        standing_statement(&caller, id),
        failed_statement(&caller, &meta, id),
        open_statement(&caller, &meta, id, id, &request, None, &Outgoing::placeholder()),
        end_statement(&caller, &meta, id, id),
    ]
}
