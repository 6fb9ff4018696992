//! The patients function: `/api/patients`. A user reaches the patients they created
//! personally and those an organization or a care team gives them; each statement
//! composes who reaches what, and how far, from `shared::access` (`reach`), so a
//! patient the caller does not reach is indistinguishable from a missing one (404).
//! Each handler is one statement (in `sql/`) that also appends its audit event, so the
//! access and its record commit together.
//!
//! The read, list, update and delete handlers are generic over `Principal`: mounted here
//! with `Caller` (own patients), and by the admin function with `Admin` (everyone's).

use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get, post};
use serde_json::{Value, json};
use shared::access::{self, Membership, OrgFilter, Reach};
use shared::audit::{Audit, Verdict};
use shared::auth::{Caller, Principal, Role, Scope};
use shared::db::{Sql, Statement};
use shared::extract::{Id, IfMatch};
use shared::pagination::{Page, PageOf};
use shared::query::Query;
use shared::records::identifier::to_json;
use shared::records::patient::{NewPatient, Patient, PatientChanges};
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, JsonObject, Reply, RequestMeta, sql};
use tokio_postgres::types::Type;
use uuid::Uuid;

mod access_log;
mod emergency;
mod portal;
mod versions;

pub use versions::versions_statement;

const COLLECTION: &str = "/api/patients";
const ITEM: &str = "/api/patients/{id}";
const EMERGENCY_ACCESS: &str = "/api/patients/{id}/emergency-access";
const EMERGENCY_GRANT: &str = "/api/patients/{id}/emergency-access/{grant_id}";
const PORTAL_INVITATION: &str = "/api/patients/{id}/portal-invitation";
const PORTAL_ACCEPT: &str = "/api/portal/accept";
const ACCESS_LOG: &str = "/api/patients/{id}/access-log";
const VERSIONS: &str = "/api/patients/{id}/versions";

/// Every path this function serves; template.yaml must route each of them here.
pub const ROUTES: &[&str] =
    &[COLLECTION, ITEM, EMERGENCY_ACCESS, EMERGENCY_GRANT, PORTAL_INVITATION, PORTAL_ACCEPT, ACCESS_LOG, VERSIONS];

static CREATE: Sql = sql!("sql/create.sql");
static LIST: Sql = sql!("sql/list.sql");
static READ: Sql = sql!("sql/read.sql");
static UPDATE: Sql = sql!("sql/update.sql");
static DELETE: Sql = sql!("sql/delete.sql");

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(COLLECTION, get(list::<Caller>).post(create))
        .route(ITEM, get(read::<Caller>).put(update::<Caller>).delete(remove::<Caller>))
        .route(EMERGENCY_ACCESS, post(emergency::open))
        .route(EMERGENCY_GRANT, delete(emergency::end))
        .route(PORTAL_INVITATION, post(portal::invite))
        .route(PORTAL_ACCEPT, post(portal::accept))
        .route(ACCESS_LOG, get(access_log::read))
        .route(VERSIONS, get(versions::list::<Caller>))
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
    let patient = create_patient(&state, &caller, &meta, new).await?;
    let version = patient.version;
    Ok(Reply::created("Patient created.", patient).with_version(version))
}

/// Creates a patient (REST and FHIR): 404 for an organization the caller is not a
/// member of, 403 for a member whose role may not (or may not write notes).
pub async fn create_patient(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    new: NewPatient,
) -> Result<Patient, ApiError> {
    let row = create_statement(caller, meta, new).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_some() {
        return Patient::from_row(&row);
    }
    match column::<Option<bool>>(&row, "creates_patients")? {
        None => Err(ApiError::NotFound("No such organization.".into())),
        Some(false) => Err(ApiError::Forbidden("Your role in this organization does not create patients.".into())),
        Some(true) => Err(notes_forbidden()),
    }
}

fn notes_forbidden() -> ApiError {
    ApiError::Forbidden(
        "Your access to this patient does not include writing its notes (nor marking it restricted).".into(),
    )
}

