//! The doctors function: `/api/doctors`, a directory every signed-in user reads and adds
//! to. Only a doctor's creator, or an admin, may change or delete it (403 otherwise).
//! Doctors are not patient data, so reads are not audited; writes are.
//!
//! Handlers other than create are generic over `Principal`, so the admin function mounts
//! these same handlers under `/api/admin/doctors`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};
use shared::auth::{Caller, Principal};
use shared::extract::{Id, IfMatch};
use shared::pagination::PageOf;
use shared::query::Query;
use shared::records::doctor::{Doctor, DoctorChanges, NewDoctor};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, doctor_columns};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

const COLLECTION: &str = "/api/doctors";
const ITEM: &str = "/api/doctors/{id}";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] = &[COLLECTION, ITEM];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(COLLECTION, get(list::<Caller>).post(create))
        .route(ITEM, get(read::<Caller>).put(update::<Caller>).delete(remove::<Caller>))
        .with_state(state)
}

fn not_found() -> ApiError {
    ApiError::NotFound("No such doctor.".into())
}

fn forbidden() -> ApiError {
    ApiError::Forbidden("Only the user who added this doctor, or an admin, may change or delete it.".into())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<Doctor>, ApiError> {
    let new = NewDoctor::parse(body)?;
    let row = state
        .db
        .query_one(
            concat!(
                "WITH created AS (
                     INSERT INTO doctors (name, specialization, email, phone, license_number, created_by)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     RETURNING ", doctor_columns!(), "
                 ), audit AS (
                     INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                     SELECT $6, 'doctor.create', 'doctor', id, 'success', $7, $8 FROM created
                 )
                 SELECT * FROM created"
            ),
            &[
                (&new.name, Type::TEXT),
                (&new.specialization, Type::TEXT),
                (&new.email, Type::TEXT),
                (&new.phone, Type::TEXT),
                (&new.license_number, Type::TEXT),
                (&caller.id, Type::UUID),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
            ],
        )
        .await?;
    let doctor = Doctor::from_row(&row)?;
    let version = doctor.version;
    Ok(Reply::created("Doctor added.", doctor).with_version(version))
}

