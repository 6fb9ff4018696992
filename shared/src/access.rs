//! Who reaches a patient or an organization, and how far: the one place an access rule
//! is written. `Statement::reaching` and `Statement::in_organization` compose the pieces
//! below into a statement as CTEs (first, after the session guard), built from the rows
//! as they are now - personal ownership, memberships, the care team (mappings of a
//! doctor the caller holds) - so a removed membership or mapping bites on the very next
//! request, in the same round trip. Templates read the CTEs; they never spell a rule.
//!
//! `reach` has one row per patient the principal reaches (none: 404) - the patient's own
//! columns (`id`, `name`, ..., `notes` unstripped) - and how far:
//! `access` (how they reached it: `owner`, `org_owner`, `clinician`, `front_desk`,
//! `care_team`, `emergency` (a live grant opened the notes), `patient` (the portal
//! user), `admin`), `reads_notes`, `writes`, `writes_notes` (also: may set
//! `restricted`), `deletes`, `assigns` (add or remove doctors), and the grant behind
//! `emergency` (`emergency_access_id`). A patient reached several ways gets the union
//! of what each allows, and the strongest way as its `access`. The audit event of a
//! statement with a one-patient `reach` records `access`, its purpose, the grant and
//! the organization from it (`crate::audit`).
//!
//! `membership` has the caller's row in one organization (or all of theirs), with what
//! the role allows there: `manages` (rename, members, invitations), `creates_patients`,
//! `reads_notes` (of its unrestricted patients), `receives_patients` (a personal patient
//! moved in), `audits` (org audit, emergency reviews), `exports` (a Group bulk export).
//!
//! The rules themselves are SQL functions in migrations/0008 and 0009 - `patient_reach`
//! for one patient, `patients_reached` for a list, `patient_log_reach` for the access
//! log, `emergency_access_standing` for break-glass, the role table as `org_role_*` - so this
//! module only composes them. They are PL/pgSQL so their queries are planned once per
//! connection: composed as joins, the same probes tripled the planning of GET-by-id.
//! A function is called once per statement, never per row (Supabase's measured RLS
//! traps are a subquery or a function run per row): a list's function walks each
//! source's index under the keyset and stops at the page size, then merges. The one
//! exception is a list among a few candidates an index names (`_id`, an identifier, a
//! doctor's patients: `Patients::among`): `patient_reach` per candidate beats walking a
//! clinic's whole reach to keep a handful.

use uuid::Uuid;

/// An admin reaches every patient, and may do everything there (through /api/admin).
const ADMIN: &str = "'admin'::text AS access, true AS reads_notes, true AS writes, true AS writes_notes, \
    true AS deletes, true AS assigns, NULL::uuid AS emergency_access_id";

/// `reach` carries each patient's own columns (the functions answer them, so a
/// statement that reads patients plans a function scan, not a join back to `patients`).
const PATIENT_COLUMNS: &str = "p.id, p.owner_id, p.organization_id, p.name, p.date_of_birth, p.gender, p.phone, \
    p.email, p.address, p.notes, p.created_at, p.updated_at, p.version, p.restricted, p.identifiers";

/// What a role allows in its organization (over `m`).
const MEMBERSHIP_COLUMNS: &str = "m.organization_id, m.role, org_role_manages(m.role) AS manages, \
    org_role_reaches_patients(m.role) AS creates_patients, org_role_reads_notes(m.role, false) AS reads_notes, \
    org_role_receives_patients(m.role) AS receives_patients, org_role_audits(m.role) AS audits, \
    org_role_exports(m.role) AS exports";

