//! The records of the API as clients see them, shared by the resource functions and the
//! admin function so a rule or a field changes in one place: the view (serialiser), the
//! SQL column list it reads (a macro, so it can be `concat!`ed into static SQL), and the
//! parsing of create and update bodies.

pub mod doctor;
pub mod mapping;
pub mod patient;
pub mod user;

use serde::Serializer;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::ApiError;

/// A column by name, with a type mismatch as an internal error rather than a panic.
pub(crate) fn col<'a, T: FromSql<'a>>(row: &'a Row, name: &str) -> Result<T, ApiError> {
    row.try_get(name).map_err(|e| ApiError::internal(format!("reading column {name}: {e}")))
}

pub(crate) fn serialize_date<S: Serializer>(date: &time::Date, s: S) -> Result<S::Ok, S::Error> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    s.collect_str(&date.format(format).map_err(serde::ser::Error::custom)?)
}

/// "Send at least one field" for partial updates.
pub(crate) fn nothing_to_update() -> ApiError {
    ApiError::invalid("Send at least one field to change.")
}
