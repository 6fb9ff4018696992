//! OAuth's own error answers (RFC 6749 5.2): `{"error", "error_description"}` with its
//! codes and statuses, never the envelope, never cached.

use axum::Json;
use axum::http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shared::ApiError;

#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self { status, code, description: description.into() }
    }
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
    /// The client's authentication failed: 401, with a challenge.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", description)
    }
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }
}

/// A failure below OAuth (the database, a bug) keeps its status, in OAuth's words.
impl From<ApiError> for OAuthError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Unavailable | ApiError::Busy => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "Try again shortly.")
            }
            ApiError::RateLimited { .. } => {
                Self::new(StatusCode::TOO_MANY_REQUESTS, "temporarily_unavailable", "Too many attempts; try later.")
            }
            other => {
                // Logged (with the request id) by the error's own response path.
                let _ = other.into_response();
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "The server could not answer.")
            }
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.code, "error_description": self.description }));
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_client\""));
        }
        response
    }
}
