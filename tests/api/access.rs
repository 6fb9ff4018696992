//! Access is decided in one place (`shared::access`), composed into each statement:
//! no statement template spells an access rule of its own, every statement over
//! patients or organizations carries the pieces, and the pieces stay index-driven on a
//! large organization (the plans, read with `EXPLAIN (FORMAT JSON)`).

use std::path::Path;

use api_tests::spawn_app;
use serde_json::Value;
use shared::RequestMeta;
use shared::access::OrgFilter;
use shared::auth::{Caller, Role};
use shared::db::Statement;
use shared::pagination::Page;
use tokio_postgres::types::{FromSql, Type};
use uuid::Uuid;

/// What a template may not say: ownership or membership keyed on the acting user is an
/// access rule, and belongs to the pieces.
fn access_rules_in(template: &str) -> Vec<String> {
    let text: String =
        template.lines().map(|line| line.split("--").next().unwrap_or("")).collect::<Vec<_>>().join(" ").to_lowercase();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut found = Vec::new();
    if text.contains(":sees_all") {
        found.push(":sees_all".to_string());
    }
    let mut decides = false;
    for (at, _) in text.match_indices(":actor") {
        let (before, after) = (&text[..at], &text[at + ":actor".len()..]);
        // The clause it sits in: a condition, or a value written (`SET user_id = :actor`,
        // `VALUES (:actor)`, `SELECT :actor, ...`), which decides nothing.
        let clause = ["where ", " on ", " and ", " or ", " having ", " when ", " set ", "select ", "values "]
            .iter()
            .filter_map(|k| before.rfind(k).map(|i| (i, *k)))
            .max()
            .map(|(_, k)| k.trim());
        let in_condition = matches!(clause, Some("where" | "on" | "and" | "or" | "having" | "when"));
        decides |= in_condition;
        for column in ["owner_id", "user_id", "organization_id"] {
            let left = before.trim_end().strip_suffix('=').is_some_and(|b| b.trim_end().ends_with(column));
            let right = after.trim_start().strip_prefix('=').is_some_and(|a| {
                let word = a.trim_start().split(|c: char| !c.is_alphanumeric() && c != '_' && c != '.').next();
                word.is_some_and(|w| w.rsplit('.').next() == Some(column))
            });
            if (left || right) && in_condition {
                found.push(format!("{column} compared with :actor"));
            }
        }
    }
    let reads_memberships = text.matches("memberships").count()
        > text.matches("insert into memberships").count()
            + text.matches("update memberships").count()
            + text.matches("delete from memberships").count();
    if reads_memberships && decides {
        found.push("reads memberships beside a condition on :actor".to_string());
    }
    found
}

fn templates(dir: &Path, into: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            templates(&path, into);
        } else if path.extension().is_some_and(|e| e == "sql") {
            into.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn the_checker_finds_a_planted_rule() {
    assert_eq!(access_rules_in("SELECT * FROM patients WHERE owner_id = :actor"), ["owner_id compared with :actor"]);
    assert_eq!(access_rules_in("SELECT 1 FROM x p WHERE :actor = p.user_id"), ["user_id compared with :actor"]);
    assert_eq!(access_rules_in("SELECT * FROM patients WHERE (:sees_all OR true)"), [":sees_all"]);
    let reads = "SELECT p.* FROM patients p JOIN memberships m ON m.organization_id = p.organization_id \
                 WHERE m.user_id = ANY (ARRAY[:actor])";
    assert_eq!(access_rules_in(reads), ["reads memberships beside a condition on :actor"]);
    let written = "SELECT 1 FROM memberships m WHERE m.organization_id = :id; INSERT INTO t VALUES (:actor)";
    assert!(access_rules_in(written).is_empty());
    assert!(access_rules_in("UPDATE doctors SET user_id = :actor WHERE id = :id").is_empty());
    assert!(access_rules_in("INSERT INTO memberships (user_id) VALUES (:actor)").is_empty());
    assert!(access_rules_in("-- owner_id = :actor in a comment\nSELECT 1").is_empty());
}

#[test]
fn no_statement_template_spells_an_access_rule() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut all = Vec::new();
    templates(&root.join("functions"), &mut all);
    templates(&root.join("shared/src/sql"), &mut all);
    assert!(all.len() > 40, "found only {} templates", all.len());
    // The caller's own account rows (sessions, factors) are the caller's by definition;
    // the rule is about records others share.
    let shared_records = [
        "patients",
        "mappings",
        "doctors",
        "organizations",
        "memberships",
        "organization_invitations",
        "emergency_access",
        "portal_invitations",
    ];
    let faults: Vec<String> = all
        .iter()
        .filter(|(_, text)| {
            let text = text.to_lowercase();
            shared_records.iter().any(|t| text.split(|c: char| !c.is_alphanumeric() && c != '_').any(|w| w == *t))
        })
        .flat_map(|(path, text)| access_rules_in(text).into_iter().map(move |rule| format!("{path}: {rule}")))
        .collect();
    assert!(faults.is_empty(), "access rules outside shared::access:\n{}", faults.join("\n"));
}

