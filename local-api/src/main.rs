//! The local API server: the whole API on 127.0.0.1 (`PORT`, default 3000), through the
//! same `shared::http::app` stack the Lambdas use. `scripts/dev` starts it after applying
//! migrations; it expects the same environment as the functions (docs/CONFIGURATION.md).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use axum::ServiceExt;
use axum::extract::Request;
use shared::{AppState, Settings};

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init_local();
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let mut settings = Settings::from_env()?;
    // Many concurrent requests share one process here, unlike on Lambda.
    if std::env::var_os("DB_POOL_SIZE").is_none() {
        settings.db_pool_size = 16;
    }
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse().map_err(|_| format!("PORT must be a port number, got {p:?}"))?,
        Err(_) => 3000,
    };
    let state = AppState::new(settings)?;
    // Against an emulator (moto, as scripts/dev and scripts/test run one) the export
    // bucket is made here; on AWS it is the stack's.
    if let Some(exports) = &state.exports
        && (std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some())
    {
        exports.bucket.ensure_exists(false).await?;
    }
    let app = shared::http::app(local_api::router(state));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    tracing::info!("healthcare API listening on http://{}  (Ctrl-C stops it)", listener.local_addr()?);
    axum::serve(listener, ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
