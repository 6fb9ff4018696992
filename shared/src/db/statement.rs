//! `Statement`: how handlers write SQL. A statement is a template from a `.sql` file
//! with named parameters (`:owner`, `:id`), values bound by name, and the parts every
//! statement of a kind shares composed in here rather than copied into each file:
//!
//! - `acting_as(principal)` offers who is acting: `:actor` (their user id) and
//!   `:edits_all` (they may change directory entries others created) - a template uses
//!   those it needs - and puts the
//!   session guard first: a CTE that refuses the whole statement (SQLSTATE HC401, a 401)
//!   unless the access token's session is live and its user active
//!   (`require_live_session`, migrations/0003). A revoked session is refused on the very
//!   next request, at no extra round trip, and nothing the statement would have done
//!   happens.
//! - `reaching(reach)` / `reaching_patients(list)` / `in_organization(which)` compose
//!   the access pieces (`crate::access`): the `reach` CTE, one row per patient the
//!   principal reaches with how far, and the `membership` CTE. Templates read them and
//!   never spell an access rule of their own.
//! - `audit(meta, event)` adds the audit CTE after the template's own CTEs, with its
//!   outcome decided from them (see `crate::audit`), so the access and its record
//!   commit together in the one statement.
//!
//! Binding is checked: every name the statement uses must be bound, a name bound by the
//! handler must be used, and no name may be bound twice. Each value's Postgres type comes
//! from its Rust type (`SqlType`). The composed text is rendered to `$n` once per
//! template and audit shape, then cached. A statement still goes out as one typed
//! one-shot query: one round trip, no named prepared statement (PgBouncer's transaction
//! mode stays happy).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, RwLock};

use time::{Date, OffsetDateTime};
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use super::Db;
use super::template::scan;
use crate::ApiError;
use crate::access::{self, AppLimit, Membership, OrgFilter, Reach};
use crate::audit::{AccessSource, Audit, AuditShape};
use crate::auth::{AppGrant, Principal, Scope};
use crate::http::RequestMeta;

/// A Rust type a statement parameter can have, with the Postgres type it binds as.
pub trait SqlType: ToSql + Sync + Send + 'static {
    const PG: Type;
}

macro_rules! sql_types {
    ($($rust:ty => $pg:ident),* $(,)?) => { $(impl SqlType for $rust { const PG: Type = Type::$pg; })* };
}
sql_types! {
    bool => BOOL, i32 => INT4, i64 => INT8, String => TEXT, &'static str => TEXT, Vec<u8> => BYTEA,
    Vec<Vec<u8>> => BYTEA_ARRAY, Vec<Uuid> => UUID_ARRAY, Vec<String> => TEXT_ARRAY, serde_json::Value => JSONB,
    Uuid => UUID, Date => DATE, OffsetDateTime => TIMESTAMPTZ, IpAddr => INET, Vec<Date> => DATE_ARRAY,
    Vec<OffsetDateTime> => TIMESTAMPTZ_ARRAY, Vec<Option<Uuid>> => UUID_ARRAY, Vec<i32> => INT4_ARRAY,
}

/// `None` binds as SQL NULL of the inner type.
impl<T: SqlType> SqlType for Option<T> {
    const PG: Type = T::PG;
}

/// A column a statement returns: its name and type.
pub type Column = (&'static str, Type);

/// A statement template: a `.sql` file compiled in with `sql!`.
#[derive(Debug)]
pub struct Sql {
    /// The Rust file that includes it (`file!()`).
    pub source: &'static str,
    /// Its path relative to `source`'s folder.
    pub file: &'static str,
    pub text: &'static str,
}

impl Sql {
    /// Its path from the workspace root, for the test that checks every file is prepared.
    pub fn path(&self) -> String {
        match self.source.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{}", self.file),
            None => self.file.to_owned(),
        }
    }
}

/// `static READ: Sql = sql!("sql/read.sql");` - the path is relative to the calling file.
#[macro_export]
macro_rules! sql {
    ($file:literal) => {
        $crate::db::Sql { source: file!(), file: $file, text: include_str!($file) }
    };
}

struct Bind {
    name: &'static str,
    value: Box<dyn ToSql + Sync + Send>,
    ty: Type,
    /// Offered by the helper (principal, request): fine to leave unused.
    offered: bool,
}

