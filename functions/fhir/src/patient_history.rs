//! A patient's versions through FHIR: vread (`…/_history/{vid}`) and the instance
//! history (`…/_history`, a Bundle of type `history`, newest first, paged like
//! searches). Both run the patients function's versions statement, so REST and FHIR
//! read versions by one access decision and one audit event (`patient.history`).

use axum::extract::State;
use axum::http::Uri;
use shared::auth::scopes::{Permission, Resource};
use shared::pagination::Page;
use shared::query::Query;
use shared::records::patient::Patient;
use shared::records::{FromRow, column};
use shared::{ApiError, AppState, RequestMeta};
use tokio_postgres::Row;

use crate::patient_map::to_resource;
use crate::resources::{Bundle, PatientResource};
use crate::search::{self, Listing, Versioned};
use crate::smart::FhirPrincipal;
use crate::wire::{Fhir, FhirId, FhirVersion, Origin};

fn no_version() -> ApiError {
    ApiError::NotFound("No such Patient, or no such version of it.".into())
}

fn version(row: &Row) -> Result<Versioned, ApiError> {
    let patient = Patient::from_row(row)?;
    Ok(Versioned {
        version: patient.version,
        updated_at: patient.updated_at,
        resource: to_resource(patient, column(row, "practitioners")?),
    })
}

pub async fn vread(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    FhirVersion(id, vid): FhirVersion,
) -> Result<Fhir<PatientResource>, ApiError> {
    let principal = principal.permit(Resource::Patient, Permission::Read)?;
    // The first version at or below `vid`: it is `vid` itself, or `vid` was never made
    // (or not kept: versions before migrations/0012).
    let page = Page { limit: 1, after: Some(vid + 1) };
    let rows = patients::versions_statement(&principal, &meta, id, &page).query(&state.db).await?;
    let found = rows.first().map(version).transpose()?.filter(|v| v.version == vid).ok_or_else(no_version)?;
    Ok(Fhir::ok(found.resource).versioned(found.version, found.updated_at))
}

pub async fn history(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    meta: RequestMeta,
    Origin(origin): Origin,
    uri: Uri,
    FhirId(id): FhirId,
    mut query: Query,
) -> Result<Fhir<Bundle<PatientResource>>, ApiError> {
    let principal = principal.permit(Resource::Patient, Permission::Read)?;
    let page = search::page(&mut query);
    query.finish()?;
    let rows = patients::versions_statement(&principal, &meta, id, &page).query(&state.db).await?;
    // Append-only versions and a cursor below the current one: no row, no patient.
    if rows.is_empty() {
        return Err(ApiError::NotFound("No such Patient.".into()));
    }
    let versions = rows.iter().map(version).collect::<Result<Vec<_>, _>>()?;
    let listing = Listing { origin: &origin, uri: &uri, resource_type: "Patient" };
    Ok(Fhir::ok(listing.history(&page, id, versions)))
}
