//! The patients function: `/api/patients`. A user sees and changes only the patients they
//! own; ownership is part of every statement's WHERE, so another user's patient is
//! indistinguishable from a missing one (404). Each handler is one statement (in `sql/`)
//! that also appends its audit event, so the access and its record commit together.
//!
//! The read, list, update and delete handlers are generic over `Principal`: mounted here
//! with `Caller` (own patients), and by the admin function with `Admin` (everyone's).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};
use shared::audit::{Audit, Verdict};
use shared::auth::{Caller, Principal, Role, Scope};
use shared::db::{Sql, Statement};
use shared::extract::{Id, IfMatch};
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::patient::{NewPatient, Patient, PatientChanges};
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

const COLLECTION: &str = "/api/patients";
const ITEM: &str = "/api/patients/{id}";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] = &[COLLECTION, ITEM];

static CREATE: Sql = sql!("sql/create.sql");
static LIST: Sql = sql!("sql/list.sql");
static READ: Sql = sql!("sql/read.sql");
static UPDATE: Sql = sql!("sql/update.sql");
static DELETE: Sql = sql!("sql/delete.sql");

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
    let row = create_statement(&caller, &meta, new).query_one(&state.db).await?;
    let patient = Patient::from_row(&row)?;
    let version = patient.version;
    Ok(Reply::created("Patient created.", patient).with_version(version))
}

pub fn create_statement(caller: &Caller, meta: &RequestMeta, new: NewPatient) -> Statement {
    Statement::new(&CREATE)
        .acting_as(caller)
        .bind("name", new.name)
        .bind("date_of_birth", new.date_of_birth)
        .bind("gender", new.gender)
        .bind("phone", new.phone)
        .bind("email", new.email)
        .bind("address", new.address)
        .bind("notes", new.notes)
        .audit(meta, Audit::new("patient.create", "patient").resource_from("(SELECT id FROM created)"))
        .reads(Patient::COLUMNS)
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
    let owner_filter = match principal.scope() {
        Scope::All => query.uuid("owner_id"),
        Scope::Own(_) => None,
    };
    query.finish()?;
    let rows = list_statement(&principal, &meta, &page, name, owner_filter).query(&state.db).await?;
    let patients = rows.iter().map(Patient::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Patients found.", PageOf::new(&page, patients, |p| p.id)))
}

fn list_statement(
    principal: &impl Principal,
    meta: &RequestMeta,
    page: &Page,
    name: Option<String>,
    owner_filter: Option<Uuid>,
) -> Statement {
    Statement::new(&LIST)
        .acting_as(principal)
        .bind("owner_filter", owner_filter)
        .bind("after", page.after)
        .bind("name", name)
        .bind("fetch", page.fetch())
        .audit(meta, Audit::new("patient.list", "patient"))
        .reads(Patient::COLUMNS)
}

pub async fn read<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Patient>, ApiError> {
    let row = read_statement(&principal, &meta, id).query_opt(&state.db).await?;
    let patient = Patient::from_row(&row.ok_or_else(not_found)?)?;
    let version = patient.version;
    Ok(Reply::success("Patient found.", patient).with_version(version))
}

fn read_statement(principal: &impl Principal, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&READ)
        .acting_as(principal)
        .bind("id", id)
        .audit(meta, Audit::new("patient.read", "patient").resource(id).outcome(Verdict::Found("found")))
        .reads(Patient::COLUMNS)
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
    let row = update_statement(&principal, &meta, id, expected, changes).query_one(&state.db).await?;
    let found: bool = column(&row, "found")?;
    let updated: Option<Uuid> = column(&row, "id")?;
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

fn update_statement(
    principal: &impl Principal,
    meta: &RequestMeta,
    id: Uuid,
    expected_version: Option<i32>,
    changes: PatientChanges,
) -> Statement {
    let (phone_sent, phone) = changes.phone.into_params();
    let (email_sent, email) = changes.email.into_params();
    let (address_sent, address) = changes.address.into_params();
    let (notes_sent, notes) = changes.notes.into_params();
    Statement::new(&UPDATE)
        .acting_as(principal)
        .bind("id", id)
        .bind("expected_version", expected_version)
        .bind("name", changes.name)
        .bind("date_of_birth", changes.date_of_birth)
        .bind("gender", changes.gender)
        .bind("phone_sent", phone_sent)
        .bind("phone", phone)
        .bind("email_sent", email_sent)
        .bind("email", email)
        .bind("address_sent", address_sent)
        .bind("address", address)
        .bind("notes_sent", notes_sent)
        .bind("notes", notes)
        .audit(
            meta,
            Audit::new("patient.update", "patient")
                .resource(id)
                .outcome(Verdict::Refused { done: "updated", target: "target" }),
        )
        .reads(Patient::COLUMNS)
        .reads(&[("found", Type::BOOL)])
}

pub async fn remove<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Value>, ApiError> {
    let row = delete_statement(&principal, &meta, id).query_opt(&state.db).await?;
    row.ok_or_else(not_found)?;
    Ok(Reply::deleted("Patient deleted.", json!({ "id": id })))
}

pub fn delete_statement(principal: &impl Principal, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&DELETE)
        .acting_as(principal)
        .bind("id", id)
        .audit(meta, Audit::new("patient.delete", "patient").resource(id).outcome(Verdict::Found("deleted")))
}

/// Every statement this function issues, built as its handlers build them (with
/// placeholder values), for the test that prepares each against the schema.
pub fn statements() -> Vec<Statement> {
    let (caller, meta, id) = (Caller::placeholder(Role::User), RequestMeta::placeholder(), Uuid::nil());
    let new = NewPatient {
        name: String::new(),
        date_of_birth: time::Date::MIN,
        gender: String::new(),
        phone: None,
        email: None,
        address: None,
        notes: None,
    };
    vec![
        create_statement(&caller, &meta, new),
        list_statement(&caller, &meta, &Page::default(), None, None),
        read_statement(&caller, &meta, id),
        update_statement(&caller, &meta, id, None, PatientChanges::default()),
        delete_statement(&caller, &meta, id),
    ]
}
