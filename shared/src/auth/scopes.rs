//! SMART scopes (App Launch 2.x, with 1.0's forms): what an app may be granted and what
//! a grant lets a request do. A resource scope is a context (`patient/`, `user/`,
//! `system/`), a resource type (`Patient`, `Practitioner`, `Organization`, or `*`) and
//! permissions: v2's `c r u d s` (in that order, any non-empty subset) or v1's `read`
//! (= `rs`), `write` (= `cud`) and `*` (all five). Beside those: `openid`, `fhirUser`,
//! `launch/patient`, `offline_access`, `online_access`. Anything else, a v2 scope with
//! query parameters included, is malformed (`invalid_scope`).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Context {
    Patient,
    User,
    System,
}

impl Context {
    fn as_str(self) -> &'static str {
        match self {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        }
    }
}

/// The resource types a scope can name; `None` in a scope is `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    Patient,
    Practitioner,
    Organization,
}

impl Resource {
    fn parse(text: &str) -> Option<Option<Self>> {
        match text {
            "*" => Some(None),
            "Patient" => Some(Some(Resource::Patient)),
            "Practitioner" => Some(Some(Resource::Practitioner)),
            "Organization" => Some(Some(Resource::Organization)),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Resource::Patient => "Patient",
            Resource::Practitioner => "Practitioner",
            Resource::Organization => "Organization",
        }
    }
}

/// One FHIR interaction's permission letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Permission {
    const LETTERS: [(char, Permission); 5] = [
        ('c', Permission::Create),
        ('r', Permission::Read),
        ('u', Permission::Update),
        ('d', Permission::Delete),
        ('s', Permission::Search),
    ];

    fn bit(self) -> u8 {
        1 << Self::LETTERS.iter().position(|(_, p)| *p == self).unwrap_or(0)
    }
}

/// A resource scope, normalised to v2 permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceScope {
    pub context: Context,
    pub resource: Option<Resource>,
    permissions: u8,
}

/// A word of a scope string that has the shape of a resource scope.
enum Parsed {
    Served(ResourceScope),
    /// Well-formed, but for a FHIR resource type we do not serve (`system/Observation.read`).
    Unserved(String),
}

impl ResourceScope {
    fn parse(text: &str) -> Result<Option<Parsed>, String> {
        let Some((context, rest)) = text.split_once('/') else { return Ok(None) };
        let context = match context {
            "patient" => Context::Patient,
            "user" => Context::User,
            "system" => Context::System,
            _ => return Ok(None),
        };
        let malformed = || format!("{text:?} is not a SMART scope (context/Resource.permissions)");
        let (resource, permissions) = rest.split_once('.').ok_or_else(malformed)?;
        let permissions = match permissions {
            "read" => Permission::Read.bit() | Permission::Search.bit(),
            "write" => Permission::Create.bit() | Permission::Update.bit() | Permission::Delete.bit(),
            "*" => 0b11111,
            letters => v2_permissions(letters).ok_or_else(malformed)?,
        };
        match Resource::parse(resource) {
            Some(resource) => Ok(Some(Parsed::Served(Self { context, resource, permissions }))),
            None if is_resource_type(resource) => {
                Ok(Some(Parsed::Unserved(format!("{text:?} names a resource type we do not serve"))))
            }
            None => Err(malformed()),
        }
    }

    /// Grants everything `other` does.
    fn covers(&self, other: &ResourceScope) -> bool {
        self.context == other.context
            && (self.resource.is_none() || self.resource == other.resource)
            && other.permissions & !self.permissions == 0
    }

    /// "Read, search and update", for the consent page.
    pub fn permissions_in_words(&self) -> String {
        let words: Vec<&str> = ["Create", "Read", "Update", "Delete", "Search"]
            .iter()
            .enumerate()
            .filter(|(i, _)| self.permissions & (1 << i) != 0)
            .map(|(_, w)| *w)
            .collect();
        match words.as_slice() {
            [] => String::new(),
            [one] => (*one).to_owned(),
            [rest @ .., last] => {
                let rest: Vec<String> = rest
                    .iter()
                    .enumerate()
                    .map(|(i, w)| if i == 0 { (*w).to_owned() } else { w.to_lowercase() })
                    .collect();
                format!("{} and {}", rest.join(", "), last.to_lowercase())
            }
        }
    }

    fn grants(&self, resource: Resource, permission: Permission) -> bool {
        self.resource.is_none_or(|r| r == resource) && self.permissions & permission.bit() != 0
    }
}

/// FHIR's resource type names: a capital letter, then letters and digits.
fn is_resource_type(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase()) && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `cruds` letters in order, each at most once.
fn v2_permissions(letters: &str) -> Option<u8> {
    let mut bits = 0u8;
    let mut next = 0;
    for letter in letters.chars() {
        let offset = Permission::LETTERS[next..].iter().position(|(l, _)| *l == letter)?;
        bits |= 1 << (next + offset);
        next += offset + 1;
    }
    (bits != 0).then_some(bits)
}

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resource = self.resource.map_or("*", Resource::as_str);
        let letters: String = Permission::LETTERS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.permissions & (1 << i) != 0)
            .map(|(_, (l, _))| *l)
            .collect();
        write!(f, "{}/{resource}.{letters}", self.context.as_str())
    }
}

/// The scopes that are not about resources.
const OTHER_SCOPES: [&str; 5] = ["openid", "fhirUser", "launch/patient", "offline_access", "online_access"];

/// A parsed scope string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    resources: Vec<ResourceScope>,
    /// The other scopes present, as written.
    other: Vec<&'static str>,
}

