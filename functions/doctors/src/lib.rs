//! The doctors function: `/api/doctors`, a directory every signed-in user reads and adds
//! to. Only a doctor's creator, or an admin, may change or delete it (403 otherwise).
//! Doctors are not patient data, so reads are not audited; writes are.
//!
//! Handlers other than create are generic over `Principal`, so the admin function mounts
//! these same handlers under `/api/admin/doctors`. A doctor can be held by an account
//! (`claim`), which puts that user on the care team of the doctor's patients.

pub mod claim;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};
use shared::audit::{Audit, Verdict};
use shared::auth::{Caller, Principal, Role};
use shared::db::{Column, Sql, Statement};
use shared::extract::{Id, IfMatch};
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::doctor::{Doctor, DoctorChanges, NewDoctor};
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

const COLLECTION: &str = "/api/doctors";
const ITEM: &str = "/api/doctors/{id}";
const CLAIM: &str = "/api/doctors/{id}/claim";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] = &[COLLECTION, ITEM, CLAIM];

static CREATE: Sql = sql!("sql/create.sql");
static LIST: Sql = sql!("sql/list.sql");
static READ: Sql = sql!("sql/read.sql");
static UPDATE: Sql = sql!("sql/update.sql");
static DELETE: Sql = sql!("sql/delete.sql");

/// What update and delete return beside the doctor: who created it (NULL: no such doctor).
const CREATOR: &[Column] = &[("creator", Type::UUID)];

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(COLLECTION, get(list::<Caller>).post(create))
        .route(ITEM, get(read::<Caller>).put(update::<Caller>).delete(remove::<Caller>))
        .route(CLAIM, post(claim::claim))
        .with_state(state)
}

fn not_found() -> ApiError {
    ApiError::NotFound("No such doctor.".into())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    body: JsonObject,
) -> Result<Reply<Doctor>, ApiError> {
    let new = NewDoctor::parse(body)?;
    let row = create_statement(&caller, &meta, new).query_one(&state.db).await?;
    let doctor = Doctor::from_row(&row)?;
    let version = doctor.version;
    Ok(Reply::created("Doctor added.", doctor).with_version(version))
}

fn create_statement(caller: &Caller, meta: &RequestMeta, new: NewDoctor) -> Statement {
    Statement::new(&CREATE)
        .acting_as(caller)
        .bind("name", new.name)
        .bind("specialization", new.specialization)
        .bind("email", new.email)
        .bind("phone", new.phone)
        .bind("license_number", new.license_number)
        .audit(meta, Audit::new("doctor.create", "doctor").resource_from("(SELECT id FROM created)"))
        .reads(Doctor::COLUMNS)
}

pub async fn list<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    mut query: Query,
) -> Result<Reply<PageOf<Doctor>>, ApiError> {
    let page = query.page();
    let name = query.contains("q", 100);
    let specialization = query.text("specialization", 100);
    query.finish()?;
    let filter = DoctorFilter { name, specialization, ..DoctorFilter::default() };
    let rows = list_statement(&principal, &page, filter).query(&state.db).await?;
    let doctors = rows.iter().map(Doctor::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Doctors found.", PageOf::new(&page, doctors, |d| d.id)))
}

/// What a directory list is filtered by.
#[derive(Default)]
pub struct DoctorFilter {
    /// A name pattern (`Query::contains`).
    pub name: Option<String>,
    pub specialization: Option<String>,
    /// These doctors only (FHIR's `_id`).
    pub ids: Option<Vec<Uuid>>,
    /// The licence number (FHIR's `identifier`).
    pub license_number: Option<String>,
    /// Only doctors with a licence number (FHIR's `identifier=system|`).
    pub licensed: bool,
}

pub fn list_statement(principal: &impl Principal, page: &Page, filter: DoctorFilter) -> Statement {
    Statement::new(&LIST)
        .acting_as(principal)
        .bind("after", page.after)
        .bind("name", filter.name)
        .bind("specialization", filter.specialization)
        .bind("ids", filter.ids)
        .bind("license_number", filter.license_number)
        .bind("licensed", filter.licensed)
        .bind("fetch", page.fetch())
        .reads(Doctor::COLUMNS)
}

pub async fn read<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    Id(id): Id,
) -> Result<Reply<Doctor>, ApiError> {
    let row = read_statement(&principal, id).query_opt(&state.db).await?;
    let doctor = Doctor::from_row(&row.ok_or_else(not_found)?)?;
    let version = doctor.version;
    Ok(Reply::success("Doctor found.", doctor).with_version(version))
}

