//! `GET /api/patients/{id}/access-log`: who looked at a record, for the patient (its
//! portal user), its personal owner, and its organization's owners and auditors
//! (`patient_log_reach`). Reading it is itself audited, as `patient.access_log`.

use axum::extract::State;
use shared::access::Reach;
use shared::audit::{Audit, Verdict};
use shared::auth::Caller;
use shared::db::{Sql, Statement};
use shared::extract::Id;
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::access_log::Entry;
use shared::records::{FromRow, column, present};
use shared::{ApiError, AppState, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

static LOG: Sql = sql!("sql/access_log.sql");

pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Id(id): Id,
    mut query: Query,
) -> Result<Reply<PageOf<Entry>>, ApiError> {
    let page = query.page();
    query.finish()?;
    let rows = log_statement(&caller, &meta, id, &page).query(&state.db).await?;
    let Some(first) = rows.first() else { return Err(ApiError::internal("access_log.sql answered no row")) };
    if !column::<bool>(first, "found")? {
        return Err(ApiError::NotFound("No such patient.".into()));
    }
    if !column::<bool>(first, "reads_log")? {
        return Err(ApiError::Forbidden(
            "A patient's access log is for the patient, its owner, and its organization's owners and auditors.".into(),
        ));
    }
    let entries: Vec<Entry> = present(&rows, "id")?;
    Ok(Reply::success("Access log.", PageOf::new(&page, entries, |e| e.id)))
}

fn log_statement(caller: &Caller, meta: &RequestMeta, id: Uuid, page: &Page) -> Statement {
    Statement::new(&LOG)
        .acting_as(caller)
        .reaching(Reach::PatientLog("id"))
        .bind("id", id)
        .bind("after", page.after)
        .bind("fetch", page.fetch())
        .audit(
            meta,
            Audit::new("patient.access_log", "patient")
                .resource(id)
                .outcome(Verdict::Refused { done: "readable", target: "target" }),
        )
        .reads(Entry::COLUMNS)
        .reads(&[("found", Type::BOOL), ("reads_log", Type::BOOL)])
}

pub(crate) fn statements() -> Vec<Statement> {
    let (caller, meta) = (Caller::placeholder(shared::auth::Role::User), RequestMeta::placeholder());
    vec![log_statement(&caller, &meta, Uuid::nil(), &Page::default())]
}
