//! Patient: read, search, create, update (full replacement) and delete, over the same
//! table, access pieces (`shared::access`) and audit events as `/api/patients`. Create and delete are
//! the patients function's own statements; read, search and update have their own
//! because the resource carries the patient's doctors (`generalPractitioner`).

use axum::extract::State;
use axum::http::StatusCode;
use shared::access::Reach;
use shared::audit::{Audit, Verdict};
use shared::auth::scopes::{Permission, Resource};
use shared::auth::{Principal, Role, RoleScoped};
use shared::db::{Sql, Statement};
use shared::error::{FieldError, identifiers_taken};
use shared::extract::IfMatch;
use shared::pagination::Page;
use shared::records::identifier::to_json;
use shared::records::patient::{NewPatient, Patient};
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, RequestMeta, sql};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::patient_map::{PatientFields, from_input, to_resource};
use crate::patient_search::{Criterion, Filters, IfNoneExist, search_statement};
use crate::prefer::Return;
use crate::resources::{Gender, PatientInput, PatientResource};
use crate::smart::FhirPrincipal;
use crate::wire::{Fhir, FhirBody, FhirId};

static READ: Sql = sql!("sql/patient_read.sql");
static UPDATE: Sql = sql!("sql/patient_update.sql");

const PRACTITIONERS: (&str, Type) = ("practitioners", Type::UUID_ARRAY);

fn not_found() -> ApiError {
    ApiError::NotFound("No such Patient.".into())
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

pub async fn create(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    prefer: Return,
    IfNoneExist(criterion): IfNoneExist,
    FhirBody(input): FhirBody<PatientInput>,
) -> Result<Fhir<PatientResource>, ApiError> {
    // A conditional create answers the match it finds: a search and a read, which the
    // app's scopes must grant as well (a create-only app learns nothing of others).
    let searcher = match &criterion {
        Some(_) => {
            principal.permit(Resource::Patient, Permission::Read)?;
            Some(principal.permit(Resource::Patient, Permission::Search)?)
        }
        None => None,
    };
    let principal = principal.permit(Resource::Patient, Permission::Create)?;
    let fields = from_input(input)?;
    if fields.practitioners.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(ApiError::invalid_field(
            "Patient.generalPractitioner",
            "must be empty on create: a new patient has no doctors yet; assign them through /api/mappings",
        ));
    }
    if let (Some(identifier), Some(searcher)) = (&criterion, &searcher)
        && let Some(existing) = matching(&state, searcher, &meta, identifier).await?
    {
        return Ok(existing.preferring(prefer));
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
        identifiers: fields.identifiers,
    };
    let patient = match patients::create_patient(&state, principal.caller(), &meta, new).await {
        Ok(patient) => patient,
        // A racing conditional create committed the identifier first: its patient is
        // the match (migrations/0013: the second insert waits on the first's index
        // entry, then fails).
        Err(taken) if identifiers_taken(&taken) => match (&criterion, &searcher) {
            (Some(identifier), Some(searcher)) => {
                return match matching(&state, searcher, &meta, identifier).await? {
                    Some(existing) => Ok(existing.preferring(prefer)),
                    // Another of the body's identifiers is the one taken.
                    None => Err(as_fhir_conflict(taken)),
                };
            }
            _ => return Err(as_fhir_conflict(taken)),
        },
        Err(other) => return Err(other),
    };
    let location = version_location(patient.id, patient.version);
    // A new patient has no doctors yet.
    Ok(answer(patient, Vec::new()).created(location).preferring(prefer))
}

/// The patient an `If-None-Exist` names, among those the caller reaches: one is the
/// answer (200, nothing created), none lets the create go on, more is 412.
async fn matching(
    state: &AppState,
    principal: &impl Principal,
    meta: &RequestMeta,
    identifier: &Criterion,
) -> Result<Option<Fhir<PatientResource>>, ApiError> {
    let filters = Filters { identifier: Some(identifier.clone()), ..Filters::default() };
    let rows = search_statement(principal, meta, &Page { limit: 1, after: None }, filters).query(&state.db).await?;
    let matches: Vec<&Row> = rows.iter().filter(|r| column::<&str>(r, "kind").is_ok_and(|k| k == "patient")).collect();
    match matches[..] {
        [] => Ok(None),
        [row] => {
            let patient = Patient::from_row(row)?;
            Ok(Some(answer(patient, column(row, "practitioners")?)))
        }
        _ => Err(ApiError::MultipleMatches("If-None-Exist matches more than one Patient; nothing was created.".into())),
    }
}

/// A duplicate identifier, named as FHIR names the element.
fn as_fhir_conflict(error: ApiError) -> ApiError {
    match error {
        ApiError::Conflict { message, errors } => ApiError::Conflict {
            message,
            errors: errors
                .into_iter()
                .map(|e| match e.field.as_str() {
                    "identifiers" => FieldError::new("Patient.identifier", e.message),
                    _ => e,
                })
                .collect(),
        },
        other => other,
    }
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
    let row = update_statement(&principal, &meta, id, expected, fields)
        .query_one(&state.db)
        .await
        .map_err(as_fhir_conflict)?;
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
        .bind("identifiers", to_json(&fields.identifiers))
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
        identifiers: Vec::new(),
        practitioners: None,
        organization: None,
    };
    vec![read_statement(&principal, &meta, id), update_statement(&principal, &meta, id, None, fields)]
}
