//! A patient: the view, its columns, and the rules for creating and changing one.

use serde::Serialize;
use time::{Date, OffsetDateTime};
use tokio_postgres::Row;
use tokio_postgres::types::{Json, Type};
use uuid::Uuid;

use super::identifier::{PatientIdentifier, identifiers};
use super::{FromRow, Reader, nothing_to_update, serialize_date};
use crate::ApiError;
use crate::body::JsonObject;
use crate::db::Column;
use crate::validate::{Form, Lines, Patch, boolean, date_of_birth, email, one_of, phone, text, uuid};

pub const GENDERS: &[&str] = &["female", "male", "other", "unknown"];
const WRITABLE: &[&str] = &[
    "name",
    "date_of_birth",
    "gender",
    "phone",
    "email",
    "address",
    "notes",
    "organization_id",
    "restricted",
    "identifiers",
];
const READ_ONLY: &[&str] = &["id", "age", "owner_id", "created_at", "updated_at", "version"];

#[derive(Debug, Serialize)]
pub struct Patient {
    pub id: Uuid,
    pub name: String,
    #[serde(serialize_with = "serialize_date")]
    pub date_of_birth: Date,
    /// Whole years, computed at read time.
    pub age: i32,
    pub gender: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    /// Absent (not null) for a caller who may not read them (`reach.reads_notes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<Option<String>>,
    pub owner_id: Uuid,
    pub organization_id: Option<Uuid>,
    /// A sensitive chart: its notes only for the few the reach table names.
    pub restricted: bool,
    pub identifiers: Vec<PatientIdentifier>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i32,
}

impl FromRow for Patient {
    const COLUMNS: &'static [Column] = &[
        ("id", Type::UUID),
        ("owner_id", Type::UUID),
        ("organization_id", Type::UUID),
        ("name", Type::TEXT),
        ("date_of_birth", Type::DATE),
        ("gender", Type::TEXT),
        ("phone", Type::TEXT),
        ("email", Type::TEXT),
        ("address", Type::TEXT),
        ("notes", Type::TEXT),
        ("created_at", Type::TIMESTAMPTZ),
        ("updated_at", Type::TIMESTAMPTZ),
        ("version", Type::INT4),
        ("restricted", Type::BOOL),
        ("reads_notes", Type::BOOL),
        ("identifiers", Type::JSONB),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        let date_of_birth: Date = row.get("date_of_birth")?;
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            age: age_on(date_of_birth, OffsetDateTime::now_utc().date()),
            date_of_birth,
            gender: row.get("gender")?,
            phone: row.get("phone")?,
            email: row.get("email")?,
            address: row.get("address")?,
            notes: if row.get("reads_notes")? { Some(row.get("notes")?) } else { None },
            owner_id: row.get("owner_id")?,
            organization_id: row.get("organization_id")?,
            restricted: row.get("restricted")?,
            identifiers: row.get::<Json<_>>("identifiers")?.0,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            version: row.get("version")?,
        })
    }
}

/// One version of a patient (`GET /api/patients/{id}/versions`): the fields as they
/// were, and who made the version when.
#[derive(Debug, Serialize)]
pub struct PatientVersion {
    pub version: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
    /// A user id; null for a version made before versions were kept.
    pub changed_by: Option<Uuid>,
    pub name: String,
    #[serde(serialize_with = "serialize_date")]
    pub date_of_birth: Date,
    pub gender: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    /// Absent (not null) for a caller who may not read them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<Option<String>>,
    pub organization_id: Option<Uuid>,
    pub restricted: bool,
    pub identifiers: Vec<PatientIdentifier>,
}

impl FromRow for PatientVersion {
    const COLUMNS: &'static [Column] = &[
        ("version", Type::INT4),
        ("updated_at", Type::TIMESTAMPTZ),
        ("changed_by", Type::UUID),
        ("name", Type::TEXT),
        ("date_of_birth", Type::DATE),
        ("gender", Type::TEXT),
        ("phone", Type::TEXT),
        ("email", Type::TEXT),
        ("address", Type::TEXT),
        ("notes", Type::TEXT),
        ("reads_notes", Type::BOOL),
        ("organization_id", Type::UUID),
        ("restricted", Type::BOOL),
        ("identifiers", Type::JSONB),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            version: row.get("version")?,
            changed_at: row.get("updated_at")?,
            changed_by: row.get("changed_by")?,
            name: row.get("name")?,
            date_of_birth: row.get("date_of_birth")?,
            gender: row.get("gender")?,
            phone: row.get("phone")?,
            email: row.get("email")?,
            address: row.get("address")?,
            notes: if row.get("reads_notes")? { Some(row.get("notes")?) } else { None },
            organization_id: row.get("organization_id")?,
            restricted: row.get("restricted")?,
            identifiers: row.get::<Json<_>>("identifiers")?.0,
        })
    }
}

