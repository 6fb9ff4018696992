//! The OAuth Lambda: `/api/auth/oauth/*` (SMART on FHIR).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(env!("CARGO_PKG_NAME"), oauth::router).await
}
