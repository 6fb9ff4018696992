//! The patients function: `/api/patients`. A user sees and changes only the patients they
//! own; ownership is part of every statement's WHERE, so another user's patient is
//! indistinguishable from a missing one (404). Each handler is one statement that also
//! appends its audit event, so the access and its record commit together.
//!
//! The read, list, update and delete handlers are generic over `Principal`: mounted here
//! with `Caller` (own patients), and by the admin function with `Admin` (everyone's).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};
use shared::auth::{Caller, Principal};
use shared::extract::{Id, IfMatch};
use shared::pagination::PageOf;
use shared::query::Query;
use shared::records::patient::{NewPatient, Patient, PatientChanges};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, patient_columns};
use tokio_postgres::types::Type;

const COLLECTION: &str = "/api/patients";
const ITEM: &str = "/api/patients/{id}";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] = &[COLLECTION, ITEM];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(COLLECTION, get(list::<Caller>).post(create))
        .route(ITEM, get(read::<Caller>).put(update::<Caller>).delete(remove::<Caller>))
        .with_state(state)
}

fn not_found() -> ApiError {
    ApiError::NotFound("No such patient.".into())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<Patient>, ApiError> {
    let new = NewPatient::parse(body)?;
    let row = state
        .db
        .query_one(
            concat!(
                "WITH created AS (
                     INSERT INTO patients (owner_id, name, date_of_birth, gender, phone, email, address, notes)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     RETURNING ", patient_columns!(), "
                 ), audit AS (
                     INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                     SELECT $1, 'patient.create', 'patient', id, 'success', $9, $10 FROM created
                 )
                 SELECT * FROM created"
            ),
            &[
                (&caller.id, Type::UUID),
                (&new.name, Type::TEXT),
                (&new.date_of_birth, Type::DATE),
                (&new.gender, Type::TEXT),
                (&new.phone, Type::TEXT),
                (&new.email, Type::TEXT),
                (&new.address, Type::TEXT),
                (&new.notes, Type::TEXT),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
            ],
        )
        .await?;
    let patient = Patient::from_row(&row)?;
    let version = patient.version;
    Ok(Reply::created("Patient created.", patient).with_version(version))
}

/// Lists patients newest first. Admins may also filter by `owner_id`.
pub async fn list<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    mut query: Query,
) -> Result<Reply<PageOf<Patient>>, ApiError> {
    let page = query.page();
    let name = query.contains("q", 100);
    let scope = principal.owner_scope();
    let owner_filter = if scope.is_none() { query.uuid("owner_id") } else { None };
    query.finish()?;
    let rows = state
        .db
        .query(
            concat!(
                "WITH page AS (
                     SELECT ", patient_columns!(), " FROM patients
                     WHERE ($1::uuid IS NULL OR owner_id = $1) AND ($7::uuid IS NULL OR owner_id = $7)
                       AND ($2::uuid IS NULL OR id < $2) AND ($3::text IS NULL OR name ILIKE $3)
                     ORDER BY id DESC LIMIT $4
                 ), audit AS (
                     INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                     VALUES ($8, 'patient.list', 'patient', NULL, 'success', $5, $6)
                 )
                 SELECT * FROM page ORDER BY id DESC"
            ),
            &[
                (&scope, Type::UUID),
                (&page.after, Type::UUID),
                (&name, Type::TEXT),
                (&page.fetch(), Type::INT8),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
                (&owner_filter, Type::UUID),
                (&principal.caller().id, Type::UUID),
            ],
        )
        .await?;
    let patients = rows.iter().map(Patient::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Patients found.", PageOf::new(&page, patients, |p| p.id)))
}

