//! The organizations Lambda: `/api/orgs/*`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(env!("CARGO_PKG_NAME"), orgs::router).await
}
