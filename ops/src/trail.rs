//! The audit trail as the operator's commands see it: each event as one canonical line
//! (what an archive holds, and what a seal hashes), read from Postgres in id order a
//! batch at a time, and hashed in chunks.
//!
//! The line is written here, field by field, in a fixed order and format - never left to
//! Postgres's JSON output, whose formats follow session settings - so a seal computed
//! from Postgres today matches the same events read back from an archive in six years.

use aws_lc_rs::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};
use shared::db::{Sql, Statement};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

static BATCH: Sql = shared::sql!("sql/trail_batch.sql");

/// Events per chunk of a seal: a removed, added or changed event is reported with the ids
/// of its chunk.
pub const CHUNK_EVENTS: usize = 1000;

/// Events read per statement.
pub const READ_BATCH: i64 = 5000;

/// One audit event, whole: `audit_trail`'s columns. Field order is the line's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    /// RFC 3339, UTC, to the millisecond (the id's instant).
    pub at: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<Uuid>,
    pub outcome: String,
    pub actor_id: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub access: Option<String>,
    pub purpose: Option<String>,
    pub emergency_access_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub request_id: String,
    pub source_ip: Option<String>,
}

impl Event {
    /// An event from a row of `batch_statement`.
    pub fn from_row(row: &Row) -> Result<Self, String> {
        let get = |e: tokio_postgres::Error| format!("reading an audit event: {e}");
        let at: OffsetDateTime = row.try_get("at").map_err(get)?;
        Ok(Self {
            id: row.try_get("id").map_err(get)?,
            at: instant(at),
            action: row.try_get("action").map_err(get)?,
            resource_type: row.try_get("resource_type").map_err(get)?,
            resource_id: row.try_get("resource_id").map_err(get)?,
            outcome: row.try_get("outcome").map_err(get)?,
            actor_id: row.try_get("actor_id").map_err(get)?,
            organization_id: row.try_get("organization_id").map_err(get)?,
            access: row.try_get("access").map_err(get)?,
            purpose: row.try_get("purpose").map_err(get)?,
            emergency_access_id: row.try_get("emergency_access_id").map_err(get)?,
            client_id: row.try_get("client_id").map_err(get)?,
            request_id: row.try_get("request_id").map_err(get)?,
            source_ip: row.try_get("source_ip").map_err(get)?,
        })
    }

    /// The canonical line: compact JSON, these fields in this order, no newline.
    pub fn line(&self) -> String {
        // Serialising plain strings, uuids and options cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An instant as the line writes it: `2026-12-07T16:43:06.676Z`.
pub fn instant(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let millis = at.replace_nanosecond(at.millisecond() as u32 * 1_000_000).unwrap_or(at);
    millis.format(&Rfc3339).unwrap_or_default()
}

/// The events with `lower <= id < upper`, in id order, handed to `each` a batch at a time.
pub async fn each_event(
    client: &Client,
    lower: Uuid,
    upper: Uuid,
    mut each: impl FnMut(Event) -> Result<(), String>,
) -> Result<(), String> {
    let mut after: Option<Uuid> = None;
    loop {
        let rows = batch_statement(lower, upper, after).query_client(client).await?;
        for row in &rows {
            let event = Event::from_row(row)?;
            after = Some(event.id);
            each(event)?;
        }
        if (rows.len() as i64) < READ_BATCH {
            return Ok(());
        }
    }
}

pub(crate) fn batch_statement(lower: Uuid, upper: Uuid, after: Option<Uuid>) -> Statement {
    // A range's lower bound has no version bits, so no event's id equals it (seal::bound).
    let after = after.unwrap_or(lower);
    reads(Statement::new(&BATCH).bind("after", after).bind("upper", upper).bind("batch", READ_BATCH))
}

/// The columns an `Event` is read from.
pub(crate) fn reads(statement: Statement) -> Statement {
    statement.reads(&[
        ("id", Type::UUID),
        ("at", Type::TIMESTAMPTZ),
        ("action", Type::TEXT),
        ("resource_type", Type::TEXT),
        ("resource_id", Type::UUID),
        ("outcome", Type::TEXT),
        ("actor_id", Type::UUID),
        ("organization_id", Type::UUID),
        ("access", Type::TEXT),
        ("purpose", Type::TEXT),
        ("emergency_access_id", Type::UUID),
        ("client_id", Type::UUID),
        ("request_id", Type::TEXT),
        ("source_ip", Type::TEXT),
    ])
}

/// One chunk of a seal: where it starts, how many events, and their digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub first_id: Uuid,
    pub events: i32,
    /// SHA-256 of the chunk's lines, each with its newline, in id order; hex.
    pub digest: String,
}

/// Cuts a run of events, in id order, into chunks of `CHUNK_EVENTS` and hashes each.
#[derive(Default)]
pub struct Chunker {
    chunks: Vec<Chunk>,
    open: Option<(Uuid, i32, Context)>,
}

impl Chunker {
    pub fn push(&mut self, line: &str, id: Uuid) {
        let (_, events, context) = self.open.get_or_insert_with(|| (id, 0, Context::new(&SHA256)));
        context.update(line.as_bytes());
        context.update(b"\n");
        *events += 1;
        if *events as usize == CHUNK_EVENTS {
            self.close();
        }
    }

    fn close(&mut self) {
        if let Some((first_id, events, context)) = self.open.take() {
            self.chunks.push(Chunk { first_id, events, digest: hex(context.finish().as_ref()) });
        }
    }

    pub fn finish(mut self) -> Vec<Chunk> {
        self.close();
        self.chunks
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_every_field_in_order_and_millisecond_instants() {
        let event = Event {
            id: Uuid::nil(),
            at: instant(time::macros::datetime!(2026-12-07 16:43:06.676123 UTC)),
            action: "patient.read".into(),
            resource_type: "patient".into(),
            resource_id: None,
            outcome: "success".into(),
            actor_id: None,
            organization_id: None,
            access: Some("clinician".into()),
            purpose: Some("treatment".into()),
            emergency_access_id: None,
            client_id: None,
            request_id: "JKJaXmPLvHcESHA=".into(),
            source_ip: Some("203.0.113.7".into()),
        };
        assert_eq!(
            event.line(),
            r#"{"id":"00000000-0000-0000-0000-000000000000","at":"2026-12-07T16:43:06.676Z","action":"patient.read","resource_type":"patient","resource_id":null,"outcome":"success","actor_id":null,"organization_id":null,"access":"clinician","purpose":"treatment","emergency_access_id":null,"client_id":null,"request_id":"JKJaXmPLvHcESHA=","source_ip":"203.0.113.7"}"#
        );
        let back: Event = serde_json::from_str(&event.line()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn chunks_hold_a_thousand_events_each_and_the_rest() {
        let mut chunker = Chunker::default();
        for n in 0..2500u128 {
            chunker.push("x", Uuid::from_u128(n));
        }
        let chunks = chunker.finish();
        let counts: Vec<i32> = chunks.iter().map(|c| c.events).collect();
        assert_eq!(counts, [1000, 1000, 500]);
        assert_eq!(chunks[1].first_id, Uuid::from_u128(1000));
        assert_eq!(chunks[0].digest, chunks[1].digest, "the same lines, the same digest");
        assert_ne!(chunks[1].digest, chunks[2].digest);
    }
}
