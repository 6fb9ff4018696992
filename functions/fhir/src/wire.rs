//! FHIR on the wire: typed bodies in (`application/fhir+json` or `application/json`),
//! resources out as `application/fhir+json` with `ETag: W/"<version>"`, the absolute
//! base URL links are built from, and every error response - whichever layer produced
//! it - re-rendered as an OperationOutcome with the status it already had.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared::ApiError;
use shared::body::body_bytes;
use shared::error::{ErrorReport, FieldError};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::prefer::Return;
use crate::resources::{Issue, OperationOutcome, Resource};

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";
const ACCEPTED: &[&str] = &["application/fhir+json", "application/json"];

/// A request body parsed straight into a typed resource. A fault is reported at its
/// FHIRPath (`Patient.telecom[0].system`) with serde's reason (unknown element, wrong
/// JSON type, unknown code, element given twice).
pub struct FhirBody<T>(pub T);

impl<T: DeserializeOwned + Resource, S: Send + Sync> FromRequest<S> for FhirBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(request, ACCEPTED).await?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| body_fault(T::TYPE, ".", e))?;
        if let Some(path) = not_fhir_shaped(&value, T::TYPE.to_string()) {
            return Err(ApiError::invalid_field(&path, "must be a JSON object, as FHIR writes every element"));
        }
        // Parsed again, typed, from the bytes: unlike a `Value`, this sees a key given twice.
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let path = e.path().to_string();
            body_fault(T::TYPE, &path, e.into_inner())
        })?;
        json.end().map_err(|e| body_fault(T::TYPE, ".", e))?;
        Ok(FhirBody(value))
    }
}

fn body_fault(resource: &str, path: &str, error: serde_json::Error) -> ApiError {
    if error.is_syntax() || error.is_eof() {
        return ApiError::invalid(format!(
            "The request body is not valid JSON (line {}, column {}).",
            error.line(),
            error.column()
        ));
    }
    let at = if path == "." { resource.to_string() } else { format!("{resource}.{path}") };
    ApiError::Invalid {
        message: "The resource cannot be stored as sent.".into(),
        errors: vec![FieldError::new(at, without_position(&error.to_string()))],
    }
}

/// Where the body holds an array in place of an object: at the top, or directly in an
/// array (FHIR JSON never nests arrays). serde would read either as a struct's fields in
/// order, which no FHIR client means.
fn not_fhir_shaped(value: &Value, path: String) -> Option<String> {
    match value {
        Value::Object(map) => map.iter().find_map(|(key, v)| match v {
            Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| match item {
                Value::Array(_) => Some(format!("{path}.{key}[{i}]")),
                _ => not_fhir_shaped(item, format!("{path}.{key}[{i}]")),
            }),
            Value::Object(_) => not_fhir_shaped(v, format!("{path}.{key}")),
            _ => None,
        }),
        _ if path.contains('.') => None,
        _ => Some(path),
    }
}

/// serde_json's message without its " at line 1 column 80" tail (the path says where).
fn without_position(message: &str) -> String {
    message.rsplit_once(" at line ").map_or(message, |(head, _)| head).to_string()
}

/// A resource answer: `application/fhir+json`, with the version as a weak ETag and its
/// `meta.lastUpdated` as `Last-Modified` when the body is one versioned resource, and
/// `Location` after a create.
pub struct Fhir<T> {
    status: StatusCode,
    body: T,
    version: Option<(i32, OffsetDateTime)>,
    location: Option<String>,
    prefer: Return,
}

impl<T: Serialize> Fhir<T> {
    pub fn ok(body: T) -> Self {
        Self { status: StatusCode::OK, body, version: None, location: None, prefer: Return::Representation }
    }

    pub fn versioned(mut self, version: i32, last_updated: OffsetDateTime) -> Self {
        self.version = Some((version, last_updated));
        self
    }

    /// Answers as the client's `Prefer` asks (create and update).
    pub fn preferring(mut self, prefer: Return) -> Self {
        self.prefer = prefer;
        self
    }

    pub fn created(mut self, location: String) -> Self {
        self.status = StatusCode::CREATED;
        self.location = Some(location);
        self
    }

    /// `Location` of the version an update made (FHIR's http page), the status kept.
    pub fn located(mut self, location: String) -> Self {
        self.location = Some(location);
        self
    }
}

impl<T: Serialize> IntoResponse for Fhir<T> {
    fn into_response(self) -> Response {
        let done = if self.status == StatusCode::CREATED { "created" } else { "updated" };
        let body = match self.prefer {
            Return::Minimal => Ok(Vec::new()),
            Return::Representation => serde_json::to_vec(&self.body),
            Return::OperationOutcome => serde_json::to_vec(&OperationOutcome {
                resource_type: "OperationOutcome",
                issue: vec![Issue {
                    severity: "information",
                    code: "informational",
                    diagnostics: format!("The resource was {done}."),
                    expression: Vec::new(),
                }],
            }),
        };
        let body = match body {
            Ok(bytes) => bytes,
            Err(e) => return ApiError::internal_from("serialising a FHIR resource", e).into_response(),
        };
        let mut response = match self.prefer {
            Return::Minimal => self.status.into_response(),
            _ => (self.status, [(header::CONTENT_TYPE, FHIR_JSON)], body).into_response(),
        };
        let headers = response.headers_mut();
        if self.prefer != Return::Representation {
            headers.insert("preference-applied", HeaderValue::from_static(self.prefer.name()));
        }
        if let Some((version, last_updated)) = self.version {
            if let Ok(value) = HeaderValue::from_str(&format!("W/\"{version}\"")) {
                headers.insert(header::ETAG, value);
            }
            if let Ok(value) = last_updated.to_offset(UtcOffset::UTC).format(HTTP_DATE)
                && let Ok(value) = HeaderValue::from_str(&value)
            {
                headers.insert(header::LAST_MODIFIED, value);
            }
        }
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        response
    }
}

