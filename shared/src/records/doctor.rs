//! A doctor in the shared directory: the view, its columns, and the rules for creating
//! and changing one.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{col, nothing_to_update};
use crate::ApiError;
use crate::body::JsonObject;
use crate::validate::{Form, Lines, Patch, email, phone, text};

/// The columns `Doctor::from_row` reads, for `concat!` into SQL.
#[macro_export]
macro_rules! doctor_columns {
    () => {
        "id, name, specialization, email, phone, license_number, created_by, created_at, updated_at, version"
    };
}

const WRITABLE: &[&str] = &["name", "specialization", "email", "phone", "license_number"];
const READ_ONLY: &[&str] = &["id", "created_by", "created_at", "updated_at", "version"];

#[derive(Debug, Serialize)]
pub struct Doctor {
    pub id: Uuid,
    pub name: String,
    pub specialization: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub license_number: Option<String>,
    pub created_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl Doctor {
    pub fn from_row(row: &Row) -> Result<Self, ApiError> {
        Ok(Self {
            id: col(row, "id")?,
            name: col(row, "name")?,
            specialization: col(row, "specialization")?,
            email: col(row, "email")?,
            phone: col(row, "phone")?,
            license_number: col(row, "license_number")?,
            created_by: col(row, "created_by")?,
            created_at: col(row, "created_at")?,
            updated_at: col(row, "updated_at")?,
            version: col(row, "version")?,
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
        form.finish()?;
        let (Some(name), Some(specialization)) = (name, specialization) else {
            return Err(ApiError::internal("a validated field was absent"));
        };
        Ok(Self { name, specialization, email, phone, license_number })
    }
}

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
