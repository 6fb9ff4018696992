//! SESv2 `SendEmail` as one signed HTTPS POST, without the SES SDK.
//!
//! One call a few times a day does not need a generated client: the request is small and
//! stable (measured, dropping the SDK client took auth from 8,388,784 to 8,349,696 bytes:
//! its runtime is shared with the Secrets Manager client, docs/BENCHMARKS.md). A JSON
//! body to `/v2/email/outbound-emails`, signed with SigV4 by `aws-sigv4` (AWS's own
//! signer, already in the tree under the Secrets Manager client), sent by the hyper
//! client that is in the tree too. Credentials come from the environment, as Lambda
//! gives them (the session token included).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::Message;
use crate::aws::Target;
use crate::config_error::ConfigError;

pub struct Ses {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `https://email.{region}.amazonaws.com`, or the emulator's URL.
    endpoint: String,
    region: String,
    from: String,
}

impl Ses {
    /// `endpoint` overrides the environment's (`AWS_ENDPOINT_URL_SESV2`, else
    /// `AWS_ENDPOINT_URL`), as the settings may name one of their own.
    pub fn from_env(from: String, endpoint: Option<String>) -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let endpoint = endpoint.or_else(|| env("AWS_ENDPOINT_URL_SESV2")).or_else(|| env("AWS_ENDPOINT_URL"));
        let target = Target::from_env_with_endpoint(endpoint)?;
        let tls = target.tls_config()?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            // Plain HTTP only for an emulator's endpoint: AWS's own is always HTTPS.
            .https_or_http()
            .enable_http1()
            .build();
        let endpoint = match target.endpoint {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if target.region.starts_with("cn-") => format!("https://email.{}.amazonaws.com.cn", target.region),
            None => format!("https://email.{}.amazonaws.com", target.region),
        };
        // No idle connections kept: a few emails a day gain nothing from reuse, and a
        // connection kept across a Lambda freeze (or a test's runtime) may be dead.
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(https);
        Ok(Self { client, endpoint, region: target.region, from })
    }

    pub async fn send(&self, message: &Message) -> Result<(), String> {
        let body = serde_json::json!({
            "FromEmailAddress": self.from,
            "Destination": { "ToAddresses": [message.to] },
            "Content": { "Simple": {
                "Subject": { "Data": message.subject, "Charset": "UTF-8" },
                "Body": { "Text": { "Data": message.text, "Charset": "UTF-8" } },
            } },
        });
        let body = serde_json::to_vec(&body).map_err(|e| format!("encoding the SES request: {e}"))?;
        let request = self.signed(body)?;
        let response = self.client.request(request).await.map_err(|e| transport_failure(&e))?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status();
        let header = response.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        Err(format!("SES SendEmail failed ({status}): {}", error_code(header.as_deref(), &body)))
    }

    fn signed(&self, body: Vec<u8>) -> Result<http::Request<Full<Bytes>>, String> {
        let uri = format!("{}/v2/email/outbound-emails", self.endpoint);
        let body = Bytes::from(body);
        let mut request = http::Request::post(&uri)
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .map_err(|e| format!("building the SES request: {e}"))?;
        let credentials = credentials()?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ses")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing the SES request: {e}"))?
            .into();
        let headers = request.headers().iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
        let signable = SignableRequest::new("POST", uri.as_str(), headers, SignableBody::Bytes(&body))
            .map_err(|e| format!("signing the SES request: {e}"))?;
        let (instructions, _) =
            sign(signable, &params).map_err(|e| format!("signing the SES request: {e}"))?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// Lambda's credentials, from its environment (with the session token of its role).
fn credentials() -> Result<Credentials, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(id), Some(secret)) => Ok(Credentials::new(id, secret, var("AWS_SESSION_TOKEN"), None, "environment")),
        _ => Err("no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".into()),
    }
}

/// The kind of a transport failure, without the URL (it is ours, but the habit is: no
/// free text from a failure into a log line).
fn transport_failure(e: &hyper_util::client::legacy::Error) -> String {
    if e.is_connect() {
        "SES could not be reached (connect failed)".into()
    } else {
        "SES request failed in transport".into()
    }
}

/// SES's error code, read as the SDK reads it: the `x-amzn-ErrorType` header
/// (`MessageRejected:http://...`), else the body's `code`, else its `__type`. The
/// message is left out (it can quote the recipient), and so is anything that does not
/// look like a code, so no free text reaches a log line.
fn error_code(header: Option<&str>, body: &[u8]) -> String {
    let from_body = || {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let code = value.get("code").or_else(|| value.get("__type"))?.as_str()?;
        Some(code.to_owned())
    };
    let code = header.map(str::to_owned).or_else(from_body).unwrap_or_default();
    // `prefix#Code` and `Code:uri` forms both name the code.
    let code = code.split(':').next().unwrap_or_default().rsplit('#').next().unwrap_or_default();
    let looks_like_a_code =
        !code.is_empty() && code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
    if looks_like_a_code { code.to_owned() } else { "no error code".into() }
}

#[cfg(test)]
mod tests {
    use super::error_code;

    #[test]
    fn the_error_code_is_read_from_the_header_or_the_body_and_nothing_else() {
        assert_eq!(error_code(Some("MessageRejected:http://internal.amazon.com/coral/"), b""), "MessageRejected");
        assert_eq!(
            error_code(None, br#"{"__type": "com.amazon#AccountSuspendedException", "message": "a@b.c"}"#),
            "AccountSuspendedException"
        );
        assert_eq!(error_code(None, br#"{"code": "NotFoundException", "message": "a@b.c"}"#), "NotFoundException");
        assert_eq!(error_code(None, b"<html>to: a@b.c</html>"), "no error code");
    }
}
