//! One AWS API request, signed with SigV4 by `aws-sigv4` (AWS's own signer, in the tree
//! under the Secrets Manager client) and sent by the hyper client that is in the tree
//! too: what SES's `SendEmail` (`mail::ses`), S3 (`s3`) and Lambda's asynchronous invoke
//! (`export::Dispatch`) are built on, instead of an SDK client each. Each of those is a
//! handful of stable REST calls; the SDKs would add megabytes to every binary that
//! names them (docs/BENCHMARKS.md, SES).
//!
//! Credentials come from the environment, as Lambda gives them (its role's session token
//! included), read at each request: a role's credentials rotate while an instance lives.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::aws::Target;
use crate::config_error::ConfigError;

/// A client for one AWS service in one region.
#[derive(Clone)]
pub struct AwsClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `https://{service}.{region}.amazonaws.com`, or the emulator's URL.
    pub endpoint: String,
    region: String,
    /// The signing name: `ses`, `s3`, `lambda`.
    service: &'static str,
    /// S3 signs paths as sent (no normalising, no double encoding) and the payload's hash.
    s3: bool,
}

/// An answer: the status, headers and whole body (AWS's answers here are small, or a
/// file of an export, which is bounded).
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl AwsClient {
    /// `host` is the service's host name part (`email`, `s3`, `lambda`); `endpoint`, when
    /// given, replaces `https://{host}.{region}.amazonaws.com` (an emulator, a VPC endpoint).
    pub fn new(target: Target, host: &str, service: &'static str) -> Result<Self, ConfigError> {
        let tls = target.tls_config()?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            // Plain HTTP only for an emulator's endpoint: AWS's own is always HTTPS.
            .https_or_http()
            .enable_http1()
            .build();
        let endpoint = match target.endpoint {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if target.region.starts_with("cn-") => format!("https://{host}.{}.amazonaws.com.cn", target.region),
            None => format!("https://{host}.{}.amazonaws.com", target.region),
        };
        // No idle connections kept: a connection kept across a Lambda freeze (or a
        // test's runtime) may be dead, and these calls are few per request.
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(https);
        Ok(Self { client, endpoint, region: target.region, service, s3: service == "s3" })
    }

    /// Signs and sends `method` to `{endpoint}{path_and_query}` with these headers and
    /// body; answers whatever AWS answered (the caller reads the status).
    pub async fn send(
        &self,
        method: http::Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<Answer, String> {
        let request = self.signed(method, path_and_query, headers, body)?;
        let response = self.client.request(request).await.map_err(|e| self.transport_failure(&e))?;
        let (parts, body) = response.into_parts();
        let body = read(body).await.map_err(|e| format!("{} answer could not be read: {e}", self.service))?;
        Ok(Answer { status: parts.status, headers: parts.headers, body })
    }

    /// As `send`, with the answer's body left to the caller to read as it arrives (an
    /// object larger than memory should hold: an archived month of the audit trail).
    pub async fn send_streaming(
        &self,
        method: http::Method,
        path_and_query: &str,
        headers: &[(&str, String)],
    ) -> Result<(http::StatusCode, http::HeaderMap, Incoming), String> {
        let request = self.signed(method, path_and_query, headers, Bytes::new())?;
        let response = self.client.request(request).await.map_err(|e| self.transport_failure(&e))?;
        let (parts, body) = response.into_parts();
        Ok((parts.status, parts.headers, body))
    }

    fn signed(
        &self,
        method: http::Method,
        path_and_query: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<http::Request<Full<Bytes>>, String> {
        let uri = format!("{}{path_and_query}", self.endpoint);
        let mut request = http::Request::builder().method(method.clone()).uri(&uri);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut request = request.body(Full::new(body.clone())).map_err(|e| format!("building the request: {e}"))?;
        let identity = credentials()?.into();
        let mut settings = SigningSettings::default();
        if self.s3 {
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| format!("signing the request: {e}"))?
            .into();
        let signed_headers = request.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new(method.as_str(), uri.as_str(), signed_headers, SignableBody::Bytes(&body))
            .map_err(|e| format!("signing the request: {e}"))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| format!("signing the request: {e}"))?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }

    /// The kind of a transport failure, without the URL (it is ours, but the habit is: no
    /// free text from a failure into a log line).
    fn transport_failure(&self, e: &hyper_util::client::legacy::Error) -> String {
        match e.is_connect() {
            true => format!("{} could not be reached (connect failed)", self.service),
            false => format!("{} request failed in transport", self.service),
        }
    }
}

async fn read(body: Incoming) -> Result<Bytes, hyper::Error> {
    Ok(body.collect().await?.to_bytes())
}

/// Lambda's credentials, from its environment (with the session token of its role).
fn credentials() -> Result<Credentials, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Ok(Credentials::new(id, secret, var("AWS_SESSION_TOKEN"), None, "environment")),
        _ => Err("no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".into()),
    }
}