pub async fn read<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Patient>, ApiError> {
    let row = state
        .db
        .query_opt(
            concat!(
                "WITH found AS (
                     SELECT ", patient_columns!(), " FROM patients WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2)
                 ), audit AS (
                     INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                     SELECT $5, 'patient.read', 'patient', $1,
                            CASE WHEN EXISTS (SELECT 1 FROM found) THEN 'success' ELSE 'not_found' END, $3, $4
                 )
                 SELECT * FROM found"
            ),
            &[
                (&id, Type::UUID),
                (&principal.owner_scope(), Type::UUID),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
                (&principal.caller().id, Type::UUID),
            ],
        )
        .await?;
    let patient = Patient::from_row(&row.ok_or_else(not_found)?)?;
    let version = patient.version;
    Ok(Reply::success("Patient found.", patient).with_version(version))
}

pub async fn update<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
    IfMatch(expected): IfMatch,
    body: JsonObject,
) -> Result<Reply<Patient>, ApiError> {
    let changes = PatientChanges::parse(body)?;
    let (phone_sent, phone) = changes.phone.as_params();
    let (email_sent, email) = changes.email.as_params();
    let (address_sent, address) = changes.address.as_params();
    let (notes_sent, notes) = changes.notes.as_params();
    // `target` tells a stale version (412) from a patient that is not the caller's (404).
    // The version check is in the UPDATE's WHERE, so of concurrent updates naming the
    // same version exactly one matches; the rest see the bumped version and change nothing.
    let row = state
        .db
        .query_one(
            concat!(
                "WITH target AS (
                     SELECT id FROM patients WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2)
                 ), updated AS (
                     UPDATE patients SET
                         name = COALESCE($3, name),
                         date_of_birth = COALESCE($4, date_of_birth),
                         gender = COALESCE($5, gender),
                         phone = CASE WHEN $6 THEN $7 ELSE phone END,
                         email = CASE WHEN $8 THEN $9 ELSE email END,
                         address = CASE WHEN $10 THEN $11 ELSE address END,
                         notes = CASE WHEN $12 THEN $13 ELSE notes END,
                         version = version + 1,
                         updated_at = now()
                     WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2) AND ($14::int4 IS NULL OR version = $14)
                     RETURNING ", patient_columns!(), "
                 ), audit AS (
                     INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                     SELECT $17, 'patient.update', 'patient', $1,
                            CASE WHEN EXISTS (SELECT 1 FROM updated) THEN 'success'
                                 WHEN EXISTS (SELECT 1 FROM target) THEN 'denied'
                                 ELSE 'not_found' END, $15, $16
                 )
                 SELECT EXISTS (SELECT 1 FROM target) AS found, updated.*
                 FROM (SELECT) AS one LEFT JOIN updated ON true"
            ),
            &[
                (&id, Type::UUID),
                (&principal.owner_scope(), Type::UUID),
                (&changes.name, Type::TEXT),
                (&changes.date_of_birth, Type::DATE),
                (&changes.gender, Type::TEXT),
                (&phone_sent, Type::BOOL),
                (&phone, Type::TEXT),
                (&email_sent, Type::BOOL),
                (&email, Type::TEXT),
                (&address_sent, Type::BOOL),
                (&address, Type::TEXT),
                (&notes_sent, Type::BOOL),
                (&notes, Type::TEXT),
                (&expected, Type::INT4),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
                (&principal.caller().id, Type::UUID),
            ],
        )
        .await?;
    let found: bool = row.try_get("found").map_err(ApiError::internal)?;
    let updated: Option<uuid::Uuid> = row.try_get("id").map_err(ApiError::internal)?;
    match (found, updated) {
        (_, Some(_)) => {
            let patient = Patient::from_row(&row)?;
            let version = patient.version;
            Ok(Reply::updated("Patient updated.", patient).with_version(version))
        }
        (true, None) => Err(ApiError::PreconditionFailed),
        (false, None) => Err(not_found()),
    }
}

pub async fn remove<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Value>, ApiError> {
    // The patient's mappings go with it (ON DELETE CASCADE); its audit events stay.
    let row = state
        .db
        .query_opt(
            "WITH deleted AS (
                 DELETE FROM patients WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2) RETURNING id
             ), audit AS (
                 INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                 SELECT $5, 'patient.delete', 'patient', $1,
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
    row.ok_or_else(not_found)?;
    Ok(Reply::deleted("Patient deleted.", json!({ "id": id })))
}
