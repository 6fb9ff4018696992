//! The admin function: `/api/admin/*`, for callers whose token carries the admin role
//! (403 for everyone else, 401 without a valid token).
//!
//! Patients, doctors and mappings are served by the resource functions' own handlers,
//! mounted with the `Admin` principal, which lifts the owner scope: one handler, one
//! statement and one set of rules for both. Users, roles and the audit log live here.

mod apps;
mod audit;
mod users;

use axum::Router;
use axum::routing::{delete, get, put};
use shared::auth::{Admin, Caller, Role};
use shared::db::Statement;
use shared::{AppState, RequestMeta};

const PATIENTS: &str = "/api/admin/patients";
const PATIENT: &str = "/api/admin/patients/{id}";
const DOCTORS: &str = "/api/admin/doctors";
const DOCTOR: &str = "/api/admin/doctors/{id}";
const DOCTOR_CLAIM: &str = "/api/admin/doctors/{id}/claim";
const MAPPINGS: &str = "/api/admin/mappings";
const MAPPING: &str = "/api/admin/mappings/{id}";
const USERS: &str = "/api/admin/users";
const USER: &str = "/api/admin/users/{id}";
const USER_ROLE: &str = "/api/admin/users/{id}/role";
const USER_STATUS: &str = "/api/admin/users/{id}/status";
const AUDIT: &str = "/api/admin/audit";
const APPS: &str = "/api/admin/apps";
const APP: &str = "/api/admin/apps/{id}";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] = &[
    PATIENTS,
    PATIENT,
    DOCTORS,
    DOCTOR,
    DOCTOR_CLAIM,
    MAPPINGS,
    MAPPING,
    USERS,
    USER,
    USER_ROLE,
    USER_STATUS,
    AUDIT,
    APPS,
    APP,
];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(PATIENTS, get(patients::list::<Admin>))
        .route(PATIENT, get(patients::read::<Admin>).put(patients::update::<Admin>).delete(patients::remove::<Admin>))
        .route(DOCTORS, get(doctors::list::<Admin>))
        .route(DOCTOR, get(doctors::read::<Admin>).put(doctors::update::<Admin>).delete(doctors::remove::<Admin>))
        .route(DOCTOR_CLAIM, delete(doctors::claim::unclaim))
        .route(MAPPINGS, get(mappings::list::<Admin>))
        .route(MAPPING, get(mappings::read::<Admin>).delete(mappings::remove::<Admin>))
        .route(USERS, get(users::list))
        .route(USER, get(users::read))
        .route(USER_ROLE, put(users::change_role))
        .route(USER_STATUS, put(users::change_status))
        .route(AUDIT, get(audit::list))
        .route(APPS, get(apps::list).post(apps::register))
        .route(APP, delete(apps::remove))
        .with_state(state)
}

/// Every statement this function issues itself (the resource handlers' are listed by
/// their own crates), built as its handlers build them with placeholder values, for the
/// test that prepares each against the schema.
pub fn statements() -> Vec<Statement> {
    let (admin, meta) = (Caller::placeholder(Role::Admin), RequestMeta::placeholder());
    let mut all = users::statements(&admin, &meta);
    all.extend(apps::statements(&admin, &meta));
    all.push(audit::list_statement(&admin, &meta, &Default::default(), audit::Filters::default()));
    let by_actor = audit::Filters { actor_id: Some(uuid::Uuid::nil()), ..Default::default() };
    all.push(audit::list_statement(&admin, &meta, &Default::default(), by_actor));
    all
}
