//! The list of HTTP functions - the one place that names them all, with their routes,
//! Routers and statements - and every Router merged into one, with the same paths API
//! Gateway routes to each Lambda, plus the OpenAPI document at `/api/openapi.json`
//! (local only: the Lambdas do not carry it). The local server, the tests and (through
//! `cargo metadata`, which lists the same crates) the scripts all read this list. Bulk
//! export's worker, which serves no HTTP, runs here in the server's process.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use shared::AppState;
use shared::db::Statement;

/// The contract as OpenAPI 3.1 (docs/openapi.json), for Postman, Insomnia and generators.
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// One Lambda function that serves HTTP: its crate under `functions/`.
pub struct Function {
    /// The crate's (and the Lambda package's) name.
    pub name: &'static str,
    /// Every path it serves; template.yaml must route each of them to it.
    pub routes: &'static [&'static str],
    pub router: fn(AppState) -> Router,
    /// Every statement it issues, for the schema test.
    pub statements: fn() -> Vec<Statement>,
}

pub const FUNCTIONS: &[Function] = &[
    Function { name: "auth", routes: auth::ROUTES, router: auth::router, statements: auth::statements },
    Function { name: "patients", routes: patients::ROUTES, router: patients::router, statements: patients::statements },
    Function { name: "doctors", routes: doctors::ROUTES, router: doctors::router, statements: doctors::statements },
    Function { name: "mappings", routes: mappings::ROUTES, router: mappings::router, statements: mappings::statements },
    Function { name: "admin", routes: admin::ROUTES, router: admin::router, statements: admin::statements },
    Function { name: "fhir", routes: fhir::ROUTES, router: fhir::router, statements: fhir::statements },
    Function { name: "orgs", routes: orgs::ROUTES, router: orgs::router, statements: orgs::statements },
    Function { name: "oauth", routes: oauth::ROUTES, router: oauth::router, statements: oauth::statements },
];

/// The whole API, as the local server serves it: every function's Router, and bulk
/// export's worker in this process.
pub fn router(state: AppState) -> Router {
    run_exports_here(&state);
    routers(state)
}

/// Every function's Router merged, and the OpenAPI document; no export worker (the tests
/// that stop and restart it run it themselves).
pub fn routers(state: AppState) -> Router {
    FUNCTIONS
        .iter()
        .fold(Router::new(), |merged, function| merged.merge((function.router)(state.clone())))
        .route(OPENAPI_PATH, get(openapi))
}

async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Bulk export's worker, in this process: what the `export` Lambda does on AWS, started
/// by the same kick-off and status polls (`shared::export`).
fn run_exports_here(state: &AppState) {
    let Some(exports) = &state.exports else { return };
    let worker = export::Worker::new(state.db.clone(), exports.clone());
    exports.run_here(std::sync::Arc::new(move |job| {
        let worker = worker.clone();
        tokio::spawn(async move {
            let ended = worker.run(job, None).await;
            tracing::info!(%job, ?ended, "bulk export run ended");
        });
    }));
}

/// Every statement the bulk export worker issues (it serves no HTTP), for the schema test.
pub fn worker_statements() -> Vec<Statement> {
    export::statements()
}
