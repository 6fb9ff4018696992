//! A mapping: one doctor assigned to one patient.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::col;
use super::doctor::Doctor;
use crate::ApiError;
use crate::body::JsonObject;
use crate::validate::{Form, uuid};

/// The columns `Mapping::from_row` reads, for `concat!` into SQL.
#[macro_export]
macro_rules! mapping_columns {
    () => {
        "id, patient_id, doctor_id, assigned_by, assigned_at"
    };
}

#[derive(Debug, Serialize)]
pub struct Mapping {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
    pub assigned_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub assigned_at: OffsetDateTime,
}

impl Mapping {
    pub fn from_row(row: &Row) -> Result<Self, ApiError> {
        Ok(Self {
            id: col(row, "id")?,
            patient_id: col(row, "patient_id")?,
            doctor_id: col(row, "doctor_id")?,
            assigned_by: col(row, "assigned_by")?,
            assigned_at: col(row, "assigned_at")?,
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

impl AssignedDoctor {
    /// Reads the doctor's columns plus `mapping_id` and `assigned_at`.
    pub fn from_row(row: &Row) -> Result<Self, ApiError> {
        Ok(Self {
            doctor: Doctor::from_row(row)?,
            mapping_id: col(row, "mapping_id")?,
            assigned_at: col(row, "assigned_at")?,
        })
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
        form.finish()?;
        match (patient_id, doctor_id) {
            (Some(patient_id), Some(doctor_id)) => Ok(Self { patient_id, doctor_id }),
            _ => Err(ApiError::internal("a validated field was absent")),
        }
    }
}
