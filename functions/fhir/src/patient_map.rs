//! The Patient mapping, both ways: a stored patient (and its doctors) as a FHIR Patient,
//! and a FHIR Patient as the fields we store - refusing, with the element's FHIRPath,
//! anything we could not store faithfully (a second name, a second phone, a name whose
//! text and parts disagree, a partial birth date).

use serde_json::Value;
use shared::ApiError;
use shared::error::FieldError;
use shared::records::identifier::{MAX_IDENTIFIERS, PatientIdentifier};
use shared::records::patient::Patient;
use shared::validate::{self, Lines, Parser};
use time::Date;
use uuid::Uuid;

use crate::resources::{
    Address, ContactPoint, ContactSystem, Gender, HumanName, Identifier, Meta, PatientInput, PatientResource,
    PatientType, Reference,
};

pub const PRACTITIONER_PREFIX: &str = "Practitioner/";
pub const ORGANIZATION_PREFIX: &str = "Organization/";

/// What a Patient body sets. `notes` are not part of the resource, so an update leaves
/// them as they are.
#[derive(Debug)]
pub struct PatientFields {
    /// The body's `id`: ignored on create, checked against the URL on update.
    pub id: Option<String>,
    pub name: String,
    pub date_of_birth: Date,
    pub gender: Gender,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub address: Option<String>,
    pub identifiers: Vec<PatientIdentifier>,
    /// The doctors the body lists, when it lists any (`None`: the element was absent).
    pub practitioners: Option<Vec<Uuid>>,
    /// `managingOrganization`'s id (`None`: the element was absent).
    pub organization: Option<Uuid>,
}

pub fn to_resource(patient: Patient, practitioners: Vec<Uuid>) -> PatientResource {
    PatientResource {
        resource_type: PatientType::Patient,
        id: patient.id,
        meta: Meta::new(patient.version, patient.updated_at).restricted(patient.restricted),
        identifier: patient
            .identifiers
            .into_iter()
            .map(|i| Identifier { system: Some(i.system), value: Some(i.value) })
            .collect(),
        name: vec![human_name(patient.name)],
        telecom: ContactPoint::of_record(patient.phone, patient.email),
        gender: Gender::from_stored(&patient.gender),
        birth_date: patient.date_of_birth.to_string(),
        address: patient.address.map(|text| Address { text }).into_iter().collect(),
        general_practitioner: practitioners
            .into_iter()
            .map(|id| Reference { reference: format!("{PRACTITIONER_PREFIX}{id}") })
            .collect(),
        managing_organization: patient
            .organization_id
            .map(|id| Reference { reference: format!("{ORGANIZATION_PREFIX}{id}") }),
    }
}

/// `text`, plus `given` and `family` when splitting at the last space gives them back
/// exactly (single spaces between two or more words), so a client that reads the parts
/// and joins them gets the name we hold.
pub fn human_name(text: String) -> HumanName {
    let words: Vec<&str> = text.split(' ').collect();
    let splits = words.len() >= 2 && words.iter().all(|w| !w.is_empty() && !w.contains(char::is_whitespace));
    match words.split_last() {
        Some((family, given)) if splits => HumanName {
            family: Some(family.to_string()),
            given: given.iter().map(|w| w.to_string()).collect(),
            text: Some(text),
        },
        _ => HumanName { text: Some(text), ..HumanName::default() },
    }
}

/// Every problem with the body at once, each named by its FHIRPath.
pub fn from_input(input: PatientInput) -> Result<PatientFields, ApiError> {
    let mut problems = Problems::default();
    let identifiers = problems.identifiers(input.identifier);
    let name = problems.name(input.name);
    let date_of_birth = match input.birth_date {
        None => problems.add("Patient.birthDate", "is required"),
        Some(raw) => problems.check("Patient.birthDate", validate::date_of_birth(), raw),
    };
    let (phone, email) = problems.telecom(input.telecom);
    let address = problems.address(input.address);
    let practitioners = input.general_practitioner.map(|refs| problems.practitioners(refs));
    let organization = input.managing_organization.and_then(|r| problems.organization(r));
    if !problems.0.is_empty() {
        return Err(ApiError::Invalid { message: "The Patient cannot be stored as sent.".into(), errors: problems.0 });
    }
    let (Some(name), Some(date_of_birth)) = (name, date_of_birth) else {
        return Err(ApiError::internal("a required Patient element passed validation but has no value"));
    };
    Ok(PatientFields {
        id: input.id,
        name,
        date_of_birth,
        gender: input.gender.unwrap_or(Gender::Unknown),
        phone,
        email,
        address,
        identifiers,
        practitioners,
        organization,
    })
}

