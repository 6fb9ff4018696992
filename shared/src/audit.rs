//! The audit trail's writer. Most handlers record their event inside their own SQL
//! statement (a data-modifying CTE inserting into `audit_events`), so the access and its
//! record commit together in one round trip; `record` is for the few paths that have no
//! statement of their own to ride on. Events hold ids only, never names, emails, dates of
//! birth or notes.

use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::ApiError;
use crate::db::Db;
use crate::http::RequestMeta;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Denied,
    NotFound,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::NotFound => "not_found",
            Outcome::Error => "error",
        }
    }
}

pub struct Event<'a> {
    pub actor_id: Option<Uuid>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<Uuid>,
    pub outcome: Outcome,
}

pub async fn record(db: &Db, meta: &RequestMeta, event: &Event<'_>) -> Result<(), ApiError> {
    db.execute(
        "INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            (&event.actor_id, Type::UUID),
            (&event.action, Type::TEXT),
            (&event.resource_type, Type::TEXT),
            (&event.resource_id, Type::UUID),
            (&event.outcome.as_str(), Type::TEXT),
            (&meta.request_id, Type::TEXT),
            (&meta.source_ip, Type::INET),
        ],
    )
    .await
    .map(drop)
}