/// A template with its values, ready to run.
pub struct Statement {
    sql: &'static Sql,
    binds: Vec<Bind>,
    /// Carries a guard (`acting_as`, `acting_unattended`), and which.
    guarded: bool,
    guard: Guard,
    /// Moves the session's `last_used_at` (`acting_as`, when the caller's is due).
    touches: bool,
    /// The principal reaches every patient (an admin), set by `acting_as`.
    reaches_all: bool,
    /// The SMART app acting for the principal, if any (`acting_as`).
    app: Option<AppGrant>,
    app_limit: AppLimit,
    pieces: Vec<Piece>,
    audit: Option<AuditShape>,
    reads: Vec<&'static [Column]>,
    fault: Option<String>,
}

/// What the guard checks before anything the statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Guard {
    /// The request's session is live (`require_live_session`).
    Session,
    /// No request: the user is active and their app still admits them (`require_standing`).
    Standing,
}

impl Guard {
    fn check(self) -> &'static str {
        match self {
            Guard::Session => SESSION_CHECK,
            Guard::Standing => STANDING_CHECK,
        }
    }
}

/// An access piece a statement composes (`crate::access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Piece {
    Reach(Reach),
    Membership(Membership),
    /// An emergency grant, by the name its id is bound as.
    Grant(&'static str),
}

impl Piece {
    fn cte(self, all: bool, app: AppLimit) -> String {
        match self {
            Piece::Reach(reach) => reach.cte(all, app),
            Piece::Membership(membership) => membership.cte(),
            Piece::Grant(name) => access::grant_cte(name),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Piece::Reach(_) => "reach",
            Piece::Membership(_) => "membership",
            Piece::Grant(_) => "emergency_grant",
        }
    }
}

/// The composed text rendered to `$n`, and the name behind each `$n`.
#[derive(Debug)]
pub struct Rendered {
    pub sql: String,
    pub names: Vec<String>,
}

type CacheKey = (usize, bool, Guard, bool, bool, AppLimit, Vec<Piece>, Option<AuditShape>);
static RENDERED: LazyLock<RwLock<HashMap<CacheKey, Arc<Rendered>>>> = LazyLock::new(Default::default);

impl Statement {
    pub fn new(sql: &'static Sql) -> Self {
        Self {
            sql,
            binds: Vec::new(),
            guarded: false,
            guard: Guard::Session,
            touches: false,
            reaches_all: false,
            app: None,
            app_limit: AppLimit::None,
            pieces: Vec::new(),
            audit: None,
            reads: Vec::new(),
            fault: None,
        }
    }

    /// Binds `:name`. The statement must use it.
    pub fn bind<T: SqlType>(self, name: &'static str, value: T) -> Self {
        self.push(name, value, false)
    }

    /// Who is acting, and how far their authority reaches; and the session guard.
    pub fn acting_as<P: Principal>(mut self, principal: &P) -> Self {
        let caller = principal.caller();
        self.reaches_all = matches!(principal.scope(), Scope::All);
        self.guarded = true;
        self.touches = caller.touch_session;
        self.app = caller.app;
        self.app_limit = if caller.app.is_some() { AppLimit::App } else { AppLimit::None };
        let app = caller.app.unwrap_or(AppGrant { client_id: Uuid::nil(), organization: None, patient: None });
        self.push("actor", caller.id, true)
            .push("edits_all", principal.edits_all(), true)
            .push("session", caller.session_id, true)
            .push("idle_minutes", caller.session_idle_minutes, true)
            .push("app_client", caller.app.map(|a| a.client_id), true)
            .push("app_organization", app.organization, true)
            .push("app_patient", app.patient, true)
    }

    /// Who is acting, for work no request carries (a bulk export's worker, long after
    /// the kick-off's token and session are gone): as `acting_as`, but the guard asks
    /// only that the user is still active and their app still admits them
    /// (`require_standing`, migrations/0014), and no session is touched.
    pub fn acting_unattended<P: Principal>(self, principal: &P) -> Self {
        let mut this = self.acting_as(principal);
        this.guard = Guard::Standing;
        this.touches = false;
        this
    }

    /// Composes `reach` for one patient (`Reach::Patient`, `Reach::PatientOfMapping`).
    pub fn reaching(self, reach: Reach) -> Self {
        if reach.is_list() {
            let mut this = self;
            this.fault.get_or_insert_with(|| "a list's reach goes through reaching_patients".into());
            return this;
        }
        self.piece(Piece::Reach(reach))
    }