pub fn read_statement(principal: &impl Principal, id: Uuid) -> Statement {
    Statement::new(&READ).acting_as(principal).bind("id", id).reads(Doctor::COLUMNS)
}

/// Why a write matched no row: the doctor is missing, the principal may not write it,
/// or (when allowed) the `If-Match` version was stale.
fn refusal(row: &Row, principal: &impl Principal) -> Result<ApiError, ApiError> {
    Ok(match column::<Option<Uuid>>(row, "creator")? {
        None => not_found(),
        Some(creator) if !principal.may_edit(creator) => {
            ApiError::Forbidden("Only the user who added this doctor, or an admin, may change or delete it.".into())
        }
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
    let changes = DoctorChanges::parse(body)?;
    let row = update_statement(&principal, &meta, id, expected, changes).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_none() {
        return Err(refusal(&row, &principal)?);
    }
    let doctor = Doctor::from_row(&row)?;
    let version = doctor.version;
    Ok(Reply::updated("Doctor updated.", doctor).with_version(version))
}

fn update_statement(
    principal: &impl Principal,
    meta: &RequestMeta,
    id: Uuid,
    expected_version: Option<i32>,
    changes: DoctorChanges,
) -> Statement {
    let (email_sent, email) = changes.email.into_params();
    let (phone_sent, phone) = changes.phone.into_params();
    let (license_number_sent, license_number) = changes.license_number.into_params();
    Statement::new(&UPDATE)
        .acting_as(principal)
        .bind("id", id)
        .bind("expected_version", expected_version)
        .bind("name", changes.name)
        .bind("specialization", changes.specialization)
        .bind("email_sent", email_sent)
        .bind("email", email)
        .bind("phone_sent", phone_sent)
        .bind("phone", phone)
        .bind("license_number_sent", license_number_sent)
        .bind("license_number", license_number)
        .audit(
            meta,
            Audit::new("doctor.update", "doctor")
                .resource(id)
                .outcome(Verdict::Refused { done: "updated", target: "target" }),
        )
        .reads(Doctor::COLUMNS)
        .reads(CREATOR)
}

pub async fn remove<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Value>, ApiError> {
    let row = delete_statement(&principal, &meta, id).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_none() {
        return Err(refusal(&row, &principal)?);
    }
    Ok(Reply::deleted("Doctor deleted.", json!({ "id": id })))
}

fn delete_statement(principal: &impl Principal, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&DELETE)
        .acting_as(principal)
        .bind("id", id)
        .audit(
            meta,
            Audit::new("doctor.delete", "doctor")
                .resource(id)
                .outcome(Verdict::Refused { done: "deleted", target: "target" }),
        )
        .reads(CREATOR)
        .reads(&[("id", Type::UUID)])
}

/// Every statement this function issues, built as its handlers build them (with
/// placeholder values), for the test that prepares each against the schema.
pub fn statements() -> Vec<Statement> {
    let (caller, meta, id) = (Caller::placeholder(Role::User), RequestMeta::placeholder(), Uuid::nil());
    let new = NewDoctor {
        name: String::new(),
        specialization: String::new(),
        email: None,
        phone: None,
        license_number: None,
    };
    let mut all = vec![
        create_statement(&caller, &meta, new),
        list_statement(&caller, &Page::default(), DoctorFilter::default()),
        read_statement(&caller, id),
        update_statement(&caller, &meta, id, None, DoctorChanges::default()),
        delete_statement(&caller, &meta, id),
    ];
    all.extend(claim::statements(&caller, &meta));
    all
}
