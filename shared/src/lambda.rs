//! The Lambda entry every function's `main` calls: settings and pool built once per cold
//! start, then the shared HTTP stack around the function's Router, served by lambda_http.

use axum::Router;

use crate::{AppState, Settings, http};

pub async fn serve(router: fn(AppState) -> Router) -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let state = Settings::from_env().and_then(AppState::new).inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed: fix the function's configuration");
    })?;
    lambda_http::run(http::app(router(state))).await
}
