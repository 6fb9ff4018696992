//! The audit trail: one event per audited request, written by the request's own
//! statement. A handler describes its event with `Audit` and hands it to
//! `Statement::audit`, which composes this module's CTE after the handler's own, so the
//! access and its record commit together in one round trip and the outcome is decided
//! from what the statement did. This is the one place the audit insert is written.
//!
//! Events hold ids only, never names, emails, dates of birth or notes.

use uuid::Uuid;

use crate::db::{Sql, Statement};
use crate::http::RequestMeta;

static EVENT_ONLY: Sql = crate::sql!("sql/event_only.sql");

/// A statement that records just this event, for the few paths that have no statement
/// of their own to ride on.
pub fn event_only(meta: &RequestMeta, audit: Audit) -> Statement {
    Statement::new(&EVENT_ONLY).audit(meta, audit)
}

/// How an audited request ended (the `outcome` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    Denied,
    NotFound,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::NotFound => "not_found",
        }
    }
}

/// How the outcome is decided, from the statement's CTEs (named by the template).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Always(Outcome),
    /// `success` when `done` has a row, else `not_found`.
    Found(&'static str),
    /// `success` when `done` has a row; else `denied` when `target` has one (the record
    /// exists but the write was refused); else `not_found`.
    Refused {
        done: &'static str,
        target: &'static str,
    },
    /// `success` when `done` has a row, else `denied`.
    DoneElseDenied(&'static str),
}

/// Whose or which id an event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// The acting principal (`Statement::acting_as`).
    Principal,
    Value(Option<Uuid>),
    /// An SQL expression over the statement's CTEs, e.g. `(SELECT id FROM created)`.
    Sql(&'static str),
    Nobody,
}

/// One audit event, as a handler describes it.
#[derive(Debug, Clone, Copy)]
pub struct Audit {
    pub(crate) action: &'static str,
    pub(crate) resource_type: &'static str,
    actor: Who,
    resource: Who,
    verdict: Verdict,
    each_row_of: Option<&'static str>,
    /// The organization concerned (an SQL expression), where the statement's access
    /// piece does not say.
    organization: Option<&'static str>,
    /// The emergency grant the event is about (an SQL expression), and whether the
    /// request is an access under it (then `access` and `purpose` are `emergency`).
    emergency_access: Option<(&'static str, bool)>,
    /// How the actor reached the record (an SQL expression), where no one-patient
    /// `reach` of the statement says.
    access: Option<&'static str>,
}

impl Audit {
    /// By the acting principal, about no particular record, always `success` - until
    /// the builders below say otherwise.
    pub fn new(action: &'static str, resource_type: &'static str) -> Self {
        Self {
            action,
            resource_type,
            actor: Who::Principal,
            resource: Who::Nobody,
            verdict: Verdict::Always(Outcome::Success),
            each_row_of: None,
            organization: None,
            emergency_access: None,
            access: None,
        }
    }

    /// How the actor reached the record, as the statement finds it (an SQL expression;
    /// the purpose follows from it).
    pub fn access_from(mut self, sql: &'static str) -> Self {
        self.access = Some(sql);
        self
    }

    /// The organization concerned, as the statement finds it (an SQL expression).
    pub fn organization_from(mut self, sql: &'static str) -> Self {
        self.organization = Some(sql);
        self
    }

    /// About this emergency grant (an SQL expression): its `emergency_access_id`.
    pub fn grant_from(mut self, sql: &'static str) -> Self {
        self.emergency_access = Some((sql, false));
        self
    }

    /// The request that opens this grant (an SQL expression): an access under it, so
    /// `access` and `purpose` are `emergency`.
    pub fn opening_grant(mut self, sql: &'static str) -> Self {
        self.emergency_access = Some((sql, true));
        self
    }

    /// The record concerned.
    pub fn resource(mut self, id: impl Into<Option<Uuid>>) -> Self {
        self.resource = Who::Value(id.into());
        self
    }

    /// The record concerned, as the statement finds it (an SQL expression).
    pub fn resource_from(mut self, sql: &'static str) -> Self {
        self.resource = Who::Sql(sql);
        self
    }

    /// The user acting, where no principal is (sign-in flows).
    pub fn actor(mut self, id: Option<Uuid>) -> Self {
        self.actor = Who::Value(id);
        self
    }

    /// The user acting, as the statement finds them (an SQL expression).
    pub fn actor_from(mut self, sql: &'static str) -> Self {
        self.actor = Who::Sql(sql);
        self
    }

    pub fn outcome(mut self, verdict: Verdict) -> Self {
        self.verdict = verdict;
        self
    }

    /// One event per row of this CTE (none when it is empty), instead of exactly one.
    pub fn for_each_row_of(mut self, cte: &'static str) -> Self {
        self.each_row_of = Some(cte);
        self
    }

    /// Everything that shapes the SQL, without the values: the statement cache's key.
    pub(crate) fn shape(&self) -> AuditShape {
        let who = |who: Who, param: &'static str| match who {
            Who::Principal => "actor",
            Who::Value(_) => param,
            Who::Sql(sql) => sql,
            Who::Nobody => "NULL",
        };
        AuditShape {
            actor: (who(self.actor, "audit_actor"), matches!(self.actor, Who::Principal | Who::Value(_))),
            resource: (who(self.resource, "audit_resource"), matches!(self.resource, Who::Principal | Who::Value(_))),
            verdict: self.verdict,
            each_row_of: self.each_row_of,
            organization: self.organization,
            emergency_access: self.emergency_access,
            access: self.access,
        }
    }

    /// The values the CTE binds, beside action, resource type and the request's.
    pub(crate) fn values(&self) -> impl Iterator<Item = (&'static str, Option<Uuid>)> {
        let actor = match self.actor {
            Who::Value(id) => Some(("audit_actor", id)),
            _ => None,
        };
        let resource = match self.resource {
            Who::Value(id) => Some(("audit_resource", id)),
            _ => None,
        };
        actor.into_iter().chain(resource)
    }
}

/// An `Audit` without its values. Each of `actor` and `resource` is an SQL expression
/// or, when the flag is set, the name of a parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuditShape {
    actor: (&'static str, bool),
    resource: (&'static str, bool),
    verdict: Verdict,
    each_row_of: Option<&'static str>,
    organization: Option<&'static str>,
    emergency_access: Option<(&'static str, bool)>,
    access: Option<&'static str>,
}

/// Where an event's `organization_id`, `access`, `purpose` and `emergency_access_id`
/// come from: the statement's access piece, so they say how the piece let the caller
/// in, in the same statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccessSource {
    /// `reach`, with one row for the patient concerned (or none).
    Reach,
    /// `membership`, with the caller's row in the organization concerned (or none).
    Membership,
    Nothing,
}

impl AuditShape {
    /// Exactly one event, whatever the statement found: the insert's source is then
    /// evaluated exactly once, so a condition on it always runs (see `cte`).
    pub(crate) fn writes_one_row(&self) -> bool {
        self.each_row_of.is_none()
    }

    /// The CTE, named `audit`, with named parameters. `condition`, when given, must hold
    /// for the event to be written; for an audit that `writes_one_row`, it is evaluated
    /// on every execution (the session guard rides here).
    /// `client` is the expression of the app's `client_id` (`:app_client`, or NULL).
    pub(crate) fn cte(&self, condition: Option<&str>, source: AccessSource, client: &str) -> String {
        let expr = |(text, is_param): (&str, bool)| if is_param { format!(":{text}") } else { text.to_owned() };
        let from = self.each_row_of.map(|cte| format!(" FROM {cte}")).unwrap_or_default();
        let condition = condition.map(|c| format!("\n    WHERE {c}")).unwrap_or_default();
        // A one-patient reach has at most one row: joined once, it is read in the same
        // scan as the event's row (three scalar subqueries over it cost ~15% of a
        // GET-by-id's throughput).
        let joins_reach = source == AccessSource::Reach && self.each_row_of.is_none();
        let from = if joins_reach {
            " FROM (SELECT) AS audit_one LEFT JOIN reach audit_reach ON true".to_owned()
        } else {
            from
        };
        let (organization, access, grant) = match source {
            AccessSource::Reach if joins_reach => {
                (Some("audit_reach.organization_id"), "audit_reach.access", "audit_reach.emergency_access_id")
            }
            AccessSource::Reach => (
                Some("(SELECT organization_id FROM reach)"),
                "(SELECT access FROM reach)",
                "(SELECT emergency_access_id FROM reach)",
            ),
            AccessSource::Membership => (Some("(SELECT organization_id FROM membership)"), "NULL::text", "NULL::uuid"),
            AccessSource::Nothing => (None, "NULL::text", "NULL::uuid"),
        };
        let access = self.access.unwrap_or(access);
        let (access, grant) = match self.emergency_access {
            Some((grant, true)) => ("'emergency'", grant),
            Some((grant, false)) => (access, grant),
            None => (access, grant),
        };
        let organization = self.organization.or(organization).unwrap_or("NULL::uuid");
        // The event as whole values, then stored compact (migrations/0015): who and for
        // whom as a context, what happened as a kind, each made on first use by a
        // PL/pgSQL function whose lookup plan is kept per connection. (The lookups written
        // into this statement instead cost more to plan than the calls do to run:
        // docs/BENCHMARKS.md.) The request id comes packed (`request_key`).
        format!(
            "audit AS (\n    INSERT INTO audit_events (resource_id, request_id, source_ip, context, kind)\n    \
             SELECT e.resource_id, :request_key, :source_ip, \
             audit_context_id(e.actor_id, e.organization_id, e.emergency_access_id, e.client_id), \
             audit_kind_id(:audit_action, :audit_resource_type, e.outcome, e.access)\n    \
             FROM (SELECT ({})::uuid AS actor_id, ({})::uuid AS resource_id, {} AS outcome, \
             ({organization})::uuid AS organization_id, ({access})::text AS access, ({grant})::uuid AS emergency_access_id, \
             ({client})::uuid AS client_id{from}{condition}) e\n)",
            expr(self.actor),
            expr(self.resource),
            verdict_sql(self.verdict),
        )
    }
}

fn verdict_sql(verdict: Verdict) -> String {
    let exists = |cte: &str| format!("EXISTS (SELECT 1 FROM {cte})");
    let (success, denied, not_found) =
        (Outcome::Success.as_str(), Outcome::Denied.as_str(), Outcome::NotFound.as_str());
    match verdict {
        Verdict::Always(outcome) => format!("'{}'", outcome.as_str()),
        Verdict::Found(done) => format!("CASE WHEN {} THEN '{success}' ELSE '{not_found}' END", exists(done)),
        Verdict::Refused { done, target } => format!(
            "CASE WHEN {} THEN '{success}' WHEN {} THEN '{denied}' ELSE '{not_found}' END",
            exists(done),
            exists(target)
        ),
        Verdict::DoneElseDenied(done) => format!("CASE WHEN {} THEN '{success}' ELSE '{denied}' END", exists(done)),
    }
}

/// A request id in the 16 bytes an event keeps (`audit_request_key`, migrations/0015,
/// packs it the same way for the events the migration rewrote): a UUID (ours) as it is;
/// API Gateway's base64 ids (up to 14 bytes) in a UUID of version 0 whose byte 6 is 1,
/// byte 0 the length and the rest the bytes; anything else as 15 bytes of its SHA-256
/// around a byte 6 of 2. Packed here, not in the statement: the SQL function is planned
/// into every audited statement, a tenth of a millisecond each.
pub fn request_key(request: &str) -> Uuid {
    use base64::Engine;
    let bytes = request.as_bytes();
    let hyphens = [8, 13, 18, 23].iter().all(|&i| bytes.get(i) == Some(&b'-'));
    if bytes.len() == 36
        && hyphens
        && bytes[14] != b'0'
        && let Ok(id) = Uuid::try_parse(request)
    {
        return id;
    }
    let engine = &base64::engine::general_purpose::STANDARD;
    let body = request.trim_end_matches('=');
    let base64_shaped = (2..=20).contains(&body.len())
        && request.len() - body.len() <= 2
        && request.len().is_multiple_of(4)
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if base64_shaped
        && let Ok(decoded) = engine.decode(request)
        && decoded.len() <= 14
        && engine.encode(&decoded) == request
    {
        let mut padded = [0u8; 14];
        padded[..decoded.len()].copy_from_slice(&decoded);
        let mut key = [0u8; 16];
        key[0] = decoded.len() as u8;
        key[1..6].copy_from_slice(&padded[..5]);
        key[6] = 1;
        key[7..].copy_from_slice(&padded[5..]);
        return Uuid::from_bytes(key);
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest.as_ref()[..16]);
    key[6] = 2;
    Uuid::from_bytes(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cte_names_its_parameters_and_decides_the_outcome_from_the_statement() {
        let audit = Audit::new("patient.update", "patient")
            .resource(Uuid::nil())
            .outcome(Verdict::Refused { done: "updated", target: "target" });
        let cte = audit.shape().cte(None, AccessSource::Nothing, "NULL::uuid");
        assert!(
            cte.contains("SELECT (:actor)::uuid AS actor_id, (:audit_resource)::uuid AS resource_id, CASE"),
            "{cte}"
        );
        assert!(cte.contains("WHEN EXISTS (SELECT 1 FROM updated) THEN 'success' WHEN EXISTS (SELECT 1 FROM target) THEN 'denied' ELSE 'not_found' END"), "{cte}");
        assert!(
            cte.contains(
                ":request_key, :source_ip, audit_context_id(e.actor_id, e.organization_id, \
                          e.emergency_access_id, e.client_id), audit_kind_id(:audit_action, :audit_resource_type, \
                          e.outcome, e.access)"
            ),
            "{cte}"
        );
        assert_eq!(audit.values().collect::<Vec<_>>(), [("audit_resource", Some(Uuid::nil()))]);
    }

    #[test]
    fn per_row_events_read_their_ids_from_the_rows() {
        let audit =
            Audit::new("auth.logout", "user").actor_from("user_id").resource_from("user_id").for_each_row_of("family");
        let cte = audit.shape().cte(None, AccessSource::Nothing, "NULL::uuid");
        assert!(cte.contains("SELECT (user_id)::uuid AS actor_id, (user_id)::uuid AS resource_id, 'success' AS outcome, (NULL::uuid)::uuid AS organization_id, (NULL::text)::text AS access, (NULL::uuid)::uuid AS emergency_access_id, (NULL::uuid)::uuid AS client_id FROM family) e"), "{cte}");
        assert_eq!(audit.values().count(), 0);
    }

    #[test]
    fn request_ids_pack_into_sixteen_bytes() {
        let ours = "01a25163-3834-7374-8834-a3cd18016f8e";
        assert_eq!(request_key(ours).to_string(), ours);
        let gateway = request_key("JKJaXmPLvHcESHA=");
        assert_eq!(&gateway.as_bytes()[..1], &[11]);
        assert_eq!(gateway.as_bytes()[6], 1);
        // Not a UUID of a version, not canonical base64, not base64 at all: hashed.
        for other in ["00000000-0000-0000-0000-000000000000", "AAB=", "ops:x", "", "a"] {
            assert_eq!(request_key(other).as_bytes()[6], 2, "{other}");
        }
    }
}
