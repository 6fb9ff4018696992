//! Who reaches a patient or an organization, and how far: the one place an access rule
//! is written. `Statement::reaching` and `Statement::in_organization` compose the pieces
//! below into a statement as CTEs (first, after the session guard), built from the rows
//! as they are now - personal ownership, memberships, the care team (mappings of a
//! doctor the caller holds) - so a removed membership or mapping bites on the very next
//! request, in the same round trip. Templates read the CTEs; they never spell a rule.
//!
//! `reach` has one row per patient the principal reaches (none: 404), with how far:
//! `access` (how they reached it: `owner`, `org_owner`, `clinician`, `front_desk`,
//! `care_team`, `admin`), `reads_notes`, `writes`, `deletes`, `assigns` (add or remove
//! doctors). A patient reached several ways gets the union of what each allows, and
//! the strongest way as its `access`.
//!
//! `membership` has the caller's row in one organization (or all of theirs), with what
//! the role allows there: `manages` (rename, members, invitations), `creates_patients`,
//! `reads_notes` (of its unrestricted patients), `receives_patients` (a personal patient
//! moved in), `audits` (org audit, emergency reviews).
//!
//! How it stays fast (Supabase's measured RLS traps are a subquery or function run per
//! row): a one-patient piece is three probes on `:id` by primary or leading index keys;
//! a list piece is a UNION ALL of the sources, each walking its own index in id order
//! under the keyset and stopping at the page size - an organization's patients by
//! `(organization_id, id)` once per membership, a held doctor's by `(doctor_id,
//! patient_id)` - then merged and grouped. A list with filters the pieces cannot see
//! (a name) takes the sources unbounded and lets the template filter and limit.

use uuid::Uuid;

/// A source row's columns, in order.
const SOURCE: &str = "patient_id, access, rank, reads_notes, writes, deletes, assigns";

/// What an organization role allows with the organization's patients (over `m`, the
/// membership, and `p`, the patient). An `auditor` reaches none (the sources skip it).
const ORG_ROLE: &str = "CASE m.role WHEN 'owner' THEN 'org_owner' ELSE m.role END, \
    CASE m.role WHEN 'owner' THEN 2 WHEN 'clinician' THEN 4 ELSE 5 END, \
    m.role = 'owner' OR (m.role = 'clinician' AND NOT p.restricted), true, m.role = 'owner', true";

/// The personal owner may do everything; the care team reads (notes too, restricted
/// or not) and writes, but neither deletes nor assigns.
const OWNER: &str = "'owner', 1, true, true, true, true";
const CARE_TEAM: &str = "'care_team', 3, true, true, false, false";
const ADMIN: &str = "'admin'::text, 0, true, true, true, true";

/// What a role allows in its organization (over `m`).
const MEMBERSHIP_COLUMNS: &str = "m.organization_id, m.role, m.role = 'owner' AS manages, \
    m.role <> 'auditor' AS creates_patients, m.role IN ('owner', 'clinician') AS reads_notes, \
    m.role IN ('owner', 'clinician') AS receives_patients, m.role IN ('owner', 'auditor') AS audits";

