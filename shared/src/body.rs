//! `JsonObject`: the extractor for every request body (FHIR's typed bodies share its
//! `body_bytes`). It enforces the contract's
//! transport rules, in this order, each with its own envelope error:
//! content type (415), size (413, before anything is parsed), JSON syntax (400), and
//! the body being an object (400). Field-level rules are validate.rs's job.

use axum::body::{Bytes, to_bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Map, Value};

use crate::ApiError;

pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = body_bytes(request, &["application/json"]).await?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(ApiError::invalid("The request body must be a JSON object.")),
            Err(e) => Err(ApiError::invalid(format!(
                "The request body is not valid JSON (line {}, column {}).",
                e.line(),
                e.column()
            ))),
        }
    }
}

/// A request body sent as one of `media_types`, within the size limit and not blank:
/// the transport rules every JSON body obeys, whatever it is parsed into next.
pub async fn body_bytes(request: Request, media_types: &'static [&'static str]) -> Result<Bytes, ApiError> {
    let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if !media_types.iter().any(|accepted| has_media_type(content_type, accepted)) {
        return Err(ApiError::UnsupportedMediaType(media_types.first().copied().unwrap_or("application/json")));
    }
    let declared =
        request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    // A body without (or lying about) Content-Length is cut off at the limit here.
    let bytes = to_bytes(request.into_body(), MAX_BODY_BYTES).await.map_err(|_| ApiError::PayloadTooLarge)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("The request body is empty; send a JSON object."));
    }
    Ok(bytes)
}

/// `media_type`, with or without parameters such as `; charset=utf-8`.
fn has_media_type(value: Option<&str>, media_type: &str) -> bool {
    value.and_then(|v| v.split(';').next()).is_some_and(|mime| mime.trim().eq_ignore_ascii_case(media_type))
}

#[cfg(test)]
mod tests {
    use super::has_media_type;

    #[test]
    fn content_types() {
        let json = |v| has_media_type(v, "application/json");
        assert!(json(Some("application/json")));
        assert!(json(Some("Application/JSON; charset=utf-8")));
        assert!(!json(Some("text/plain")));
        assert!(!json(Some("application/jsonp")));
        assert!(!json(Some("application/fhir+json")));
        assert!(!json(None));
        assert!(has_media_type(Some("application/fhir+json; fhirVersion=4.0"), "application/fhir+json"));
    }
}