#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add<T>(&mut self, path: &str, message: impl Into<String>) -> Option<T> {
        self.0.push(FieldError::new(path, message));
        None
    }

    fn check<T>(&mut self, path: &str, parse: Parser<T>, value: String) -> Option<T> {
        parse(Value::String(value)).map_err(|message| self.0.push(FieldError::new(path, message))).ok()
    }

    fn identifiers(&mut self, sent: Vec<Identifier>) -> Vec<PatientIdentifier> {
        if sent.len() > MAX_IDENTIFIERS {
            self.add::<()>("Patient.identifier", format!("at most {MAX_IDENTIFIERS} can be stored"));
        }
        let mut kept = Vec::with_capacity(sent.len());
        for (i, Identifier { system, value }) in sent.into_iter().enumerate() {
            let path = format!("Patient.identifier[{i}]");
            let (Some(system), Some(value)) = (system, value) else {
                self.0.push(FieldError::new(path, "needs both system and value"));
                continue;
            };
            match PatientIdentifier::new(&system, &value) {
                Ok(pair) if kept.contains(&pair) => self.0.push(FieldError::new(path, "lists an identifier twice")),
                Ok(pair) => kept.push(pair),
                Err((part, problem)) => self.0.push(FieldError::new(format!("{path}.{part}"), problem)),
            }
        }
        kept
    }

    /// One name: `text`, or else `given` and `family` joined with spaces. When both are
    /// sent they must agree, so a read-modify-write that changes only `text` is refused
    /// rather than half applied.
    fn name(&mut self, names: Vec<HumanName>) -> Option<String> {
        let mut names = names.into_iter();
        let Some(name) = names.next() else { return self.add("Patient.name", "is required") };
        if names.next().is_some() {
            return self.add("Patient.name[1]", "only one name can be stored");
        }
        let parts: Vec<&str> =
            name.given.iter().map(String::as_str).chain(name.family.as_deref()).map(str::trim).collect();
        let joined = parts.iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>().join(" ");
        match name.text {
            Some(text) if !joined.is_empty() && squeeze(&text) != joined => self.add(
                "Patient.name[0]",
                "text and given/family name different people; send text alone, or parts that join to it",
            ),
            Some(text) => self.check("Patient.name[0].text", validate::text(1..=100, Lines::Single), text),
            None if joined.is_empty() => self.add("Patient.name[0]", "needs text, or given and family names"),
            None => self.check("Patient.name[0]", validate::text(1..=100, Lines::Single), joined),
        }
    }

    fn telecom(&mut self, telecom: Vec<ContactPoint>) -> (Option<String>, Option<String>) {
        let (mut phone, mut email) = (None, None);
        for (i, contact) in telecom.into_iter().enumerate() {
            let path = format!("Patient.telecom[{i}]");
            let (slot, parse, kind) = match contact.system {
                ContactSystem::Phone => (&mut phone, validate::phone(), "phone"),
                ContactSystem::Email => (&mut email, validate::email(), "email"),
            };
            if slot.is_some() {
                self.0.push(FieldError::new(path, format!("only one {kind} can be stored")));
                continue;
            }
            let parsed = parse(Value::String(contact.value))
                .map_err(|m| self.0.push(FieldError::new(format!("{path}.value"), m)));
            *slot = Some(parsed.ok());
        }
        (phone.flatten(), email.flatten())
    }

    fn address(&mut self, addresses: Vec<Address>) -> Option<String> {
        let mut addresses = addresses.into_iter();
        let address = addresses.next()?;
        if addresses.next().is_some() {
            return self.add("Patient.address[1]", "only one address can be stored");
        }
        self.check("Patient.address[0].text", validate::text(1..=500, Lines::Multi), address.text)
    }

    fn organization(&mut self, Reference { reference }: Reference) -> Option<Uuid> {
        match reference.strip_prefix(ORGANIZATION_PREFIX).and_then(|id| id.parse::<Uuid>().ok()) {
            None => self.add("Patient.managingOrganization.reference", "must be Organization/<id>"),
            some => some,
        }
    }

    fn practitioners(&mut self, references: Vec<Reference>) -> Vec<Uuid> {
        let mut ids = Vec::with_capacity(references.len());
        for (i, Reference { reference }) in references.into_iter().enumerate() {
            let path = format!("Patient.generalPractitioner[{i}].reference");
            match reference.strip_prefix(PRACTITIONER_PREFIX).and_then(|id| id.parse::<Uuid>().ok()) {
                None => self.0.push(FieldError::new(path, "must be Practitioner/<id>")),
                Some(id) if ids.contains(&id) => self.0.push(FieldError::new(path, "lists a practitioner twice")),
                Some(id) => ids.push(id),
            }
        }
        ids
    }
}

