//! The auth Lambda: `/api/auth/*` and `/api/health`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(env!("CARGO_PKG_NAME"), auth::router).await
}
