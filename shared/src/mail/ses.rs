//! SESv2 `SendEmail` as one signed HTTPS POST, without the SES SDK.
//!
//! One call a few times a day does not need a generated client: the request is small and
//! stable (measured, dropping the SDK client took auth from 8,388,784 to 8,349,696 bytes:
//! its runtime is shared with the Secrets Manager client, docs/BENCHMARKS.md). A JSON
//! body to `/v2/email/outbound-emails`, signed and sent by `crate::signed`.

use hyper::body::Bytes;

use super::Message;
use crate::aws::Target;
use crate::config_error::ConfigError;
use crate::signed::{AwsClient, error_code};

pub struct Ses {
    client: AwsClient,
    from: String,
}

impl Ses {
    /// `endpoint` overrides the environment's (`AWS_ENDPOINT_URL_SESV2`, else
    /// `AWS_ENDPOINT_URL`), as the settings may name one of their own.
    pub fn from_env(from: String, endpoint: Option<String>) -> Result<Self, ConfigError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let endpoint = endpoint.or_else(|| env("AWS_ENDPOINT_URL_SESV2")).or_else(|| env("AWS_ENDPOINT_URL"));
        let client = AwsClient::new(Target::from_env_with_endpoint(endpoint)?, "email", "ses")?;
        Ok(Self { client, from })
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
        let headers = [("content-type", "application/json".to_owned())];
        let answer = self
            .client
            .send(http::Method::POST, "/v2/email/outbound-emails", &headers, Bytes::from(body))
            .await
            .map_err(|e| format!("SES: {e}"))?;
        match answer.status.is_success() {
            true => Ok(()),
            false => Err(format!("SES SendEmail failed: {}", error_code(&answer))),
        }
    }
}
