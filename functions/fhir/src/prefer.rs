//! `Prefer` (RFC 7240): `return=…` on create and update (FHIR's http page), and
//! `respond-async`, which a bulk export's kick-off requires.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// What a create or update answers, by the client's `Prefer: return=…` (FHIR's http
/// page, RFC 7240). No preference, or one we do not know, is the resource itself: a
/// server ignores preferences it does not understand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Return {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

impl Return {
    fn parse(header: &str) -> Self {
        let chosen = header.split([',', ';']).map(str::trim).find_map(|part| {
            let (name, value) = part.split_once('=')?;
            name.trim().eq_ignore_ascii_case("return").then(|| value.trim().trim_matches('"').to_ascii_lowercase())
        });
        match chosen.as_deref() {
            Some("minimal") => Return::Minimal,
            Some("operationoutcome") => Return::OperationOutcome,
            _ => Return::Representation,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Return::Minimal => "return=minimal",
            Return::Representation => "return=representation",
            Return::OperationOutcome => "return=OperationOutcome",
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Return {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let headers = parts.headers.get_all("prefer");
        Ok(headers
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(Return::parse)
            .find(|r| *r != Return::Representation)
            .unwrap_or_default())
    }
}

/// Whether the request asks `Prefer: respond-async` (any `Prefer` header, any case).
pub struct RespondAsync(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for RespondAsync {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let asked = parts.headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()).any(|header| {
            header.split([',', ';']).map(str::trim).any(|part| part.eq_ignore_ascii_case("respond-async"))
        });
        Ok(RespondAsync(asked))
    }
}
