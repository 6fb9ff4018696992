//! The records of the API as clients see them, shared by the resource functions and the
//! admin function so a rule or a field changes in one place: the view (serialiser), the
//! columns it reads from a row (`FromRow::COLUMNS`, which the schema test checks every
//! statement that feeds it returns), and the parsing of create and update bodies.

pub mod access_log;
pub mod app;
pub mod doctor;
pub mod emergency;
pub mod identifier;
pub mod mapping;
pub mod organization;
pub mod patient;
pub mod user;

use std::marker::PhantomData;

use serde::Serializer;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::ApiError;
use crate::db::Column;

/// A record built from a statement's row, by column name.
pub trait FromRow: Sized {
    /// Every column `from_row` reads, with its type.
    const COLUMNS: &'static [Column];
    fn from_row(row: &Row) -> Result<Self, ApiError>;
}

/// How `from_row` reads: by column name, with a type mismatch as an internal error
/// rather than a panic. Only a declared column may be read, so `COLUMNS` (which the
/// schema test checks) stays the whole truth about what `from_row` needs.
pub struct Reader<'r, R> {
    row: &'r Row,
    record: PhantomData<R>,
}

impl<'r, R: FromRow> Reader<'r, R> {
    pub fn new(row: &'r Row) -> Self {
        Self { row, record: PhantomData }
    }

    pub fn get<T: FromSql<'r>>(&self, name: &str) -> Result<T, ApiError> {
        if !R::COLUMNS.iter().any(|(declared, _)| *declared == name) {
            return Err(ApiError::internal(format!("from_row reads {name}, which its COLUMNS do not declare")));
        }
        column(self.row, name)
    }
}

/// The records of a page whose statement answers one row even when the page is empty
/// (`FROM (SELECT) AS one LEFT JOIN page`): the rows whose `key` is set.
pub fn present<T: FromRow>(rows: &[Row], key: &str) -> Result<Vec<T>, ApiError> {
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        if column::<Option<uuid::Uuid>>(row, key)?.is_some() {
            records.push(T::from_row(row)?);
        }
    }
    Ok(records)
}

/// A column a handler reads itself, outside any record (`found`, `session_id`).
pub fn column<'a, T: FromSql<'a>>(row: &'a Row, name: &str) -> Result<T, ApiError> {
    row.try_get(name).map_err(|e| ApiError::internal_from(format!("reading column {name}"), e))
}

pub(crate) fn serialize_date<S: Serializer>(date: &time::Date, s: S) -> Result<S::Ok, S::Error> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    s.collect_str(&date.format(format).map_err(serde::ser::Error::custom)?)
}

/// "Send at least one field" for partial updates.
pub(crate) fn nothing_to_update() -> ApiError {
    ApiError::invalid("Send at least one field to change.")
}
