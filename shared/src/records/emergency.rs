//! Emergency access ("break-glass"): a grant as clients see it, and the request that
//! opens one.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{FromRow, Reader};
use crate::ApiError;
use crate::body::JsonObject;
use crate::db::Column;
use crate::validate::{Form, Lines, Patch, any_string, integer, one_of, text};

pub const OUTCOMES: &[&str] = &["justified", "unjustified"];
/// A grant's length when the request names none, and the longest one may be.
pub const DEFAULT_MINUTES: i64 = 60;
pub const MAX_MINUTES: i64 = 240;

#[derive(Debug, Serialize)]
pub struct Grant {
    pub id: Uuid,
    /// Null once the patient is deleted: the grant's record stays for review.
    pub patient_id: Option<Uuid>,
    pub user_id: Uuid,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Live now (by the database's clock).
    pub active: bool,
    pub review: Option<Review>,
}

#[derive(Debug, Serialize)]
pub struct Review {
    pub outcome: String,
    pub reviewed_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub reviewed_at: OffsetDateTime,
    pub comment: Option<String>,
}

impl FromRow for Grant {
    const COLUMNS: &'static [Column] = &[
        ("id", Type::UUID),
        ("patient_id", Type::UUID),
        ("user_id", Type::UUID),
        ("reason", Type::TEXT),
        ("created_at", Type::TIMESTAMPTZ),
        ("expires_at", Type::TIMESTAMPTZ),
        ("ended_at", Type::TIMESTAMPTZ),
        ("active", Type::BOOL),
        ("review_outcome", Type::TEXT),
        ("reviewed_by", Type::UUID),
        ("reviewed_at", Type::TIMESTAMPTZ),
        ("review_comment", Type::TEXT),
    ];

    fn from_row(row: &Row) -> Result<Self, ApiError> {
        let row = Reader::<Self>::new(row);
        let outcome: Option<String> = row.get("review_outcome")?;
        let reviewed_at: Option<OffsetDateTime> = row.get("reviewed_at")?;
        let review = match (outcome, reviewed_at) {
            (Some(outcome), Some(reviewed_at)) => Some(Review {
                outcome,
                reviewed_by: row.get("reviewed_by")?,
                reviewed_at,
                comment: row.get("review_comment")?,
            }),
            _ => None,
        };
        Ok(Self {
            id: row.get("id")?,
            patient_id: row.get("patient_id")?,
            user_id: row.get("user_id")?,
            reason: row.get("reason")?,
            created_at: row.get("created_at")?,
            expires_at: row.get("expires_at")?,
            ended_at: row.get("ended_at")?,
            active: row.get("active")?,
            review,
        })
    }
}

/// `POST /api/patients/{id}/emergency-access`: why, for how long, and the fresh proof
/// of who is asking.
pub struct GrantRequest {
    pub reason: String,
    pub minutes: i64,
    pub password: String,
    pub code: Option<String>,
}

impl GrantRequest {
    pub fn parse(body: JsonObject) -> Result<Self, ApiError> {
        let mut form = Form::new(body, &["reason", "minutes", "password", "code"], &[]);
        let reason = form.required("reason", text(20..=500, Lines::Multi));
        let minutes = form.optional("minutes", integer(1..=MAX_MINUTES)).into_option();
        let password = form.required("password", any_string(1024));
        let code = form.optional("code", any_string(16)).into_option();
        let (reason, password) = form.finish_with((reason, password))?;
        Ok(Self { reason, minutes: minutes.unwrap_or(DEFAULT_MINUTES), password, code })
    }
}

/// `PUT /api/orgs/{id}/emergency-access/{grant_id}`: the review.
pub fn parse_review(body: JsonObject) -> Result<(String, Option<String>), ApiError> {
    let mut form = Form::new(body, &["outcome", "comment"], &[]);
    let outcome = form.required("outcome", one_of(OUTCOMES));
    let comment = match form.optional("comment", text(0..=1000, Lines::Multi)).empty_clears() {
        Patch::Set(comment) => Some(comment),
        _ => None,
    };
    let outcome = form.finish_with(outcome)?;
    Ok((outcome, comment))
}
