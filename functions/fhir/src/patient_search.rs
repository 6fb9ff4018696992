//! Patient search (API.md Part 5, "Searches"): every parameter is parsed here and
//! composed into the one search statement, whose `reach` decides what is returned; an
//! `_include` brings in only what the caller may read by itself (the directory, when
//! its scopes read Practitioners), and only the doctors of the page's own matches.

use axum::extract::{FromRequestParts, State};
use axum::http::Uri;
use axum::http::request::Parts;
use shared::access::{self, OrgFilter};
use shared::audit::Audit;
use shared::auth::Principal;
use shared::auth::scopes::{Permission, Resource};
use shared::db::{Sql, Statement};
use shared::pagination::Page;
use shared::query::{Query, contains_pattern};
use shared::records::doctor::Doctor;
use shared::records::patient::{GENDERS, Patient};
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, RequestMeta, sql};
use time::{Date, OffsetDateTime};
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::patient_map::{ORGANIZATION_PREFIX, PRACTITIONER_PREFIX, to_resource};
use crate::practitioner;
use crate::resources::{AnyResource, Bundle};
use crate::search::{self, Listing};
use crate::search_dates::{self, Bounds};
use crate::smart::FhirPrincipal;
use crate::wire::{Fhir, Origin};

static SEARCH: Sql = sql!("sql/patient_search.sql");

/// The one `_include` we serve (with or without its target type).
const INCLUDES: &[&str] = &["Patient:general-practitioner", "Patient:general-practitioner:Practitioner"];

pub use crate::search::{Criterion, criterion};

/// `If-None-Exist: identifier=system|value` (or `identifier=value`; a leading
/// `Patient?` or `?` is allowed): a create that answers the match instead, if one.
pub struct IfNoneExist(pub Option<Criterion>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneExist {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get("if-none-exist") else { return Ok(IfNoneExist(None)) };
        let refused = || {
            ApiError::invalid_field(
                "If-None-Exist",
                "must be identifier=system|value or identifier=value: no other criteria are supported",
            )
        };
        let text = header.to_str().map_err(|_| refused())?.trim();
        let text = text.strip_prefix("Patient?").or_else(|| text.strip_prefix('?')).unwrap_or(text);
        let mut query = Query::parse(text);
        let identifier = query.take("identifier");
        query.finish().map_err(|_| refused())?;
        match identifier.map(|raw| criterion(&raw)) {
            Some((system, Some(value))) if !value.trim().is_empty() => Ok(IfNoneExist(Some((system, Some(value))))),
            _ => Err(refused()),
        }
    }
}

/// The search parameters, parsed.
#[derive(Default)]
pub struct Filters {
    /// `name`, as an ILIKE pattern the reach applies.
    pub name: Option<String>,
    /// `_id`: the UUIDs listed (an id we never issued matches nothing).
    pub ids: Option<Vec<Uuid>>,
    /// `identifier`: (system, value), either part possibly absent.
    pub identifier: Option<(Option<String>, Option<String>)>,
    /// Regular expressions the name must all match (`family`, `given`, a repeated `name`).
    pub name_matches: Vec<String>,
    pub gender: Option<&'static str>,
    pub birthdate: Bounds<Date>,
    pub last_updated: Bounds<OffsetDateTime>,
    pub organization: OrgFilter,
    pub practitioner: Option<Uuid>,
    pub include: bool,
    pub count_only: bool,
}

impl Filters {
    fn parse(query: &mut Query) -> Self {
        let mut names = words(query, "name").into_iter();
        let name = names.next().map(|n| contains_pattern(&n));
        let mut name_matches: Vec<String> = names.map(|n| regex_literal(&n)).collect();
        let family = words(query, "family");
        name_matches.extend(family.iter().map(|f| format!(r"^\S+( \S+)* {}\S*$", regex_literal(f))));
        let given = words(query, "given");
        name_matches.extend(given.iter().map(|g| format!(r"^(\S+ )*{}\S*( \S+)+$", regex_literal(g))));
        Self {
            name,
            ids: query.take("_id").map(|list| search::ids(query, &list)),
            identifier: query.take("identifier").map(|raw| criterion(&raw)),
            name_matches,
            gender: search::token(query, "gender", GENDERS),
            birthdate: search_dates::dates(query, "birthdate"),
            last_updated: search_dates::instants(query, "_lastUpdated"),
            organization: reference(query, "organization", ORGANIZATION_PREFIX).map_or(OrgFilter::Any, OrgFilter::Org),
            practitioner: reference(query, "general-practitioner", PRACTITIONER_PREFIX),
            include: match query.take("_include") {
                None => false,
                Some(raw) if INCLUDES.contains(&raw.as_str()) => true,
                Some(_) => {
                    query.reject("_include", "only Patient:general-practitioner is supported");
                    false
                }
            },
            count_only: match query.take("_summary").as_deref() {
                None | Some("false") => false,
                Some("count") => true,
                Some(_) => {
                    query.reject("_summary", "only count (or false) is supported");
                    false
                }
            },
        }
    }

    /// Whether the reach may stop each source at the page: only when it applies every
    /// filter itself (see shared::access).
    fn bounded(&self) -> bool {
        self.ids.is_none()
            && self.identifier.is_none()
            && self.name_matches.is_empty()
            && self.gender.is_none()
            && self.birthdate.is_open()
            && self.last_updated.is_open()
            && self.practitioner.is_none()
            && !self.count_only
    }
}

