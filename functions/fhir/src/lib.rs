//! The FHIR function: `/api/fhir`, a FHIR R4 (4.0.1) facade over the same tables as the
//! REST routes, so EHRs and FHIR tooling can read and write our patients and read the
//! doctors' directory and the caller's organizations. Same Bearer tokens, same access
//! pieces in every statement (`shared::access`), same audit events and session check,
//! one statement per request; bulk export's kick-off, status and files (the work
//! itself is functions/export's). Answers are
//! FHIR resources, not the envelope; every error, from any layer, is an
//! OperationOutcome with the status the REST routes would give (`wire`).

mod capability;
mod export;
mod export_status;
mod organization;
mod patient;
mod patient_history;
mod patient_map;
mod patient_search;
mod practitioner;
mod prefer;
mod resources;
mod search;
mod search_dates;
mod smart;
mod wire;

use axum::Router;
use axum::http::{HeaderName, Method, header};
use axum::middleware::map_response;
use axum::routing::{MethodRouter, any, get};
use shared::db::Statement;
use shared::http::panic_response;
use shared::records::doctor::Doctor;
use shared::records::patient::Patient;
use shared::{ApiError, AppState};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{Any, CorsLayer};
use uuid::Uuid;

const BASE: &str = "/api/fhir";
const METADATA: &str = "/api/fhir/metadata";
const PATIENTS: &str = "/api/fhir/Patient";
const PATIENT: &str = "/api/fhir/Patient/{id}";
const PATIENT_HISTORY: &str = "/api/fhir/Patient/{id}/_history";
const PATIENT_VERSION: &str = "/api/fhir/Patient/{id}/_history/{vid}";
const PRACTITIONERS: &str = "/api/fhir/Practitioner";
const PRACTITIONER: &str = "/api/fhir/Practitioner/{id}";
const ORGANIZATIONS: &str = "/api/fhir/Organization";
const ORGANIZATION: &str = "/api/fhir/Organization/{id}";
const SMART_CONFIGURATION: &str = "/api/fhir/.well-known/smart-configuration";
const PATIENT_EXPORT: &str = "/api/fhir/Patient/$export";
const GROUP_EXPORT: &str = "/api/fhir/Group/{id}/$export";
const EXPORT_STATUS: &str = "/api/fhir/bulk/{id}";
const EXPORT_FILE: &str = "/api/fhir/bulk/{id}/{file}";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] = &[
    METADATA,
    SMART_CONFIGURATION,
    PATIENTS,
    PATIENT,
    PATIENT_HISTORY,
    PATIENT_VERSION,
    PRACTITIONERS,
    PRACTITIONER,
    ORGANIZATIONS,
    ORGANIZATION,
    PATIENT_EXPORT,
    GROUP_EXPORT,
    EXPORT_STATUS,
    EXPORT_FILE,
];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(METADATA, only(get(capability::metadata)))
        .route(SMART_CONFIGURATION, only(get(smart::configuration)))
        .route(PATIENTS, only(get(patient_search::search).post(patient::create)))
        .route(PATIENT, only(get(patient::read).put(patient::update).delete(patient::remove)))
        .route(PATIENT_HISTORY, only(get(patient_history::history)))
        .route(PATIENT_VERSION, only(get(patient_history::vread)))
        .route(PRACTITIONERS, only(get(practitioner::search)))
        .route(PRACTITIONER, only(get(practitioner::read)))
        .route(ORGANIZATIONS, only(get(organization::search)))
        .route(ORGANIZATION, only(get(organization::read)))
        .route(PATIENT_EXPORT, only(get(export::patients)))
        .route(GROUP_EXPORT, only(get(export::group)))
        .route(EXPORT_STATUS, only(get(export_status::status).delete(export_status::cancel)))
        .route(EXPORT_FILE, only(get(export_status::file)))
        // Unknown paths under the base (other resource types, system `_history`, operations)
        // answer here, so they get an OperationOutcome too.
        .route(BASE, any(unsupported))
        .route("/api/fhir/{*rest}", any(unsupported))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(map_response(wire::operation_outcome))
        .layer(cors())
        .with_state(state)
}

/// Browser apps (a SMART app is often one, on its own origin) read FHIR cross-origin
/// with a Bearer token: any origin may, since no cookie ever authenticates here. The
/// preflight is answered before routing, so it needs no token.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            HeaderName::from_static("if-none-exist"),
            HeaderName::from_static("prefer"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::LAST_MODIFIED,
            HeaderName::from_static("preference-applied"),
            // A browser's bulk export client reads where to poll, and how far it got.
            header::CONTENT_LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("x-progress"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// A route's methods, and 405 for any other (here, so it becomes an OperationOutcome).
fn only(methods: MethodRouter<AppState>) -> MethodRouter<AppState> {
    methods.fallback(|| async { ApiError::MethodNotAllowed })
}

async fn unsupported() -> ApiError {
    ApiError::NotFound(
        "No such route: this server offers metadata, Patient, Practitioner, Organization and bulk export.".into(),
    )
}

/// A patient as this API's FHIR answers it, for bulk export's files (functions/export):
/// one mapping for reads and exports alike.
pub fn patient_resource(patient: Patient, practitioners: Vec<Uuid>) -> impl serde::Serialize {
    patient_map::to_resource(patient, practitioners)
}

/// A doctor of the directory as a FHIR Practitioner, for bulk export's files.
pub fn practitioner_resource(doctor: Doctor) -> impl serde::Serialize {
    practitioner::to_resource(doctor)
}

/// Every statement this function issues that is its own (create, delete and the
/// Practitioner reads are the patients' and doctors' functions' statements, listed there).
pub fn statements() -> Vec<Statement> {
    let mut all = patient::statements();
    all.extend(patient_search::statements());
    all.extend(export::statements());
    all.extend(export_status::statements());
    all
}
