//! A user account as clients see it (never the password hash).

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{FromRow, Reader};
use crate::ApiError;
use crate::auth::Role;
use crate::db::Column;

#[derive(Debug, Serialize)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl FromRow for User {
    const COLUMNS: &'static [Column] = &[
        ("id", Type::UUID),
        ("name", Type::TEXT),
        ("email", Type::TEXT),
        ("role", Type::TEXT),
        ("created_at", Type::TIMESTAMPTZ),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            email: row.get("email")?,
            role: Role::parse(row.get("role")?)?,
            created_at: row.get("created_at")?,
        })
    }
}
