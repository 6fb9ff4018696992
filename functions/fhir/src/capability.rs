//! `GET /api/fhir/metadata`: the CapabilityStatement, which tells a FHIR client what this
//! server does. It needs no token (FHIR clients read it before signing in) and touches
//! no database. Its lists of interactions and search parameters are written here;
//! tests/api/fhir.rs checks each listed parameter is one the search accepts, at its type.

use serde::Serialize;

use crate::wire::{Fhir, Origin};

/// The day this statement last changed (FHIR requires a `date`).
const PUBLISHED: &str = "2026-12-07";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityStatement {
    resource_type: &'static str,
    status: &'static str,
    date: &'static str,
    kind: &'static str,
    /// FHIR Bulk Data Access: `Patient/$export` and `Group/{id}/$export`.
    instantiates: [&'static str; 1],
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
    resource: [ResourceEntry; 4],
}

/// A type served with interactions, or only through an operation (Group: its export).
#[derive(Serialize)]
#[serde(untagged)]
enum ResourceEntry {
    Served(ResourceCapability),
    Operations(OperationsOnly),
}

#[derive(Serialize)]
struct OperationsOnly {
    #[serde(rename = "type")]
    kind: &'static str,
    operation: [Operation; 1],
}

#[derive(Serialize)]
struct Operation {
    name: &'static str,
    definition: &'static str,
}

const PATIENT_EXPORT: Operation =
    Operation { name: "export", definition: "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export" };
const GROUP_EXPORT: Operation =
    Operation { name: "export", definition: "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export" };

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
    /// FHIR allows no empty arrays: a type with no `_include` lists none.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    search_include: &'static [&'static str],
    /// FHIR allows no empty arrays: a type searched by paging alone lists none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    search_param: Vec<SearchParam>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    operation: Vec<Operation>,
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
    ("_id", "token", "One id, or a comma-separated list."),
    ("identifier", "token", "system|value, value (in any system) or system| (any value of it)."),
    ("name", "string", "Part of the name, any case; repeated: each part."),
    ("family", "string", "The start of the family name (the name's last word), any case; repeated: ANDed."),
    ("given", "string", "The start of a given name (a word before the last), any case; repeated: ANDed."),
    ("birthdate", "date", "YYYY, YYYY-MM or YYYY-MM-DD, with the prefix eq (default), ne, lt, le, gt or ge."),
    ("gender", "token", "male, female, other or unknown."),
    ("_lastUpdated", "date", "A date, or a date and time with its zone, with the prefixes of birthdate."),
    ("organization", "reference", "Organization/<id>: the patients it manages."),
    ("general-practitioner", "reference", "Practitioner/<id>: the patients it is assigned to."),
];
pub const PRACTITIONER_SEARCH: &[Param] = &[
    ("_id", "token", "One id, or a comma-separated list."),
    ("name", "string", "Part of the name, any case."),
    ("identifier", "token", "The licence number: urn:healthcare-api:license|<number>, or the number."),
];
/// `_include` of a Patient search: the matches' doctors.
pub const PATIENT_INCLUDES: &[&str] = &["Patient:general-practitioner"];
/// The caller's organizations are few: paging only.
pub const ORGANIZATION_SEARCH: &[Param] = &[];

/// What a resource type offers beyond its interactions and search parameters.
#[derive(Default)]
struct Offers {
    /// Versions are kept, and read (vread, `_history`); updates honour If-Match.
    history: bool,
    /// `If-None-Exist` on create.
    conditional_create: bool,
    includes: &'static [&'static str],
    /// Operations on the type (Patient: `$export`).
    operations: Vec<Operation>,
}

fn resource(kind: &'static str, interactions: &[&'static str], params: &[Param], offers: Offers) -> ResourceEntry {
    ResourceEntry::Served(ResourceCapability {
        kind,
        interaction: interactions.iter().map(|&code| Interaction { code }).collect(),
        // Every type carries its version in meta and ETag; Patient, the one type we
        // update, also honours If-Match there (`versioned-update`).
        versioning: if offers.history { "versioned-update" } else { "versioned" },
        read_history: offers.history,
        update_create: false,
        conditional_create: offers.conditional_create,
        conditional_update: false,
        conditional_delete: "not-supported",
        search_include: offers.includes,
        search_param: params
            .iter()
            .map(|&(name, kind, documentation)| SearchParam { name, kind, documentation })
            .collect(),
        operation: offers.operations,
    })
}

pub async fn metadata(Origin(origin): Origin) -> Fhir<CapabilityStatement> {
    let oauth = |endpoint: &str| format!("{origin}/api/auth/oauth/{endpoint}");
    Fhir::ok(CapabilityStatement {
        resource_type: "CapabilityStatement",
        status: "active",
        date: PUBLISHED,
        kind: "instance",
        instantiates: ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
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
                            organizations. Search results and a patient's history are paged with _count (1-100, \
                            default 20); follow the Bundle's next link. Patient searches also take \
                            _summary=count. Create and update take Prefer: return=minimal | representation | \
                            OperationOutcome. Bulk Data export: Patient/$export (every patient the caller \
                            reaches) and Group/{organization id}/$export (an organization's, for its owners and \
                            backend apps), with Prefer: respond-async and _type (Patient, Practitioner), \
                            _since, _outputFormat.",
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
                resource(
                    "Patient",
                    &["read", "vread", "update", "delete", "history-instance", "create", "search-type"],
                    PATIENT_SEARCH,
                    Offers {
                        history: true,
                        conditional_create: true,
                        includes: PATIENT_INCLUDES,
                        operations: vec![PATIENT_EXPORT],
                    },
                ),
                resource("Practitioner", &["read", "search-type"], PRACTITIONER_SEARCH, Offers::default()),
                resource("Organization", &["read", "search-type"], ORGANIZATION_SEARCH, Offers::default()),
                ResourceEntry::Operations(OperationsOnly { kind: "Group", operation: [GROUP_EXPORT] }),
            ],
        }],
    })
}