/// The organizations' tables and the patients' are read only by statements that compose
/// the pieces; these are the exceptions, and why.
const UNPIECED: &[(&str, &str)] = &[
    ("functions/orgs/src/sql/accept.sql", "the caller joins by a token; it reads the organization it joined"),
    ("functions/orgs/src/sql/create.sql", "creates the organization with the caller as its owner"),
    ("functions/doctors/src/sql/delete.sql", "a doctor's mappings go with it (a directory write, not a patient's)"),
    ("functions/patients/src/sql/portal_accept.sql", "the caller links by a token; it answers the patient it linked"),
    ("functions/oauth/src/sql/picker.sql", "no session yet (the grant is being made): calls the rule for the user"),
    ("functions/oauth/src/sql/picked.sql", "no session yet (the grant is being made): calls the rule for the user"),
    ("functions/oauth/src/sql/identity.sql", "the signing-in user's own doctor or portal patient, for fhirUser"),
    (
        "functions/oauth/src/sql/admitted.sql",
        "no session yet: asks app_admits (migrations/0011) for the signing-in user",
    ),
    (
        "functions/oauth/src/sql/refresh.sql",
        "a grant's refresh checks its user is still a member, as the session check does",
    ),
    (
        "functions/oauth/src/sql/backend_grant.sql",
        "a backend grant's registrant must still be a member of the app's organization",
    ),
    (
        "functions/oauth/src/sql/introspect.sql",
        "introspection checks what the session check checks, membership included",
    ),
];

#[test]
fn every_statement_over_patients_or_organizations_composes_the_pieces() {
    let tables = [
        "patients",
        "mappings",
        "organizations",
        "memberships",
        "organization_invitations",
        "emergency_access",
        "portal_invitations",
    ];
    let mut checked = 0;
    for function in local_api::FUNCTIONS {
        for statement in (function.statements)() {
            let d = statement.describe().unwrap();
            let template = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&d.path))
                .unwrap()
                .to_lowercase();
            let touches = tables
                .iter()
                .any(|t| template.split(|c: char| !c.is_alphanumeric() && c != '_').any(|word| word == *t));
            if !touches || UNPIECED.iter().any(|(path, _)| d.path.ends_with(path)) {
                continue;
            }
            checked += 1;
            assert!(!d.pieces.is_empty(), "{} reads patients or organizations without shared::access", d.path);
        }
    }
    assert!(checked >= 20, "only {checked} statements checked");
}

/// `EXPLAIN (FORMAT JSON)`'s one column.
struct Json(Value);

impl<'a> FromSql<'a> for Json {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Json(serde_json::from_slice(raw)?))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON
    }
}

/// Every scan of `table` in the plan, as "Node Type (Index Name)".
fn scans_of(plan: &Value, table: &str, into: &mut Vec<String>) {
    if plan["Relation Name"] == table {
        let node = plan["Node Type"].as_str().unwrap_or("?");
        into.push(format!("{node} ({})", plan["Index Name"].as_str().unwrap_or("-")));
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        scans_of(child, table, into);
    }
}

