//! Patient: read, search, create, update (full replacement) and delete, over the same
//! table, access pieces (`shared::access`) and audit events as `/api/patients`. Create and delete are
//! the patients function's own statements; read, search and update have their own
//! because the resource carries the patient's doctors (`generalPractitioner`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::Uri;
use shared::access::{self, Reach};
use shared::audit::{Audit, Verdict};
use shared::auth::scopes::{Permission, Resource};
use shared::auth::{Principal, Role, RoleScoped};
use shared::db::{Sql, Statement};
use shared::extract::IfMatch;
use shared::pagination::Page;
use shared::query::Query;
use shared::records::patient::{GENDERS, NewPatient, Patient};
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, RequestMeta, sql};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::patient_map::{PatientFields, from_input, to_resource};
use crate::prefer::Return;
use crate::resources::{Bundle, Gender, PatientInput, PatientResource};
use crate::search::{self, Searchset};
use crate::smart::FhirPrincipal;
use crate::wire::{Fhir, FhirBody, FhirId, FhirVersion, Origin};

static READ: Sql = sql!("sql/patient_read.sql");
static VREAD: Sql = sql!("sql/patient_vread.sql");
static SEARCH: Sql = sql!("sql/patient_search.sql");
static UPDATE: Sql = sql!("sql/patient_update.sql");

const PRACTITIONERS: (&str, Type) = ("practitioners", Type::UUID_ARRAY);

fn not_found() -> ApiError {
    ApiError::NotFound("No such Patient.".into())
}

/// The row's patient and its doctors as a resource.
fn resource(row: &Row) -> Result<PatientResource, ApiError> {
    Ok(to_resource(Patient::from_row(row)?, column(row, "practitioners")?))
}

/// Where a version is read (vread): a create's and an update's `Location`.
fn version_location(id: Uuid, version: i32) -> String {
    format!("/api/fhir/Patient/{id}/_history/{version}")
}

/// One patient as an answer, its version as the ETag.
fn answer(patient: Patient, practitioners: Vec<Uuid>) -> Fhir<PatientResource> {
    let (version, updated_at) = (patient.version, patient.updated_at);
    Fhir::ok(to_resource(patient, practitioners)).versioned(version, updated_at)
}

pub async fn read(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    FhirId(id): FhirId,
) -> Result<Fhir<PatientResource>, ApiError> {
    let principal = principal.permit(Resource::Patient, Permission::Read)?;
    let row = read_statement(&principal, &meta, id).query_opt(&state.db).await?.ok_or_else(not_found)?;
    Ok(answer(Patient::from_row(&row)?, column(&row, "practitioners")?))
}

fn read_statement(principal: &impl Principal, meta: &RequestMeta, id: Uuid) -> Statement {
    Statement::new(&READ)
        .acting_as(principal)
        .reaching(Reach::Patient("id"))
        .bind("id", id)
        .audit(meta, Audit::new("patient.read", "patient").resource(id).outcome(Verdict::Found("found")))
        .reads(Patient::COLUMNS)
        .reads(&[PRACTITIONERS])
}

/// One version (vread): the current one or one it replaced; audited as reading history.
pub async fn vread(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    FhirVersion(id, version): FhirVersion,
) -> Result<Fhir<PatientResource>, ApiError> {
    let principal = principal.permit(Resource::Patient, Permission::Read)?;
    let row = vread_statement(&principal, &meta, id, version)
        .query_opt(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such Patient, or no such version of it.".into()))?;
    Ok(answer(Patient::from_row(&row)?, column(&row, "practitioners")?))
}

fn vread_statement(principal: &impl Principal, meta: &RequestMeta, id: Uuid, version: i32) -> Statement {
    Statement::new(&VREAD)
        .acting_as(principal)
        .reaching(Reach::Patient("id"))
        .bind("id", id)
        .bind("version", version)
        .audit(meta, Audit::new("patient.history", "patient").resource(id).outcome(Verdict::Found("found")))
        .reads(Patient::COLUMNS)
        .reads(&[PRACTITIONERS])
}

/// The search parameters, parsed; `name` is already a LIKE pattern.
#[derive(Default)]
struct Filters {
    name: Option<String>,
    birthdate: Option<time::Date>,
    gender: Option<&'static str>,
}

pub async fn search(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    Origin(origin): Origin,
    uri: Uri,
    mut query: Query,
) -> Result<Fhir<Bundle<PatientResource>>, ApiError> {
    let principal = principal.permit(Resource::Patient, Permission::Search)?;
    let page = search::page(&mut query);
    let filters = Filters {
        name: query.contains("name", 100),
        birthdate: search::exact_date(&mut query, "birthdate"),
        gender: search::token(&mut query, "gender", GENDERS),
    };
    query.finish()?;
    let rows = search_statement(&principal, &meta, &page, filters).query(&state.db).await?;
    let patients = rows.iter().map(resource).collect::<Result<Vec<_>, _>>()?;
    let set = Searchset { origin: &origin, uri: &uri, resource_type: "Patient" };
    Ok(Fhir::ok(set.bundle(&page, patients, |p| p.id)))
}

fn search_statement(principal: &impl Principal, meta: &RequestMeta, page: &Page, filters: Filters) -> Statement {
    // Filters the reach cannot see leave its sources unbounded (see shared::access).
    let bounded = filters.birthdate.is_none() && filters.gender.is_none();
    let reach = access::Patients {
        name: filters.name,
        after: page.after,
        limit: bounded.then(|| page.fetch()),
        ..Default::default()
    };
    Statement::new(&SEARCH)
        .acting_as(principal)
        .reaching_patients(reach)
        .bind("after", page.after)
        .bind("birthdate", filters.birthdate)
        .bind("gender", filters.gender)
        .bind("fetch", page.fetch())
        .audit(meta, Audit::new("patient.list", "patient"))
        .reads(Patient::COLUMNS)
        .reads(&[PRACTITIONERS])
}

pub async fn create(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    prefer: Return,
    FhirBody(input): FhirBody<PatientInput>,
) -> Result<Fhir<PatientResource>, ApiError> {
    let principal = principal.permit(Resource::Patient, Permission::Create)?;
    let fields = from_input(input)?;
    if fields.practitioners.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(ApiError::invalid_field(
            "Patient.generalPractitioner",
            "must be empty on create: a new patient has no doctors yet; assign them through /api/mappings",
        ));
    }
    let new = NewPatient {
        name: fields.name,
        date_of_birth: fields.date_of_birth,
        gender: fields.gender.as_str().into(),
        phone: fields.phone,
        email: fields.email,
        address: fields.address,
        notes: None,
        organization_id: fields.organization,
        // `meta` is the server's: a chart is restricted through /api/patients.
        restricted: None,
    };
    let patient = patients::create_patient(&state, principal.caller(), &meta, new).await?;
    let location = version_location(patient.id, patient.version);
    // A new patient has no doctors yet.
    Ok(answer(patient, Vec::new()).created(location).preferring(prefer))
}

