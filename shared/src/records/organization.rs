//! An organization (a clinic), its members and its invitations, as clients see them,
//! and the rules for the bodies that create and change them.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{FromRow, Reader};
use crate::ApiError;
use crate::body::JsonObject;
use crate::db::Column;
use crate::validate::{Form, Lines, email, one_of, text};

/// Exactly these; anything else is 400 naming `role`.
pub const ROLES: &[&str] = &["owner", "clinician", "front_desk", "auditor"];
const READ_ONLY: &[&str] = &["id", "created_at", "updated_at", "my_role", "version"];

#[derive(Debug, Serialize)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
    /// The caller's role in it.
    pub my_role: String,
}

impl FromRow for Organization {
    const COLUMNS: &'static [Column] = &[
        ("id", Type::UUID),
        ("name", Type::TEXT),
        ("created_at", Type::TIMESTAMPTZ),
        ("updated_at", Type::TIMESTAMPTZ),
        ("version", Type::INT4),
        ("my_role", Type::TEXT),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            version: row.get("version")?,
            my_role: row.get("my_role")?,
        })
    }
}

/// The body of a create or a rename: `name` only.
pub fn parse_name(body: JsonObject) -> Result<String, ApiError> {
    let mut form = Form::new(body, &["name"], READ_ONLY);
    let name = form.required("name", text(1..=100, Lines::Single));
    form.finish_with(name)
}

/// The body of a role change: `role` only.
pub fn parse_role(body: JsonObject) -> Result<String, ApiError> {
    let mut form = Form::new(body, &["role"], &["user_id", "name", "email", "joined_at"]);
    let role = form.required("role", one_of(ROLES));
    form.finish_with(role)
}

#[derive(Debug, Serialize)]
pub struct Member {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub role: String,
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

impl FromRow for Member {
    const COLUMNS: &'static [Column] = &[
        ("user_id", Type::UUID),
        ("name", Type::TEXT),
        ("email", Type::TEXT),
        ("role", Type::TEXT),
        ("joined_at", Type::TIMESTAMPTZ),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            user_id: row.get("user_id")?,
            name: row.get("name")?,
            email: row.get("email")?,
            role: row.get("role")?,
            joined_at: row.get("joined_at")?,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl FromRow for Invitation {
    const COLUMNS: &'static [Column] = &[
        ("id", Type::UUID),
        ("email", Type::TEXT),
        ("role", Type::TEXT),
        ("created_at", Type::TIMESTAMPTZ),
        ("expires_at", Type::TIMESTAMPTZ),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            id: row.get("id")?,
            email: row.get("email")?,
            role: row.get("role")?,
            created_at: row.get("created_at")?,
            expires_at: row.get("expires_at")?,
        })
    }
}

/// The body of an invitation: `email` and `role`.
pub fn parse_invitation(body: JsonObject) -> Result<(String, String), ApiError> {
    let mut form = Form::new(body, &["email", "role"], &["id", "expires_at", "created_at"]);
    let address = form.required("email", email());
    let role = form.required("role", one_of(ROLES));
    form.finish_with((address, role))
}
