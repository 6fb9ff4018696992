//! A user account as clients see it (never the password hash or the MFA secret).

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{FromRow, Reader};
use crate::ApiError;
use crate::auth::Role;
use crate::db::Column;

/// Whether an account may sign in and act. A disabled account's sessions are refused
/// on their next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Disabled,
}

impl Status {
    pub const ALL: &[&str] = &["active", "disabled"];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
        }
    }

    /// Statuses as the database stores them; anything else is a corrupt row.
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        match value {
            "active" => Ok(Status::Active),
            "disabled" => Ok(Status::Disabled),
            other => Err(ApiError::internal(format!("unknown account status in database: {other:?}"))),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub email_verified: bool,
    pub mfa_enabled: bool,
    pub status: Status,
}

impl FromRow for User {
    /// In SQL: `id, name, email, role, created_at, email_verified,
    /// mfa_secret IS NOT NULL AS mfa_enabled, status`.
    const COLUMNS: &'static [Column] = &[
        ("id", Type::UUID),
        ("name", Type::TEXT),
        ("email", Type::TEXT),
        ("role", Type::TEXT),
        ("created_at", Type::TIMESTAMPTZ),
        ("email_verified", Type::BOOL),
        ("mfa_enabled", Type::BOOL),
        ("status", Type::TEXT),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            email: row.get("email")?,
            role: Role::parse(row.get("role")?)?,
            created_at: row.get("created_at")?,
            email_verified: row.get("email_verified")?,
            mfa_enabled: row.get("mfa_enabled")?,
            status: Status::parse(row.get("status")?)?,
        })
    }
}
