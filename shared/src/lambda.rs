//! The Lambda entry every function's `main` calls. Settings (secrets included), the pool
//! and its first connection are made once per cold start, during Lambda's init; then
//! each event is dispatched on its raw JSON:
//!
//! - a warmup - the constant input `{"warmup": true}`, or an EventBridge scheduled event
//!   (`"source": "aws.events"`, `"detail-type": "Scheduled Event"`) - checks the pool,
//!   opening its connection if needed, and returns without touching the Router. API
//!   Gateway events carry neither shape at the top level, and nothing a client sends
//!   (path, headers, body) is looked at, so no request can pose as a warmup;
//! - anything else must be an API Gateway HTTP API (payload 2.0) event, and goes through
//!   lambda_http's adapter into the same `http::app` stack the local server runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, LambdaEvent};
use lambda_runtime::{Error, service_fn};
use serde_json::Value;
use tower::ServiceExt;

use crate::{AppState, Settings, http, metrics};

/// `function` is the crate's name (`env!("CARGO_PKG_NAME")`), the `function` dimension
/// of its metrics.
pub async fn serve(function: &'static str, router: fn(AppState) -> Router) -> Result<(), Error> {
    let started = Instant::now();
    lambda_http::tracing::init_default_subscriber();
    metrics::init_from_env(function);
    let settings = Settings::load().await.inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed: fix the function's configuration");
    })?;
    let state = AppState::new(settings).inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed: fix the function's configuration");
    })?;
    // Lambda runs init before it hands over the first event, so the connection (TLS and
    // SCRAM, most of a cold start's CPU) is opened here rather than by the first request;
    // on AWS the init phase is also reported to run unthrottled. A failure is logged,
    // not fatal: requests open a connection themselves.
    if let Err(e) = state.db.open_first(state.settings.db_init_connect_timeout).await {
        tracing::warn!(error = %e, "init: database unreachable; the first request will retry");
    }
    let app = http::app(router(state.clone()));
    // Reported with the first invocation, which has a request id to carry it.
    let init = started.elapsed();
    let cold = Arc::new(AtomicBool::new(true));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let app = app.clone();
        let state = state.clone();
        if let Some(emf) = metrics::emf().filter(|_| cold.swap(false, Ordering::Relaxed)) {
            metrics::emit(emf.cold_start(&event.context.request_id, init));
        }
        async move { handle(app, state, event).await }
    }))
    .await
}

async fn handle(app: http::App, state: AppState, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let LambdaEvent { payload, context } = event;
    if is_warmup(&payload) {
        // A failed check is reported, not raised: the schedule must not retry into an
        // outage, and the next real request reconnects anyway.
        let database = match state.db.ping().await {
            Ok(()) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, "warmup: database unreachable");
                "unreachable"
            }
        };
        return Ok(serde_json::json!({ "warmup": "done", "database": database }));
    }
    let request: LambdaRequest = serde_json::from_value(payload)
        .map_err(|e| format!("not an API Gateway HTTP API (payload 2.0) event or a warmup: {e}"))?;
    let response = Adapter::from(app).oneshot(LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}

fn is_warmup(payload: &Value) -> bool {
    let constant = payload.as_object().is_some_and(|o| o.len() == 1 && o.get("warmup") == Some(&Value::Bool(true)));
    let scheduled = payload.get("source").and_then(Value::as_str) == Some("aws.events")
        && payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
    constant || scheduled
}

#[cfg(test)]
mod tests {
    use super::is_warmup;
    use serde_json::json;

    #[test]
    fn warmups_are_exactly_the_two_shapes() {
        assert!(is_warmup(&json!({"warmup": true})));
        assert!(is_warmup(&json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})));
        for not in [
            json!({"warmup": "true"}),
            json!({"warmup": true, "extra": 1}),
            json!({"source": "aws.events", "detail-type": "EC2 Instance State-change Notification"}),
            json!({"version": "2.0", "rawPath": "/api/health", "body": "{\"warmup\": true}"}),
            json!({"version": "2.0", "headers": {"source": "aws.events", "detail-type": "Scheduled Event"}}),
        ] {
            assert!(!is_warmup(&not), "{not}");
        }
    }
}
