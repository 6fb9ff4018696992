//! The export Lambda: bulk export's worker, started by the FHIR function's asynchronous
//! invoke with `{"export": "<job id>"}`. API Gateway has no route to it.
//!
//! A run stops starting files `DEADLINE_MARGIN` before Lambda's deadline and lets go of
//! the job; the client's next status poll starts the next run (the protocol has clients
//! poll every few seconds, so no queue and no self-invoke are needed). A run that fails
//! answers an error, so Lambda's own retries (twice, a minute or two apart) try again; a
//! run that dies is started again by a status poll once its lease has lapsed.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use export::{DEADLINE_MARGIN, Ended, Worker};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use shared::config::{ConfigError, Secret};
use shared::db::{Db, Limits};
use shared::export::{ExportConfig, Exports};
use shared::secrets::{DATABASE_KEYS, SecretRef, fetch_all};
use uuid::Uuid;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    shared::metrics::init_from_env("export");
    let worker = cold_start().await.inspect_err(|e| tracing::error!(error = %e, "cold start failed: {e}"))?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let worker = worker.clone();
        async move {
            let job: Uuid = event
                .payload
                .get("export")
                .and_then(Value::as_str)
                .and_then(|id| id.parse().ok())
                .ok_or("expected {\"export\": \"<job id>\"}")?;
            let ended = worker.run(job, Some(deadline(event.context.deadline))).await;
            tracing::info!(%job, ?ended, "bulk export run ended");
            if let Ended::Failed(why) = ended {
                return Err(Error::from(why));
            }
            Ok::<_, Error>(json!({ "job": job, "ended": format!("{ended:?}") }))
        }
    }))
    .await
}

/// When this run stops starting files: Lambda's deadline (ms since the epoch), less the
/// margin a file needs.
fn deadline(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    Instant::now() + left.saturating_sub(DEADLINE_MARGIN)
}

/// The database (its URL from `DATABASE_SECRET_ARN` or `DATABASE_URL`) and the bucket.
async fn cold_start() -> Result<Worker, ConfigError> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let database_arn = var("DATABASE_SECRET_ARN");
    let [url] = fetch_all([database_arn.as_deref().map(|arn| SecretRef { arn, keys: DATABASE_KEYS })]).await?;
    let url = url
        .or_else(|| var("DATABASE_URL").map(Secret::new))
        .ok_or_else(|| ConfigError("set DATABASE_SECRET_ARN or DATABASE_URL".into()))?;
    // A commit can be long (a file's thousands of patients and their audit events in one
    // statement); one connection is all a run uses.
    let limits =
        Limits { pool_size: 1, connect_timeout: Duration::from_secs(8), statement_timeout: Duration::from_secs(60) };
    let db = Db::connect_url(&url, var("DATABASE_CA_FILE").as_deref(), limits)?;
    let config = ExportConfig::from_lookup(&var)?.ok_or_else(|| ConfigError("EXPORT_BUCKET is not set".into()))?;
    Ok(Worker::new(db, Arc::new(Exports::new(config)?)))
}