    /// Composes `reach` for a list: every patient the principal reaches, filtered by
    /// organization and name, bounded by the page when `list.limit` is set.
    /// Under an app, the organization filter is narrowed to the app's organization
    /// inside the sources (so a page is still a page), and a launch patient replaces
    /// the sources.
    pub fn reaching_patients(mut self, list: access::Patients) -> Self {
        let (organization, personal) = match self.app.and_then(|a| a.organization) {
            None => list.organization.params(),
            Some(app_org) => match list.organization {
                OrgFilter::Any => (Some(app_org), false),
                OrgFilter::Org(asked) if asked == app_org => (Some(app_org), false),
                // Another organization, or personal patients: none of the app's.
                _ => (Some(app_org), true),
            },
        };
        if self.app.is_some_and(|a| a.patient.is_some()) {
            self.app_limit = AppLimit::LaunchPatient;
        }
        let reach = match list.among {
            None => Reach::Patients,
            Some(candidates) => Reach::PatientsAmong(candidates),
        };
        self.piece(Piece::Reach(reach))
            .push("reach_organization", organization, true)
            .push("reach_personal", personal, true)
            .push("reach_name", list.name, true)
            .push("reach_after", list.after, true)
            .push("reach_limit", list.limit, true)
    }

    /// Composes `membership`: the caller's role in one organization, or in all of theirs.
    pub fn in_organization(self, which: Membership) -> Self {
        self.piece(Piece::Membership(which))
    }

    /// Composes `emergency_grant`: the grant bound as `:name`, and where the caller
    /// stands to it.
    pub fn on_grant(self, name: &'static str) -> Self {
        self.piece(Piece::Grant(name))
    }

    fn piece(mut self, piece: Piece) -> Self {
        if !self.guarded {
            self.fault.get_or_insert_with(|| format!("{} before acting_as", piece.name()));
        }
        if self.pieces.iter().any(|p| p.name() == piece.name()) {
            self.fault.get_or_insert_with(|| format!("{} composed twice", piece.name()));
        }
        self.pieces.push(piece);
        self
    }

    /// For statements that change the caller's sessions themselves: the guard still
    /// checks the session but does not also move its `last_used_at` (one statement may
    /// not update the same row twice).
    pub fn leaving_session_untouched(mut self) -> Self {
        if !self.guarded {
            self.fault.get_or_insert_with(|| "leaving_session_untouched before acting_as".into());
        }
        self.touches = false;
        self
    }

    /// Adds the audit event (see `crate::audit`), recorded with the request's id and
    /// source address.
    pub fn audit(mut self, meta: &RequestMeta, audit: Audit) -> Self {
        self.audit = Some(audit.shape());
        let mut this = self
            .push("audit_action", audit.action, true)
            .push("audit_resource_type", audit.resource_type, true)
            .push("request_key", crate::audit::request_key(&meta.request_id), true)
            .push("source_ip", meta.source_ip, true);
        for (name, value) in audit.values() {
            this = this.push(name, value, true);
        }
        this
    }

    /// Declares columns the caller will read from the rows (a record's `COLUMNS`), so
    /// the schema test can check the statement returns them with these types.
    pub fn reads(mut self, columns: &'static [Column]) -> Self {
        self.reads.push(columns);
        self
    }

    fn push<T: SqlType>(mut self, name: &'static str, value: T, offered: bool) -> Self {
        if self.binds.iter().any(|b| b.name == name) {
            self.fault.get_or_insert_with(|| format!(":{name} is bound twice"));
        }
        self.binds.push(Bind { name, value: Box::new(value), ty: T::PG, offered });
        self
    }