pub async fn list<P: Principal>(
    State(state): State<AppState>,
    _: P,
    mut query: Query,
) -> Result<Reply<PageOf<Doctor>>, ApiError> {
    let page = query.page();
    let name = query.contains("q", 100);
    let specialization = query.text("specialization", 100);
    query.finish()?;
    let rows = state
        .db
        .query(
            concat!(
                "SELECT ",
                doctor_columns!(),
                " FROM doctors
                 WHERE ($1::uuid IS NULL OR id < $1)
                   AND ($2::text IS NULL OR name ILIKE $2)
                   AND ($3::text IS NULL OR lower(specialization) = lower($3))
                 ORDER BY id DESC LIMIT $4"
            ),
            &[
                (&page.after, Type::UUID),
                (&name, Type::TEXT),
                (&specialization, Type::TEXT),
                (&page.fetch(), Type::INT8),
            ],
        )
        .await?;
    let doctors = rows.iter().map(Doctor::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Doctors found.", PageOf::new(&page, doctors, |d| d.id)))
}

pub async fn read<P: Principal>(State(state): State<AppState>, _: P, Id(id): Id) -> Result<Reply<Doctor>, ApiError> {
    let row = state
        .db
        .query_opt(concat!("SELECT ", doctor_columns!(), " FROM doctors WHERE id = $1"), &[(&id, Type::UUID)])
        .await?;
    let doctor = Doctor::from_row(&row.ok_or_else(not_found)?)?;
    let version = doctor.version;
    Ok(Reply::success("Doctor found.", doctor).with_version(version))
}

/// Why a write matched no row: the doctor is missing, the caller may not write it, or
/// (when allowed) the `If-Match` version was stale. `creator` is NULL when missing.
fn refusal(row: &Row, caller: &Caller) -> Result<ApiError, ApiError> {
    let creator: Option<Uuid> = row.try_get("creator").map_err(ApiError::internal)?;
    Ok(match creator {
        None => not_found(),
        Some(creator) if creator != caller.id && !caller.is_admin() => forbidden(),
        Some(_) => ApiError::PreconditionFailed,
    })
}

pub async fn update<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
    IfMatch(expected): IfMatch,
    body: JsonObject,
) -> Result<Reply<Doctor>, ApiError> {
    let caller = principal.caller();
    let changes = DoctorChanges::parse(body)?;
    let (email_sent, email) = changes.email.as_params();
    let (phone_sent, phone) = changes.phone.as_params();
    let (license_sent, license) = changes.license_number.as_params();
    let is_admin = caller.is_admin();
    let row = state
        .db
        .query_one(
            concat!(
                "WITH target AS (
                     SELECT created_by FROM doctors WHERE id = $1
                 ), updated AS (
                     UPDATE doctors SET
                         name = COALESCE($4, name),
                         specialization = COALESCE($5, specialization),
                         email = CASE WHEN $6 THEN $7 ELSE email END,
                         phone = CASE WHEN $8 THEN $9 ELSE phone END,
                         license_number = CASE WHEN $10 THEN $11 ELSE license_number END,
                         version = version + 1,
                         updated_at = now()
                     WHERE id = $1 AND (created_by = $2 OR $3) AND ($12::int4 IS NULL OR version = $12)
                     RETURNING ", doctor_columns!(), "
                 ), audit AS (
                     INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                     SELECT $2, 'doctor.update', 'doctor', $1,
                            CASE WHEN EXISTS (SELECT 1 FROM updated) THEN 'success'
                                 WHEN EXISTS (SELECT 1 FROM target) THEN 'denied'
                                 ELSE 'not_found' END, $13, $14
                 )
                 SELECT (SELECT created_by FROM target) AS creator, updated.*
                 FROM (SELECT) AS one LEFT JOIN updated ON true"
            ),
            &[
                (&id, Type::UUID),
                (&caller.id, Type::UUID),
                (&is_admin, Type::BOOL),
                (&changes.name, Type::TEXT),
                (&changes.specialization, Type::TEXT),
                (&email_sent, Type::BOOL),
                (&email, Type::TEXT),
                (&phone_sent, Type::BOOL),
                (&phone, Type::TEXT),
                (&license_sent, Type::BOOL),
                (&license, Type::TEXT),
                (&expected, Type::INT4),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
            ],
        )
        .await?;
    if row.try_get::<_, Option<Uuid>>("id").map_err(ApiError::internal)?.is_none() {
        return Err(refusal(&row, caller)?);
    }
    let doctor = Doctor::from_row(&row)?;
    let version = doctor.version;
    Ok(Reply::updated("Doctor updated.", doctor).with_version(version))
}

pub async fn remove<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Value>, ApiError> {
    let caller = principal.caller();
    let is_admin = caller.is_admin();
    // The doctor's mappings go with it (ON DELETE CASCADE).
    let row = state
        .db
        .query_one(
            "WITH target AS (
                 SELECT created_by FROM doctors WHERE id = $1
             ), deleted AS (
                 DELETE FROM doctors WHERE id = $1 AND (created_by = $2 OR $3) RETURNING id
             ), audit AS (
                 INSERT INTO audit_events (actor_id, action, resource_type, resource_id, outcome, request_id, source_ip)
                 SELECT $2, 'doctor.delete', 'doctor', $1,
                        CASE WHEN EXISTS (SELECT 1 FROM deleted) THEN 'success'
                             WHEN EXISTS (SELECT 1 FROM target) THEN 'denied'
                             ELSE 'not_found' END, $4, $5
             )
             SELECT (SELECT created_by FROM target) AS creator, (SELECT id FROM deleted) AS id",
            &[
                (&id, Type::UUID),
                (&caller.id, Type::UUID),
                (&is_admin, Type::BOOL),
                (&meta.request_id, Type::TEXT),
                (&meta.source_ip, Type::INET),
            ],
        )
        .await?;
    if row.try_get::<_, Option<Uuid>>("id").map_err(ApiError::internal)?.is_none() {
        return Err(refusal(&row, caller)?);
    }
    Ok(Reply::deleted("Doctor deleted.", json!({ "id": id })))
}