impl Scopes {
    /// Space-separated scopes; malformed ones, those for a resource type we do not
    /// serve (an app's registration names only what it may be granted here) and an
    /// empty string are an error naming the first.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_with(text, false)
    }

    /// The scopes a request asks for (authorize, token). SMART lets a server grant
    /// fewer than asked, and clients ask for every type they know (smart-fetch asks
    /// `system/<Type>.read` for 21 types, whatever it exports): a well-formed scope for
    /// a type we do not serve is left out of the grant, not refused. Malformed ones
    /// still are.
    pub fn parse_requested(text: &str) -> Result<Self, String> {
        Self::parse_with(text, true)
    }

    fn parse_with(text: &str, skip_unserved: bool) -> Result<Self, String> {
        let mut scopes = Scopes::default();
        let mut asked = false;
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            if let Some(other) = OTHER_SCOPES.iter().find(|o| **o == word) {
                if !scopes.other.contains(other) {
                    scopes.other.push(other);
                }
                continue;
            }
            asked = true;
            let resource = match ResourceScope::parse(word)? {
                Some(Parsed::Served(resource)) => resource,
                Some(Parsed::Unserved(_)) if skip_unserved => continue,
                Some(Parsed::Unserved(refused)) => return Err(refused),
                None => return Err(format!("{word:?} is not a scope we know")),
            };
            if !scopes.resources.contains(&resource) {
                scopes.resources.push(resource);
            }
        }
        if scopes.resources.is_empty() && scopes.other.is_empty() {
            return Err(match asked {
                true => "none of the scopes asked for names a resource type we serve".into(),
                false => "no scope was given".into(),
            });
        }
        Ok(scopes)
    }

    pub fn has(&self, scope: &str) -> bool {
        self.other.contains(&scope)
    }

    pub fn resources(&self) -> &[ResourceScope] {
        &self.resources
    }

    /// What of `self` (requested) `allowed` (the app's registration) covers: resource
    /// scopes it does not cover entirely, and other scopes it lacks, are left out.
    pub fn within(&self, allowed: &Scopes) -> Scopes {
        Scopes {
            resources: self
                .resources
                .iter()
                .filter(|r| allowed.resources.iter().any(|a| a.covers(r)))
                .copied()
                .collect(),
            other: self.other.iter().filter(|o| allowed.other.contains(o)).copied().collect(),
        }
    }

    /// Leaves out the resource scopes of these contexts.
    pub fn without(mut self, contexts: &[Context]) -> Scopes {
        self.resources.retain(|r| !contexts.contains(&r.context));
        self
    }

    /// Leaves out one of the other scopes.
    pub fn without_scope(mut self, scope: &str) -> Scopes {
        self.other.retain(|o| *o != scope);
        self
    }

    /// The contexts that grant `permission` on `resource` (none: the interaction is
    /// not granted).
    pub fn contexts_granting(&self, resource: Resource, permission: Permission) -> Vec<Context> {
        let mut contexts: Vec<Context> =
            self.resources.iter().filter(|r| r.grants(resource, permission)).map(|r| r.context).collect();
        contexts.sort_unstable();
        contexts.dedup();
        contexts
    }

    pub fn has_context(&self, context: Context) -> bool {
        self.resources.iter().any(|r| r.context == context)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> =
            self.other.iter().map(|o| o.to_string()).chain(self.resources.iter().map(|r| r.to_string())).collect();
        f.write_str(&words.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_forms_normalise_to_the_same_permissions() {
        let v1 = Scopes::parse("patient/Patient.read user/*.write system/Practitioner.*").unwrap();
        assert_eq!(v1.to_string(), "patient/Patient.rs user/*.cud system/Practitioner.cruds");
        let v2 = Scopes::parse("openid fhirUser patient/Patient.rs").unwrap();
        assert_eq!(v2.to_string(), "openid fhirUser patient/Patient.rs");
    }

    #[test]
    fn malformed_scopes_are_named() {
        for bad in [
            "patient/Patient.sr",
            "patient/Patient.rr",
            "patient/Observation.rs",
            "user/Patient",
            "patient/Patient.x",
            "patient/Patient.rs?category=x",
            "launch",
            "",
            "  ",
        ] {
            assert!(Scopes::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_request_may_ask_for_types_we_do_not_serve_and_gets_the_rest() {
        let asked = "system/Observation.read system/Patient.read system/Binary.rs launch/patient";
        assert_eq!(Scopes::parse_requested(asked).unwrap().to_string(), "launch/patient system/Patient.rs");
        assert!(Scopes::parse(asked).is_err(), "a registration names only types we serve");
        assert!(Scopes::parse_requested("system/Observation.read").is_err(), "nothing left to grant");
        for malformed in ["system/observation.read", "system/Observation.rr", "system/Obs-x.read"] {
            assert!(Scopes::parse_requested(malformed).is_err(), "{malformed:?} was accepted");
        }
    }

    #[test]
    fn a_grant_is_what_the_registration_covers() {
        let allowed = Scopes::parse("openid fhirUser user/Patient.rs patient/*.cruds").unwrap();
        let asked =
            Scopes::parse("openid offline_access user/Patient.cruds user/Patient.r patient/Patient.rs system/*.rs")
                .unwrap();
        assert_eq!(asked.within(&allowed).to_string(), "openid user/Patient.r patient/Patient.rs");
    }

    #[test]
    fn interactions_are_granted_by_context() {
        let scopes = Scopes::parse("patient/Patient.r user/Patient.s user/Practitioner.rs").unwrap();
        assert_eq!(scopes.contexts_granting(Resource::Patient, Permission::Read), [Context::Patient]);
        assert_eq!(scopes.contexts_granting(Resource::Patient, Permission::Search), [Context::User]);
        assert!(scopes.contexts_granting(Resource::Patient, Permission::Update).is_empty());
        assert!(scopes.contexts_granting(Resource::Organization, Permission::Read).is_empty());
    }
}
