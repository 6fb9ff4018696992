//! The mappings function: `/api/mappings`, which doctors are assigned to which patients.
//! A user works only with mappings of patients they own; the ownership check is a join
//! to `patients` inside each statement, so someone else's patient or mapping is a 404
//! exactly like a missing one. Each statement also appends its audit event.
//!
//! `list`, `read` and `remove` are generic over `Principal`; the admin function mounts them
//! (with `read`, a mapping by its own id) under `/api/admin/mappings`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use serde_json::{Value, json};
use shared::auth::{Caller, Principal};
use shared::extract::Id;
use shared::pagination::PageOf;
use shared::query::Query;
use shared::records::mapping::{AssignedDoctor, Mapping, NewMapping};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, doctor_columns, mapping_columns};
use tokio_postgres::types::Type;
use uuid::Uuid;

const COLLECTION: &str = "/api/mappings";
const ITEM: &str = "/api/mappings/{id}";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] = &[COLLECTION, ITEM];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(COLLECTION, get(list::<Caller>).post(create))
        // GET takes a patient id (that patient's doctors); DELETE takes a mapping id.
        .route(ITEM, get(doctors_of_patient).delete(remove::<Caller>))
        .with_state(state)
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<Mapping>, ApiError> {
    let new = NewMapping::parse(body)?;
    // ON CONFLICT makes a duplicate (also a racing one) "no row" instead of an error;
    // a patient or doctor deleted meanwhile fails the foreign key, which is a 404.
    let row = state
        .db
        .query_one(
            concat!(
                "WITH patient AS (
                     SELECT id FROM patients WHERE id = $1 AND owner_id = $3
                 ), doctor AS (
                     SELECT id FROM doctors WHERE id = $2
                 ), created AS (
                     INSERT INTO mappings (patient_id, doctor_id, assigned_by)
                     SELECT patient.id, doctor.id, $3 FROM patient, doctor
                     ON CONFLICT (patient_id, doctor_id) DO NOTHING
                     RETURNING ", mapping_columns!(), "
                 ), audit AS (
                     INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                     SELECT $3, 'mapping.create', 'mapping', (SELECT id FROM created),
                            CASE WHEN EXISTS (SELECT 1 FROM created) THEN 'success'
                                 WHEN EXISTS (SELECT 1 FROM patient) AND EXISTS (SELECT 1 FROM doctor) THEN 'denied'
                                 ELSE 'not_found' END, $4, $5
                 )
                 SELECT EXISTS (SELECT 1 FROM patient) AS patient_found,
                        EXISTS (SELECT 1 FROM doctor) AS doctor_found, created.*
                 FROM (SELECT) AS one LEFT JOIN created ON true"
            ),
            &[
                (&new.patient_id, Type::UUID),
                (&new.doctor_id, Type::UUID),
                (&caller.id, Type::UUID),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
            ],
        )
        .await?;
    let flag = |name: &str| row.try_get::<_, bool>(name).map_err(ApiError::internal);
    if !flag("patient_found")? {
        return Err(ApiError::NotFound("No such patient.".into()));
    }
    if !flag("doctor_found")? {
        return Err(ApiError::NotFound("No such doctor.".into()));
    }
    if row.try_get::<_, Option<Uuid>>("id").map_err(ApiError::internal)?.is_none() {
        return Err(ApiError::Conflict {
            message: "This doctor is already assigned to this patient.".into(),
            errors: vec![shared::error::FieldError::new("doctor_id", "is already assigned to this patient")],
        });
    }
    Ok(Reply::created("Doctor assigned to patient.", Mapping::from_row(&row)?))
}

pub async fn list<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    mut query: Query,
) -> Result<Reply<PageOf<Mapping>>, ApiError> {
    let page = query.page();
    let patient_id = query.uuid("patient_id");
    let doctor_id = query.uuid("doctor_id");
    query.finish()?;
    let rows = state
        .db
        .query(
            "WITH page AS (
                 SELECT m.id, m.patient_id, m.doctor_id, m.assigned_by, m.assigned_at
                 FROM mappings m JOIN patients p ON p.id = m.patient_id
                 WHERE ($1::uuid IS NULL OR p.owner_id = $1) AND ($2::uuid IS NULL OR m.id < $2)
                   AND ($3::uuid IS NULL OR m.patient_id = $3) AND ($4::uuid IS NULL OR m.doctor_id = $4)
                 ORDER BY m.id DESC LIMIT $5
             ), audit AS (
                 INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                 VALUES ($8, 'mapping.list', 'mapping', NULL, 'success', $6, $7)
             )
             SELECT * FROM page ORDER BY id DESC",
            &[
                (&principal.owner_scope(), Type::UUID),
                (&page.after, Type::UUID),
                (&patient_id, Type::UUID),
                (&doctor_id, Type::UUID),
                (&page.fetch(), Type::INT8),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
                (&principal.caller().id, Type::UUID),
            ],
        )
        .await?;
    let mappings = rows.iter().map(Mapping::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Mappings found.", PageOf::new(&page, mappings, |m| m.id)))
}

