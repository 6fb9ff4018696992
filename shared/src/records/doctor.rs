//! A doctor in the shared directory: the view, its columns, and the rules for creating
//! and changing one.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{FromRow, Reader, nothing_to_update};
use crate::ApiError;
use crate::body::JsonObject;
use crate::db::Column;
use crate::validate::{Form, Lines, Patch, email, phone, text};

const WRITABLE: &[&str] = &["name", "specialization", "email", "phone", "license_number"];
const READ_ONLY: &[&str] = &["id", "user_id", "created_by", "created_at", "updated_at", "version"];

#[derive(Debug, Serialize)]
pub struct Doctor {
    pub id: Uuid,
    pub name: String,
    pub specialization: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub license_number: Option<String>,
    /// The account that holds (claimed) this doctor, if any.
    pub user_id: Option<Uuid>,
    pub created_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl FromRow for Doctor {
    const COLUMNS: &'static [Column] = &[
        ("id", Type::UUID),
        ("name", Type::TEXT),
        ("specialization", Type::TEXT),
        ("email", Type::TEXT),
        ("phone", Type::TEXT),
        ("license_number", Type::TEXT),
        ("user_id", Type::UUID),
        ("created_by", Type::UUID),
        ("created_at", Type::TIMESTAMPTZ),
        ("updated_at", Type::TIMESTAMPTZ),
        ("version", Type::INT4),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            specialization: row.get("specialization")?,
            email: row.get("email")?,
            phone: row.get("phone")?,
            license_number: row.get("license_number")?,
            user_id: row.get("user_id")?,
            created_by: row.get("created_by")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            version: row.get("version")?,
        })
    }
}

pub struct NewDoctor {
    pub name: String,
    pub specialization: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub license_number: Option<String>,
}

impl NewDoctor {
    pub fn parse(body: JsonObject) -> Result<Self, ApiError> {
        let mut form = Form::new(body, WRITABLE, READ_ONLY);
        let name = form.required("name", text(1..=100, Lines::Single));
        let specialization = form.required("specialization", text(1..=100, Lines::Single));
        let email = form.optional("email", email()).into_option();
        let phone = form.optional("phone", phone()).into_option();
        let license_number = form.optional("license_number", text(1..=50, Lines::Single)).into_option();
        let (name, specialization) = form.finish_with((name, specialization))?;
        Ok(Self { name, specialization, email, phone, license_number })
    }
}

#[derive(Default)]
pub struct DoctorChanges {
    pub name: Option<String>,
    pub specialization: Option<String>,
    pub email: Patch<String>,
    pub phone: Patch<String>,
    pub license_number: Patch<String>,
}

impl DoctorChanges {
    pub fn parse(body: JsonObject) -> Result<Self, ApiError> {
        let mut form = Form::new(body, WRITABLE, READ_ONLY);
        if form.is_empty() {
            return Err(nothing_to_update());
        }
        let changes = Self {
            name: form.replacement("name", text(1..=100, Lines::Single)),
            specialization: form.replacement("specialization", text(1..=100, Lines::Single)),
            email: form.optional("email", email()),
            phone: form.optional("phone", phone()),
            license_number: form.optional("license_number", text(1..=50, Lines::Single)),
        };
        form.finish()?;
        Ok(changes)
    }
}
