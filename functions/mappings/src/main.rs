//! The mappings Lambda: `/api/mappings/*`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(env!("CARGO_PKG_NAME"), mappings::router).await
}
