//! Bulk export's kick-off (API.md Part 5, "Bulk export"; FHIR Bulk Data Access 2.0):
//! `Patient/$export` (every patient the caller reaches) and `Group/{organization}/$export`
//! (an organization's, for its owners and its backend apps). The kick-off checks what it
//! is asked, records the job in one statement - who asked and how their token narrowed
//! them, so the worker acts with exactly that reach - and hands it to the worker
//! (`shared::export`); the status, the files and cancelling are `export_status`.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::access::Membership;
use shared::audit::{Audit, Verdict};
use shared::auth::Principal;
use shared::auth::scopes::{Permission, Resource};
use shared::db::{Sql, Statement};
use shared::export::Exports;
use shared::query::Query;
use shared::records::column;
use shared::{ApiError, AppState, RequestMeta, sql};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::prefer::RespondAsync;
use crate::smart::FhirPrincipal;
use crate::wire::{FhirId, Origin, outcome};

static START: Sql = sql!("sql/export_start.sql");
static GROUP: Sql = sql!("sql/export_group.sql");

/// The types an export may hold, in the order they are written.
pub const TYPES: &[&str] = &["Patient", "Practitioner"];
/// `_outputFormat`s we write (all the same: FHIR's ndjson).
const FORMATS: &[&str] = &["application/fhir+ndjson", "application/ndjson", "ndjson"];
/// Seconds a client should wait between polls of the status.
pub const POLL_SECONDS: u64 = 2;

/// What a kick-off asks for.
struct Asked {
    types: Vec<String>,
    since: Option<OffsetDateTime>,
}

impl Asked {
    fn parse(mut query: Query) -> Result<Self, ApiError> {
        let types = match query.take("_type") {
            None => TYPES.iter().map(|t| t.to_string()).collect(),
            Some(list) => {
                let asked: Vec<&str> = list.split(',').map(str::trim).collect();
                if asked.iter().any(|t| !TYPES.contains(t)) {
                    query.reject("_type", "may list Patient and Practitioner only");
                }
                // In the order they are written, each once.
                TYPES.iter().filter(|t| asked.contains(t)).map(|t| t.to_string()).collect()
            }
        };
        let since = query.take("_since").and_then(|raw| match OffsetDateTime::parse(&raw, &Rfc3339) {
            Ok(instant) => Some(instant),
            Err(_) => {
                query.reject("_since", "must be a FHIR instant with a time zone (2026-01-01T00:00:00Z)");
                None
            }
        });
        if let Some(format) = query.take("_outputFormat")
            && !FORMATS.contains(&format.as_str())
        {
            query.reject("_outputFormat", format!("must be one of: {}", FORMATS.join(", ")));
        }
        query.finish()?;
        Ok(Self { types, since })
    }
}

/// The status URL of a job.
pub fn status_url(origin: &str, job: Uuid) -> String {
    format!("{origin}/api/fhir/bulk/{job}")
}

pub(crate) fn exports(state: &AppState) -> Result<&Exports, ApiError> {
    state.exports.as_deref().ok_or_else(|| {
        ApiError::NotConfigured("Bulk export is not set up on this server (EXPORT_BUCKET is not set).".into())
    })
}

/// A kick-off request: where it was sent (the manifest's `request`, the status URL's
/// origin), whether it asked `Prefer: respond-async`, and its parameters.
pub struct KickOff {
    origin: String,
    request: String,
    respond_async: bool,
    asked: Result<Asked, ApiError>,
}

impl<S: Send + Sync> FromRequestParts<S> for KickOff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Origin(origin) = Origin::from_request_parts(parts, state).await?;
        let RespondAsync(respond_async) =
            RespondAsync::from_request_parts(parts, state).await.unwrap_or(RespondAsync(false));
        let request = format!("{origin}{}", parts.uri);
        let asked = Asked::parse(Query::parse(parts.uri.query().unwrap_or("")));
        Ok(KickOff { origin, request, respond_async, asked })
    }
}

pub async fn patients(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    kick_off: KickOff,
) -> Result<Response, ApiError> {
    start(&state, principal, &meta, kick_off, None).await
}

pub async fn group(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    FhirId(organization): FhirId,
    kick_off: KickOff,
) -> Result<Response, ApiError> {
    start(&state, principal, &meta, kick_off, Some(organization)).await
}