/// An AWS error's code, read as the SDKs read it: the `x-amzn-ErrorType` header
/// (`MessageRejected:http://...`), else the JSON body's `code` or `__type`, else the XML
/// body's `<Code>` (S3). The message is left out (it can quote what was sent), and so is
/// anything that does not look like a code, so no free text reaches a log line.
pub fn error_code(answer: &Answer) -> String {
    let header = answer.headers.get("x-amzn-errortype").and_then(|v| v.to_str().ok());
    let from_json = || {
        let value: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
        let code = value.get("code").or_else(|| value.get("__type"))?.as_str()?;
        Some(code.to_owned())
    };
    let from_xml = || xml_element(&answer.body, "Code");
    let code = header.map(str::to_owned).or_else(from_json).or_else(from_xml).unwrap_or_default();
    // `prefix#Code` and `Code:uri` forms both name the code.
    let code = code.split(':').next().unwrap_or_default().rsplit('#').next().unwrap_or_default();
    let looks_like_a_code =
        !code.is_empty() && code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
    match looks_like_a_code {
        true => format!("{code} ({})", answer.status.as_u16()),
        false => format!("no error code ({})", answer.status.as_u16()),
    }
}

/// The text of the first `<name>` element of an XML answer (S3's answers are flat
/// enough that this is all the XML we read: an upload id, an error code).
pub fn xml_element(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some(text[start..end].replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, header: Option<&str>, body: &str) -> Answer {
        let mut headers = http::HeaderMap::new();
        if let Some(value) = header {
            headers.insert("x-amzn-errortype", value.parse().unwrap());
        }
        Answer { status: http::StatusCode::from_u16(status).unwrap(), headers, body: Bytes::from(body.to_owned()) }
    }

    #[test]
    fn the_error_code_is_read_from_the_header_or_the_body_and_nothing_else() {
        assert_eq!(
            error_code(&answer(400, Some("MessageRejected:http://internal.amazon.com/coral/"), "")),
            "MessageRejected (400)"
        );
        let json = r#"{"__type": "com.amazon#AccountSuspendedException", "message": "a@b.c"}"#;
        assert_eq!(error_code(&answer(400, None, json)), "AccountSuspendedException (400)");
        assert_eq!(
            error_code(&answer(404, None, r#"{"code": "NotFoundException", "message": "a@b.c"}"#)),
            "NotFoundException (404)"
        );
        let xml = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>a@b.c</Message></Error>";
        assert_eq!(error_code(&answer(404, None, xml)), "NoSuchKey (404)");
        assert_eq!(error_code(&answer(500, None, "<html>to: a@b.c</html>")), "no error code (500)");
    }

    #[test]
    fn xml_elements_are_read_with_their_entities() {
        let body = b"<R><UploadId>abc&amp;1</UploadId><ETag>&quot;9f&quot;</ETag></R>";
        assert_eq!(xml_element(body, "UploadId").as_deref(), Some("abc&1"));
        assert_eq!(xml_element(body, "ETag").as_deref(), Some("\"9f\""));
        assert_eq!(xml_element(body, "Missing"), None);
    }
}
