//! `ApiError`: every way a request can fail, and the one place each becomes an HTTP
//! status plus envelope. Handlers return `Result<_, ApiError>`; database and pool errors
//! are classified here (`From` impls) so no handler decides a status code for them.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio_postgres::error::SqlState;

use crate::envelope::{Status, envelope_response};
use crate::request_id::current_request_id;

/// One field at fault, as listed in `data.errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

type Message = Cow<'static, str>;

#[derive(Debug)]
pub enum ApiError {
    /// Required fields absent (400 `missing`).
    Missing(Vec<FieldError>),
    /// Malformed or failing input (400 `invalid`).
    Invalid {
        message: Message,
        errors: Vec<FieldError>,
    },
    MethodNotAllowed,
    PayloadTooLarge,
    /// 415, naming the media types the route accepts.
    UnsupportedMediaType(&'static str),
    Unauthorized(Message),
    Forbidden(Message),
    NotFound(Message),
    /// 409: a uniqueness rule or a business rule (last admin) refused the change.
    Conflict {
        message: Message,
        errors: Vec<FieldError>,
    },
    /// 412: `If-Match` named a version that is no longer current.
    PreconditionFailed,
    /// 412: a conditional request's criteria match more than one record.
    MultipleMatches(Message),
    RateLimited {
        retry_after_secs: u64,
    },
    /// 429 for another reason than failed attempts (a status polled too often, an
    /// export already running), saying which; `Retry-After` set.
    TooSoon {
        message: Message,
        retry_after_secs: u64,
    },
    /// 503: the database is unreachable or gave up (timeout, restart, pooler limit).
    Unavailable,
    /// 503: another service we depend on failed (S3); what failed is logged, not told.
    Upstream(String),
    /// 503: too much work queued (password hashes past their bound); `Retry-After` set.
    Busy,
    /// 503: a feature this deployment was not configured for (MFA without a data key).
    /// Not retryable, so no `Retry-After`; the message says what is missing.
    NotConfigured(Message),
    /// 500: a bug or an unclassified failure. What was being done and the error behind
    /// it are logged, never returned.
    Internal {
        context: Message,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// Seconds a client should wait before retrying after a 503.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

impl ApiError {
    pub fn invalid(message: impl Into<Message>) -> Self {
        ApiError::Invalid { message: message.into(), errors: Vec::new() }
    }

    /// 409 with no field to name.
    pub fn conflict(message: impl Into<Message>) -> Self {
        Self::Conflict { message: message.into(), errors: Vec::new() }
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            message: "The request has an invalid field.".into(),
            errors: vec![FieldError::new(field, message)],
        }
    }

    /// A failure with no error value behind it (a broken invariant).
    pub fn internal(context: impl Into<Message>) -> Self {
        ApiError::Internal { context: context.into(), source: None }
    }

    /// A failure caused by `source`, while doing `context`. Never pass an error the
    /// database server sent: its Display can quote row values, so those go through
    /// `From<tokio_postgres::Error>`, which logs the code and message only.
    pub fn internal_from(context: impl Into<Message>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal { context: context.into(), source: Some(Box::new(source)) }
    }

    /// 409 for a unique constraint from `UNIQUE_CONSTRAINTS`, whether the database
    /// raised it or a statement's `ON CONFLICT DO NOTHING` found it.
    pub fn duplicate(constraint: &str) -> Self {
        match UNIQUE_CONSTRAINTS.iter().find(|c| c.name == constraint) {
            Some(c) => {
                ApiError::Conflict { message: c.message.into(), errors: vec![FieldError::new(c.field, c.problem)] }
            }
            None => ApiError::conflict("A record with these details already exists."),
        }
    }

    fn parts(&self) -> (StatusCode, Status, Message) {
        use ApiError::*;
        match self {
            Missing(_) => (StatusCode::BAD_REQUEST, Status::Missing, "Required fields are missing.".into()),
            Invalid { message, .. } => (StatusCode::BAD_REQUEST, Status::Invalid, message.clone()),
            MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, Status::Invalid, "This method is not allowed on this path.".into())
            }
            PayloadTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, Status::Invalid, "The request body is larger than 64 KiB.".into())
            }
            UnsupportedMediaType(accepted) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Status::Invalid,
                format!("The request body must be sent as Content-Type: {accepted}.").into(),
            ),
            Unauthorized(m) => (StatusCode::UNAUTHORIZED, Status::Unauthorized, m.clone()),
            Forbidden(m) => (StatusCode::FORBIDDEN, Status::Forbidden, m.clone()),
            NotFound(m) => (StatusCode::NOT_FOUND, Status::NotFound, m.clone()),
            Conflict { message, .. } => (StatusCode::CONFLICT, Status::Conflict, message.clone()),
            PreconditionFailed => (
                StatusCode::PRECONDITION_FAILED,
                Status::Conflict,
                "The record has changed since the version named in If-Match.".into(),
            ),
            MultipleMatches(m) => (StatusCode::PRECONDITION_FAILED, Status::Conflict, m.clone()),
            RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                Status::RateLimited,
                "Too many failed attempts; try again later.".into(),
            ),
            TooSoon { message, .. } => (StatusCode::TOO_MANY_REQUESTS, Status::RateLimited, message.clone()),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                Status::Failed,
                "The database is unavailable; try again shortly.".into(),
            ),
            Busy => (StatusCode::SERVICE_UNAVAILABLE, Status::Failed, "The server is busy; try again shortly.".into()),
            Upstream(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Status::Failed,
                "A service this server depends on is unavailable; try again shortly.".into(),
            ),
            NotConfigured(m) => (StatusCode::SERVICE_UNAVAILABLE, Status::Failed, m.clone()),
            Internal { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Status::Unknown,
                format!(
                    "An unexpected error occurred; quote request id {} when reporting it.",
                    current_request_id().unwrap_or_else(|| "unknown".into())
                )
                .into(),
            ),
        }
    }

    fn field_errors(&self) -> Option<&[FieldError]> {
        match self {
            ApiError::Missing(errors) => Some(errors),
            ApiError::Invalid { errors, .. } | ApiError::Conflict { errors, .. } if !errors.is_empty() => Some(errors),
            _ => None,
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after_secs } | ApiError::TooSoon { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            ApiError::Unavailable | ApiError::Busy | ApiError::Upstream(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Internal { context, source: Some(source) } => write!(f, "internal error: {context}: {source}"),
            ApiError::Internal { context, source: None } => write!(f, "internal error: {context}"),
            other => write!(f, "{}", other.parts().2),
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::Internal { source: Some(source), .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal { .. } => tracing::error!(error.cause = %self, "request failed"),
            ApiError::Unavailable => tracing::warn!("database unavailable"),
            ApiError::Upstream(cause) => tracing::warn!(error.cause = %cause, "a service we depend on failed"),
            _ => {}
        }
        let (status, envelope_status, message) = self.parts();
        let data = match self.field_errors() {
            Some(errors) => serde_json::json!({ "errors": errors }),
            None => serde_json::Value::Null,
        };
        let mut response = envelope_response(status, envelope_status, &message, &data);
        if let Some(secs) = self.retry_after_secs() {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        let errors = self.field_errors().map(<[FieldError]>::to_vec).unwrap_or_default();
        response.extensions_mut().insert(ErrorReport { message: message.into_owned(), errors });
        response
    }
}

/// What an error response said, kept in the response's extensions so a function that
/// answers in another format (FHIR's OperationOutcome) renders the same error its own
/// way, whichever layer produced it (handler, extractor, fallback).
#[derive(Debug, Clone)]
pub struct ErrorReport {
    pub message: String,
    pub errors: Vec<FieldError>,
}

/// Raised by every authenticated statement's session guard (`require_live_session`)
/// when the session is revoked, idle or expired, or its user disabled.
const SESSION_ENDED: &str = "HC401";

/// Raised by `memberships_keep_an_owner` (migrations/0008) when a change would leave an
/// organization without an owner.
const LAST_OWNER: &str = "HC409";

/// A unique constraint a client can trip, and what the client is told.
struct Unique {
    name: &'static str,
    message: &'static str,
    field: &'static str,
    problem: &'static str,
}

/// Every constraint in `migrations/` that guards client input belongs here, and every
/// 409 for a duplicate is worded from here (`ApiError::duplicate`).
const UNIQUE_CONSTRAINTS: &[Unique] = &[
    Unique {
        name: "users_email_key",
        message: "An account with this email already exists.",
        field: "email",
        problem: "is already registered",
    },
    Unique {
        name: "doctors_license_number_key",
        message: "A doctor with this licence number already exists.",
        field: "license_number",
        problem: "is already used by another doctor",
    },
    Unique {
        name: "doctors_user_key",
        message: "You already hold another doctor of the directory.",
        field: "id",
        problem: "cannot be claimed: this account already holds a doctor",
    },
    Unique {
        name: "mappings_patient_doctor_key",
        message: "This doctor is already assigned to this patient.",
        field: "doctor_id",
        problem: "is already assigned to this patient",
    },
    Unique {
        name: "patient_identifiers_organization_key",
        message: "Another patient of this organization has one of these identifiers.",
        field: "identifiers",
        problem: "names another patient of the organization (a system|value pair names one patient there)",
    },
    Unique {
        name: "patient_identifiers_personal_key",
        message: "Another of your personal patients has one of these identifiers.",
        field: "identifiers",
        problem: "names another of your personal patients (a system|value pair names one patient)",
    },
];

/// Whether a 409 came from the identifiers being taken (a conditional create's race).
pub fn identifiers_taken(error: &ApiError) -> bool {
    matches!(error, ApiError::Conflict { errors, .. } if errors.iter().any(|e| e.field == "identifiers"))
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(err: tokio_postgres::Error) -> Self {
        if is_connection_lost(&err) {
            return ApiError::Unavailable;
        }
        let Some(db) = err.as_db_error() else {
            // Not a server error: a client-side failure (encoding, protocol), no row data.
            return ApiError::internal_from("talking to the database", err);
        };
        let code = db.code();
        if code.code() == SESSION_ENDED {
            return ApiError::Unauthorized("The session has ended; sign in again.".into());
        }
        if code.code() == LAST_OWNER {
            return ApiError::conflict("An organization keeps at least one owner; make another member owner first.");
        }
        if *code == SqlState::UNIQUE_VIOLATION {
            return ApiError::duplicate(db.constraint().unwrap_or(""));
        }
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            return ApiError::NotFound("A referenced record does not exist.".into());
        }
        // Class 22 (data exception) and check violations mean input slipped past
        // validation; still the client's input, so 4xx, but logged as a validation gap.
        if code.code().starts_with("22") || *code == SqlState::CHECK_VIOLATION || *code == SqlState::NOT_NULL_VIOLATION
        {
            tracing::warn!(sqlstate = code.code(), "database refused a value that validation let through");
            return ApiError::invalid("A value in the request is out of range.");
        }
        if is_transient(code) {
            return ApiError::Unavailable;
        }
        // The code and the server's message only: a DETAIL line can quote row values
        // ("Failing row contains ..."), which may be patient data and must not be logged.
        ApiError::internal(format!("database error {}: {}", code.code(), db.message()))
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match err {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(stage) => {
                // Which stage ran out (wait for a free connection, create, recycle) says
                // whether the pool is too small or the database too slow to reach.
                tracing::warn!(?stage, "no database connection within the connect timeout");
                ApiError::Unavailable
            }
            PoolError::Closed | PoolError::NoRuntimeSpecified => ApiError::Unavailable,
            PoolError::PostCreateHook(e) => ApiError::internal_from("opening a database connection", e),
        }
    }
}

/// The connection itself failed (closed, reset, killed by the server or the pooler):
/// the statement may be retried once on a fresh connection.
pub fn is_connection_lost(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    if let Some(code) = err.code() {
        return [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CONNECTION_FAILURE].contains(code)
            || code.code().starts_with("08");
    }
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if e.is::<std::io::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Failures that say "not now" rather than "never": the client should retry later.
fn is_transient(code: &SqlState) -> bool {
    [
        SqlState::QUERY_CANCELED, // statement_timeout
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::TOO_MANY_CONNECTIONS,
        SqlState::CANNOT_CONNECT_NOW,
        SqlState::LOCK_NOT_AVAILABLE,
    ]
    .contains(code)
}
