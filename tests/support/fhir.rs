//! Driving `/api/fhir`: requests with FHIR's media type and a `Host` (links are built
//! from it), and every answer checked against what the FHIR contract promises of all
//! of them - `application/fhir+json`, a `resourceType`, errors as an OperationOutcome
//! with one of the contract's issue codes, and what every answer carries
//! (`check_transport`).

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use crate::{TestApp, check_transport};

pub const HOST: &str = "fhir.example.test";
const ISSUE_CODES: &[&str] =
    &["invalid", "not-found", "login", "forbidden", "conflict", "too-costly", "exception", "transient"];

#[derive(Debug)]
pub struct FhirResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// `Null` for an empty body (204).
    pub body: Value,
}

impl FhirResponse {
    /// Asserts the status; for an error, also the OperationOutcome's issue code.
    #[track_caller]
    pub fn expect(&self, status: u16, issue_code: Option<&str>) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {:#}", self.body);
        if let Some(code) = issue_code {
            assert_eq!(self.body["issue"][0]["code"], code, "{:#}", self.body);
        }
        &self.body
    }

    /// The `expression` of each issue of an OperationOutcome.
    pub fn expressions(&self) -> Vec<String> {
        let issues = self.body["issue"].as_array().cloned().unwrap_or_default();
        issues.iter().filter_map(|i| i["expression"][0].as_str().map(str::to_string)).collect()
    }

    pub fn etag(&self) -> &str {
        self.headers.get(header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// `Last-Modified`, checked to be the body's `meta.lastUpdated` to the second (FHIR's
    /// http page: read, vread and update answer it). Panics if either is missing.
    pub fn assert_last_modified(&self) {
        let header = self.headers.get(header::LAST_MODIFIED).and_then(|v| v.to_str().ok()).expect("Last-Modified");
        let updated = self.body["meta"]["lastUpdated"].as_str().expect("meta.lastUpdated");
        let updated = time::OffsetDateTime::parse(updated, &time::format_description::well_known::Rfc3339).unwrap();
        let http_date = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        assert_eq!(header, updated.to_offset(time::UtcOffset::UTC).format(&http_date).unwrap());
    }
}

/// A request to the FHIR API under construction.
pub struct FhirRequest<'a> {
    app: &'a TestApp,
    builder: axum::http::request::Builder,
    body: Option<Vec<u8>>,
}

impl FhirRequest<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn token(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// A JSON body sent as `application/fhir+json`.
    pub fn json(self, body: &Value) -> Self {
        self.raw("application/fhir+json", body.to_string().into_bytes())
    }

    pub fn raw(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.builder = self.builder.header(header::CONTENT_TYPE, content_type);
        self.body = Some(body);
        self
    }

    /// The answer's status, headers and bytes as they came (an ndjson file), after what
    /// every answer carries.
    pub async fn send_bytes(self) -> (StatusCode, HeaderMap, Vec<u8>) {
        let request = self.builder.body(self.body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
        let response = self.app.app.clone().oneshot(request).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec();
        check_transport(status, &headers, &Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, bytes)
    }

    pub async fn send(self) -> FhirResponse {
        let request = self.builder.body(self.body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
        let response = self.app.app.clone().oneshot(request).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        check_invariants(status, &headers, &body);
        FhirResponse { status, headers, body }
    }
}

impl TestApp {
    /// A FHIR request; `Host` is set as a client's would be.
    pub fn fhir(&self, method: Method, path: &str) -> FhirRequest<'_> {
        let builder = Request::builder().method(method).uri(path).header(header::HOST, HOST);
        FhirRequest { app: self, builder, body: None }
    }

    pub async fn fhir_get(&self, path: &str, token: &str) -> FhirResponse {
        self.fhir(Method::GET, path).token(token).send().await
    }

    /// Creates a Patient through FHIR; returns it.
    pub async fn fhir_create(&self, token: &str, body: &Value) -> Value {
        let response = self.fhir(Method::POST, "/api/fhir/Patient").token(token).json(body).send().await;
        response.expect(201, None).clone()
    }
}

#[track_caller]
fn check_invariants(status: StatusCode, headers: &HeaderMap, body: &Value) {
    check_transport(status, headers, body);
    if body.is_null() {
        let minimal = headers.get("preference-applied").is_some_and(|v| v == "return=minimal");
        assert!(status == StatusCode::NO_CONTENT || minimal, "only a 204, or a Prefer: return=minimal, has no body");
        return;
    }
    assert_eq!(headers.get(header::CONTENT_TYPE).unwrap(), "application/fhir+json; charset=utf-8");
    assert!(body["resourceType"].is_string(), "no resourceType: {body}");
    assert!(body.get("data").is_none() && body.get("message").is_none(), "an envelope, not FHIR: {body}");
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(body["resourceType"], "OperationOutcome", "an error that is not an OperationOutcome: {body}");
        let issues = body["issue"].as_array().expect("issue[]");
        assert!(!issues.is_empty());
        for issue in issues {
            assert_eq!(issue["severity"], "error");
            assert!(ISSUE_CODES.contains(&issue["code"].as_str().unwrap_or("")), "issue code: {issue}");
            assert!(issue["diagnostics"].as_str().is_some_and(|d| !d.is_empty()), "diagnostics: {issue}");
        }
    }
}
