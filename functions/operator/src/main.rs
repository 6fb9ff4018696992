//! The operator Lambda: `ops` commands on AWS, for `sam remote invoke Operator --event
//! '{"command": "migrate"}'`. API Gateway has no route to it. It should be given Neon's
//! direct (non-pooler) URL: migrations take an advisory lock and run in one transaction,
//! which a transaction-mode pooler does not keep on one server connection.
//!
//! The URL comes from `DATABASE_SECRET_ARN` (Secrets Manager) or `DATABASE_URL`, the
//! data key that seals queued email from `DATA_KEY_SECRET_ARN` or `DATA_KEY`. Each
//! invocation connects afresh: the busiest schedule (`deliver-mail`) runs every few
//! minutes, not per request.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ops::{Command, MailContext};
use serde_json::{Value, json};
use shared::config::{ConfigError, Secret};
use shared::secrets::{DATA_KEY_KEYS, DATABASE_KEYS, SecretRef, fetch_all};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    shared::metrics::init_from_env("operator");
    let (url, mail) = secrets().await.inspect_err(|e| tracing::error!(error = %e, "cold start failed"))?;
    let mail = std::sync::Arc::new(mail);
    let ca_file = std::env::var("DATABASE_CA_FILE").ok().filter(|v| !v.is_empty());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (url, ca_file, mail) = (url.clone(), ca_file.clone(), mail.clone());
        async move {
            let command: Command = serde_json::from_value(event.payload).map_err(|e| {
                format!(
                    "expected {{\"command\": \"migrate\"}}, {{\"command\": \"make-admin\", \"email\": \"...\"}}, \
                     {{\"command\": \"prune\"}}, {{\"command\": \"maintain\"}}, \
                     {{\"command\": \"drop-expired-audit\"}}, {{\"command\": \"deliver-mail\"}}, \
                     {{\"command\": \"seal-audit\"}}, {{\"command\": \"verify-audit\"}}, \
                     {{\"command\": \"archive-audit\"}}, \
                     {{\"command\": \"access-report\", \"patient\": \"...\"}}: {e}"
                )
            })?;
            let mut client = ops::connect(url.expose(), ca_file.as_deref()).await?;
            let message = ops::run(&mut client, &command, &mail).await?;
            tracing::info!(?command, "{message}");
            Ok::<_, Error>(json!({ "ok": true, "message": message }))
        }
    }))
    .await
}

/// The database URL and what mail delivery needs, with both secrets fetched in one call.
async fn secrets() -> Result<(Secret, MailContext), ConfigError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (database_arn, data_key_arn) = (var("DATABASE_SECRET_ARN"), var("DATA_KEY_SECRET_ARN"));
    let [url, data_key] = fetch_all([
        database_arn.as_deref().map(|arn| SecretRef { arn, keys: DATABASE_KEYS }),
        data_key_arn.as_deref().map(|arn| SecretRef { arn, keys: DATA_KEY_KEYS }),
    ])
    .await?;
    let url = url
        .or_else(|| var("DATABASE_URL").map(Secret::new))
        .ok_or_else(|| ConfigError("set DATABASE_SECRET_ARN or DATABASE_URL".into()))?;
    Ok((url, MailContext::from_env(data_key)?))
}