/// Which patients a statement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reach {
    /// The patient whose id is bound as `:name`.
    Patient(&'static str),
    /// The patient of the mapping whose id is bound as `:name`.
    PatientOfMapping(&'static str),
    /// Every patient reached, for a list (`Patients`).
    Patients,
    /// Every patient reached among the candidates this subquery names (`Patients::among`).
    PatientsAmong(&'static str),
    /// Whether the principal may read the access log of the patient bound as `:name`:
    /// `reach` then has `id`, `organization_id`, `access`, `reads_log` and
    /// `emergency_access_id` (a row with `reads_log` false: 403; no row: 404).
    PatientLog(&'static str),
}

/// A list's reach: which organization, which names, and where the page starts and how
/// long it is.
#[derive(Debug, Clone, Default)]
pub struct Patients {
    pub organization: OrgFilter,
    /// An ILIKE pattern on the name (`Query::contains`), applied inside each source.
    pub name: Option<String>,
    /// The keyset: patients with a smaller id only.
    pub after: Option<Uuid>,
    /// The page size each source may stop at; `None` when the template filters on
    /// something the sources cannot see, so they must yield every patient reached.
    pub limit: Option<i64>,
    /// A subquery naming a few candidate ids by an index (those listed, those with an
    /// identifier): the reach is then decided for each candidate (`patient_reach`),
    /// instead of walking every patient reached to keep a few. A superset is fine: the
    /// template still applies its own filters.
    pub among: Option<&'static str>,
}

/// The `organization_id` filter of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OrgFilter {
    #[default]
    Any,
    /// Personal patients only (`organization_id=none`).
    Personal,
    Org(Uuid),
}

impl OrgFilter {
    /// The filter as the pieces bind it: the organization, and "personal only".
    pub fn params(self) -> (Option<Uuid>, bool) {
        match self {
            OrgFilter::Any => (None, false),
            OrgFilter::Personal => (None, true),
            OrgFilter::Org(id) => (Some(id), false),
        }
    }
}

/// Which memberships a statement reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Membership {
    /// The caller's in the organization bound as `:name` (none when NULL or not a member).
    Of(&'static str),
    /// All of the caller's.
    All,
}

/// How a SMART app narrows the reach of the user it acts for (`crate::auth::AppGrant`,
/// bound as `:app_organization` and `:app_patient`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppLimit {
    /// A first-party token: the user's reach as it is.
    None,
    /// An app: only its organization's patients (when it has one) and only the launch
    /// patient (when the interaction is granted by `patient/` scopes alone).
    App,
    /// A list under an app that reaches the launch patient only: that patient, if the
    /// user reaches it (a one-patient source, whatever the page).
    LaunchPatient,
}

impl Reach {
    /// A list's reach (several patients), not one patient's.
    pub fn is_list(self) -> bool {
        matches!(self, Reach::Patients | Reach::PatientsAmong(_))
    }

    /// The `reach` CTE, for a principal who reaches every patient (`all`) or not, as an
    /// app narrows it.
    pub fn cte(self, all: bool, app: AppLimit) -> String {
        let body = self.body(all, app);
        let body = match (self, app) {
            (_, AppLimit::None) => body,
            (Reach::PatientLog(_), _) => body,
            _ => format!(
                "SELECT * FROM ({body}) app_reach\n    \
                 WHERE (:app_organization::uuid IS NULL OR app_reach.organization_id = :app_organization) \
                 AND (:app_patient::uuid IS NULL OR app_reach.id = :app_patient)"
            ),
        };
        format!("reach AS (\n    {body}\n)")
    }

    fn body(self, all: bool, app: AppLimit) -> String {
        // A list's own filters, over a source that has not applied them.
        let filtered = |source: String| {
            format!(
                "SELECT * FROM ({source}) listed\n    \
                 WHERE (:reach_organization::uuid IS NULL OR listed.organization_id = :reach_organization) \
                 AND (NOT :reach_personal OR listed.organization_id IS NULL) \
                 AND (:reach_name::text IS NULL OR listed.name ILIKE :reach_name) \
                 AND (:reach_after::uuid IS NULL OR listed.id < :reach_after)"
            )
        };
        if self == Reach::Patients && app == AppLimit::LaunchPatient {
            return filtered(match all {
                true => format!("SELECT {PATIENT_COLUMNS}, {ADMIN} FROM patients p WHERE p.id = :app_patient"),
                false => "SELECT * FROM patient_reach(:actor, :app_patient)".to_owned(),
            });
        }
        match (self, all) {
            // One probe per candidate: a few, by construction (see `Patients::among`).
            (Reach::PatientsAmong(candidates), true) => {
                filtered(format!("SELECT {PATIENT_COLUMNS}, {ADMIN} FROM patients p WHERE p.id IN ({candidates})"))
            }
            (Reach::PatientsAmong(candidates), false) => filtered(format!(
                "SELECT r.* FROM (SELECT DISTINCT c.id FROM ({candidates}) c (id)) c \
                 CROSS JOIN LATERAL patient_reach(:actor, c.id) r"
            )),
            (Reach::Patient(name), true) => {
                format!("SELECT {PATIENT_COLUMNS}, {ADMIN} FROM patients p WHERE p.id = :{name}")
            }
            (Reach::PatientOfMapping(name), true) => format!(
                "SELECT {PATIENT_COLUMNS}, {ADMIN} FROM patients p \
                 WHERE p.id = (SELECT patient_id FROM mappings WHERE id = :{name})"
            ),
            // One plain SELECT, which the planner folds into the template's own join on
            // `patients`: the template's keyset and LIMIT drive the index walk.
            (Reach::Patients, true) => format!(
                "SELECT {PATIENT_COLUMNS}, {ADMIN} FROM patients p \
                 WHERE (:reach_organization::uuid IS NULL OR p.organization_id = :reach_organization) \
                 AND (NOT :reach_personal OR p.organization_id IS NULL) \
                 AND (:reach_name::text IS NULL OR p.name ILIKE :reach_name)"
            ),
            (Reach::Patient(name), false) => format!("SELECT * FROM patient_reach(:actor, :{name})"),
            (Reach::PatientOfMapping(name), false) => {
                format!("SELECT * FROM patient_reach(:actor, (SELECT patient_id FROM mappings WHERE id = :{name}))")
            }
            (Reach::PatientLog(name), true) => format!(
                "SELECT p.id, p.organization_id, 'admin'::text AS access, true AS reads_log, \
                 NULL::uuid AS emergency_access_id FROM patients p WHERE p.id = :{name}"
            ),
            (Reach::PatientLog(name), false) => format!("SELECT * FROM patient_log_reach(:actor, :{name})"),
            (Reach::Patients, false) => "SELECT * FROM patients_reached(:actor, :reach_organization, \
                 :reach_personal, :reach_name, :reach_after, :reach_limit)"
                .to_string(),
        }
    }
}

/// The emergency grant whose id is bound as `:name`, and where the caller stands to
/// it: `emergency_grant` has the grant's columns, `live` (ahead of the statement's
/// clock), `holds` (the caller is its holder), and what the caller's role in the
/// grant's organization allows (`manages`: may end it; `audits`: may review it;
/// `member`). No row: no such grant.
pub fn grant_cte(name: &str) -> String {
    format!(
        "emergency_grant AS (\n    SELECT g.id, g.patient_id, g.organization_id, g.user_id, g.reason, g.created_at, \
         g.expires_at, g.ended_at, g.review_outcome, g.reviewed_by, g.reviewed_at, g.review_comment, \
         g.expires_at > now() AS live, g.user_id = :actor AS holds, m.role IS NOT NULL AS member, \
         COALESCE(org_role_manages(m.role), false) AS manages, COALESCE(org_role_audits(m.role), false) AS audits\n    \
         FROM emergency_access g\n    \
         LEFT JOIN memberships m ON m.organization_id = g.organization_id AND m.user_id = :actor\n    \
         WHERE g.id = :{name}\n)"
    )
}

impl Membership {
    pub fn cte(self) -> String {
        let which = match self {
            Membership::Of(name) => format!(" AND m.organization_id = :{name}"),
            Membership::All => String::new(),
        };
        format!(
            "membership AS (\n    SELECT {MEMBERSHIP_COLUMNS}\n    FROM memberships m WHERE m.user_id = :actor{which}\n)"
        )
    }
}
