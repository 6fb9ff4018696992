//! Settings, read once per cold start. Everything has a documented default except the
//! two secrets (docs/CONFIGURATION.md). The secrets come from `DATABASE_URL` and
//! `JWT_SECRET`, or from Secrets Manager when `DATABASE_SECRET_ARN` / `JWT_SECRET_ARN`
//! are set (`Settings::load`, secrets.rs); nothing downstream knows which.

use std::time::Duration;

use crate::mail::MailConfig;

// Re-exported: callers name these as parts of configuration; they live in leaf modules
// so that secrets, aws and crypto depend on them without depending back on this file.
pub use crate::config_error::ConfigError;
pub use crate::secrets::Secret;

/// HS256 keys shorter than this are guessable offline from any one token.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Secret,
    /// Extra PEM root certificate(s) to trust for the database, beside the Mozilla roots
    /// (a private CA, or the local test CA).
    pub database_ca_file: Option<String>,
    pub jwt_secret: Secret,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// A session unused this long is over (automatic logoff, HIPAA 164.312(a)(2)(iii)):
    /// its refresh token and its access tokens are refused.
    pub session_idle_minutes: i32,
    /// Where links in emails point: `{APP_BASE_URL}/reset-password?token=...`.
    pub app_base_url: String,
    /// How email goes out: SES from `MAIL_FROM`, or files in `MAIL_DIR`.
    pub mail: MailConfig,
    /// `DATA_KEY` (and `DATA_KEY_PREVIOUS` during a rotation): encrypts TOTP secrets and
    /// the bodies of queued email.
    pub data_keys: std::sync::Arc<crate::crypto::DataKeys>,
    /// `SMART_SIGNING_KEYS`: the RSA keys that sign OpenID Connect ID tokens (the oauth
    /// function), a JSON list of `{"kid", "pem"}`, the first signing and every one
    /// published. Unset: SMART apps get no `id_token`.
    pub smart_signing_keys: Option<Secret>,
    /// Connections per process. On Lambda an instance serves one request at a time, so 1-2
    /// is right; more only wastes Neon pooler slots. The local server raises it.
    pub db_pool_size: usize,
    /// Bound on opening a connection and on waiting for a free one.
    pub db_connect_timeout: Duration,
    /// Bound on the connection opened during a cold start's init. Longer than a
    /// request's: when hundreds of instances start at once the pooler handshakes them in
    /// turn, and a connection given up on at 3 s is work thrown away and done again by
    /// the first request (docs/SCALE.md). Lambda allows init 10 s.
    pub db_init_connect_timeout: Duration,
    /// Bound on one statement; past it the statement is cancelled and the answer is 503.
    pub db_statement_timeout: Duration,
    /// Bulk export (`EXPORT_BUCKET` and its kin); `None`: off.
    pub export: Option<crate::export::ExportConfig>,
}

impl Settings {
    /// Reads the process environment, resolving `DATABASE_SECRET_ARN` / `JWT_SECRET_ARN`
    /// through Secrets Manager when they are set: what a cold start calls.
    pub async fn load() -> Result<Self, ConfigError> {
        Self::load_with(|key| std::env::var(key).ok()).await
    }

    /// `load`, from any key lookup. (The AWS SDK itself still reads its own variables -
    /// region, credentials, `AWS_ENDPOINT_URL` - from the environment.)
    pub async fn load_with(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use crate::secrets::{DATA_KEY_KEYS, DATABASE_KEYS, JWT_KEYS, SMART_KEYS_KEYS, SecretRef, fetch_all};
        let database_arn = get("DATABASE_SECRET_ARN").filter(|v| !v.is_empty());
        let jwt_arn = get("JWT_SECRET_ARN").filter(|v| !v.is_empty());
        let data_key_arn = get("DATA_KEY_SECRET_ARN").filter(|v| !v.is_empty());
        let smart_keys_arn = get("SMART_KEYS_SECRET_ARN").filter(|v| !v.is_empty());
        if database_arn.is_none() && jwt_arn.is_none() && data_key_arn.is_none() && smart_keys_arn.is_none() {
            return Self::from_lookup(get);
        }
        let [database_url, jwt_secret, data_key, smart_keys] = fetch_all([
            database_arn.as_deref().map(|arn| SecretRef { arn, keys: DATABASE_KEYS }),
            jwt_arn.as_deref().map(|arn| SecretRef { arn, keys: JWT_KEYS }),
            data_key_arn.as_deref().map(|arn| SecretRef { arn, keys: DATA_KEY_KEYS }),
            smart_keys_arn.as_deref().map(|arn| SecretRef { arn, keys: SMART_KEYS_KEYS }),
        ])
        .await?;
        Self::from_lookup(|key| match key {
            "DATABASE_URL" if database_url.is_some() => database_url.as_ref().map(|s| s.expose().to_string()),
            "JWT_SECRET" if jwt_secret.is_some() => jwt_secret.as_ref().map(|s| s.expose().to_string()),
            "DATA_KEY" if data_key.is_some() => data_key.as_ref().map(|s| s.expose().to_string()),
            "SMART_SIGNING_KEYS" if smart_keys.is_some() => smart_keys.as_ref().map(|s| s.expose().to_string()),
            other => get(other),
        })
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds settings from any key lookup (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required =
            |key: &str| get(key).filter(|v| !v.is_empty()).ok_or_else(|| ConfigError(format!("{key} is not set")));
        let text = |key: &str, default: &str| get(key).filter(|v| !v.is_empty()).unwrap_or_else(|| default.into());
        let number = |key: &str, default: u64| -> Result<u64, ConfigError> {
            match get(key).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError(format!("{key} must be a positive whole number, got {v:?}"))),
            }
        };