/// Whitespace runs as single spaces, ends trimmed: how a name's parts are compared.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: serde_json::Value) -> Result<PatientFields, Vec<(String, String)>> {
        let input: PatientInput = serde_json::from_value(body).expect("typed parse");
        from_input(input).map_err(|e| match e {
            ApiError::Invalid { errors, .. } => errors.into_iter().map(|e| (e.field, e.message)).collect(),
            other => panic!("expected invalid, got {other:?}"),
        })
    }

    fn faults(body: serde_json::Value) -> Vec<String> {
        parse(body).expect_err("should be refused").into_iter().map(|(path, _)| path).collect()
    }

    #[test]
    fn names_split_only_when_the_parts_give_the_text_back() {
        let n = human_name("Ada King Lovelace".into());
        assert_eq!((n.family.as_deref(), n.given), (Some("Lovelace"), vec!["Ada".to_string(), "King".into()]));
        for whole in ["Cher", "Ada  Lovelace", "Ada\tLovelace"] {
            let n = human_name(whole.into());
            assert_eq!((n.text.as_deref(), n.family, n.given.len()), (Some(whole), None, 0), "{whole}");
        }
    }

    #[test]
    fn a_name_is_text_or_its_parts_and_they_must_agree() {
        let base = serde_json::json!({"resourceType": "Patient", "birthDate": "1990-01-01"});
        let with = |name: serde_json::Value| {
            let mut b = base.clone();
            b["name"] = name;
            b
        };
        assert_eq!(
            parse(with(serde_json::json!([{"given": ["Ada"], "family": "Lovelace"}]))).unwrap().name,
            "Ada Lovelace"
        );
        let agreeing = serde_json::json!([{"text": "Ada  Lovelace", "given": ["Ada"], "family": "Lovelace"}]);
        assert_eq!(parse(with(agreeing)).unwrap().name, "Ada  Lovelace");
        assert_eq!(faults(with(serde_json::json!([{"text": "Ada Byron", "family": "Lovelace"}]))), ["Patient.name[0]"]);
        assert_eq!(faults(with(serde_json::json!([{"text": "A"}, {"text": "B"}]))), ["Patient.name[1]"]);
        assert_eq!(faults(with(serde_json::json!([]))), ["Patient.name"]);
        assert_eq!(faults(with(serde_json::json!([{"given": [" "]}]))), ["Patient.name[0]"]);
    }

    #[test]
    fn every_fault_is_named_at_once() {
        let body = serde_json::json!({
            "resourceType": "Patient",
            "name": [{"text": "Ada"}],
            "birthDate": "1990",
            "telecom": [{"system": "phone", "value": "12"}, {"system": "email", "value": "a@b.co"},
                        {"system": "email", "value": "c@d.co"}],
            "address": [{"text": "1 Way"}, {"text": "2 Way"}],
            "generalPractitioner": [{"reference": "Doctor/1"}],
        });
        assert_eq!(
            faults(body),
            [
                "Patient.birthDate",
                "Patient.telecom[0].value",
                "Patient.telecom[2]",
                "Patient.address[1]",
                "Patient.generalPractitioner[0].reference"
            ]
        );
    }

    #[test]
    fn practitioners_are_ids_listed_once() {
        let id = Uuid::now_v7();
        let body = serde_json::json!({"resourceType": "Patient", "name": [{"text": "Ada"}], "birthDate": "1990-01-01",
            "generalPractitioner": [{"reference": format!("Practitioner/{id}")}, {"reference": format!("Practitioner/{id}")}]});
        assert_eq!(faults(body), ["Patient.generalPractitioner[1].reference"]);
    }
}
