//! One small outbound GET for JSON: an app's `jwks_uri` (Part 4). Mozilla's roots for
//! HTTPS; plain HTTP is used only for the `http://localhost` / `http://127.0.0.1` URLs
//! that registration accepts for development. Bounded in time and size, no redirects.

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Bodies past this are refused: a JWK Set is a few kilobytes.
const MAX_BYTES: usize = 64 * 1024;

pub async fn get_json(url: &str, timeout: Duration) -> Result<serde_json::Value, String> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
    let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(https);
    let request = http::Request::get(url)
        .header("accept", "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|_| "not a URL we can fetch".to_string())?;
    let response = tokio::time::timeout(timeout, client.request(request))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|_| "could not be reached".to_string())?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status().as_u16()));
    }
    let body = tokio::time::timeout(timeout, Limited::new(response.into_body(), MAX_BYTES).collect())
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|_| "answered too much, or broke off".to_string())?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|_| "did not answer JSON".to_string())
}
