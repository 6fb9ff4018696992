//! The response envelope `{"status", "message", "data"}` that every body has, success
//! and error alike. `Reply` is what handlers return on success; `ApiError` (error.rs)
//! builds its bodies through the same `envelope_response`.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The `status` word of the envelope (docs/API.md, "The envelope").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Success,
    Created,
    Updated,
    Deleted,
    Missing,
    Invalid,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    RateLimited,
    Failed,
    Unknown,
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    status: Status,
    message: &'a str,
    data: &'a T,
}

pub fn envelope_response<T: Serialize>(code: StatusCode, status: Status, message: &str, data: &T) -> Response {
    match serde_json::to_vec(&Envelope { status, message, data }) {
        Ok(body) => {
            let mut response = (code, body).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        // Only a non-string map key or a failing Serialize impl gets here: a bug. Built
        // by hand, not through ApiError, which depends on this module to answer at all.
        Err(e) => {
            tracing::error!(error.cause = %e, "request failed: serialising a response");
            let body = r#"{"status":"unknown","message":"An unexpected error occurred.","data":null}"#;
            let mut response = (StatusCode::INTERNAL_SERVER_ERROR, body).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
    }
}

/// A successful answer: status word, one human sentence, and the data.
pub struct Reply<T> {
    code: StatusCode,
    status: Status,
    message: Cow<'static, str>,
    data: T,
    etag: Option<i32>,
}

impl<T> Reply<T> {
    pub fn data(&self) -> &T {
        &self.data
    }
}

impl<T: Serialize> Reply<T> {
    fn new(code: StatusCode, status: Status, message: impl Into<Cow<'static, str>>, data: T) -> Self {
        Self { code, status, message: message.into(), data, etag: None }
    }
    pub fn success(message: impl Into<Cow<'static, str>>, data: T) -> Self {
        Self::new(StatusCode::OK, Status::Success, message, data)
    }
    pub fn created(message: impl Into<Cow<'static, str>>, data: T) -> Self {
        Self::new(StatusCode::CREATED, Status::Created, message, data)
    }
    pub fn updated(message: impl Into<Cow<'static, str>>, data: T) -> Self {
        Self::new(StatusCode::OK, Status::Updated, message, data)
    }
    pub fn deleted(message: impl Into<Cow<'static, str>>, data: T) -> Self {
        Self::new(StatusCode::OK, Status::Deleted, message, data)
    }
    /// Adds `ETag: "<version>"`, for responses that hold exactly one versioned record.
    pub fn with_version(mut self, version: i32) -> Self {
        self.etag = Some(version);
        self
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let mut response = envelope_response(self.code, self.status, &self.message, &self.data);
        if let Some(version) = self.etag
            && let Ok(value) = HeaderValue::from_str(&format!("\"{version}\""))
        {
            response.headers_mut().insert(header::ETAG, value);
        }
        response
    }
}
