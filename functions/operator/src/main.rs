//! The operator Lambda: `ops` commands on AWS, for `sam remote invoke Operator --event
//! '{"command": "migrate"}'`. API Gateway has no route to it. It should be given Neon's
//! direct (non-pooler) URL: migrations take an advisory lock and run in one transaction,
//! which a transaction-mode pooler does not keep on one server connection.
//!
//! The URL comes from `DATABASE_SECRET_ARN` (Secrets Manager) or `DATABASE_URL`. Each
//! invocation connects afresh: these run a few times a year, not per request.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use ops::Command;
use serde_json::{Value, json};
use shared::config::{ConfigError, Secret};
use shared::secrets::{DATABASE_KEYS, SecretRef, fetch_all};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let url = database_url().await.inspect_err(|e| tracing::error!(error = %e, "cold start failed"))?;
    let ca_file = std::env::var("DATABASE_CA_FILE").ok().filter(|v| !v.is_empty());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (url, ca_file) = (url.clone(), ca_file.clone());
        async move {
            let command: Command = serde_json::from_value(event.payload).map_err(|e| {
                format!(
                    "expected {{\"command\": \"migrate\"}}, {{\"command\": \"make-admin\", \"email\": \"...\"}}, \
                     {{\"command\": \"prune\"}}, {{\"command\": \"maintain\"}} or \
                     {{\"command\": \"drop-expired-audit\"}}: {e}"
                )
            })?;
            let mut client = ops::connect(url.expose(), ca_file.as_deref()).await?;
            let message = ops::run(&mut client, &command).await?;
            tracing::info!(?command, "{message}");
            Ok::<_, Error>(json!({ "ok": true, "message": message }))
        }
    }))
    .await
}

async fn database_url() -> Result<Secret, ConfigError> {
    match std::env::var("DATABASE_SECRET_ARN").ok().filter(|v| !v.is_empty()) {
        Some(arn) => {
            let [url] = fetch_all([Some(SecretRef { arn: &arn, keys: DATABASE_KEYS })]).await?;
            url.ok_or_else(|| ConfigError("DATABASE_SECRET_ARN resolved to nothing".into()))
        }
        None => std::env::var("DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .map(Secret::new)
            .ok_or_else(|| ConfigError("set DATABASE_SECRET_ARN or DATABASE_URL".into())),
    }
}
