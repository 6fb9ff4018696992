//! Every function's Router merged into one, with the same paths API Gateway routes to
//! each Lambda. The tests drive this same Router in-process.

use axum::Router;
use shared::AppState;

pub fn router(state: AppState) -> Router {
    auth::router(state.clone())
        .merge(patients::router(state.clone()))
        .merge(doctors::router(state.clone()))
        .merge(mappings::router(state.clone()))
        .merge(admin::router(state))
}