    /// The composed statement rendered to `$n` (cached).
    pub fn rendered(&self) -> Result<Arc<Rendered>, String> {
        let key = (
            self.sql as *const Sql as usize,
            self.guarded,
            self.guard,
            self.touches,
            self.reaches_all,
            self.app_limit,
            self.pieces.clone(),
            self.audit.clone(),
        );
        if let Some(hit) = RENDERED.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(hit.clone());
        }
        let pieces: Vec<String> = self.pieces.iter().map(|p| p.cte(self.reaches_all, self.app_limit)).collect();
        let audit = self.audit.as_ref().map(|a| (a, self.access_source()));
        let guard = self.guarded.then_some(self.guard);
        let rendered = Arc::new(render(self.sql.text, guard, self.touches, &pieces, audit)?);
        RENDERED.write().unwrap_or_else(|e| e.into_inner()).insert(key, rendered.clone());
        Ok(rendered)
    }

    /// Which piece the audit event reads how the caller was let in from: a one-patient
    /// `reach` first, else an organization's `membership`.
    fn access_source(&self) -> AccessSource {
        let one_patient = |p: &Piece| matches!(p, Piece::Reach(r) if !r.is_list());
        let one_organization = |p: &Piece| matches!(p, Piece::Membership(Membership::Of(_)));
        if self.pieces.iter().any(one_patient) {
            AccessSource::Reach
        } else if self.pieces.iter().any(one_organization) {
            AccessSource::Membership
        } else {
            AccessSource::Nothing
        }
    }

    /// The values in `$n` order, after checking every name is bound exactly once.
    fn params<'s>(&'s self, rendered: &Rendered) -> Result<Vec<(&'s (dyn ToSql + Sync), Type)>, String> {
        if let Some(fault) = &self.fault {
            return Err(fault.clone());
        }
        if let Some(unused) = self.binds.iter().find(|b| !b.offered && !rendered.names.iter().any(|n| n == b.name)) {
            return Err(format!(":{} is bound but the statement does not use it", unused.name));
        }
        rendered
            .names
            .iter()
            .map(|name| {
                let bind = self.binds.iter().find(|b| b.name == name).ok_or_else(|| format!(":{name} is not bound"))?;
                Ok((&*bind.value as &(dyn ToSql + Sync), bind.ty.clone()))
            })
            .collect()
    }

    /// What the schema test needs: the rendered SQL, the parameter types, and the
    /// columns the caller reads.
    pub fn describe(&self) -> Result<Description, String> {
        let rendered = self.rendered().map_err(|e| format!("{}: {e}", self.sql.file))?;
        let types = self.params(&rendered).map_err(|e| format!("{}: {e}", self.sql.file))?;
        Ok(Description {
            path: self.sql.path(),
            sql: rendered.sql.clone(),
            names: rendered.names.clone(),
            types: types.into_iter().map(|(_, ty)| ty).collect(),
            pieces: self.pieces.iter().map(|p| p.name()).collect(),
            reads: self.reads.iter().flat_map(|c| c.iter().cloned()).collect(),
        })
    }

    pub async fn query(&self, db: &Db) -> Result<Vec<Row>, ApiError> {
        let context = |e: String| ApiError::internal(format!("statement {}: {e}", self.sql.file));
        let rendered = self.rendered().map_err(context)?;
        let params = self.params(&rendered).map_err(context)?;
        db.query(&rendered.sql, &params).await
    }

    /// At most one row.
    pub async fn query_opt(&self, db: &Db) -> Result<Option<Row>, ApiError> {
        let mut rows = self.query(db).await?;
        if rows.len() > 1 {
            return Err(ApiError::internal(format!(
                "statement {}: {} rows, expected at most one",
                self.sql.file,
                rows.len()
            )));
        }
        Ok(rows.pop())
    }

    /// Exactly one row.
    pub async fn query_one(&self, db: &Db) -> Result<Row, ApiError> {
        self.query_opt(db)
            .await?
            .ok_or_else(|| ApiError::internal(format!("statement {}: no row, expected one", self.sql.file)))
    }

    /// On a connection of its own, outside the pool (operator tasks). The error is for
    /// an operator: the server's code and message, never its DETAIL (row values).
    pub async fn query_client(&self, client: &tokio_postgres::Client) -> Result<Vec<Row>, String> {
        let rendered = self.rendered().map_err(|e| format!("statement {}: {e}", self.sql.file))?;
        let params = self.params(&rendered).map_err(|e| format!("statement {}: {e}", self.sql.file))?;
        client.query_typed(&rendered.sql, &params).await.map_err(|e| match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        })
    }

    /// The plan Postgres would run it with: `EXPLAIN (FORMAT JSON)` of the composed text
    /// and these values, on a connection of its own (the plan test; nothing executes).
    pub async fn explain_client(&self, client: &tokio_postgres::Client) -> Result<Vec<Row>, String> {
        let rendered = self.rendered().map_err(|e| format!("statement {}: {e}", self.sql.file))?;
        let params = self.params(&rendered).map_err(|e| format!("statement {}: {e}", self.sql.file))?;
        let explain = format!("EXPLAIN (FORMAT JSON) {}", rendered.sql);
        client.query_typed(&explain, &params).await.map_err(|e| e.to_string())
    }

    /// Rows, if any, are not needed.
    pub async fn execute(&self, db: &Db) -> Result<(), ApiError> {
        self.query(db).await.map(drop)
    }
}