pub use shared::extract::Origin;

/// An OperationOutcome of one issue, as an answer in its own right (an export's
/// kick-off and progress, a cancel), not an error re-rendered.
pub fn outcome(status: StatusCode, severity: &'static str, code: &'static str, diagnostics: &str) -> Response {
    let outcome = OperationOutcome {
        resource_type: "OperationOutcome",
        issue: vec![Issue { severity, code, diagnostics: diagnostics.to_owned(), expression: Vec::new() }],
    };
    match serde_json::to_vec(&outcome) {
        Ok(body) => (status, [(header::CONTENT_TYPE, FHIR_JSON)], body).into_response(),
        Err(e) => ApiError::internal_from("serialising an OperationOutcome", e).into_response(),
    }
}

/// HTTP's date (RFC 9110 IMF-fixdate), to the second: `meta.lastUpdated` as a header.
const HTTP_DATE: &[FormatItem<'static>] =
    format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");

/// A FHIR resource id from the path. Every id we issue is a UUID, so an id of FHIR's
/// syntax (`[A-Za-z0-9-.]{1,64}`) that is not one names nothing here: 404, as FHIR's
/// read expects (`Patient/does-not-exist`). Anything else is not an id at all: 400.
/// (No audit event: such an id names no record anyone could have reached.)
pub struct FhirId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for FhirId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(raw)) => fhir_id(&raw, "id").map(FhirId),
            Err(_) => Err(ApiError::invalid_field("id", "must be a FHIR id")),
        }
    }
}

/// A resource's id and a version id (`…/{id}/_history/{vid}`). Our versions are 1, 2, …:
/// a version id of FHIR's syntax that is not one names nothing (404), as for ids.
pub struct FhirVersion(pub Uuid, pub i32);

impl<S: Send + Sync> FromRequestParts<S> for FhirVersion {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ok(Path((id, vid))) = Path::<(String, String)>::from_request_parts(parts, state).await else {
            return Err(ApiError::invalid_field("id", "must be a FHIR id"));
        };
        let id = fhir_id(&id, "id")?;
        fhir_syntax(&vid, "vid")?;
        match vid.parse::<i32>() {
            Ok(version) if (1..i32::MAX).contains(&version) => Ok(FhirVersion(id, version)),
            _ => Err(ApiError::NotFound("No such version.".into())),
        }
    }
}

/// FHIR's id syntax: 1-64 of `A-Z a-z 0-9 - .`.
pub fn is_fhir_id(raw: &str) -> bool {
    (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn fhir_syntax(raw: &str, name: &str) -> Result<(), ApiError> {
    match is_fhir_id(raw) {
        true => Ok(()),
        false => Err(ApiError::invalid_field(name, "must be a FHIR id: 1-64 of A-Z a-z 0-9 - .")),
    }
}

fn fhir_id(raw: &str, name: &str) -> Result<Uuid, ApiError> {
    fhir_syntax(raw, name)?;
    raw.parse().map_err(|_| ApiError::NotFound("No resource has this id.".into()))
}

/// Re-renders an error answer (it carries an `ErrorReport`) as an OperationOutcome,
/// keeping its status and headers (`Retry-After`).
pub async fn operation_outcome(response: Response) -> Response {
    let Some(report) = response.extensions().get::<ErrorReport>().cloned() else { return response };
    let (mut parts, _) = response.into_parts();
    let code = issue_code(parts.status);
    let issue = if report.errors.is_empty() {
        vec![Issue { severity: "error", code, diagnostics: report.message, expression: Vec::new() }]
    } else {
        report
            .errors
            .into_iter()
            .map(|e| Issue {
                severity: "error",
                code,
                // A query parameter can have an empty name; FHIR allows no empty strings.
                diagnostics: if e.field.is_empty() {
                    format!("A parameter with no name {}", e.message)
                } else {
                    format!("{}: {}", e.field, e.message)
                },
                expression: Some(e.field).filter(|f| !f.is_empty()).into_iter().collect(),
            })
            .collect()
    };
    let outcome = OperationOutcome { resource_type: "OperationOutcome", issue };
    let body = serde_json::to_vec(&outcome).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// The OperationOutcome issue code for each status the routes give.
fn issue_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "login",
        403 => "forbidden",
        404 => "not-found",
        409 | 412 => "conflict",
        413 | 429 => "too-costly",
        503 => "transient",
        400..=499 => "invalid",
        _ => "exception",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_in_place_of_objects_are_found() {
        let shape = |v: Value| not_fhir_shaped(&v, "Patient".into());
        assert_eq!(shape(serde_json::json!([])), Some("Patient".into()));
        assert_eq!(shape(serde_json::json!({"name": [["Ada"]]})), Some("Patient.name[0]".into()));
        assert_eq!(shape(serde_json::json!({"meta": {"tag": [[1]]}})), Some("Patient.meta.tag[0]".into()));
        assert_eq!(shape(serde_json::json!({"name": [{"given": ["Ada"]}], "meta": {"x": 1}})), None);
    }

    #[test]
    fn issue_codes_follow_the_status() {
        let code = |s: u16| issue_code(StatusCode::from_u16(s).unwrap());
        assert_eq!(
            [400, 401, 403, 404, 405, 409, 412, 413, 415, 429, 500, 503].map(code),
            [
                "invalid",
                "login",
                "forbidden",
                "not-found",
                "invalid",
                "conflict",
                "conflict",
                "too-costly",
                "invalid",
                "too-costly",
                "exception",
                "transient"
            ]
        );
    }
}