pub fn create_statement(caller: &Caller, meta: &RequestMeta, new: NewPatient) -> Statement {
    Statement::new(&CREATE)
        .acting_as(caller)
        .in_organization(Membership::Of("organization_id"))
        .bind("organization_id", new.organization_id)
        .bind("name", new.name)
        .bind("date_of_birth", new.date_of_birth)
        .bind("gender", new.gender)
        .bind("phone", new.phone)
        .bind("email", new.email)
        .bind("address", new.address)
        .bind("notes", new.notes)
        .bind("restricted", new.restricted)
        .bind("identifiers", to_json(&new.identifiers))
        .audit(
            meta,
            Audit::new("patient.create", "patient")
                .resource_from("(SELECT id FROM created)")
                .outcome(Verdict::Refused { done: "created", target: "membership" }),
        )
        .reads(Patient::COLUMNS)
        .reads(&[("creates_patients", Type::BOOL)])
}

/// Lists patients newest first, filtered by `organization_id` (an id, or `none` for
/// personal patients). Admins may also filter by `owner_id`.
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
    let organization = organization_filter(&mut query);
    query.finish()?;
    let filter = ListFilter { organization, name, owner: owner_filter };
    let rows = list_statement(&principal, &meta, &page, filter).query(&state.db).await?;
    let patients = rows.iter().map(Patient::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::success("Patients found.", PageOf::new(&page, patients, |p| p.id)))
}

/// `organization_id=<uuid>` or `organization_id=none`.
pub fn organization_filter(query: &mut Query) -> OrgFilter {
    match query.take("organization_id") {
        None => OrgFilter::Any,
        Some(none) if none == "none" => OrgFilter::Personal,
        Some(text) => match Uuid::parse_str(&text) {
            Ok(id) => OrgFilter::Org(id),
            Err(_) => {
                query.reject("organization_id", "must be an organization id or none");
                OrgFilter::Any
            }
        },
    }
}

/// What a list is filtered by.
#[derive(Default)]
pub struct ListFilter {
    pub organization: OrgFilter,
    /// A name pattern (`Query::contains`).
    pub name: Option<String>,
    pub owner: Option<Uuid>,
}

pub fn list_statement(principal: &impl Principal, meta: &RequestMeta, page: &Page, filter: ListFilter) -> Statement {
    // A filter the reach cannot see (the admin's owner) leaves its sources unbounded
    // (see shared::access).
    let reach = access::Patients {
        organization: filter.organization,
        name: filter.name,
        after: page.after,
        limit: filter.owner.is_none().then(|| page.fetch()),
        among: None,
    };
    Statement::new(&LIST)
        .acting_as(principal)
        .reaching_patients(reach)
        .bind("owner_filter", filter.owner)
        .bind("after", page.after)
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

pub fn read_statement(principal: &impl Principal, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&READ)
        .acting_as(principal)
        .reaching(Reach::Patient("id"))
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
    let notes_touched = changes.notes.is_sent() || changes.restricted.is_some();
    let (moving, moving_to) = changes.organization_id.clone().into_params();
    let row = update_statement(&principal, &meta, id, expected, changes).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_some() {
        let patient = Patient::from_row(&row)?;
        let version = patient.version;
        return Ok(Reply::updated("Patient updated.", patient).with_version(version));
    }
    if !column::<bool>(&row, "found")? {
        return Err(not_found());
    }
    if !column::<bool>(&row, "may_write")? {
        return Err(ApiError::Forbidden("Your access to this patient is read-only.".into()));
    }
    if notes_touched && !column::<bool>(&row, "may_write_notes")? {
        return Err(notes_forbidden());
    }
    if moving {
        refused_move(&row, moving_to)?;
    }
    Err(ApiError::PreconditionFailed)
}