/// Every value of a string parameter (1-100 characters, trimmed).
fn words(query: &mut Query, name: &str) -> Vec<String> {
    let values: Vec<String> = query.take_all(name).iter().map(|v| v.trim().to_owned()).collect();
    if values.iter().any(|v| v.is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control)) {
        query.reject(name, "must be 1-100 characters");
    }
    values
}

impl Filters {
    /// The few patients a filter names by an index, when one does (`access::Patients::among`):
    /// the ids listed, the holders of an identifier's value, a doctor's patients.
    fn candidates(&self) -> Option<&'static str> {
        if self.ids.is_some() {
            Some("SELECT unnest(:ids::uuid[])")
        } else if self.identifier.as_ref().is_some_and(|(_, value)| value.is_some()) {
            Some(
                "SELECT i.patient_id FROM patient_identifiers i WHERE i.value = :identifier_value \
                 AND (:identifier_system::text IS NULL OR i.system = :identifier_system)",
            )
        } else if self.practitioner.is_some() {
            Some("SELECT m.patient_id FROM mappings m WHERE m.doctor_id = :practitioner")
        } else {
            None
        }
    }
}

/// A name part as a literal in a regular expression (`~*`: case-insensitive).
fn regex_literal(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if r"\.^$|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// `Type/{id}` or `{id}`; an id of FHIR's syntax we never issued names no record (the
/// nil id, which nothing has).
fn reference(query: &mut Query, name: &str, prefix: &str) -> Option<Uuid> {
    let raw = query.take(name)?;
    let id = raw.strip_prefix(prefix).unwrap_or(&raw);
    if !crate::wire::is_fhir_id(id) {
        query.reject(name, format!("must be {prefix}<id> or an id"));
        return None;
    }
    Some(id.parse().unwrap_or(Uuid::nil()))
}

pub async fn search(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    Origin(origin): Origin,
    uri: Uri,
    mut query: Query,
) -> Result<Fhir<Bundle<AnyResource>>, ApiError> {
    let reads_directory = principal.permit(Resource::Practitioner, Permission::Read).is_ok();
    let principal = principal.permit(Resource::Patient, Permission::Search)?;
    let page = search::page(&mut query);
    let mut filters = Filters::parse(&mut query);
    query.finish()?;
    filters.include &= reads_directory;
    let rows = search_statement(&principal, &meta, &page, filters).query(&state.db).await?;
    let listing = Listing { origin: &origin, uri: &uri, resource_type: "Patient" };
    let (mut matches, mut included) = (Vec::new(), Vec::new());
    for row in &rows {
        match column::<&str>(row, "kind")? {
            "total" => return Ok(Fhir::ok(listing.count(column(row, "total")?))),
            "practitioner" => included.push(practitioner::to_resource(Doctor::from_row(row)?)),
            _ => matches.push(to_resource(Patient::from_row(row)?, column(row, "practitioners")?)),
        }
    }
    Ok(Fhir::ok(listing.with_included(&page, matches, included)))
}

pub fn search_statement(principal: &impl Principal, meta: &RequestMeta, page: &Page, filters: Filters) -> Statement {
    let (bounded, among) = (filters.bounded(), filters.candidates());
    let after = if filters.count_only { None } else { page.after };
    let reach = access::Patients {
        organization: filters.organization,
        name: filters.name,
        after,
        limit: bounded.then(|| page.fetch()),
        among,
    };
    let (identifier_system, identifier_value) = filters.identifier.clone().unwrap_or_default();
    let (birth_not_from, birth_not_before) = filters.birthdate.not_columns();
    let (updated_not_from, updated_not_before) = filters.last_updated.not_columns();
    Statement::new(&SEARCH)
        .acting_as(principal)
        .reaching_patients(reach)
        .bind("ids", filters.ids)
        .bind("identifier_sent", filters.identifier.is_some())
        .bind("identifier_system", identifier_system)
        .bind("identifier_value", identifier_value)
        .bind("name_matches", filters.name_matches)
        .bind("gender", filters.gender)
        .bind("birth_from", filters.birthdate.from)
        .bind("birth_before", filters.birthdate.before)
        .bind("birth_not_from", birth_not_from)
        .bind("birth_not_before", birth_not_before)
        .bind("updated_from", filters.last_updated.from)
        .bind("updated_before", filters.last_updated.before)
        .bind("updated_not_from", updated_not_from)
        .bind("updated_not_before", updated_not_before)
        .bind("practitioner", filters.practitioner)
        .bind("count_only", filters.count_only)
        .bind("include", filters.include)
        .bind("after", after)
        .bind("fetch", page.fetch())
        .audit(meta, Audit::new("patient.list", "patient"))
        .reads(Patient::COLUMNS)
        .reads(Doctor::COLUMNS)
        .reads(&[("kind", Type::TEXT), ("practitioners", Type::UUID_ARRAY), ("total", Type::INT8)])
}

pub fn statements() -> Vec<Statement> {
    let (principal, meta) =
        (shared::auth::RoleScoped::placeholder(shared::auth::Role::User), RequestMeta::placeholder());
    // Each way of choosing the sources renders its own SQL.
    let among = [
        Filters { ids: Some(Vec::new()), ..Filters::default() },
        Filters { identifier: Some((None, Some(String::new()))), ..Filters::default() },
        Filters { practitioner: Some(Uuid::nil()), ..Filters::default() },
        Filters { count_only: true, ..Filters::default() },
    ];
    std::iter::once(Filters::default())
        .chain(among)
        .map(|filters| search_statement(&principal, &meta, &Page::default(), filters))
        .collect()
}
