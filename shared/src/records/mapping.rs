//! A mapping: one doctor assigned to one patient.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::doctor::Doctor;
use super::{FromRow, Reader};
use crate::ApiError;
use crate::body::JsonObject;
use crate::db::Column;
use crate::validate::{Form, uuid};

#[derive(Debug, Serialize)]
pub struct Mapping {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
    pub assigned_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub assigned_at: OffsetDateTime,
}

impl FromRow for Mapping {
    const COLUMNS: &'static [Column] = &[
        ("id", Type::UUID),
        ("patient_id", Type::UUID),
        ("doctor_id", Type::UUID),
        ("assigned_by", Type::UUID),
        ("assigned_at", Type::TIMESTAMPTZ),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        Ok(Self {
            id: row.get("id")?,
            patient_id: row.get("patient_id")?,
            doctor_id: row.get("doctor_id")?,
            assigned_by: row.get("assigned_by")?,
            assigned_at: row.get("assigned_at")?,
        })
    }
}

/// A doctor as listed under one patient: the doctor plus the assignment's id and time.
#[derive(Debug, Serialize)]
pub struct AssignedDoctor {
    #[serde(flatten)]
    pub doctor: Doctor,
    pub mapping_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub assigned_at: OffsetDateTime,
}

/// The doctor's own columns (`Doctor::COLUMNS`) and these.
impl FromRow for AssignedDoctor {
    const COLUMNS: &'static [Column] = &[("mapping_id", Type::UUID), ("assigned_at", Type::TIMESTAMPTZ)];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let doctor = Doctor::from_row(row)?;
        let row = Reader::<Self>::new(row);
        Ok(Self { doctor, mapping_id: row.get("mapping_id")?, assigned_at: row.get("assigned_at")? })
    }
}

pub struct NewMapping {
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
}

impl NewMapping {
    pub fn parse(body: JsonObject) -> Result<Self, ApiError> {
        let mut form = Form::new(body, &["patient_id", "doctor_id"], &["id", "assigned_by", "assigned_at"]);
        let patient_id = form.required("patient_id", uuid());
        let doctor_id = form.required("doctor_id", uuid());
        let (patient_id, doctor_id) = form.finish_with((patient_id, doctor_id))?;
        Ok(Self { patient_id, doctor_id })
    }
}
