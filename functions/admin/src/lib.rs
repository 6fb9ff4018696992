//! The admin function: `/api/admin/*`, for callers whose token carries the admin role
//! (403 for everyone else, 401 without a valid token).
//!
//! Patients, doctors and mappings are served by the resource functions' own handlers,
//! mounted with the `Admin` principal, which lifts the owner scope: one handler, one
//! statement and one set of rules for both. Users, roles and the audit log live here.

mod audit;
mod users;

use axum::Router;
use axum::routing::{get, put};
use shared::AppState;
use shared::auth::Admin;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/admin/patients", get(patients::list::<Admin>))
        .route(
            "/api/admin/patients/{id}",
            get(patients::read::<Admin>).put(patients::update::<Admin>).delete(patients::remove::<Admin>),
        )
        .route("/api/admin/doctors", get(doctors::list::<Admin>))
        .route(
            "/api/admin/doctors/{id}",
            get(doctors::read::<Admin>).put(doctors::update::<Admin>).delete(doctors::remove::<Admin>),
        )
        .route("/api/admin/mappings", get(mappings::list::<Admin>))
        .route("/api/admin/mappings/{id}", get(mappings::read::<Admin>).delete(mappings::remove::<Admin>))
        .route("/api/admin/users", get(users::list))
        .route("/api/admin/users/{id}", get(users::read))
        .route("/api/admin/users/{id}/role", put(users::change_role))
        .route("/api/admin/audit", get(audit::list))
        .with_state(state)
}
