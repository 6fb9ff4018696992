//! Secrets Manager, for the Lambda cold start. With `DATABASE_SECRET_ARN` and/or
//! `JWT_SECRET_ARN` set, those values come from Secrets Manager (one call for both)
//! instead of `DATABASE_URL` / `JWT_SECRET`.
//!
//! A secret may be a plain string (the URL, the key) or JSON, as the console's key/value
//! editor makes it: `{"url": "..."}` for the database (or `database_url`), `{"secret": "..."}`
//! for the JWT key (or `jwt_secret`). Anything else fails the cold start with a message
//! naming the secret - never with the secret's value.

use std::fmt;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::batch_get_secret_value::BatchGetSecretValueOutput;

use crate::aws;
use crate::config_error::ConfigError;

/// A value that must never reach a log line or a `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

pub const DATABASE_KEYS: &[&str] = &["url", "database_url"];
pub const JWT_KEYS: &[&str] = &["secret", "jwt_secret"];
pub const DATA_KEY_KEYS: &[&str] = &["key", "data_key"];
pub const SMART_KEYS_KEYS: &[&str] = &["keys", "smart_signing_keys"];

/// A secret to fetch: its ARN (or name) and the JSON keys that may hold the value.
pub struct SecretRef<'a> {
    pub arn: &'a str,
    pub keys: &'a [&'a str],
}

/// Fetches the named secrets in one `BatchGetSecretValue` call; `None` in, `None` out.
/// One call rather than several concurrent `GetSecretValue`s: on a cold start that is
/// one TLS handshake instead of several, and one answer to wait for.
pub async fn fetch_all<const N: usize>(wanted: [Option<SecretRef<'_>>; N]) -> Result<[Option<Secret>; N], ConfigError> {
    let mut ids: Vec<&str> = wanted.iter().flatten().map(|wanted| wanted.arn).collect();
    ids.sort_unstable();
    ids.dedup(); // one secret may hold several values
    if ids.is_empty() {
        return Ok(std::array::from_fn(|_| None));
    }
    let output = client()?
        .batch_get_secret_value()
        .set_secret_id_list(Some(ids.iter().map(|id| id.to_string()).collect()))
        .send()
        .await
        .map_err(|e| {
            ConfigError(format!(
                "secrets {} could not be read: {}",
                ids.join(", "),
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ))
        })?;
    let mut values: [Option<Secret>; N] = std::array::from_fn(|_| None);
    for (value, wanted) in values.iter_mut().zip(wanted) {
        *value = wanted.map(|wanted| value_of(&output, &wanted)).transpose()?;
    }
    Ok(values)
}

/// The value of one requested secret in a batch answer, which lists the secrets it read
/// (by ARN and name) and, separately, why it could not read the others.
fn value_of(output: &BatchGetSecretValueOutput, wanted: &SecretRef<'_>) -> Result<Secret, ConfigError> {
    let names_it = |arn: Option<&str>, name: Option<&str>| arn == Some(wanted.arn) || name == Some(wanted.arn);
    let Some(entry) = output.secret_values().iter().find(|entry| names_it(entry.arn(), entry.name())) else {
        let why = output
            .errors()
            .iter()
            .find(|error| error.secret_id() == Some(wanted.arn))
            .map(|error| format!("{}: {}", error.error_code().unwrap_or("error"), error.message().unwrap_or("")))
            .unwrap_or_else(|| "not in Secrets Manager's answer (give its full ARN or its name)".into());
        return Err(ConfigError(format!("secret {} could not be read: {why}", wanted.arn)));
    };
    let raw = entry.secret_string().ok_or_else(|| {
        ConfigError(format!("secret {} has no string value (binary secrets are not supported)", wanted.arn))
    })?;
    extract(raw, wanted.keys).map(Secret::new).map_err(|why| ConfigError(format!("secret {}: {why}", wanted.arn)))
}

/// A client configured straight from the environment Lambda provides (see
/// `crate::aws`).
fn client() -> Result<Client, ConfigError> {
    let target = aws::Target::from_env("AWS_ENDPOINT_URL_SECRETS_MANAGER")?;
    let mut config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
    if let Some(http) = target.http_client()? {
        config = config.http_client(http);
    }
    if let Some(endpoint) = target.endpoint {
        config = config.endpoint_url(endpoint);
    }
    Ok(Client::from_conf(config.region(aws_sdk_secretsmanager::config::Region::new(target.region)).build()))
}

/// The value inside a secret string: the string itself, or the first of `keys` in a JSON
/// object. Errors never include the value.
pub fn extract(raw: &str, keys: &[&str]) -> Result<String, String> {
    let trimmed = raw.trim();
    if !trimmed.starts_with('{') {
        return if trimmed.is_empty() { Err("is empty".into()) } else { Ok(trimmed.to_string()) };
    }
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(trimmed).map_err(|_| "looks like JSON but does not parse as an object".to_string())?;
    keys.iter()
        .find_map(|key| object.get(*key).and_then(|v| v.as_str()).filter(|v| !v.is_empty()))
        .map(str::to_string)
        .ok_or_else(|| format!("is a JSON object without a non-empty string under any of: {}", keys.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_json_secrets() {
        assert_eq!(extract("postgres://u:p@h/d", DATABASE_KEYS).unwrap(), "postgres://u:p@h/d");
        assert_eq!(extract(" {\"url\": \"postgres://x\"} ", DATABASE_KEYS).unwrap(), "postgres://x");
        assert_eq!(extract("{\"database_url\": \"postgres://y\"}", DATABASE_KEYS).unwrap(), "postgres://y");
        assert_eq!(extract("{\"secret\": \"k\"}", JWT_KEYS).unwrap(), "k");
    }

    #[test]
    fn unusable_secrets_are_explained_without_their_value() {
        for raw in ["", "  ", "{\"password\": \"hunter2\"}", "{\"url\": 5}", "{not json", "{\"url\": \"\"}"] {
            let err = extract(raw, DATABASE_KEYS).unwrap_err();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