/// The plan as an indented outline, for `--nocapture` readers and the notes.
fn outline(plan: &Value, depth: usize, into: &mut String) {
    let text = |key: &str| plan[key].as_str().map(|v| format!(" {v}")).unwrap_or_default();
    into.push_str(&format!(
        "{:width$}{}{}{}{}\n",
        "",
        plan["Node Type"].as_str().unwrap_or("?"),
        text("Relation Name"),
        text("Index Name").replace(' ', " using "),
        plan["Plan Rows"].as_f64().map(|r| format!(" (rows {r})")).unwrap_or_default(),
        width = depth * 2
    ));
    for child in plan["Plans"].as_array().into_iter().flatten() {
        outline(child, depth + 1, into);
    }
}

/// 100 organizations and 100,000 patients; the clinician is a member of the largest
/// (10,000 patients), holds a doctor of 50 patients and has 20 of their own.
async fn large_clinic(client: &tokio_postgres::Client) -> (Uuid, Uuid) {
    client
        .batch_execute(
            "INSERT INTO users (name, email, password_hash) VALUES ('Clinician', 'cli@example.com', 'x');
             INSERT INTO users (name, email, password_hash)
               SELECT 'Owner', 'owner' || n || '@example.com', 'x' FROM generate_series(1, 100) n;
             CREATE TEMP TABLE owners AS
               SELECT id, row_number() OVER (ORDER BY id) AS n FROM users WHERE email LIKE 'owner%';
             INSERT INTO organizations (name, created_by) SELECT 'Org ' || n, id FROM owners;
             CREATE TEMP TABLE orgs AS
               SELECT o.id, w.n, o.created_by FROM organizations o JOIN owners w ON w.id = o.created_by;
             INSERT INTO memberships (user_id, organization_id, role) SELECT created_by, id, 'owner' FROM orgs;
             INSERT INTO memberships (user_id, organization_id, role)
               SELECT (SELECT id FROM users WHERE email = 'cli@example.com'), id, 'clinician' FROM orgs WHERE n = 1;
             INSERT INTO patients (owner_id, organization_id, name, date_of_birth)
               SELECT o.created_by, o.id, 'Patient ' || i, DATE '1980-01-01'
               FROM generate_series(1, 100000) i
               JOIN orgs o ON o.n = CASE WHEN i <= 10000 THEN 1 ELSE 2 + (i % 99) END;
             INSERT INTO patients (owner_id, name, date_of_birth)
               SELECT id, 'Own ' || i, DATE '1990-01-01' FROM users, generate_series(1, 20) i
               WHERE email = 'cli@example.com';
             INSERT INTO doctors (name, specialization, created_by, user_id)
               SELECT 'Dr', 'GP', id, id FROM users WHERE email = 'cli@example.com';
             INSERT INTO mappings (patient_id, doctor_id, assigned_by)
               SELECT p.id, (SELECT id FROM doctors), p.owner_id FROM patients p
               WHERE p.organization_id = (SELECT id FROM orgs WHERE n = 50) LIMIT 50;
             ANALYZE;",
        )
        .await
        .unwrap();
    let user: Uuid =
        client.query_one("SELECT id FROM users WHERE email = 'cli@example.com'", &[]).await.unwrap().get(0);
    let org: Uuid =
        client.query_one("SELECT organization_id FROM memberships WHERE user_id = $1", &[&user]).await.unwrap().get(0);
    (user, org)
}

