//! `GET /api/patients/{id}/versions`: a patient's versions, newest first, the current
//! one included (API.md Part 5). The statement is also FHIR's `_history` and vread, so
//! both read versions by one access decision and one audit event (`patient.history`).

use axum::extract::State;
use shared::access::Reach;
use shared::audit::{Audit, Verdict};
use shared::auth::Principal;
use shared::db::{Sql, Statement};
use shared::extract::Id;
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::FromRow;
use shared::records::patient::{Patient, PatientVersion};
use shared::{ApiError, AppState, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

static VERSIONS: Sql = sql!("sql/versions.sql");

pub async fn list<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
    mut query: Query,
) -> Result<Reply<PageOf<PatientVersion>>, ApiError> {
    let page = query.page_named("limit", "cursor");
    query.finish()?;
    let rows = versions_statement(&principal, &meta, id, &page).query(&state.db).await?;
    // Versions are append-only and a cursor names one below the current version, so
    // no row means the patient is not reached (or deleted), cursor or not.
    if rows.is_empty() {
        return Err(crate::not_found());
    }
    let versions = rows.iter().map(PatientVersion::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Versions found.", PageOf::new(&page, versions, |v| v.version)))
}

/// The versions below `page.after` (a version number), at most `page.fetch()`: each row
/// a `Patient` (its `updated_at` when the version was made) with `changed_by`, and the
/// doctors (`practitioners`) on the current version only. No row: not reached.
pub fn versions_statement(principal: &impl Principal, meta: &RequestMeta, id: Uuid, page: &Page<i32>) -> Statement {
    Statement::new(&VERSIONS)
        .acting_as(principal)
        .reaching(Reach::Patient("id"))
        .bind("id", id)
        .bind("after", page.after)
        .bind("fetch", page.fetch())
        .audit(meta, Audit::new("patient.history", "patient").resource(id).outcome(Verdict::Found("found")))
        .reads(Patient::COLUMNS)
        .reads(PatientVersion::COLUMNS)
        .reads(&[("practitioners", Type::UUID_ARRAY)])
}

pub(crate) fn statements() -> Vec<Statement> {
    let (caller, meta) = (shared::auth::Caller::placeholder(shared::auth::Role::User), RequestMeta::placeholder());
    vec![versions_statement(&caller, &meta, Uuid::nil(), &Page::default())]
}