        let jwt_secret = required("JWT_SECRET")?;
        if jwt_secret.len() < MIN_JWT_SECRET_BYTES {
            return Err(ConfigError(format!("JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes")));
        }
        Ok(Settings {
            database_url: Secret::new(required("DATABASE_URL")?),
            database_ca_file: get("DATABASE_CA_FILE").filter(|v| !v.is_empty()),
            jwt_secret: Secret::new(jwt_secret),
            jwt_issuer: text("JWT_ISSUER", "healthcare-api"),
            jwt_audience: text("JWT_AUDIENCE", "healthcare-api"),
            access_token_ttl: Duration::from_secs(number("ACCESS_TOKEN_TTL_SECONDS", 15 * 60)?),
            refresh_token_ttl: Duration::from_secs(number("REFRESH_TOKEN_TTL_DAYS", 30)? * 24 * 3600),
            data_keys: std::sync::Arc::new(crate::crypto::DataKeys::from_lookup(&get)?),
            app_base_url: text("APP_BASE_URL", "http://localhost:5173").trim_end_matches('/').to_owned(),
            mail: MailConfig::from_lookup(&get),
            smart_signing_keys: get("SMART_SIGNING_KEYS").filter(|v| !v.is_empty()).map(Secret::new),
            session_idle_minutes: i32::try_from(number("SESSION_IDLE_MINUTES", 60)?)
                .map_err(|_| ConfigError("SESSION_IDLE_MINUTES is too large".into()))?,
            db_pool_size: number("DB_POOL_SIZE", 2)? as usize,
            db_connect_timeout: Duration::from_millis(number("DB_CONNECT_TIMEOUT_MS", 3000)?),
            db_init_connect_timeout: Duration::from_millis(number("DB_INIT_CONNECT_TIMEOUT_MS", 8000)?),
            db_statement_timeout: Duration::from_millis(number("DB_STATEMENT_TIMEOUT_MS", 5000)?),
            export: crate::export::ExportConfig::from_lookup(&get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_apply_when_only_secrets_are_set() {
        let s = Settings::from_lookup(lookup(&[("DATABASE_URL", "postgres://x/y"), ("JWT_SECRET", SECRET)])).unwrap();
        assert_eq!(s.access_token_ttl, Duration::from_secs(900));
        assert_eq!(s.refresh_token_ttl, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(s.db_pool_size, 2);
        assert_eq!(s.db_init_connect_timeout, Duration::from_secs(8));
        assert_eq!(s.session_idle_minutes, 60);
        assert_eq!(s.jwt_issuer, "healthcare-api");
    }

    #[test]
    fn short_jwt_secret_is_refused() {
        let err =
            Settings::from_lookup(lookup(&[("DATABASE_URL", "postgres://x/y"), ("JWT_SECRET", "short")])).unwrap_err();
        assert!(err.0.contains("at least 32 bytes"), "{err}");
    }

    #[test]
    fn missing_database_url_is_named() {
        let err = Settings::from_lookup(lookup(&[("JWT_SECRET", SECRET)])).unwrap_err();
        assert!(err.0.contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn bad_numbers_are_refused_not_defaulted() {
        for key in ["DB_POOL_SIZE", "DB_INIT_CONNECT_TIMEOUT_MS"] {
            for bad in ["0", "-5", "ten"] {
                let err = Settings::from_lookup(lookup(&[
                    ("DATABASE_URL", "postgres://x/y"),
                    ("JWT_SECRET", SECRET),
                    (key, bad),
                ]))
                .unwrap_err();
                assert!(err.0.contains(key), "{err}");
            }
        }
    }

    #[test]
    fn secrets_never_print() {
        let s = Settings::from_lookup(lookup(&[("DATABASE_URL", "postgres://u:hunter2@h/d"), ("JWT_SECRET", SECRET)]))
            .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2") && !printed.contains(SECRET), "{printed}");
    }
}
