//! Every function's Router merged into one, with the same paths API Gateway routes to
//! each Lambda, plus the OpenAPI document at `/api/openapi.json` (local only: the
//! Lambdas do not carry it). The tests drive this same Router in-process.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use shared::AppState;

/// The contract as OpenAPI 3.1 (docs/openapi.json), for Postman, Insomnia and generators.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");
pub const OPENAPI_PATH: &str = "/api/openapi.json";

pub fn router(state: AppState) -> Router {
    auth::router(state.clone())
        .merge(patients::router(state.clone()))
        .merge(doctors::router(state.clone()))
        .merge(mappings::router(state.clone()))
        .merge(admin::router(state))
        .route(OPENAPI_PATH, get(openapi))
}

async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI)
}