#[tokio::test]
async fn a_clinician_s_lists_in_a_large_organization_are_index_driven() {
    let app = spawn_app().await;
    let client = app.sql().await;
    let (user, org) = large_clinic(&client).await;
    let caller = Caller { id: user, ..Caller::placeholder(Role::User) };
    let meta = RequestMeta::placeholder();
    let page = Page::default();
    let one: Uuid = client.query_one("SELECT id FROM patients LIMIT 1", &[]).await.unwrap().get(0);
    let filter = |organization, name: Option<&str>| patients::ListFilter {
        organization,
        name: name.map(str::to_string),
        owner: None,
    };
    let statements: Vec<(&str, Statement)> = vec![
        ("patient list", patients::list_statement(&caller, &meta, &page, filter(OrgFilter::Any, None))),
        (
            "patient list of the organization",
            patients::list_statement(&caller, &meta, &page, filter(OrgFilter::Org(org), None)),
        ),
        ("personal patient list", patients::list_statement(&caller, &meta, &page, filter(OrgFilter::Personal, None))),
        ("patient list by name", patients::list_statement(&caller, &meta, &page, filter(OrgFilter::Any, Some("%99%")))),
        ("patient read", patients::read_statement(&caller, &meta, one)),
        ("mapping list", mappings::list_statement(&caller, &meta, &page, None, None)),
    ];
    let mut faults = Vec::new();
    for (what, statement) in statements {
        let rows = statement.explain_client(&client).await.unwrap_or_else(|e| panic!("{what}: {e}"));
        let Json(plan) = rows[0].get(0);
        let mut scans = Vec::new();
        scans_of(&plan[0]["Plan"], "patients", &mut scans);
        let mut shape = String::new();
        outline(&plan[0]["Plan"], 1, &mut shape);
        eprintln!("{what}:\n{shape}");
        if scans.iter().any(|s| s.starts_with("Seq Scan")) {
            faults.push(format!("{what}: {scans:?}"));
        }
    }

    // Inside the list's function: its one query, as the function plans it (generic, once
    // per connection), for each shape a list asks - read from the database, so it is
    // the function as migrated.
    let source: String =
        client.query_one("SELECT prosrc FROM pg_proc WHERE proname = 'patients_reached'", &[]).await.unwrap().get(0);
    client.batch_execute("SET plan_cache_mode = force_generic_plan").await.unwrap();
    let queries: Vec<&str> = source.split("RETURN QUERY").skip(1).map(|q| q.split(';').next().unwrap()).collect();
    assert_eq!(queries.len(), 2, "patients_reached's fast path and its general query");
    let shapes = [
        ("page of everything", format!("'{user}', NULL, false, NULL, NULL, 21")),
        ("page of the organization", format!("'{user}', '{org}', false, NULL, NULL, 21")),
        ("next page", format!("'{user}', NULL, false, NULL, '{one}', 21")),
        ("personal only", format!("'{user}', NULL, true, NULL, NULL, 21")),
        ("by name", format!("'{user}', NULL, false, '%99%', NULL, 21")),
        ("everything, unbounded (FHIR's birthdate filter)", format!("'{user}', NULL, false, NULL, NULL, NULL")),
    ];
    for (n, query) in queries.iter().enumerate() {
        let mut query = query.to_string();
        for (variable, param) in [
            ("below", "COALESCE($5, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)"),
            ("actor", "$1"),
            ("organization", "$2"),
            ("personal_only", "$3"),
            ("name_like", "$4"),
            ("page", "$6"),
        ] {
            query = replace_word(&query, variable, param);
        }
        client
            .batch_execute(&format!("PREPARE reached{n} (uuid, uuid, bool, text, uuid, int8) AS {query}"))
            .await
            .unwrap();
        for (what, args) in &shapes {
            let explain = format!("EXPLAIN (FORMAT JSON) EXECUTE reached{n}({args})");
            let Json(plan) = client.query(&explain, &[]).await.unwrap()[0].get(0);
            let mut scans = Vec::new();
            scans_of(&plan[0]["Plan"], "patients", &mut scans);
            let mut shape = String::new();
            outline(&plan[0]["Plan"], 1, &mut shape);
            eprintln!("patients_reached, query {n}, {what}:\n{shape}");
            assert!(!scans.is_empty(), "{what}: no scan of patients in {plan:#}");
            if scans.iter().any(|s| s.starts_with("Seq Scan")) {
                faults.push(format!("patients_reached, query {n}, {what}: {scans:?}"));
            }
        }
    }
    assert!(faults.is_empty(), "sequential scans of patients:\n{}", faults.join("\n"));
}

/// `word` replaced where it stands alone (not inside `organization_id`).
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + word.len()..].chars().next();
        let alone = !before.is_some_and(|c| is_word(c) || c == '.') && !after.is_some_and(is_word);
        out.push_str(&rest[..at]);
        out.push_str(if alone { with } else { word });
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}
