//! The admin Lambda: `/api/admin/*`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::serve(env!("CARGO_PKG_NAME"), admin::router).await
}
