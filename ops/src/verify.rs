//! Reading the whole audit trail back, Postgres and archive together: `verify-audit`
//! (every seal recomputed from the events as they are now) and `access-report` (every
//! access to one patient, six years of it, for an accounting of disclosures).

use serde::Serialize;
use shared::db::{Sql, Statement};
use shared::s3::Bucket;
use time::Date;
use tokio_postgres::Client;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::archive::{archived, read_lines, read_month};
use crate::seal::{Seal, chain_problems, compare_with_postgres, seals};
use crate::trail::{Event, READ_BATCH};

static OLDER: Sql = shared::sql!("sql/trail_older.sql");
static PATIENT_EVENTS: Sql = shared::sql!("sql/trail_patient.sql");
static NAMES: Sql = shared::sql!("sql/user_names.sql");

/// What `verify-audit` found: the seals and events it checked, and every problem.
#[derive(Debug, Default)]
pub struct Verified {
    pub seals: usize,
    pub events: i64,
    pub problems: Vec<String>,
}

/// Recomputes every seal (those of `month`, when given; the chain always whole) from
/// Postgres, or from the archive for an archived month.
pub async fn verify(client: &Client, bucket: Option<&Bucket>, month: Option<Date>) -> Result<Verified, String> {
    let all = seals(client, None).await?;
    let mut verified = Verified { problems: chain_problems(&all), ..Verified::default() };
    if let Some(first) = all.first() {
        let older: i64 = older_statement(first.lower_id)
            .query_client(client)
            .await?
            .first()
            .and_then(|r| r.try_get("events").ok())
            .unwrap_or(0);
        if older > 0 {
            verified.problems.push(format!("{older} event(s) older than every seal were added"));
        }
    }
    let archives = archived(client).await?;
    let mut months: Vec<Date> = all.iter().map(|s| s.month).filter(|m| month.is_none_or(|asked| asked == *m)).collect();
    months.dedup();
    for each in months {
        let of_month: Vec<Seal> = all.iter().filter(|s| s.month == each).cloned().collect();
        verified.seals += of_month.len();
        verified.events += of_month.iter().map(|s| s.events).sum::<i64>();
        match archives.iter().find(|(m, _, _)| *m == each) {
            Some((_, key, sha256)) => {
                let bucket = bucket.ok_or("a month is archived but AUDIT_ARCHIVE_BUCKET is not set")?;
                let (_, _, read_sha256, problems) = read_month(bucket, key, &of_month).await?;
                verified.problems.extend(problems);
                if &read_sha256 != sha256 {
                    verified
                        .problems
                        .push(format!("{each}: the archived object is not the one written (its SHA-256 changed)"));
                }
            }
            None => {
                for seal in &of_month {
                    verified.problems.extend(compare_with_postgres(client, seal).await?);
                }
            }
        }
    }
    Ok(verified)
}

/// One access to a patient, as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Access {
    pub at: String,
    pub action: String,
    pub outcome: String,
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    pub access: Option<String>,
    pub purpose: Option<String>,
    pub organization_id: Option<Uuid>,
    pub emergency_access_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub request_id: String,
    #[serde(skip)]
    id: Uuid,
}

impl From<Event> for Access {
    fn from(e: Event) -> Self {
        Self {
            at: e.at,
            action: e.action,
            outcome: e.outcome,
            actor_id: e.actor_id,
            actor_name: None,
            access: e.access,
            purpose: e.purpose,
            organization_id: e.organization_id,
            emergency_access_id: e.emergency_access_id,
            client_id: e.client_id,
            request_id: e.request_id,
            id: e.id,
        }
    }
}

/// Every event about `patient`, oldest first: the archived months' and Postgres's, with
/// each actor's name where the account still exists.
pub async fn access_report(client: &Client, bucket: Option<&Bucket>, patient: Uuid) -> Result<Vec<Access>, String> {
    let mut found: Vec<Access> = Vec::new();
    for (_, key, _) in archived(client).await? {
        let bucket = bucket.ok_or("months are archived but AUDIT_ARCHIVE_BUCKET is not set")?;
        read_lines(bucket, &key, |event, _| {
            if event.resource_type == "patient" && event.resource_id == Some(patient) {
                found.push(Access::from(event.clone()));
            }
        })
        .await?;
    }
    let mut after = None;
    loop {
        let rows = patient_statement(patient, after).query_client(client).await?;
        for row in &rows {
            let event = Event::from_row(row)?;
            after = Some(event.id);
            found.push(Access::from(event));
        }
        if (rows.len() as i64) < READ_BATCH {
            break;
        }
    }
    found.sort_by_key(|a| a.id);
    let actors: Vec<Uuid> = found.iter().filter_map(|a| a.actor_id).collect();
    let names = names_statement(actors).query_client(client).await?;
    for access in &mut found {
        access.actor_name = names.iter().find_map(|r| {
            (r.try_get::<_, Uuid>("id").ok() == access.actor_id).then(|| r.try_get("name").ok()).flatten()
        });
    }
    Ok(found)
}

/// The report as CSV: a header, then a row per access.
pub fn csv(accesses: &[Access]) -> String {
    let field = |v: Option<String>| {
        let v = v.unwrap_or_default();
        if v.contains([',', '"', '\n']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v }
    };
    let mut out = String::from(
        "at,action,outcome,actor_id,actor_name,access,purpose,organization_id,emergency_access_id,client_id,request_id\n",
    );
    for a in accesses {
        let cells = [
            Some(a.at.clone()),
            Some(a.action.clone()),
            Some(a.outcome.clone()),
            a.actor_id.map(|v| v.to_string()),
            a.actor_name.clone(),
            a.access.clone(),
            a.purpose.clone(),
            a.organization_id.map(|v| v.to_string()),
            a.emergency_access_id.map(|v| v.to_string()),
            a.client_id.map(|v| v.to_string()),
            Some(a.request_id.clone()),
        ];
        out += &cells.into_iter().map(field).collect::<Vec<_>>().join(",");
        out.push('\n');
    }
    out
}

fn older_statement(lower: Uuid) -> Statement {
    Statement::new(&OLDER).bind("lower", lower).reads(&[("events", Type::INT8)])
}

fn patient_statement(patient: Uuid, after: Option<Uuid>) -> Statement {
    crate::trail::reads(
        Statement::new(&PATIENT_EVENTS).bind("patient", patient).bind("after", after).bind("batch", READ_BATCH),
    )
}

fn names_statement(actors: Vec<Uuid>) -> Statement {
    Statement::new(&NAMES).bind("ids", actors).reads(&[("id", Type::UUID), ("name", Type::TEXT)])
}

pub(crate) fn statements() -> Vec<Statement> {
    vec![older_statement(Uuid::nil()), patient_statement(Uuid::nil(), None), names_statement(Vec::new())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::instant;

    #[test]
    fn csv_quotes_what_needs_it() {
        let event = Event {
            id: Uuid::nil(),
            at: instant(time::macros::datetime!(2026-12-07 10:00 UTC)),
            action: "patient.read".into(),
            resource_type: "patient".into(),
            resource_id: Some(Uuid::nil()),
            outcome: "success".into(),
            actor_id: None,
            organization_id: None,
            access: None,
            purpose: None,
            emergency_access_id: None,
            client_id: None,
            request_id: "r".into(),
            source_ip: None,
        };
        let mut access = Access::from(event);
        access.actor_name = Some("Lovelace, \"Ada\"".into());
        let text = csv(&[access]);
        assert!(text.lines().nth(1).unwrap().contains(r#","Lovelace, ""Ada""","#), "{text}");
    }
}
