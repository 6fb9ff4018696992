//! Secrets Manager, for the Lambda cold start. With `DATABASE_SECRET_ARN` and/or
//! `JWT_SECRET_ARN` set, those values come from Secrets Manager (one call for both)
//! instead of `DATABASE_URL` / `JWT_SECRET`.
//!
//! A secret may be a plain string (the URL, the key) or JSON, as the console's key/value
//! editor makes it: `{"url": "..."}` for the database (or `database_url`), `{"secret": "..."}`
//! for the JWT key (or `jwt_secret`). Anything else fails the cold start with a message
//! naming the secret - never with the secret's value.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::batch_get_secret_value::BatchGetSecretValueOutput;

use crate::config::{ConfigError, Secret};

pub const DATABASE_KEYS: &[&str] = &["url", "database_url"];
pub const JWT_KEYS: &[&str] = &["secret", "jwt_secret"];

/// A secret to fetch: its ARN (or name) and the JSON keys that may hold the value.
pub struct SecretRef<'a> {
    pub arn: &'a str,
    pub keys: &'a [&'a str],
}

/// Fetches the named secrets in one `BatchGetSecretValue` call; `None` in, `None` out.
/// One call rather than two concurrent `GetSecretValue`s: on a cold start that is one
/// TLS handshake instead of two, and one answer to wait for.
pub async fn fetch_all(
    database: Option<SecretRef<'_>>,
    jwt: Option<SecretRef<'_>>,
) -> Result<(Option<Secret>, Option<Secret>), ConfigError> {
    let mut ids: Vec<&str> = database.iter().chain(jwt.iter()).map(|wanted| wanted.arn).collect();
    ids.dedup(); // one secret may hold both values
    if ids.is_empty() {
        return Ok((None, None));
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
    let value = |wanted: Option<SecretRef<'_>>| wanted.map(|wanted| value_of(&output, &wanted)).transpose();
    Ok((value(database)?, value(jwt)?))
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

/// A client configured straight from the environment Lambda provides: region, and
/// credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`
/// (plus `AWS_ENDPOINT_URL` when set, for a local emulator). Not aws-config's default
/// chain: its profile, SSO, web-identity, ECS and IMDS providers are never used on Lambda,
/// yet cost binary size and cold-start time.
fn client() -> Result<Client, ConfigError> {
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .map_err(|_| ConfigError("AWS_REGION is not set (Lambda sets it; set it to read secrets elsewhere)".into()))?;
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER")).ok();
    let mut config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
    if trusts_amazon_roots_only(&region, endpoint.as_deref()) {
        config = config.http_client(amazon_roots_client()?);
    }
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    Ok(Client::from_conf(config.region(aws_sdk_secretsmanager::config::Region::new(region)).build()))
}

/// The roots of Amazon Trust Services, which sign every AWS endpoint outside China.
const AMAZON_ROOTS: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

/// Whether the client can trust Amazon's roots alone. The SDK's default client loads and
/// parses the system's whole CA bundle on first use - ~4 ms of a cold start whose budget
/// is 10 ms (docs/BENCHMARKS.md) - to reach an endpoint whose chain always ends at one of
/// five known roots.
/// The China partition (other CAs) and a custom HTTPS endpoint (a proxy, an emulator with
/// its own CA) keep the system bundle, as the SDK's default would.
fn trusts_amazon_roots_only(region: &str, endpoint: Option<&str>) -> bool {
    let custom_https = endpoint.is_some_and(|url| url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")));
    !region.starts_with("cn-") && !custom_https
}

fn amazon_roots_client() -> Result<aws_sdk_secretsmanager::config::SharedHttpClient, ConfigError> {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(AMAZON_ROOTS))
        .build()
        .map_err(|e| ConfigError(format!("TLS settings for Secrets Manager: {e}")))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https())
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
    fn the_amazon_roots_are_five_usable_trust_anchors() {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let certs: Vec<_> = CertificateDer::pem_slice_iter(AMAZON_ROOTS).collect::<Result<_, _>>().unwrap();
        let mut store = rustls::RootCertStore::empty();
        let (added, rejected) = store.add_parsable_certificates(certs);
        assert_eq!((added, rejected), (5, 0));
    }

    #[test]
    fn the_system_bundle_is_kept_where_amazon_roots_may_not_do() {
        assert!(trusts_amazon_roots_only("eu-west-1", None));
        assert!(trusts_amazon_roots_only("us-gov-west-1", None));
        assert!(trusts_amazon_roots_only("us-east-1", Some("http://127.0.0.1:5000")));
        assert!(!trusts_amazon_roots_only("cn-north-1", None));
        assert!(!trusts_amazon_roots_only("us-east-1", Some("HTTPS://secrets.internal.example")));
    }

    #[test]
    fn unusable_secrets_are_explained_without_their_value() {
        for raw in ["", "  ", "{\"password\": \"hunter2\"}", "{\"url\": 5}", "{not json", "{\"url\": \"\"}"] {
            let err = extract(raw, DATABASE_KEYS).unwrap_err();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
