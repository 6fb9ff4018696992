//! Small extractors for what the routes share: the `{id}` path segment and `If-Match`.

use axum::extract::{FromRequestParts, Path};
use axum::http::header::IF_MATCH;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::ApiError;

/// The `{id}` of a route, which must be a UUID (else 400 `invalid`, field `id`).
pub struct Id(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid_field("id", "must be a UUID"))?;
        raw.parse().map(Id).map_err(|_| ApiError::invalid_field("id", "must be a UUID"))
    }
}

/// The two ids of a nested route (`/api/orgs/{id}/members/{user_id}`), both UUIDs
/// (else 400 `invalid`, naming the segment at fault).
pub struct Ids(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid_field("id", "must be a UUID"))?;
        let [(_, first), (name, second)] = params.as_slice() else {
            return Err(ApiError::internal("Ids on a route without two path parameters"));
        };
        let first = first.parse().map_err(|_| ApiError::invalid_field("id", "must be a UUID"))?;
        let second = second.parse().map_err(|_| ApiError::invalid_field(name, "must be a UUID"))?;
        Ok(Ids(first, second))
    }
}

/// `If-Match: <version>`, bare (`3`), quoted (`"3"`, as our ETags are) or weak
/// (`W/"3"`, as FHIR sends them). Absent or `*` means "whatever the current version is".
pub struct IfMatch(pub Option<i32>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(IF_MATCH) else { return Ok(IfMatch(None)) };
        let text = value.to_str().unwrap_or("").trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let strong = text.strip_prefix("W/").unwrap_or(text);
        let bare = strong.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(strong);
        bare.parse::<i32>()
            .ok()
            .filter(|v| *v >= 1)
            .map(|v| IfMatch(Some(v)))
            .ok_or_else(|| ApiError::invalid_field("If-Match", "must be a record version, like \"3\" or W/\"3\""))
    }
}