pub async fn update(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    FhirId(id): FhirId,
    IfMatch(expected): IfMatch,
    prefer: Return,
    FhirBody(input): FhirBody<PatientInput>,
) -> Result<Fhir<PatientResource>, ApiError> {
    let principal = principal.permit(Resource::Patient, Permission::Update)?;
    let fields = from_input(input)?;
    match fields.id.as_deref().map(str::parse::<Uuid>) {
        Some(Ok(body_id)) if body_id == id => {}
        _ => return Err(ApiError::invalid_field("Patient.id", "must be present and equal the id in the URL")),
    }
    let row = update_statement(&principal, &meta, id, expected, fields).query_one(&state.db).await?;
    if column::<Option<Uuid>>(&row, "id")?.is_some() {
        let patient = Patient::from_row(&row)?;
        let location = version_location(id, patient.version);
        return Ok(answer(patient, column(&row, "practitioners")?).located(location).preferring(prefer));
    }
    if !column::<bool>(&row, "found")? {
        return Err(not_found());
    }
    if !column::<bool>(&row, "may_write")? {
        return Err(ApiError::Forbidden("Your access to this Patient is read-only.".into()));
    }
    if !column::<bool>(&row, "doctors_match")? {
        return Err(ApiError::invalid_field(
            "Patient.generalPractitioner",
            "must list exactly the patient's current doctors (or be left out); assignments change through \
             /api/mappings",
        ));
    }
    if !column::<bool>(&row, "organization_matches")? {
        return Err(ApiError::invalid_field(
            "Patient.managingOrganization",
            "must name the patient's current organization (or be left out); a personal patient moves into an \
             organization through /api/patients",
        ));
    }
    Err(ApiError::PreconditionFailed)
}

fn update_statement(
    principal: &impl Principal,
    meta: &RequestMeta,
    id: Uuid,
    expected_version: Option<i32>,
    fields: PatientFields,
) -> Statement {
    Statement::new(&UPDATE)
        .acting_as(principal)
        .reaching(Reach::Patient("id"))
        .bind("id", id)
        .bind("organization_sent", fields.organization.is_some())
        .bind("organization_id", fields.organization)
        .bind("expected_version", expected_version)
        .bind("practitioners", fields.practitioners)
        .bind("name", fields.name)
        .bind("date_of_birth", fields.date_of_birth)
        .bind("gender", fields.gender.as_str())
        .bind("phone", fields.phone)
        .bind("email", fields.email)
        .bind("address", fields.address)
        .audit(
            meta,
            Audit::new("patient.update", "patient")
                .resource(id)
                .outcome(Verdict::Refused { done: "updated", target: "target" }),
        )
        .reads(Patient::COLUMNS)
        .reads(&[("found", Type::BOOL), ("may_write", Type::BOOL), ("doctors_match", Type::BOOL), PRACTITIONERS])
        .reads(&[("organization_matches", Type::BOOL)])
}

pub async fn remove(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    FhirId(id): FhirId,
) -> Result<StatusCode, ApiError> {
    let principal = principal.permit(Resource::Patient, Permission::Delete)?;
    patients::delete_patient(&state, &principal, &meta, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn statements() -> Vec<Statement> {
    let (principal, meta, id) = (RoleScoped::placeholder(Role::User), RequestMeta::placeholder(), Uuid::nil());
    let fields = PatientFields {
        id: None,
        name: String::new(),
        date_of_birth: time::Date::MIN,
        gender: Gender::Unknown,
        phone: None,
        email: None,
        address: None,
        practitioners: None,
        organization: None,
    };
    vec![
        read_statement(&principal, &meta, id),
        vread_statement(&principal, &meta, id, 1),
        search_statement(&principal, &meta, &Page::default(), Filters::default()),
        update_statement(&principal, &meta, id, None, fields),
    ]
}
