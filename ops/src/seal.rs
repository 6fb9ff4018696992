//! Tamper evidence for the audit trail: `seal-audit` and `verify-audit`.
//!
//! A seal covers a range of event ids (ids are UUIDv7, so a range is a span of time), never
//! more than one month: the events in it, in id order, cut into chunks of a thousand, each
//! chunk's lines hashed (SHA-256), and the seal's digest over the range and its chunks.
//! Seals are chained: each one's hash is SHA-256 of the previous seal's hash and its own
//! digest, so removing, editing or reordering seals breaks the chain too. Seals go in the
//! append-only `audit_seals`, are logged (a copy outside the database: compare the last
//! hash logged with the table's), and go into each archived month's manifest.
//!
//! `verify-audit` recomputes every seal from the events as they are now - in Postgres, or
//! in the archive for a month that was archived - and reports each chunk whose events
//! were removed, added or changed, and each break in the chain.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{Context, SHA256};
use serde::{Deserialize, Serialize};
use shared::db::{Sql, Statement};
use time::{Date, Duration, Month, OffsetDateTime, Time, UtcOffset};
use tokio_postgres::Client;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::trail::{Chunk, Chunker, each_event, hex};

static LAST: Sql = shared::sql!("sql/seal_last.sql");
static FIRST_EVENT: Sql = shared::sql!("sql/trail_first.sql");
static INSERT: Sql = shared::sql!("sql/seal_insert.sql");
static SEALS: Sql = shared::sql!("sql/seals.sql");

/// Events may commit a moment after their id's instant: a seal ends at least this long ago.
pub const SETTLE: Duration = Duration::minutes(1);

/// A seal, as stored and as an archive's manifest holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub id: i64,
    /// The first day of the month its events are in.
    pub month: Date,
    pub lower_id: Uuid,
    pub upper_id: Uuid,
    pub events: i64,
    pub chunks: Vec<Chunk>,
    /// Hex SHA-256s: its digest, the previous seal's hash (empty for the first), its hash.
    pub digest: String,
    pub previous: String,
    pub hash: String,
}

/// The first possible id at `at` (to the millisecond): a range bound, as the audit
/// partitions' bounds are made (`audit_month_bound`, migrations/0006).
pub fn bound(at: OffsetDateTime) -> Uuid {
    let ms = (at.unix_timestamp_nanos() / 1_000_000) as u64;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes)
}

