//! The mappings function: `/api/mappings`, which doctors are assigned to which patients.
//! A user works only with mappings of patients they reach (`shared::access`, composed
//! into each statement in `sql/`), so a mapping of a patient they do not reach is a 404
//! exactly like a missing one; assigning and removing need `assigns` (403 without).
//! Each statement also appends its audit event.
//!
//! `list`, `read` and `remove` are generic over `Principal`; the admin function mounts them
//! (with `read`, a mapping by its own id) under `/api/admin/mappings`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use serde_json::{Value, json};
use shared::access::{self, Reach};
use shared::audit::{Audit, Verdict};
use shared::auth::{Caller, Principal, Role};
use shared::db::{Sql, Statement};
use shared::extract::Id;
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::doctor::Doctor;
use shared::records::mapping::{AssignedDoctor, Mapping, NewMapping};
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

const COLLECTION: &str = "/api/mappings";
const ITEM: &str = "/api/mappings/{id}";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] = &[COLLECTION, ITEM];

static CREATE: Sql = sql!("sql/create.sql");
static LIST: Sql = sql!("sql/list.sql");
static DOCTORS_OF_PATIENT: Sql = sql!("sql/doctors_of_patient.sql");
static READ: Sql = sql!("sql/read.sql");
static DELETE: Sql = sql!("sql/delete.sql");

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(COLLECTION, get(list::<Caller>).post(create))
        // GET takes a patient id (that patient's doctors); DELETE takes a mapping id.
        .route(ITEM, get(doctors_of_patient).delete(remove::<Caller>))
        .with_state(state)
}

fn no_such_mapping() -> ApiError {
    ApiError::NotFound("No such mapping.".into())
}

fn not_assigner() -> ApiError {
    ApiError::Forbidden("Your access to this patient does not include assigning its doctors.".into())
}

fn no_such_patient() -> ApiError {
    ApiError::NotFound("No such patient.".into())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<Mapping>, ApiError> {
    let new = NewMapping::parse(body)?;
    let row = create_statement(&caller, &meta, &new).query_one(&state.db).await?;
    if !column::<bool>(&row, "patient_found")? {
        return Err(no_such_patient());
    }
    if !column::<bool>(&row, "assigns")? {
        return Err(not_assigner());
    }
    if !column::<bool>(&row, "doctor_found")? {
        return Err(ApiError::NotFound("No such doctor.".into()));
    }
    if column::<Option<Uuid>>(&row, "id")?.is_none() {
        return Err(ApiError::duplicate("mappings_patient_doctor_key"));
    }
    Ok(Reply::created("Doctor assigned to patient.", Mapping::from_row(&row)?))
}

fn create_statement(caller: &Caller, meta: &RequestMeta, new: &NewMapping) -> Statement {
    Statement::new(&CREATE)
        .acting_as(caller)
        .reaching(Reach::Patient("patient_id"))
        .bind("patient_id", new.patient_id)
        .bind("doctor_id", new.doctor_id)
        .audit(
            meta,
            Audit::new("mapping.create", "mapping")
                .resource_from("(SELECT id FROM created)")
                .outcome(Verdict::Refused { done: "created", target: "pair" }),
        )
        .reads(Mapping::COLUMNS)
        .reads(&[("patient_found", Type::BOOL), ("assigns", Type::BOOL), ("doctor_found", Type::BOOL)])
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
    let rows = list_statement(&principal, &meta, &page, patient_id, doctor_id).query(&state.db).await?;
    let mappings = rows.iter().map(Mapping::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Mappings found.", PageOf::new(&page, mappings, |m| m.id)))
}

pub fn list_statement(
    principal: &impl Principal,
    meta: &RequestMeta,
    page: &Page,
    patient_id: Option<Uuid>,
    doctor_id: Option<Uuid>,
) -> Statement {
    // Keyset on the mapping's id, not the patient's: the reach is unbounded.
    Statement::new(&LIST)
        .acting_as(principal)
        .reaching_patients(access::Patients::default())
        .bind("after", page.after)
        .bind("patient_id", patient_id)
        .bind("doctor_id", doctor_id)
        .bind("fetch", page.fetch())
        .audit(meta, Audit::new("mapping.list", "mapping"))
        .reads(Mapping::COLUMNS)
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
    let rows = doctors_of_patient_statement(&caller, &meta, patient_id).query(&state.db).await?;
    if rows.is_empty() {
        return Err(no_such_patient());
    }
    let mut doctors = Vec::with_capacity(rows.len());
    for row in &rows {
        if column::<Option<Uuid>>(row, "mapping_id")?.is_some() {
            doctors.push(AssignedDoctor::from_row(row)?);
        }
    }
    Ok(Reply::success("Doctors assigned to this patient.", PatientDoctors { patient_id, doctors }))
}

fn doctors_of_patient_statement(caller: &Caller, meta: &RequestMeta, patient_id: Uuid) -> Statement {
    Statement::new(&DOCTORS_OF_PATIENT)
        .acting_as(caller)
        .reaching(Reach::Patient("patient_id"))
        .bind("patient_id", patient_id)
        .audit(meta, Audit::new("mapping.read", "patient").resource(patient_id).outcome(Verdict::Found("patient")))
        .reads(Doctor::COLUMNS)
        .reads(AssignedDoctor::COLUMNS)
}

/// One mapping by its own id.
pub async fn read<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Mapping>, ApiError> {
    let row = read_statement(&principal, &meta, id).query_opt(&state.db).await?;
    Ok(Reply::success("Mapping found.", Mapping::from_row(&row.ok_or_else(no_such_mapping)?)?))
}

fn read_statement(principal: &impl Principal, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&READ)
        .acting_as(principal)
        .reaching(Reach::PatientOfMapping("id"))
        .bind("id", id)
        .audit(meta, Audit::new("mapping.read", "mapping").resource(id).outcome(Verdict::Found("found")))
        .reads(Mapping::COLUMNS)
}

pub async fn remove<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Value>, ApiError> {
    let row = delete_statement(&principal, &meta, id).query_one(&state.db).await?;
    match (column::<Option<Uuid>>(&row, "id")?, column::<bool>(&row, "found")?) {
        (Some(_), _) => Ok(Reply::deleted("Mapping deleted.", json!({ "id": id }))),
        (None, true) => Err(not_assigner()),
        (None, false) => Err(no_such_mapping()),
    }
}

fn delete_statement(principal: &impl Principal, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&DELETE)
        .acting_as(principal)
        .reaching(Reach::PatientOfMapping("id"))
        .bind("id", id)
        .audit(
            meta,
            Audit::new("mapping.delete", "mapping")
                .resource(id)
                .outcome(Verdict::Refused { done: "deleted", target: "target" }),
        )
        .reads(&[("found", Type::BOOL), ("id", Type::UUID)])
}

/// Every statement this function issues, built as its handlers build them (with
/// placeholder values), for the test that prepares each against the schema.
pub fn statements() -> Vec<Statement> {
    let (caller, meta, id) = (Caller::placeholder(Role::User), RequestMeta::placeholder(), Uuid::nil());
    vec![
        create_statement(&caller, &meta, &NewMapping { patient_id: id, doctor_id: id }),
        list_statement(&caller, &meta, &Page::default(), None, None),
        doctors_of_patient_statement(&caller, &meta, id),
        read_statement(&caller, &meta, id),
        delete_statement(&caller, &meta, id),
    ]
}
