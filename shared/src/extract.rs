//! Small extractors for what the routes share: the `{id}` path segment and `If-Match`.

use axum::extract::{FromRequestParts, Path};
use axum::http::HeaderValue;
use axum::http::header::{self, IF_MATCH};
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

/// `scheme://host` of the request as the client addressed it - API Gateway sends
/// `X-Forwarded-Proto` and `Host` - for absolute URLs (FHIR Bundles, SMART discovery, OAuth's audiences).
pub struct Origin(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let header_text = |name| parts.headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
        let scheme = match header_text("x-forwarded-proto").map(|p| p.split(',').next().unwrap_or("").trim()) {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let host = header_text(header::HOST.as_str())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .filter(|h| is_host(h))
            .ok_or_else(|| ApiError::invalid_field("Host", "must name the host the request was sent to"))?;
        Ok(Origin(format!("{scheme}://{host}")))
    }
}

/// A DNS name or IP literal with an optional port: nothing that could bend a link.
fn is_host(host: &str) -> bool {
    !host.is_empty() && host.len() <= 255 && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_that_could_bend_a_link_are_refused() {
        for good in ["api.example.com", "127.0.0.1:3000", "[::1]:8080", "abc.execute-api.eu-west-1.amazonaws.com"] {
            assert!(is_host(good), "{good}");
        }
        for bad in ["", "evil.com/path", "a b", "x@y", "h?q=1", "a\\b"] {
            assert!(!is_host(bad), "{bad}");
        }
    }
}