/// The instant of a UUIDv7 (or of a bound).
pub fn instant_of(id: Uuid) -> OffsetDateTime {
    let mut ms = [0u8; 8];
    ms[2..].copy_from_slice(&id.as_bytes()[..6]);
    OffsetDateTime::from_unix_timestamp_nanos(i64::from_be_bytes(ms) as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub fn month_start(day: Date) -> Date {
    day.replace_day(1).unwrap_or(day)
}

pub fn next_month(month: Date) -> Date {
    let (year, next) = match month.month() {
        Month::December => (month.year() + 1, Month::January),
        other => (month.year(), other.next()),
    };
    Date::from_calendar_date(year, next, 1).unwrap_or(month)
}

pub fn midnight(day: Date) -> OffsetDateTime {
    day.with_time(Time::MIDNIGHT).assume_offset(UtcOffset::UTC)
}

/// A seal's digest: its range, its count and its chunks, in a fixed text.
fn digest(lower: Uuid, upper: Uuid, events: i64, chunks: &[Chunk]) -> String {
    let mut context = Context::new(&SHA256);
    context.update(format!("healthcare-api audit seal v1\n{lower}\n{upper}\n{events}\n").as_bytes());
    for chunk in chunks {
        context.update(format!("{},{},{}\n", chunk.first_id, chunk.events, chunk.digest).as_bytes());
    }
    hex(context.finish().as_ref())
}

/// A seal's hash: the previous seal's hash, then its digest.
fn chained(previous: &str, digest: &str) -> String {
    let mut context = Context::new(&SHA256);
    context.update(previous.as_bytes());
    context.update(digest.as_bytes());
    hex(context.finish().as_ref())
}

/// Seals the events up to `until` (at least a minute ago) that no seal covers yet, a month
/// at a time; answers the seals made (none when all is sealed already).
pub async fn seal(client: &Client, until: OffsetDateTime) -> Result<Vec<Seal>, String> {
    if until > OffsetDateTime::now_utc() - SETTLE {
        return Err("--until must be at least a minute ago: events may still be committing".into());
    }
    let upper_bound = bound(until);
    let last = last_statement().query_client(client).await?;
    let (mut lower, mut previous) = match last.first() {
        Some(row) => {
            let upper: Uuid = row.try_get("upper_id").map_err(|e| e.to_string())?;
            (upper, row.try_get::<_, String>("hash").map_err(|e| e.to_string())?)
        }
        None => {
            let rows = first_statement().query_client(client).await?;
            let first: Option<Uuid> = rows.first().and_then(|r| r.try_get("first").ok()).flatten();
            // From the first month with an event (or, with none, the month being sealed).
            let day = first.map_or(until.date(), |id| instant_of(id).date());
            (bound(midnight(month_start(day))), String::new())
        }
    };
    let mut made = Vec::new();
    while lower < upper_bound {
        let month = month_start(instant_of(lower).date());
        let upper = upper_bound.min(bound(midnight(next_month(month))));
        let mut chunker = Chunker::default();
        let mut events = 0i64;
        each_event(client, lower, upper, |event| {
            chunker.push(&event.line(), event.id);
            events += 1;
            Ok(())
        })
        .await?;
        let chunks = chunker.finish();
        let digest = digest(lower, upper, events, &chunks);
        let hash = chained(&previous, &digest);
        let mut seal = Seal { id: 0, month, lower_id: lower, upper_id: upper, events, chunks, digest, previous, hash };
        let rows = insert_statement(&seal, until).query_client(client).await.map_err(|e| {
            if e.contains("23505") { "another seal-audit sealed at the same time; run it again".to_string() } else { e }
        })?;
        seal.id = rows.first().and_then(|r| r.try_get("id").ok()).ok_or("the seal was not stored")?;
        // The copy outside the database: every seal's hash in the operator's log.
        tracing::info!(seal = seal.id, month = %seal.month, events = seal.events, hash = %seal.hash, "audit sealed");
        lower = upper;
        previous = seal.hash.clone();
        made.push(seal);
    }
    Ok(made)
}

/// Every seal, in order, with its chunks; those of `month` only when given.
pub async fn seals(client: &Client, month: Option<Date>) -> Result<Vec<Seal>, String> {
    let rows = seals_statement(month).query_client(client).await?;
    let mut seals: BTreeMap<i64, Seal> = BTreeMap::new();
    for row in &rows {
        let get = |e: tokio_postgres::Error| format!("reading a seal: {e}");
        let id: i64 = row.try_get("id").map_err(get)?;
        let seal = match seals.get_mut(&id) {
            Some(seal) => seal,
            None => seals.entry(id).or_insert(Seal {
                id,
                month: row.try_get("month").map_err(get)?,
                lower_id: row.try_get("lower_id").map_err(get)?,
                upper_id: row.try_get("upper_id").map_err(get)?,
                events: row.try_get("events").map_err(get)?,
                chunks: Vec::new(),
                digest: row.try_get("digest").map_err(get)?,
                previous: row.try_get("previous").map_err(get)?,
                hash: row.try_get("hash").map_err(get)?,
            }),
        };
        if let Some(first_id) = row.try_get::<_, Option<Uuid>>("first_id").map_err(get)? {
            seal.chunks.push(Chunk {
                first_id,
                events: row.try_get("chunk_events").map_err(get)?,
                digest: row.try_get("chunk_digest").map_err(get)?,
            });
        }
    }
    Ok(seals.into_values().collect())
}

/// What is wrong with the chain itself: a seal edited (its digest or hash no longer what
/// its contents make), removed or put back (a previous hash that is not the one before).
pub fn chain_problems(seals: &[Seal]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut before: Option<&Seal> = None;
    for seal in seals {
        let where_ = format!("seal {} ({})", seal.id, seal.month);
        if digest(seal.lower_id, seal.upper_id, seal.events, &seal.chunks) != seal.digest
            || chained(&seal.previous, &seal.digest) != seal.hash
        {
            problems.push(format!("{where_}: its hash does not match what it says it sealed (the seal was edited)"));
        }
        if let Some(before) = before {
            if seal.previous != before.hash {
                problems
                    .push(format!("{where_}: it does not follow seal {} (a seal was removed or replaced)", before.id));
            }
            if seal.lower_id != before.upper_id {
                problems.push(format!("{where_}: its range does not start where seal {} ended", before.id));
            }
        }
        before = Some(seal);
    }
    problems
}

/// Compares events as they are now, in id order, with what one seal recorded; `lines`
/// yields each event's id and its line as it is stored (from Postgres: made afresh; from
/// an archive: as written). Answers the problems found.
pub struct Comparison<'s> {
    seal: &'s Seal,
    /// Per chunk (and one before the first chunk): events seen, and their digest.
    seen: Vec<(i64, Context)>,
    chunk: usize,
    last: Option<Uuid>,
    out_of_order: Option<u64>,
    line: u64,
}

impl<'s> Comparison<'s> {
    pub fn new(seal: &'s Seal) -> Self {
        let seen = (0..=seal.chunks.len()).map(|_| (0, Context::new(&SHA256))).collect();
        Self { seal, seen, chunk: 0, last: None, out_of_order: None, line: 0 }
    }

    pub fn push(&mut self, id: Uuid, line: &[u8]) {
        self.line += 1;
        if self.last.is_some_and(|last| id <= last) && self.out_of_order.is_none() {
            self.out_of_order = Some(self.line);
        }
        self.last = Some(id);
        let chunks = &self.seal.chunks;
        // Slot 0: before the first chunk; slot i + 1: chunk i.
        let slot = match chunks.first() {
            Some(first) if id >= first.first_id => {
                while self.chunk + 1 < chunks.len() && id >= chunks[self.chunk + 1].first_id {
                    self.chunk += 1;
                }
                while self.chunk > 0 && id < chunks[self.chunk].first_id {
                    self.chunk -= 1;
                }
                self.chunk + 1
            }
            _ => 0,
        };
        let (count, context) = &mut self.seen[slot];
        *count += 1;
        context.update(line);
        context.update(b"\n");
    }

    pub fn problems(self, source: &str) -> Vec<String> {
        let seal = self.seal;
        let mut problems = Vec::new();
        let where_ = format!("seal {} ({}, {source})", seal.id, seal.month);
        if let Some(line) = self.out_of_order {
            problems.push(format!("{where_}: events out of id order from line {line} (reordered)"));
        }
        let mut seen = self.seen.into_iter();
        if let Some((extra, _)) = seen.next()
            && extra > 0
        {
            problems.push(format!("{where_}: {extra} event(s) added before its first sealed chunk"));
        }
        for (n, ((count, context), chunk)) in seen.zip(&seal.chunks).enumerate() {
            let next = seal.chunks.get(n + 1).map_or(seal.upper_id, |c| c.first_id);
            let ids = format!("ids from {} up to {next}", chunk.first_id);
            let sealed = i64::from(chunk.events);
            if count < sealed {
                problems.push(format!("{where_}: {} event(s) removed among {ids}", sealed - count));
            } else if count > sealed {
                problems.push(format!("{where_}: {} event(s) added among {ids}", count - sealed));
            } else if hex(context.finish().as_ref()) != chunk.digest {
                problems.push(format!("{where_}: event(s) changed among {ids}"));
            }
        }
        problems
    }
}

/// Recomputes `seal` from Postgres.
pub async fn compare_with_postgres(client: &Client, seal: &Seal) -> Result<Vec<String>, String> {
    let mut comparison = Comparison::new(seal);
    each_event(client, seal.lower_id, seal.upper_id, |event| {
        comparison.push(event.id, event.line().as_bytes());
        Ok(())
    })
    .await?;
    Ok(comparison.problems("Postgres"))
}

fn last_statement() -> Statement {
    Statement::new(&LAST).reads(&[("upper_id", Type::UUID), ("hash", Type::TEXT)])
}

fn first_statement() -> Statement {
    Statement::new(&FIRST_EVENT).reads(&[("first", Type::UUID)])
}

fn insert_statement(seal: &Seal, until: OffsetDateTime) -> Statement {
    Statement::new(&INSERT)
        .bind("month", seal.month)
        .bind("lower_id", seal.lower_id)
        .bind("upper_id", seal.upper_id)
        .bind("sealed_until", until)
        .bind("events", seal.events)
        .bind("digest", seal.digest.clone())
        .bind("previous", Some(seal.previous.clone()).filter(|p| !p.is_empty()))
        .bind("hash", seal.hash.clone())
        .bind("first_ids", seal.chunks.iter().map(|c| c.first_id).collect::<Vec<_>>())
        .bind("counts", seal.chunks.iter().map(|c| c.events).collect::<Vec<_>>())
        .bind("digests", seal.chunks.iter().map(|c| c.digest.clone()).collect::<Vec<_>>())
        .reads(&[("id", Type::INT8)])
}

fn seals_statement(month: Option<Date>) -> Statement {
    Statement::new(&SEALS).bind("month", month).reads(&[
        ("id", Type::INT8),
        ("month", Type::DATE),
        ("lower_id", Type::UUID),
        ("upper_id", Type::UUID),
        ("events", Type::INT8),
        ("digest", Type::TEXT),
        ("previous", Type::TEXT),
        ("hash", Type::TEXT),
        ("first_id", Type::UUID),
        ("chunk_events", Type::INT4),
        ("chunk_digest", Type::TEXT),
    ])
}

pub(crate) fn statements() -> Vec<Statement> {
    let seal = Seal {
        id: 0,
        month: Date::MIN,
        lower_id: Uuid::nil(),
        upper_id: Uuid::nil(),
        events: 0,
        chunks: Vec::new(),
        digest: String::new(),
        previous: String::new(),
        hash: String::new(),
    };
    vec![
        last_statement(),
        first_statement(),
        insert_statement(&seal, OffsetDateTime::UNIX_EPOCH),
        seals_statement(None),
        crate::trail::batch_statement(Uuid::nil(), Uuid::nil(), None),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_the_partitions_and_round_trip_their_instant() {
        let at = time::macros::datetime!(2026-11-01 00:00 UTC);
        assert_eq!(instant_of(bound(at)), at);
        assert_eq!(&bound(at).as_bytes()[6..], &[0; 10], "no version or variant bits: below every id of that instant");
        assert!(bound(at) < bound(at + Duration::milliseconds(1)));
        assert_eq!(next_month(time::macros::date!(2026 - 12 - 01)), time::macros::date!(2027 - 01 - 01));
    }

    #[test]
    fn a_comparison_names_what_was_removed_added_changed_or_reordered() {
        let ids: Vec<Uuid> = (1..=2500u128).map(Uuid::from_u128).collect();
        let mut chunker = Chunker::default();
        for id in &ids {
            chunker.push(&format!("line {id}"), *id);
        }
        let chunks = chunker.finish();
        let seal = Seal {
            id: 7,
            month: time::macros::date!(2026 - 11 - 01),
            lower_id: Uuid::nil(),
            upper_id: Uuid::from_u128(9999),
            events: 2500,
            digest: digest(Uuid::nil(), Uuid::from_u128(9999), 2500, &chunks),
            chunks,
            previous: String::new(),
            hash: String::new(),
        };
        let run = |lines: Vec<(Uuid, String)>| {
            let mut comparison = Comparison::new(&seal);
            for (id, line) in &lines {
                comparison.push(*id, line.as_bytes());
            }
            comparison.problems("test")
        };
        let as_sealed: Vec<(Uuid, String)> = ids.iter().map(|id| (*id, format!("line {id}"))).collect();
        assert!(run(as_sealed.clone()).is_empty());
        let mut removed = as_sealed.clone();
        removed.remove(1500);
        assert_eq!(run(removed).len(), 1, "only the removal's chunk");
        let mut changed = as_sealed.clone();
        changed[10].1.push('!');
        assert!(run(changed)[0].contains("changed among ids from"));
        let mut added = as_sealed.clone();
        added.insert(2100, (Uuid::from_u128(2100), "an extra".into()));
        assert!(run(added).iter().any(|p| p.contains("1 event(s) added")));
        let mut reordered = as_sealed;
        reordered.swap(3, 4);
        let problems = run(reordered);
        assert!(problems[0].contains("reordered") && problems[1].contains("changed"), "{problems:?}");
    }
}
