//! Doctors with accounts. A user whose verified email is a doctor's claims it, and from
//! then on is on the care team of every patient that doctor is assigned to (see
//! `shared::access`); an admin can undo a claim. One doctor per user.

use axum::extract::State;
use shared::audit::{Audit, Verdict};
use shared::auth::{Admin, Caller, Principal};
use shared::db::{Sql, Statement};
use shared::extract::Id;
use shared::records::doctor::Doctor;
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

static CLAIM: Sql = sql!("sql/claim.sql");
static UNCLAIM: Sql = sql!("sql/unclaim.sql");

fn not_found() -> ApiError {
    ApiError::NotFound("No such doctor.".into())
}

/// `POST /api/doctors/{id}/claim`.
pub async fn claim(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Doctor>, ApiError> {
    let row = claim_statement(&caller, &meta, id).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_some() {
        return Ok(Reply::updated("You now hold this doctor.", Doctor::from_row(&row)?));
    }
    if !column::<bool>(&row, "found")? {
        return Err(not_found());
    }
    if column::<Option<Uuid>>(&row, "holder")?.is_some() {
        return Err(ApiError::conflict("Another account holds this doctor."));
    }
    if column::<Option<bool>>(&row, "caller_verified")? != Some(true) {
        return Err(ApiError::Forbidden("Verify your email address before claiming a doctor.".into()));
    }
    Err(ApiError::Forbidden("This doctor's email is not yours.".into()))
}

fn claim_statement(caller: &Caller, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&CLAIM)
        .acting_as(caller)
        .bind("id", id)
        .audit(
            meta,
            Audit::new("doctor.claimed", "doctor")
                .resource(id)
                .outcome(Verdict::Refused { done: "answer", target: "target" }),
        )
        .reads(Doctor::COLUMNS)
        .reads(&[("found", Type::BOOL), ("caller_verified", Type::BOOL), ("email_matches", Type::BOOL)])
        .reads(&[("holder", Type::UUID)])
}

/// `DELETE /api/admin/doctors/{id}/claim`.
pub async fn unclaim(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Doctor>, ApiError> {
    let row = unclaim_statement(&admin, &meta, id).query_opt(&state.db).await?.ok_or_else(not_found)?;
    Ok(Reply::updated("The doctor is held by no account now.", Doctor::from_row(&row)?))
}

fn unclaim_statement(admin: &impl Principal, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&UNCLAIM)
        .acting_as(admin)
        .bind("id", id)
        .audit(meta, Audit::new("doctor.unclaimed", "doctor").resource(id).outcome(Verdict::Found("unclaimed")))
        .reads(Doctor::COLUMNS)
}

pub(crate) fn statements(caller: &Caller, meta: &RequestMeta) -> Vec<Statement> {
    let id = Uuid::nil();
    vec![claim_statement(caller, meta, id), unclaim_statement(caller, meta, id)]
}