/// Completed years between a birth date and `today` (a 29 February birthday counts on
/// 1 March in other years).
pub fn age_on(born: Date, today: Date) -> i32 {
    let had_birthday = (today.month() as u8, today.day()) >= (born.month() as u8, born.day());
    today.year() - born.year() - if had_birthday { 0 } else { 1 }
}

pub struct NewPatient {
    pub name: String,
    pub date_of_birth: Date,
    pub gender: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    /// The organization it belongs to; `None`: personal.
    pub organization_id: Option<Uuid>,
    /// `None` when not sent: sending it at all needs access to the notes.
    pub restricted: Option<bool>,
    pub identifiers: Vec<PatientIdentifier>,
}

impl NewPatient {
    pub fn parse(body: JsonObject) -> Result<Self, ApiError> {
        let mut form = Form::new(body, WRITABLE, READ_ONLY);
        let name = form.required("name", text(1..=100, Lines::Single));
        let date_of_birth = form.required("date_of_birth", date_of_birth());
        let gender = form.optional("gender", one_of(GENDERS)).into_option();
        let phone = form.optional("phone", phone()).into_option();
        let email = form.optional("email", email()).into_option();
        let address = form.optional("address", text(0..=500, Lines::Multi)).into_option();
        let notes = form.optional("notes", text(0..=5000, Lines::Multi)).into_option();
        let organization_id = form.optional("organization_id", uuid()).into_option();
        let restricted = form.optional("restricted", boolean()).into_option();
        let identifiers = form.optional("identifiers", identifiers()).into_option();
        let (name, date_of_birth) = form.finish_with((name, date_of_birth))?;
        Ok(Self {
            name,
            date_of_birth,
            gender: gender.unwrap_or_else(|| "unknown".into()),
            phone,
            email,
            address: address.filter(|a| !a.is_empty()),
            notes: notes.filter(|n| !n.is_empty()),
            organization_id,
            restricted,
            identifiers: identifiers.unwrap_or_default(),
        })
    }
}

/// A partial update: `None`/`Absent` fields stay as they are; `Clear` sets NULL.
#[derive(Default)]
pub struct PatientChanges {
    pub name: Option<String>,
    pub date_of_birth: Option<Date>,
    pub gender: Option<String>,
    pub phone: Patch<String>,
    pub email: Patch<String>,
    pub address: Patch<String>,
    pub notes: Patch<String>,
    /// A move into an organization (null: stay personal).
    pub organization_id: Patch<Uuid>,
    pub restricted: Option<bool>,
    /// The whole list, replaced.
    pub identifiers: Option<Vec<PatientIdentifier>>,
}

impl PatientChanges {
    pub fn parse(body: JsonObject) -> Result<Self, ApiError> {
        let mut form = Form::new(body, WRITABLE, READ_ONLY);
        if form.is_empty() {
            return Err(nothing_to_update());
        }
        let changes = Self {
            name: form.replacement("name", text(1..=100, Lines::Single)),
            date_of_birth: form.replacement("date_of_birth", date_of_birth()),
            gender: form.replacement("gender", one_of(GENDERS)),
            phone: form.optional("phone", phone()),
            email: form.optional("email", email()),
            address: form.optional("address", text(0..=500, Lines::Multi)).empty_clears(),
            notes: form.optional("notes", text(0..=5000, Lines::Multi)).empty_clears(),
            organization_id: form.optional("organization_id", uuid()),
            restricted: form.replacement("restricted", boolean()),
            identifiers: form.replacement("identifiers", identifiers()),
        };
        form.finish()?;
        Ok(changes)
    }
}

/// An open invitation to a patient's portal (`POST /api/patients/{id}/portal-invitation`).
#[derive(Serialize)]
pub struct PortalInvitation {
    id: Uuid,
    patient_id: Uuid,
    email: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
}

impl FromRow for PortalInvitation {
    const COLUMNS: &'static [Column] =
        &[("id", Type::UUID), ("patient_id", Type::UUID), ("email", Type::TEXT), ("expires_at", Type::TIMESTAMPTZ)];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            id: row.get("id")?,
            patient_id: row.get("patient_id")?,
            email: row.get("email")?,
            expires_at: row.get("expires_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::age_on;
    use time::macros::date;

    #[test]
    fn age_counts_completed_years() {
        assert_eq!(age_on(date!(1990 - 06 - 15), date!(2026 - 06 - 14)), 35);
        assert_eq!(age_on(date!(1990 - 06 - 15), date!(2026 - 06 - 15)), 36);
        assert_eq!(age_on(date!(2000 - 02 - 29), date!(2026 - 02 - 28)), 25);
        assert_eq!(age_on(date!(2000 - 02 - 29), date!(2026 - 03 - 01)), 26);
        assert_eq!(age_on(date!(2026 - 11 - 22), date!(2026 - 11 - 22)), 0);
    }
}