/// A statement as the schema test sees it.
#[derive(Debug, Clone)]
pub struct Description {
    pub path: String,
    pub sql: String,
    pub names: Vec<String>,
    pub types: Vec<Type>,
    /// The access pieces composed in (`reach`, `membership`).
    pub pieces: Vec<&'static str>,
    pub reads: Vec<Column>,
}

/// The session check, which raises SQLSTATE HC401 unless the session is live.
const SESSION_CHECK: &str = "require_live_session(:session, :actor, :idle_minutes)";
/// The unattended check, which raises HC401 unless the user (and their app) still stand.
const STANDING_CHECK: &str = "require_standing(:actor, :app_client)";

/// Where the check rides when the statement has no one-row audit event to carry it: a
/// data-modifying CTE always runs to completion, so the source of its INSERT - the
/// check - is always evaluated (it raises, so nothing is ever inserted).
fn guard_cte(check: &str) -> String {
    format!("session_guard AS (\n    INSERT INTO session_guard SELECT true\n    WHERE NOT {check}\n)")
}

/// Moves the session's idle clock; composed only when the caller's is due (`Caller`).
const SESSION_TOUCH: &str = "session_touch AS (\n    UPDATE sessions SET last_used_at = now()\n    \
    WHERE id = :session AND last_used_at < now() - interval '1 minute'\n)";

/// Composes the session guard and touch (first) and the audit CTE (after the
/// template's own) into the template, and renders named parameters to `$n`, in order of
/// first use. Measured with pgbench on GET-by-id's statement (c=32): the check inside
/// the audit's one-row INSERT costs ~14% of throughput, a CTE of its own ~30%, and a
/// touch CTE on every request another ~15% - hence the check rides in the audit where
/// there is one, and the touch only when due.
fn render(
    template: &str,
    guard: Option<Guard>,
    touches: bool,
    pieces: &[String],
    audit: Option<(&AuditShape, AccessSource)>,
) -> Result<Rendered, String> {
    let check_in_audit = guard.is_some() && audit.is_some_and(|(a, _)| a.writes_one_row());
    let mut first: Vec<String> = Vec::new();
    if let Some(guard) = guard
        && !check_in_audit
    {
        first.push(guard_cte(guard.check()));
    }
    if guard.is_some() && touches {
        first.push(SESSION_TOUCH.to_owned());
    }
    first.extend(pieces.iter().cloned());
    // The app behind the request, when there is a principal to have one.
    let client = if guard.is_some() { ":app_client" } else { "NULL::uuid" };
    let check = guard.filter(|_| check_in_audit).map(Guard::check);
    let audit = audit.map(|(a, source)| a.cte(check, source, client));
    let composed = match scan(template)?.ctes {
        Some((with_end, ctes_end)) => {
            let (head, tail) = (&template[with_end..ctes_end], &template[ctes_end..]);
            let first: String = first.iter().map(|cte| format!(" {cte},")).collect();
            let last = audit.map(|cte| format!(",\n{cte}")).unwrap_or_default();
            format!("WITH{first}{head}{last}{tail}")
        }
        None => match first.into_iter().chain(audit).collect::<Vec<_>>() {
            ctes if ctes.is_empty() => template.to_owned(),
            ctes => format!("WITH {}\n{template}", ctes.join(",\n")),
        },
    };
    let scan = scan(&composed)?;
    let mut sql = String::with_capacity(composed.len());
    let mut names: Vec<String> = Vec::new();
    let mut copied = 0;
    for (span, name) in &scan.params {
        let index = match names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                names.push((*name).to_owned());
                names.len() - 1
            }
        };
        sql.push_str(&composed[copied..span.start]);
        sql.push('$');
        sql.push_str(&(index + 1).to_string());
        copied = span.end;
    }
    sql.push_str(&composed[copied..]);
    Ok(Rendered { sql, names })
}

