//! The FHIR Lambda: `/api/fhir/*`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(env!("CARGO_PKG_NAME"), fhir::router).await
}
