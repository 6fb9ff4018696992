//! `GET /api/admin/audit`: the audit trail, newest first, keyset-paginated, filtered by
//! actor, resource and action. Reading it is itself audited.

use std::net::IpAddr;

use axum::extract::State;
use serde::Serialize;
use shared::auth::{Admin, Principal};
use shared::pagination::PageOf;
use shared::query::Query;
use shared::{ApiError, AppState, Reply, RequestMeta};
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
}

impl AuditEvent {
    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let get = |e: tokio_postgres::Error| ApiError::internal(e);
        Ok(Self {
            id: row.try_get("id").map_err(get)?,
            at: row.try_get("at").map_err(get)?,
            actor_id: row.try_get("actor_id").map_err(get)?,
            action: row.try_get("action").map_err(get)?,
            resource_type: row.try_get("resource_type").map_err(get)?,
            resource_id: row.try_get("resource_id").map_err(get)?,
            outcome: row.try_get("outcome").map_err(get)?,
            request_id: row.try_get("request_id").map_err(get)?,
            source_ip: row.try_get("source_ip").map_err(get)?,
        })
    }
}

pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    meta: RequestMeta,
    mut query: Query,
) -> Result<Reply<PageOf<AuditEvent>>, ApiError> {
    let page = query.page();
    let actor_id = query.uuid("actor_id");
    let resource_type = query.text("resource_type", 50);
    let resource_id = query.uuid("resource_id");
    let action = query.text("action", 100);
    query.finish()?;
    // The list is read before this request's own event is added (CTEs share one snapshot),
    // so a page never contains the read that produced it.
    let rows = state
        .db
        .query(
            "WITH page AS (
                 SELECT id, at, actor_id, action, resource_type, resource_id, outcome, request_id, source_ip
                 FROM audit_events
                 WHERE ($1::uuid IS NULL OR id < $1)
                   AND ($2::uuid IS NULL OR actor_id = $2)
                   AND ($3::text IS NULL OR resource_type = $3)
                   AND ($4::uuid IS NULL OR resource_id = $4)
                   AND ($5::text IS NULL OR action = $5)
                 ORDER BY id DESC LIMIT $6
             ), audit AS (
                 INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                 VALUES ($7, 'audit.list', 'audit_event', NULL, 'success', $8, $9)
             )
             SELECT * FROM page ORDER BY id DESC",
            &[
                (&page.after, Type::UUID),
                (&actor_id, Type::UUID),
                (&resource_type, Type::TEXT),
                (&resource_id, Type::UUID),
                (&action, Type::TEXT),
                (&page.fetch(), Type::INT8),
                (&admin.caller().id, Type::UUID),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
            ],
        )
        .await?;
    let events = rows.iter().map(AuditEvent::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Audit events found.", PageOf::new(&page, events, |e| e.id)))
}
