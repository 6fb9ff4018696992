//! Practitioner: the doctors of the shared directory, read and searched through the
//! doctors function's own statements (any signed-in user reads the directory).

use axum::extract::State;
use axum::http::Uri;
use doctors::DoctorFilter;
use shared::auth::scopes::{Permission, Resource};
use shared::query::Query;
use shared::records::FromRow;
use shared::records::doctor::Doctor;
use shared::{ApiError, AppState};

use crate::patient_map::human_name;
use crate::resources::{Bundle, CodeableConcept, ContactPoint, Identifier, Meta, PractitionerResource, Qualification};
use crate::search::{self, Listing};
use crate::smart::FhirPrincipal;
use crate::wire::{Fhir, FhirId, Origin};

/// Where licence numbers come from: this system's own naming of them.
const LICENSE_SYSTEM: &str = "urn:healthcare-api:license";

pub(crate) fn to_resource(doctor: Doctor) -> PractitionerResource {
    PractitionerResource {
        resource_type: "Practitioner",
        id: doctor.id,
        meta: Meta::new(doctor.version, doctor.updated_at),
        identifier: doctor
            .license_number
            .map(|value| Identifier { system: Some(LICENSE_SYSTEM.to_owned()), value: Some(value) })
            .into_iter()
            .collect(),
        name: vec![human_name(doctor.name)],
        telecom: ContactPoint::of_record(doctor.phone, doctor.email),
        qualification: vec![Qualification { code: CodeableConcept { text: doctor.specialization } }],
    }
}

pub async fn read(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    FhirId(id): FhirId,
) -> Result<Fhir<PractitionerResource>, ApiError> {
    let principal = principal.permit(Resource::Practitioner, Permission::Read)?;
    let row = doctors::read_statement(&principal, id)
        .query_opt(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such Practitioner.".into()))?;
    let doctor = Doctor::from_row(&row)?;
    let (version, updated_at) = (doctor.version, doctor.updated_at);
    Ok(Fhir::ok(to_resource(doctor)).versioned(version, updated_at))
}

pub async fn search(
    State(state): State<AppState>,
    principal: FhirPrincipal,
    Origin(origin): Origin,
    uri: Uri,
    mut query: Query,
) -> Result<Fhir<Bundle<PractitionerResource>>, ApiError> {
    let principal = principal.permit(Resource::Practitioner, Permission::Search)?;
    let page = search::page(&mut query);
    let name = query.contains("name", 100);
    let ids = query.take("_id").map(|list| search::ids(&mut query, &list));
    let identifier = query.take("identifier").map(|raw| search::criterion(&raw));
    query.finish()?;
    // Licence numbers are the directory's only identifiers, in our system.
    // `system|` alone: every doctor with a licence number.
    let (license_number, licensed) = match identifier {
        None => (None, false),
        Some((system, value)) if system.as_deref().is_none_or(|s| s == LICENSE_SYSTEM) => (value, true),
        Some(_) => {
            return Ok(Fhir::ok(Listing { origin: &origin, uri: &uri, resource_type: "Practitioner" }.bundle(
                &page,
                Vec::new(),
                |p: &PractitionerResource| p.id,
            )));
        }
    };
    let filter = DoctorFilter { name, ids, license_number, licensed, ..DoctorFilter::default() };
    let rows = doctors::list_statement(&principal, &page, filter).query(&state.db).await?;
    let practitioners = rows.iter().map(|row| Doctor::from_row(row).map(to_resource)).collect::<Result<Vec<_>, _>>()?;
    let set = Listing { origin: &origin, uri: &uri, resource_type: "Practitioner" };
    Ok(Fhir::ok(set.bundle(&page, practitioners, |p| p.id)))
}