#[derive(Serialize)]
struct PatientDoctors {
    patient_id: Uuid,
    doctors: Vec<AssignedDoctor>,
}

async fn doctors_of_patient(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Id(patient_id): Id,
) -> Result<Reply<PatientDoctors>, ApiError> {
    // One row per assigned doctor, or a single row with NULL doctor columns when the
    // patient has none; no row at all when the patient is not the caller's.
    let rows = state
        .db
        .query(
            concat!(
                "WITH patient AS (
                     SELECT id AS patient_id FROM patients WHERE id = $1 AND owner_id = $2
                 ), assigned AS (
                     SELECT d.*, m.id AS mapping_id, m.assigned_at
                     FROM patient JOIN mappings m ON m.patient_id = patient.patient_id JOIN doctors d ON d.id = m.doctor_id
                 ), audit AS (
                     INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                     SELECT $2, 'mapping.read', 'patient', $1,
                            CASE WHEN EXISTS (SELECT 1 FROM patient) THEN 'success' ELSE 'not_found' END, $3, $4
                 )
                 SELECT ", doctor_columns!(), ", mapping_id, assigned_at
                 FROM patient LEFT JOIN assigned ON true
                 ORDER BY mapping_id DESC"
            ),
            &[(&patient_id, Type::UUID), (&caller.id, Type::UUID), (&meta.request_id, Type::TEXT), (&meta.source_ip, Type::INET)],
        )
        .await?;
    if rows.is_empty() {
        return Err(ApiError::NotFound("No such patient.".into()));
    }
    let mut doctors = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<_, Option<Uuid>>("mapping_id").map_err(ApiError::internal)?.is_some() {
            doctors.push(AssignedDoctor::from_row(row)?);
        }
    }
    Ok(Reply::success("Doctors assigned to this patient.", PatientDoctors { patient_id, doctors }))
}

/// One mapping by its own id.
pub async fn read<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Mapping>, ApiError> {
    let row = state
        .db
        .query_opt(
            "WITH found AS (
                 SELECT m.id, m.patient_id, m.doctor_id, m.assigned_by, m.assigned_at
                 FROM mappings m JOIN patients p ON p.id = m.patient_id
                 WHERE m.id = $1 AND ($2::uuid IS NULL OR p.owner_id = $2)
             ), audit AS (
                 INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                 SELECT $5, 'mapping.read', 'mapping', $1,
                        CASE WHEN EXISTS (SELECT 1 FROM found) THEN 'success' ELSE 'not_found' END, $3, $4
             )
             SELECT * FROM found",
            &[
                (&id, Type::UUID),
                (&principal.owner_scope(), Type::UUID),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
                (&principal.caller().id, Type::UUID),
            ],
        )
        .await?;
    let row = row.ok_or_else(|| ApiError::NotFound("No such mapping.".into()))?;
    Ok(Reply::success("Mapping found.", Mapping::from_row(&row)?))
}

pub async fn remove<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Value>, ApiError> {
    let row = state
        .db
        .query_opt(
            "WITH deleted AS (
                 DELETE FROM mappings m USING patients p
                 WHERE m.id = $1 AND p.id = m.patient_id AND ($2::uuid IS NULL OR p.owner_id = $2)
                 RETURNING m.id
             ), audit AS (
                 INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                 SELECT $5, 'mapping.delete', 'mapping', $1,
                        CASE WHEN EXISTS (SELECT 1 FROM deleted) THEN 'success' ELSE 'not_found' END, $3, $4
             )
             SELECT id FROM deleted",
            &[
                (&id, Type::UUID),
                (&principal.owner_scope(), Type::UUID),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
                (&principal.caller().id, Type::UUID),
            ],
        )
        .await?;
    row.ok_or_else(|| ApiError::NotFound("No such mapping.".into()))?;
    Ok(Reply::deleted("Mapping deleted.", json!({ "id": id })))
}