/// Which patients a statement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reach {
    /// The patient whose id is bound as `:name`.
    Patient(&'static str),
    /// The patient of the mapping whose id is bound as `:name`.
    PatientOfMapping(&'static str),
    /// Every patient reached, for a list (`Patients`).
    Patients { bounded: bool },
}

/// A list's reach: which organization, and where the page starts and how long it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Patients {
    pub organization: OrgFilter,
    /// The keyset: patients with a smaller id only.
    pub after: Option<Uuid>,
    /// The page size each source may stop at; `None` when the template filters on
    /// something the sources cannot see, so they must yield every patient reached.
    pub limit: Option<i64>,
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

impl Reach {
    /// The `reach` CTE, for a principal who reaches every patient (`all`) or not.
    pub fn cte(self, all: bool) -> String {
        let body = match (self, all) {
            (Reach::Patient(name), true) => admin(&format!("SELECT :{name}::uuid, {ADMIN}")),
            (Reach::PatientOfMapping(name), true) => {
                admin(&format!("SELECT (SELECT patient_id FROM mappings WHERE id = :{name}), {ADMIN}"))
            }
            (Reach::Patients { .. }, true) => admin(&format!(
                "SELECT p.id, {ADMIN} FROM patients p \
                 WHERE (:reach_organization::uuid IS NULL OR p.organization_id = :reach_organization) \
                 AND (NOT :reach_personal OR p.organization_id IS NULL)"
            )),
            (Reach::Patient(name), false) => grouped(&one_patient(&format!(":{name}"))),
            (Reach::PatientOfMapping(name), false) => {
                grouped(&one_patient(&format!("(SELECT patient_id FROM mappings WHERE id = :{name})")))
            }
            (Reach::Patients { bounded }, false) => grouped(&every_patient(bounded)),
        };
        // The admin's list piece is one plain SELECT, so the planner folds it into the
        // template's own join on `patients` (no page bound needed: the template's
        // keyset and LIMIT drive the index walk).
        format!("reach AS (\n    {body}\n)")
    }

    /// The names the piece binds itself (a list's), beyond `:actor` and the template's.
    pub fn binds(self) -> &'static [&'static str] {
        match self {
            Reach::Patients { bounded: true } => {
                &["reach_organization", "reach_personal", "reach_after", "reach_limit"]
            }
            Reach::Patients { bounded: false } => &["reach_organization", "reach_personal"],
            _ => &[],
        }
    }
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

/// An admin's one source, with the columns named.
fn admin(source: &str) -> String {
    format!("SELECT * FROM ({source}) AS source ({SOURCE})")
}

/// One row per patient from the sources' rows: the union of what they allow.
fn grouped(sources: &str) -> String {
    format!(
        "SELECT patient_id, (array_agg(access ORDER BY rank))[1] AS access, bool_or(reads_notes) AS reads_notes, \
         bool_or(writes) AS writes, bool_or(deletes) AS deletes, bool_or(assigns) AS assigns\n    \
         FROM ({sources}\n    ) AS source ({SOURCE})\n    GROUP BY patient_id"
    )
}

/// The three sources, each probing the one patient `subject` (an SQL expression).
fn one_patient(subject: &str) -> String {
    format!(
        "\n        SELECT p.id, {OWNER} FROM patients p\n        \
         WHERE p.id = {subject} AND p.organization_id IS NULL AND p.owner_id = :actor\n        \
         UNION ALL\n        \
         SELECT p.id, {ORG_ROLE} FROM patients p\n        \
         JOIN memberships m ON m.user_id = :actor AND m.organization_id = p.organization_id\n        \
         WHERE p.id = {subject} AND m.role <> 'auditor'\n        \
         UNION ALL\n        \
         SELECT mp.patient_id, {CARE_TEAM} FROM doctors d JOIN mappings mp ON mp.doctor_id = d.id\n        \
         WHERE d.user_id = :actor AND mp.patient_id = {subject}"
    )
}

/// The three sources for a list, each filtered by organization; `bounded`: each walks
/// its index under the keyset and stops at the page size.
fn every_patient(bounded: bool) -> String {
    let (keyset, limit) = if bounded {
        (" AND (:reach_after::uuid IS NULL OR {id} < :reach_after)", " ORDER BY {id} DESC LIMIT :reach_limit")
    } else {
        ("", "")
    };
    let on = |id: &str| (keyset.replace("{id}", id), limit.replace("{id}", id));
    let (own_keyset, own_limit) = on("p.id");
    let (org_keyset, org_limit) = on("id");
    let (team_keyset, team_limit) = on("mp.patient_id");
    format!(
        "\n        (SELECT p.id, {OWNER} FROM patients p\n        \
         WHERE p.owner_id = :actor AND p.organization_id IS NULL\n        \
         AND :reach_organization::uuid IS NULL{own_keyset}{own_limit})\n        \
         UNION ALL\n        \
         (SELECT p.id, {ORG_ROLE} FROM memberships m\n        \
         CROSS JOIN LATERAL (SELECT id, restricted FROM patients\n        \
         WHERE organization_id = m.organization_id{org_keyset}{org_limit}) AS p\n        \
         WHERE m.user_id = :actor AND m.role <> 'auditor' AND NOT :reach_personal\n        \
         AND (:reach_organization::uuid IS NULL OR m.organization_id = :reach_organization))\n        \
         UNION ALL\n        \
         (SELECT mp.patient_id, {CARE_TEAM} FROM doctors d\n        \
         CROSS JOIN LATERAL (SELECT mp.patient_id FROM mappings mp JOIN patients p ON p.id = mp.patient_id\n        \
         WHERE mp.doctor_id = d.id{team_keyset}\n        \
         AND (:reach_organization::uuid IS NULL OR p.organization_id = :reach_organization)\n        \
         AND (NOT :reach_personal OR p.organization_id IS NULL){team_limit}) AS mp\n        \
         WHERE d.user_id = :actor)"
    )
}