async fn start(
    state: &AppState,
    principal: FhirPrincipal,
    meta: &RequestMeta,
    kick_off: KickOff,
    group: Option<Uuid>,
) -> Result<Response, ApiError> {
    let backend_organization = principal.backend_organization();
    let reader = principal.permit(Resource::Patient, Permission::Read)?;
    let checked = check(state, &principal, kick_off.respond_async, kick_off.asked, &kick_off.request);
    let (exports, asked) = match (checked, group) {
        (Ok(checked), _) => checked,
        // Someone else's Group is 404 whatever else is wrong with the request, as for
        // any record the caller does not reach (the check costs a statement only here).
        (Err(refused), Some(group)) if backend_organization != Some(group) => {
            let row = group_statement(&reader, group).query_one(&state.db).await?;
            return Err(match column::<Option<String>>(&row, "member_role")? {
                Some(_) => refused,
                None => no_group(),
            });
        }
        (Err(refused), _) => return Err(refused),
    };
    let row = start_statement(&reader, meta, group, backend_organization, &asked, kick_off.request)
        .query_one(&state.db)
        .await?;
    let Some(job) = column::<Option<Uuid>>(&row, "id")? else {
        return Err(match (group, column::<Option<String>>(&row, "member_role")?) {
            (Some(_), None) if backend_organization != group => no_group(),
            (Some(_), Some(_)) if !column::<bool>(&row, "allowed")? => {
                ApiError::Forbidden("Only the organization's owners and its backend apps may export it.".into())
            }
            _ => ApiError::TooSoon {
                message: "An export of yours is already running: cancel it, or wait for it to finish.".into(),
                retry_after_secs: 60,
            },
        });
    };
    // A job the worker cannot be given now waits for the first status poll.
    if let Err(e) = exports.start(job).await {
        tracing::warn!(error = %e, "bulk export queued, not started");
    }
    let mut response =
        outcome(StatusCode::ACCEPTED, "information", "informational", "The export has started.").into_response();
    if let Ok(location) = HeaderValue::from_str(&status_url(&kick_off.origin, job)) {
        response.headers_mut().insert(header::CONTENT_LOCATION, location);
    }
    Ok(response)
}

/// What a kick-off asks, checked: the bucket is there, `Prefer: respond-async`, the
/// parameters, and the scopes each type needs.
fn check<'s>(
    state: &'s AppState,
    principal: &FhirPrincipal,
    respond_async: bool,
    asked: Result<Asked, ApiError>,
    request: &str,
) -> Result<(&'s Exports, Asked), ApiError> {
    let exports = exports(state)?;
    if !respond_async {
        return Err(ApiError::invalid_field("Prefer", "must be respond-async: an export runs in the background"));
    }
    let asked = asked?;
    // The population is patients, whatever the types: an app needs Patient read, and
    // Practitioner read to have the doctors.
    for kind in &asked.types {
        let resource = if kind == "Practitioner" { Resource::Practitioner } else { Resource::Patient };
        principal.permit(resource, Permission::Read)?;
    }
    if request.len() > 2000 {
        return Err(ApiError::invalid("The kick-off URL is longer than 2,000 characters."));
    }
    Ok((exports, asked))
}

fn no_group() -> ApiError {
    ApiError::NotFound("No such Group.".into())
}

fn group_statement(principal: &impl Principal, group: Uuid) -> Statement {
    Statement::new(&GROUP)
        .acting_as(principal)
        .in_organization(Membership::Of("group"))
        .bind("group", group)
        .reads(&[("member_role", Type::TEXT)])
}

fn start_statement(
    principal: &impl Principal,
    meta: &RequestMeta,
    group: Option<Uuid>,
    backend_organization: Option<Uuid>,
    asked: &Asked,
    request: String,
) -> Statement {
    Statement::new(&START)
        .acting_as(principal)
        .in_organization(Membership::Of("group"))
        .bind("group", group)
        .bind("backend_organization", backend_organization)
        .bind("role", principal.caller().role.as_str())
        .bind("types", asked.types.clone())
        .bind("since", asked.since)
        .bind("request", request)
        .audit(
            meta,
            Audit::new("export.started", "export")
                .resource_from("(SELECT id FROM created)")
                .organization_from(":group::uuid")
                .outcome(Verdict::DoneElseDenied("created")),
        )
        .reads(&[("id", Type::UUID), ("member_role", Type::TEXT), ("allowed", Type::BOOL)])
}

pub fn statements() -> Vec<Statement> {
    let (principal, meta) =
        (shared::auth::RoleScoped::placeholder(shared::auth::Role::User), RequestMeta::placeholder());
    let asked = Asked { types: vec!["Patient".into()], since: None };
    vec![
        start_statement(&principal, &meta, None, None, &asked, String::new()),
        group_statement(&principal, Uuid::nil()),
    ]
}
