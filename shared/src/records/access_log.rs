//! An audit event as an access log or an organization's audit shows it: who (by name,
//! for the people the log is for), how they were let in, and why.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{FromRow, Reader};
use crate::ApiError;
use crate::db::Column;

#[derive(Debug, Serialize)]
pub struct Entry {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub action: String,
    pub outcome: String,
    pub actor: Option<Actor>,
    pub resource_type: String,
    pub resource_id: Option<Uuid>,
    pub access: Option<String>,
    pub purpose: Option<String>,
    pub emergency_access_id: Option<Uuid>,
    /// The SMART app the access went through (null: a first-party token).
    pub client_id: Option<Uuid>,
}

#[derive(Debug, Serialize)]
pub struct Actor {
    pub id: Uuid,
    /// Null when the account is gone.
    pub name: Option<String>,
}

impl FromRow for Entry {
    const COLUMNS: &'static [Column] = &[
        ("id", Type::UUID),
        ("at", Type::TIMESTAMPTZ),
        ("action", Type::TEXT),
        ("outcome", Type::TEXT),
        ("actor_id", Type::UUID),
        ("actor_name", Type::TEXT),
        ("resource_type", Type::TEXT),
        ("resource_id", Type::UUID),
        ("access", Type::TEXT),
        ("purpose", Type::TEXT),
        ("emergency_access_id", Type::UUID),
        ("client_id", Type::UUID),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        let actor = match row.get::<Option<Uuid>>("actor_id")? {
            Some(id) => Some(Actor { id, name: row.get("actor_name")? }),
            None => None,
        };
        Ok(Self {
            id: row.get("id")?,
            at: row.get("at")?,
            action: row.get("action")?,
            outcome: row.get("outcome")?,
            actor,
            resource_type: row.get("resource_type")?,
            resource_id: row.get("resource_id")?,
            access: row.get("access")?,
            purpose: row.get("purpose")?,
            emergency_access_id: row.get("emergency_access_id")?,
            client_id: row.get("client_id")?,
        })
    }
}