/// Why a move (or a change naming `organization_id`) changed nothing, if it is the move.
fn refused_move(row: &tokio_postgres::Row, to: Option<Uuid>) -> Result<(), ApiError> {
    let current: Option<Uuid> = column(row, "current_organization")?;
    if current == to {
        return Ok(());
    }
    if current.is_some() {
        return Err(ApiError::invalid_field(
            "organization_id",
            "cannot change: an organization's patient stays in its organization",
        ));
    }
    if column::<Option<String>>(row, "reached_as")?.as_deref() != Some("owner") {
        return Err(ApiError::Forbidden("Only the patient's personal owner may move it.".into()));
    }
    match column::<Option<bool>>(row, "receives_patients")? {
        None => Err(ApiError::NotFound("No such organization.".into())),
        Some(false) => Err(ApiError::Forbidden("Your role in that organization does not take patients in.".into())),
        Some(true) => Ok(()),
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
    let (organization_sent, organization_id) = changes.organization_id.into_params();
    Statement::new(&UPDATE)
        .acting_as(principal)
        .reaching(Reach::Patient("id"))
        .in_organization(Membership::Of("organization_id"))
        .bind("id", id)
        .bind("organization_sent", organization_sent)
        .bind("organization_id", organization_id)
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
        .bind("restricted", changes.restricted)
        .bind("identifiers", changes.identifiers.as_deref().map(to_json))
        .audit(
            meta,
            Audit::new("patient.update", "patient")
                .resource(id)
                .outcome(Verdict::Refused { done: "updated", target: "target" }),
        )
        .reads(Patient::COLUMNS)
        .reads(UPDATE_VERDICT)
}

/// What an update answers besides the patient: why nothing changed, if nothing did.
const UPDATE_VERDICT: &[shared::db::Column] = &[
    ("found", Type::BOOL),
    ("may_write", Type::BOOL),
    ("may_write_notes", Type::BOOL),
    ("reached_as", Type::TEXT),
    ("current_organization", Type::UUID),
    ("receives_patients", Type::BOOL),
];

pub async fn remove<P: Principal>(
    State(state): State<AppState>,
    principal: P,
    meta: RequestMeta,
    Id(id): Id,
) -> Result<Reply<Value>, ApiError> {
    delete_patient(&state, &principal, &meta, id).await?;
    Ok(Reply::deleted("Patient deleted.", json!({ "id": id })))
}

/// Deletes a patient (REST and FHIR): 404 when not reached, 403 when reached but not
/// deletable (only personal and organization owners delete).
pub async fn delete_patient(
    state: &AppState,
    principal: &impl Principal,
    meta: &RequestMeta,
    id: Uuid,
) -> Result<(), ApiError> {
    let row = delete_statement(principal, meta, id).query_one(&state.db).await?;
    match (column::<Option<Uuid>>(&row, "id")?, column::<bool>(&row, "found")?) {
        (Some(_), _) => Ok(()),
        (None, true) => Err(ApiError::Forbidden("Only an owner may delete this patient.".into())),
        (None, false) => Err(not_found()),
    }
}

fn delete_statement(principal: &impl Principal, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&DELETE)
        .acting_as(principal)
        .reaching(Reach::Patient("id"))
        .bind("id", id)
        .audit(
            meta,
            Audit::new("patient.delete", "patient")
                .resource(id)
                .outcome(Verdict::Refused { done: "deleted", target: "target" }),
        )
        .reads(&[("found", Type::BOOL), ("id", Type::UUID)])
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
        organization_id: None,
        restricted: None,
        identifiers: Vec::new(),
    };
    let filtered = ListFilter { name: Some(String::new()), ..ListFilter::default() };
    let mut all = vec![
        create_statement(&caller, &meta, new),
        list_statement(&caller, &meta, &Page::default(), ListFilter::default()),
        list_statement(&caller, &meta, &Page::default(), filtered),
        read_statement(&caller, &meta, id),
        update_statement(&caller, &meta, id, None, PatientChanges::default()),
        delete_statement(&caller, &meta, id),
    ];
    all.extend(emergency::statements());
    all.extend(portal::statements());
    all.extend(access_log::statements());
    all.extend(versions::statements());
    all
}