#[cfg(test)]
mod tests {
    use super::*;

    static ONE: Sql =
        Sql { source: file!(), file: "one.sql", text: "SELECT * FROM t WHERE a = :a AND b = :b OR a = :a::uuid" };

    #[test]
    fn names_render_to_positions_in_order_of_first_use() {
        let statement = Statement::new(&ONE).bind("b", 2i32).bind("a", Uuid::nil());
        let description = statement.describe().unwrap();
        assert_eq!(description.sql, "SELECT * FROM t WHERE a = $1 AND b = $2 OR a = $1::uuid");
        assert_eq!(description.names, ["a", "b"]);
        assert_eq!(description.types, [Type::UUID, Type::INT4]);
    }

    #[test]
    fn a_missing_extra_or_doubled_bind_is_an_error() {
        let missing = Statement::new(&ONE).bind("a", Uuid::nil()).describe().unwrap_err();
        assert!(missing.contains(":b is not bound"), "{missing}");
        let extra = Statement::new(&ONE).bind("a", Uuid::nil()).bind("b", 1i32).bind("c", 1i32).describe().unwrap_err();
        assert!(extra.contains(":c is bound but the statement does not use it"), "{extra}");
        let twice = Statement::new(&ONE).bind("a", Uuid::nil()).bind("a", Uuid::nil()).bind("b", 1i32).describe();
        assert!(twice.unwrap_err().contains(":a is bound twice"));
    }

    #[test]
    fn an_option_binds_as_its_inner_type() {
        static OPT: Sql = Sql { source: file!(), file: "opt.sql", text: "SELECT :x, :y" };
        let d = Statement::new(&OPT).bind("x", None::<String>).bind("y", Some(3i64)).describe().unwrap();
        assert_eq!(d.types, [Type::TEXT, Type::INT8]);
    }

    #[test]
    fn offered_values_may_go_unused_and_the_session_guard_comes_first() {
        let caller =
            crate::auth::Caller { touch_session: true, ..crate::auth::Caller::placeholder(crate::auth::Role::User) };
        let d = Statement::new(&ONE).acting_as(&caller).bind("a", Uuid::nil()).bind("b", 1i32).describe().unwrap();
        assert!(d.sql.starts_with("WITH session_guard AS (\n    INSERT INTO session_guard"), "{}", d.sql);
        assert!(d.sql.contains("session_touch AS ("), "this caller is due: {}", d.sql);
        assert!(d.sql.ends_with("\nSELECT * FROM t WHERE a = $4 AND b = $5 OR a = $4::uuid"), "{}", d.sql);
        assert_eq!(d.names, ["session", "actor", "idle_minutes", "a", "b"]);
        let untouched = Statement::new(&ONE).acting_as(&caller).leaving_session_untouched();
        let d = untouched.bind("a", Uuid::nil()).bind("b", 1i32).describe().unwrap();
        assert!(!d.sql.contains("session_touch"), "{}", d.sql);
    }

    #[test]
    fn the_guard_and_the_audit_wrap_a_template_s_own_ctes() {
        static CTES: Sql = Sql { source: file!(), file: "ctes.sql", text: "WITH x AS (SELECT 1)\nSELECT * FROM x" };
        let caller =
            crate::auth::Caller { touch_session: true, ..crate::auth::Caller::placeholder(crate::auth::Role::User) };
        let meta = RequestMeta::placeholder();
        let d = Statement::new(&CTES).acting_as(&caller).audit(&meta, Audit::new("a", "b")).describe().unwrap();
        let touch = d.sql.find("session_touch AS").unwrap();
        let own = d.sql.find("x AS (SELECT 1)").unwrap();
        let audit = d.sql.find("audit AS").unwrap();
        assert!(d.sql.starts_with("WITH session_touch") && touch < own && own < audit, "{}", d.sql);
        assert!(d.sql.ends_with(")\nSELECT * FROM x"), "{}", d.sql);
        // A one-row audit carries the check; no guard CTE of its own is needed.
        assert!(!d.sql.contains("session_guard"), "{}", d.sql);
        assert!(d.sql.contains("\n    WHERE require_live_session($1, $"), "{}", d.sql);
    }
}
