//! `GET /api/fhir/metadata`: the CapabilityStatement, which tells a FHIR client what this
//! server does. It needs no token (FHIR clients read it before signing in) and touches
//! no database. It is written from the same constants the router and the search
//! handlers use, so it cannot promise an interaction or parameter they do not serve.

use serde::Serialize;

use crate::wire::{Fhir, Origin};

/// The day this statement last changed (FHIR requires a `date`).
const PUBLISHED: &str = "2026-12-02";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityStatement {
    resource_type: &'static str,
    status: &'static str,
    date: &'static str,
    kind: &'static str,
    software: Software,
    /// R4's cpb-14: a statement of `kind: instance` describes an installation.
    implementation: Implementation,
    fhir_version: &'static str,
    format: &'static [&'static str],
    rest: [Rest; 1],
}

#[derive(Serialize)]
struct Software {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Implementation {
    description: &'static str,
    url: String,
}

#[derive(Serialize)]
struct Rest {
    mode: &'static str,
    documentation: &'static str,
    security: Security,
    resource: [ResourceCapability; 3],
}

/// SMART's security block: the service, and where to authorize and get tokens.
#[derive(Serialize)]
struct Security {
    extension: [OauthUris; 1],
    service: [CodeableConcept; 1],
    description: &'static str,
}

#[derive(Serialize)]
struct OauthUris {
    url: &'static str,
    extension: [UriExtension; 2],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UriExtension {
    url: &'static str,
    value_uri: String,
}

#[derive(Serialize)]
struct CodeableConcept {
    coding: [Coding; 1],
    text: &'static str,
}

#[derive(Serialize)]
struct Coding {
    system: &'static str,
    code: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceCapability {
    #[serde(rename = "type")]
    kind: &'static str,
    interaction: Vec<Interaction>,
    versioning: &'static str,
    read_history: bool,
    update_create: bool,
    conditional_create: bool,
    conditional_update: bool,
    conditional_delete: &'static str,
    /// FHIR allows no empty arrays: a type searched by paging alone lists none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    search_param: Vec<SearchParam>,
}

#[derive(Serialize)]
struct Interaction {
    code: &'static str,
}

#[derive(Serialize)]
struct SearchParam {
    name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    documentation: &'static str,
}

/// A search parameter a handler accepts: its name, FHIR type and meaning.
pub type Param = (&'static str, &'static str, &'static str);

pub const PATIENT_SEARCH: &[Param] = &[
    ("name", "string", "Part of the name, any case."),
    ("birthdate", "date", "The exact date of birth, YYYY-MM-DD."),
    ("gender", "token", "male, female, other or unknown."),
];
pub const PRACTITIONER_SEARCH: &[Param] = &[("name", "string", "Part of the name, any case.")];
/// The caller's organizations are few: paging only.
pub const ORGANIZATION_SEARCH: &[Param] = &[];

fn resource(kind: &'static str, interactions: &[&'static str], params: &[Param]) -> ResourceCapability {
    ResourceCapability {
        kind,
        interaction: interactions.iter().map(|&code| Interaction { code }).collect(),
        // ETags and If-Match carry versions, but old versions are not kept.
        versioning: "versioned-update",
        read_history: false,
        update_create: false,
        conditional_create: false,
        conditional_update: false,
        conditional_delete: "not-supported",
        search_param: params
            .iter()
            .map(|&(name, kind, documentation)| SearchParam { name, kind, documentation })
            .collect(),
    }
}

pub async fn metadata(Origin(origin): Origin) -> Fhir<CapabilityStatement> {
    let oauth = |endpoint: &str| format!("{origin}/api/auth/oauth/{endpoint}");
    Fhir::ok(CapabilityStatement {
        resource_type: "CapabilityStatement",
        status: "active",
        date: PUBLISHED,
        kind: "instance",
        software: Software { name: "healthcare-api", version: env!("CARGO_PKG_VERSION") },
        implementation: Implementation {
            description: "Healthcare records API: patients, doctors and clinics, on AWS Lambda",
            url: format!("{origin}/api/fhir"),
        },
        fhir_version: "4.0.1",
        format: &["json", "application/fhir+json"],
        rest: [Rest {
            mode: "server",
            documentation: "Patients, the practitioners (doctors) of the shared directory, and the caller's \
                            organizations. Search results are paged with _count (1-100, default 20); follow the \
                            Bundle's next link.",
            security: Security {
                extension: [OauthUris {
                    url: "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    extension: [
                        UriExtension { url: "authorize", value_uri: oauth("authorize") },
                        UriExtension { url: "token", value_uri: oauth("token") },
                    ],
                }],
                service: [CodeableConcept {
                    coding: [Coding {
                        system: "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        code: "SMART-on-FHIR",
                    }],
                    text: "OAuth2 using SMART-on-FHIR profile (see .well-known/smart-configuration)",
                }],
                description: "Send Authorization: Bearer <access token>: a SMART app's (see \
                              .well-known/smart-configuration), or one from POST /api/auth/login. A user \
                              reaches the patients they created personally, those of their organizations (by \
                              role) and those of their care team; an admin reaches every patient. An app \
                              reaches what its scopes grant, within its user's reach and its organization.",
            },
            resource: [
                resource("Patient", &["read", "vread", "search-type", "create", "update", "delete"], PATIENT_SEARCH),
                resource("Practitioner", &["read", "search-type"], PRACTITIONER_SEARCH),
                resource("Organization", &["read", "search-type"], ORGANIZATION_SEARCH),
            ],
        }],
    })
}
