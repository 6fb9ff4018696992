//! What owners and auditors oversee: the organization's audit trail
//! (`GET /api/orgs/{id}/audit`) and its emergency grants, listed and reviewed
//! (`/api/orgs/{id}/emergency-access`). A grant is reviewed once, never by its holder.

use axum::extract::State;
use shared::access::Membership;
use shared::audit::{Audit, Verdict};
use shared::auth::Caller;
use shared::db::{Sql, Statement};
use shared::extract::{Id, Ids};
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::access_log::Entry;
use shared::records::emergency::{Grant, parse_review};
use shared::records::{FromRow, column, present};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::{not_found, refused};

static AUDIT: Sql = sql!("sql/audit.sql");
static GRANTS: Sql = sql!("sql/emergency_list.sql");
static REVIEW: Sql = sql!("sql/emergency_review.sql");

const CALLER_AUDITS: &[shared::db::Column] = &[("caller_role", Type::TEXT), ("caller_audits", Type::BOOL)];

/// The first row of an oversight list, or why the caller may not read it.
fn readable<'r>(rows: &'r [Row], what: &str) -> Result<&'r [Row], ApiError> {
    let Some(first) = rows.first() else { return Err(ApiError::internal("an oversight list answered no row")) };
    if column::<Option<bool>>(first, "caller_audits")? != Some(true) {
        return Err(refused(column(first, "caller_role")?, what));
    }
    Ok(rows)
}

#[derive(Default)]
struct AuditFilters {
    action: Option<String>,
    actor_id: Option<Uuid>,
    patient_id: Option<Uuid>,
}

pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Id(id): Id,
    mut query: Query,
) -> Result<Reply<PageOf<Entry>>, ApiError> {
    let page = query.page();
    let filters = AuditFilters {
        action: query.text("action", 100),
        actor_id: query.uuid("actor_id"),
        patient_id: query.uuid("patient_id"),
    };
    query.finish()?;
    let rows = audit_statement(&caller, &meta, id, &page, filters).query(&state.db).await?;
    let entries: Vec<Entry> = present(readable(&rows, "read its audit trail")?, "id")?;
    Ok(Reply::success("Audit events found.", PageOf::new(&page, entries, |e| e.id)))
}

fn audit_statement(caller: &Caller, meta: &RequestMeta, id: Uuid, page: &Page, filters: AuditFilters) -> Statement {
    Statement::new(&AUDIT)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .bind("after", page.after)
        .bind("fetch", page.fetch())
        .bind("action", filters.action)
        .bind("actor_id", filters.actor_id)
        .bind("patient_id", filters.patient_id)
        .audit(
            meta,
            Audit::new("org.audit", "organization")
                .resource(id)
                .outcome(Verdict::Refused { done: "readable", target: "membership" }),
        )
        .reads(Entry::COLUMNS)
        .reads(CALLER_AUDITS)
}

pub async fn grants(
    State(state): State<AppState>,
    caller: Caller,
    Id(id): Id,
    mut query: Query,
) -> Result<Reply<PageOf<Grant>>, ApiError> {
    let page = query.page();
    let reviewed = match query.take("reviewed").as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            query.reject("reviewed", "must be true or false");
            None
        }
    };
    query.finish()?;
    let rows = grants_statement(&caller, id, &page, reviewed).query(&state.db).await?;
    let grants: Vec<Grant> = present(readable(&rows, "review emergency access")?, "id")?;
    Ok(Reply::success("Emergency access grants.", PageOf::new(&page, grants, |g| g.id)))
}

fn grants_statement(caller: &Caller, id: Uuid, page: &Page, reviewed: Option<bool>) -> Statement {
    Statement::new(&GRANTS)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .bind("id", id)
        .bind("reviewed", reviewed)
        .bind("after", page.after)
        .bind("fetch", page.fetch())
        .reads(Grant::COLUMNS)
        .reads(CALLER_AUDITS)
}

pub async fn review(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Ids(id, grant_id): Ids,
    body: JsonObject,
) -> Result<Reply<Grant>, ApiError> {
    let review = parse_review(body)?;
    let row = review_statement(&caller, &meta, id, grant_id, review).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_some() {
        return Ok(Reply::updated("Emergency access reviewed.", Grant::from_row(&row)?));
    }
    let role: Option<String> = column(&row, "caller_role")?;
    if role.is_none() {
        return Err(not_found());
    }
    if !column::<bool>(&row, "found")? {
        return Err(ApiError::NotFound("No such emergency access grant in this organization.".into()));
    }
    if !column::<bool>(&row, "may_review")? {
        return Err(ApiError::Forbidden(
            "Grants are reviewed by the organization's owners and auditors, never by their holder.".into(),
        ));
    }
    Err(ApiError::conflict("This grant has been reviewed already."))
}

fn review_statement(
    caller: &Caller,
    meta: &RequestMeta,
    id: Uuid,
    grant_id: Uuid,
    (outcome, comment): (String, Option<String>),
) -> Statement {
    Statement::new(&REVIEW)
        .acting_as(caller)
        .in_organization(Membership::Of("id"))
        .on_grant("grant_id")
        .bind("id", id)
        .bind("grant_id", grant_id)
        .bind("outcome", outcome)
        .bind("comment", comment)
        .audit(
            meta,
            Audit::new("patient.emergency_access_reviewed", "patient")
                .resource_from("(SELECT patient_id FROM emergency_grant)")
                .grant_from("(SELECT id FROM target)")
                .outcome(Verdict::Refused { done: "reviewed", target: "target" }),
        )
        .reads(Grant::COLUMNS)
        .reads(&[("caller_role", Type::TEXT), ("may_review", Type::BOOL), ("found", Type::BOOL)])
}

pub(crate) fn statements(caller: &Caller, meta: &RequestMeta) -> Vec<Statement> {
    let id = Uuid::nil();
    vec![
        audit_statement(caller, meta, id, &Page::default(), AuditFilters::default()),
        grants_statement(caller, id, &Page::default(), None),
        review_statement(caller, meta, id, id, (String::new(), None)),
    ]
}
