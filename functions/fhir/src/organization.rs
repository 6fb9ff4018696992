//! Organization: the caller's organizations, read and searched through the organizations
//! function's own statements (a member reads its organization; anyone else finds none).

use axum::extract::State;
use axum::http::Uri;
use shared::auth::Principal;
use shared::auth::scopes::{Permission, Resource};
use shared::query::Query;
use shared::records::FromRow;
use shared::records::organization::Organization;
use shared::{ApiError, AppState};

use crate::resources::{Bundle, Meta, OrganizationResource};
use crate::search::{self, Listing};
use crate::smart::FhirPrincipal;
use crate::wire::{Fhir, FhirId, Origin};

fn to_resource(organization: Organization) -> OrganizationResource {
    OrganizationResource {
        resource_type: "Organization",
        id: organization.id,
        meta: Meta::new(organization.version, organization.updated_at),
        active: true,
        name: organization.name,
    }
}

pub async fn read(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    FhirId(id): FhirId,
) -> Result<Fhir<OrganizationResource>, ApiError> {
    let principal = principal.permit(Resource::Organization, Permission::Read)?;
    let row = orgs::read_statement(principal.caller(), id)
        .query_opt(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such Organization.".into()))?;
    let organization = Organization::from_row(&row)?;
    let (version, updated_at) = (organization.version, organization.updated_at);
    Ok(Fhir::ok(to_resource(organization)).versioned(version, updated_at))
}

pub async fn search(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    Origin(origin): Origin,
    uri: Uri,
    mut query: Query,
) -> Result<Fhir<Bundle<OrganizationResource>>, ApiError> {
    let principal = principal.permit(Resource::Organization, Permission::Search)?;
    let page = search::page(&mut query);
    query.finish()?;
    let rows = orgs::list_statement(principal.caller(), &page).query(&state.db).await?;
    let organizations =
        rows.iter().map(|row| Organization::from_row(row).map(to_resource)).collect::<Result<Vec<_>, _>>()?;
    let set = Listing { origin: &origin, uri: &uri, resource_type: "Organization" };
    Ok(Fhir::ok(set.bundle(&page, organizations, |o| o.id)))
}
