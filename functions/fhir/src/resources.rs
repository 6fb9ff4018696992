//! The FHIR R4 (4.0.1) shapes this function exchanges, as typed structs: only the
//! elements we map, so whatever else a client sends is refused by `deny_unknown_fields`
//! rather than dropped. Data types used both ways (HumanName, ContactPoint, Address,
//! Reference) derive both; resources we only write (Bundle, CapabilityStatement,
//! OperationOutcome) carry `&'static str` constants where FHIR fixes a value.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The `resourceType` of a Patient body: any other value is refused while parsing.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum PatientType {
    Patient,
}

/// A resource a client may send, by its `resourceType`.
pub trait Resource {
    const TYPE: &'static str;
}

impl Resource for PatientInput {
    const TYPE: &'static str = "Patient";
}

/// A Patient as a client sends it (create and update).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "a Patient resource (a JSON object)")]
pub struct PatientInput {
    /// Checked while parsing (anything but `Patient` is refused), not read after.
    #[allow(dead_code)]
    pub resource_type: PatientType,
    /// Ignored on create (FHIR: the server assigns ids); on update it must equal the URL's.
    pub id: Option<String>,
    /// Accepted and ignored: the server assigns `meta`.
    #[allow(dead_code)]
    pub meta: Option<IgnoredAny>,
    #[serde(default)]
    pub identifier: Vec<Identifier>,
    #[serde(default)]
    pub name: Vec<HumanName>,
    pub gender: Option<Gender>,
    pub birth_date: Option<String>,
    #[serde(default)]
    pub telecom: Vec<ContactPoint>,
    #[serde(default)]
    pub address: Vec<Address>,
    /// `None` when absent: only a present list is compared with the patient's doctors.
    pub general_practitioner: Option<Vec<Reference>>,
    /// Sets the organization on create; on update it must name the current one.
    pub managing_organization: Option<Reference>,
}

/// A Patient as we answer with it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientResource {
    pub resource_type: PatientType,
    pub id: Uuid,
    pub meta: Meta,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    pub name: Vec<HumanName>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    pub gender: Gender,
    pub birth_date: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub address: Vec<Address>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub general_practitioner: Vec<Reference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managing_organization: Option<Reference>,
}

/// One of the caller's organizations (read only).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationResource {
    pub resource_type: &'static str,
    pub id: Uuid,
    pub meta: Meta,
    pub active: bool,
    pub name: String,
}

/// A doctor of the shared directory, as a Practitioner (read only).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PractitionerResource {
    pub resource_type: &'static str,
    pub id: Uuid,
    pub meta: Meta,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    pub name: Vec<HumanName>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    pub qualification: Vec<Qualification>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Our `version`, as FHIR's string.
    pub version_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_updated: OffsetDateTime,
    /// Security labels: `R` (restricted) on a restricted chart.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security: Vec<SecurityLabel>,
}

impl Meta {
    pub fn new(version: i32, updated_at: OffsetDateTime) -> Self {
        Self { version_id: version.to_string(), last_updated: updated_at, security: Vec::new() }
    }

    /// Labelled `R` (HL7 v3 Confidentiality: restricted) when `restricted`.
    pub fn restricted(mut self, restricted: bool) -> Self {
        if restricted {
            self.security.push(SecurityLabel { system: CONFIDENTIALITY, code: "R" });
        }
        self
    }
}

const CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";

/// A Coding from a security label code system.
#[derive(Debug, Serialize)]
pub struct SecurityLabel {
    pub system: &'static str,
    pub code: &'static str,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a HumanName (a JSON object)")]
pub struct HumanName {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
}

/// FHIR's administrative gender: exactly the values the records store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
    Other,
    Unknown,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
            Gender::Other => "other",
            Gender::Unknown => "unknown",
        }
    }

    /// The stored value; anything unexpected reads as `unknown` rather than failing.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "male" => Gender::Male,
            "female" => Gender::Female,
            "other" => Gender::Other,
            _ => Gender::Unknown,
        }
    }
}

/// A phone number or an email address: the two kinds of contact the records hold.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a ContactPoint (a JSON object)")]
pub struct ContactPoint {
    pub system: ContactSystem,
    pub value: String,
}

impl ContactPoint {
    /// A record's phone and email, phone first: how patients and doctors both hold them.
    pub fn of_record(phone: Option<String>, email: Option<String>) -> Vec<ContactPoint> {
        let phone = phone.map(|value| ContactPoint { system: ContactSystem::Phone, value });
        let email = email.map(|value| ContactPoint { system: ContactSystem::Email, value });
        phone.into_iter().chain(email).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactSystem {
    Phone,
    Email,
}

/// An address as one text: the records keep addresses as free text.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an Address (a JSON object)")]
pub struct Address {
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a Reference (a JSON object)")]
pub struct Reference {
    pub reference: String,
}

/// An identifier: both parts, always (a patient's are unique by the pair).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an Identifier (a JSON object)")]
pub struct Identifier {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Qualification {
    pub code: CodeableConcept,
}

#[derive(Debug, Serialize)]
pub struct CodeableConcept {
    pub text: String,
}

/// An entry of a Bundle that holds more than one resource type (a search's matches
/// and what its `_include` brought in).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AnyResource {
    Patient(Box<PatientResource>),
    Practitioner(Box<PractitionerResource>),
}

/// A searchset or history Bundle.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle<R> {
    pub resource_type: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Every match, over all pages (`_summary=count`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    pub link: Vec<BundleLink>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<BundleEntry<R>>,
}

#[derive(Debug, Serialize)]
pub struct BundleLink {
    pub relation: &'static str,
    pub url: String,
}

/// A searchset's entries carry `search`; a history's `request` and `response` (R4's
/// bdl-2, bdl-3, bdl-4: each only in its kind of Bundle).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry<R> {
    pub full_url: String,
    pub resource: R,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<EntrySearch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<EntryRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<EntryResponse>,
}

#[derive(Debug, Serialize)]
pub struct EntrySearch {
    /// `match`, or `include` for a resource an `_include` brought in.
    pub mode: &'static str,
}

/// The interaction that made a version.
#[derive(Debug, Serialize)]
pub struct EntryRequest {
    pub method: &'static str,
    pub url: String,
}

/// What that interaction answered.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryResponse {
    pub status: &'static str,
    pub etag: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    pub resource_type: &'static str,
    pub issue: Vec<Issue>,
}

#[derive(Debug, Serialize)]
pub struct Issue {
    pub severity: &'static str,
    pub code: &'static str,
    pub diagnostics: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}
