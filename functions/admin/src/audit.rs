//! `GET /api/admin/audit`: the audit trail, newest first, keyset-paginated, filtered by
//! actor, resource and action. Reading it is itself audited.

use std::net::IpAddr;

use axum::extract::State;
use serde::Serialize;
use shared::audit::Audit;
use shared::auth::{Admin, Principal};
use shared::db::{Column, Sql, Statement};
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::{FromRow, Reader};
use shared::{ApiError, AppState, Reply, RequestMeta, sql};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

#[derive(Serialize)]
pub struct AuditEvent {
    id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    actor_id: Option<Uuid>,
    action: String,
    resource_type: String,
    resource_id: Option<Uuid>,
    outcome: String,
    request_id: String,
    source_ip: Option<IpAddr>,
    organization_id: Option<Uuid>,
    access: Option<String>,
    purpose: Option<String>,
    emergency_access_id: Option<Uuid>,
    /// The SMART app the access went through (null: a first-party token).
    client_id: Option<Uuid>,
}

impl FromRow for AuditEvent {
    const COLUMNS: &'static [Column] = &[
        ("id", Type::UUID),
        ("at", Type::TIMESTAMPTZ),
        ("actor_id", Type::UUID),
        ("action", Type::TEXT),
        ("resource_type", Type::TEXT),
        ("resource_id", Type::UUID),
        ("outcome", Type::TEXT),
        ("request_id", Type::TEXT),
        ("source_ip", Type::INET),
        ("organization_id", Type::UUID),
        ("access", Type::TEXT),
        ("purpose", Type::TEXT),
        ("emergency_access_id", Type::UUID),
        ("client_id", Type::UUID),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            id: row.get("id")?,
            at: row.get("at")?,
            actor_id: row.get("actor_id")?,
            action: row.get("action")?,
            resource_type: row.get("resource_type")?,
            resource_id: row.get("resource_id")?,
            outcome: row.get("outcome")?,
            request_id: row.get("request_id")?,
            source_ip: row.get("source_ip")?,
            organization_id: row.get("organization_id")?,
            access: row.get("access")?,
            purpose: row.get("purpose")?,
            emergency_access_id: row.get("emergency_access_id")?,
            client_id: row.get("client_id")?,
        })
    }
}

static LIST: Sql = sql!("sql/audit_list.sql");
static LIST_BY_ACTOR: Sql = sql!("sql/audit_list_by_actor.sql");

pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    mut query: Query,
) -> Result<Reply<PageOf<AuditEvent>>, ApiError> {
    let page = query.page();
    let filters = Filters {
        actor_id: query.uuid("actor_id"),
        resource_type: query.text("resource_type", 50),
        resource_id: query.uuid("resource_id"),
        action: query.text("action", 100),
    };
    query.finish()?;
    let rows = list_statement(&admin, &meta, &page, filters).query(&state.db).await?;
    let events = rows.iter().map(AuditEvent::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Audit events found.", PageOf::new(&page, events, |e| e.id)))
}

#[derive(Default)]
pub(crate) struct Filters {
    pub(crate) actor_id: Option<Uuid>,
    pub(crate) resource_type: Option<String>,
    pub(crate) resource_id: Option<Uuid>,
    pub(crate) action: Option<String>,
}

pub(crate) fn list_statement(admin: &impl Principal, meta: &RequestMeta, page: &Page, filters: Filters) -> Statement {
    // An actor's events are found along their contexts, unless a record narrows them to
    // its own index (the plans are in the two files).
    let statement = match (filters.actor_id, filters.resource_id) {
        (Some(actor), None) => Statement::new(&LIST_BY_ACTOR).acting_as(admin).bind("actor_id", actor),
        (actor, resource) => {
            Statement::new(&LIST).acting_as(admin).bind("actor_id", actor).bind("resource_id", resource)
        }
    };
    statement
        .bind("after", page.after)
        .bind("resource_type", filters.resource_type)
        .bind("action", filters.action)
        .bind("fetch", page.fetch())
        .audit(meta, Audit::new("audit.list", "audit_event"))
        .reads(AuditEvent::COLUMNS)
}
