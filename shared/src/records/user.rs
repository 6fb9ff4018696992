//! A user account as clients see it (never the password hash).

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::col;
use crate::ApiError;
use crate::auth::Role;

/// The columns `User::from_row` reads, for `concat!` into SQL.
#[macro_export]
macro_rules! user_columns {
    () => {
        "id, name, email, role, created_at"
    };
}

#[derive(Debug, Serialize)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl User {
    pub fn from_row(row: &Row) -> Result<Self, ApiError> {
        Ok(Self {
            id: col(row, "id")?,
            name: col(row, "name")?,
            email: col(row, "email")?,
            role: Role::parse(col(row, "role")?)?,
            created_at: col(row, "created_at")?,
        })
    }
}
