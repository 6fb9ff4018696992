//! The audit trail's old months in S3: `archive-audit` and what reads the archive back
//! (`verify-audit` of an archived month, `access-report`).
//!
//! A month older than `AUDIT_HOT_MONTHS` (and sealed: `crate::seal`) is written as one
//! gzip-compressed ndjson object - each event's canonical line (`crate::trail`), in id
//! order - by a multipart upload, a part at a time, under S3 Object Lock in compliance
//! mode until `AUDIT_RETENTION_MONTHS` after the month, with a manifest beside it (counts,
//! first and last id, the object's SHA-256, the month's seals). Before and while it is
//! written every event is checked against its seal; once written it is read back whole
//! and checked again; only then, in one transaction, is the month recorded as archived
//! and its partition dropped. Any failure leaves the partition where it was.

use std::io::Write;

use aws_lc_rs::digest::{Context, SHA256};
use flate2::Compression;
use flate2::write::{GzDecoder, GzEncoder};
use hyper::body::Bytes;
use serde::{Deserialize, Serialize};
use shared::db::{Sql, Statement};
use shared::s3::{Bucket, Part};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use tokio_postgres::Client;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::seal::{Comparison, Seal, bound, midnight, next_month, seals};
use crate::trail::{Event, READ_BATCH, batch_statement, hex};

static ARCHIVABLE: Sql = shared::sql!("sql/archive_months.sql");
static ARCHIVED: Sql = shared::sql!("sql/archived_months.sql");
static RECORD: Sql = shared::sql!("sql/archive_record.sql");

/// Compressed bytes held before a part is uploaded: S3's least part, 5 MiB, growing by as
/// much every thousand parts - an upload has 10,000 parts at most, so a month may reach
/// 290 GB compressed (about 7 billion events) where fixed 5 MiB parts would stop at 49 GB.
const PART_BYTES: usize = 5 * 1024 * 1024;

fn part_bytes(parts_so_far: usize) -> usize {
    PART_BYTES * (1 + parts_so_far / 1000)
}

/// Where archives go, and for how long they are kept.
pub struct ArchiveConfig {
    pub bucket: Bucket,
    /// Months kept in Postgres besides this one (`AUDIT_HOT_MONTHS`, default 3).
    pub hot_months: i32,
    /// Object Lock's retention, from the month's end (`AUDIT_RETENTION_MONTHS`).
    pub retention_months: i32,
    /// `AUDIT_ARCHIVE_STORAGE_CLASS`, default `GLACIER_IR`: read rarely, at once when asked.
    pub storage_class: String,
}

/// What an archived month's manifest says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub month: Date,
    pub object: String,
    pub events: i64,
    pub first_id: Option<Uuid>,
    pub last_id: Option<Uuid>,
    /// The object's size and SHA-256 (hex), compressed.
    pub bytes: i64,
    pub sha256: String,
    pub retain_until: String,
    pub seals: Vec<Seal>,
}

pub fn object_key(month: Date) -> String {
    format!("audit/{:04}-{:02}/events.ndjson.gz", month.year(), month.month() as u8)
}

fn manifest_key(month: Date) -> String {
    format!("audit/{:04}-{:02}/manifest.json", month.year(), month.month() as u8)
}

/// Archives every month older than the hot months, oldest first; answers the months
/// archived. Stops at the first month that cannot be (its partition stays).
pub async fn archive(client: &Client, config: &ArchiveConfig) -> Result<Vec<Date>, String> {
    let rows = archivable_statement(config.hot_months).query_client(client).await?;
    let mut done = Vec::new();
    for row in &rows {
        let month: Date = row.try_get("month").map_err(|e| e.to_string())?;
        archive_month(client, config, month).await.map_err(|e| {
            let before = if done.is_empty() { String::new() } else { format!(" (archived before it: {done:?})") };
            format!("archiving {month}: {e}{before}")
        })?;
        done.push(month);
    }
    Ok(done)
}

/// The seals that cover `month` exactly, or why it cannot be archived yet.
async fn month_seals(client: &Client, month: Date) -> Result<Vec<Seal>, String> {
    let seals = seals(client, Some(month)).await?;
    let (lower, upper) = (bound(midnight(month)), bound(midnight(next_month(month))));
    let covered =
        seals.first().is_some_and(|s| s.lower_id <= lower) && seals.last().is_some_and(|s| s.upper_id == upper);
    match covered {
        true => Ok(seals),
        false => Err("the month is not sealed to its end yet: run seal-audit first".into()),
    }
}

async fn archive_month(client: &Client, config: &ArchiveConfig, month: Date) -> Result<(), String> {
    let seals = month_seals(client, month).await?;
    let retain_until = midnight((0..config.retention_months).fold(next_month(month), |m, _| next_month(m)));
    let retain = retain_until.format(&Rfc3339).map_err(|e| e.to_string())?;
    let locked = vec![
        ("x-amz-object-lock-mode", "COMPLIANCE".to_owned()),
        ("x-amz-object-lock-retain-until-date", retain.clone()),
        ("x-amz-storage-class", config.storage_class.clone()),
    ];
    let key = object_key(month);

    // Written: every event checked against its seal on the way.
    let mut upload_headers = locked.clone();
    upload_headers.push(("content-type", "application/x-ndjson".into()));
    upload_headers.push(("content-encoding", "gzip".into()));
    upload_headers.push(("x-amz-checksum-algorithm", "SHA256".into()));
    let upload = config.bucket.create_upload(&key, &upload_headers).await?;
    let written = write_month(client, &config.bucket, &key, &upload, &seals, month).await;
    let (events, first_id, last_id, bytes, sha256) = match written {
        Ok(written) => written,
        Err(e) => {
            let _ = config.bucket.abort_upload(&key, &upload).await;
            return Err(e);
        }
    };
    ensure_locked(&config.bucket, &key, retain_until).await?;
    let manifest = Manifest {
        month,
        object: key.clone(),
        events,
        first_id,
        last_id,
        bytes,
        sha256: sha256.clone(),
        retain_until: retain,
        seals: seals.clone(),
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    let mut manifest_headers = locked;
    manifest_headers.push(("content-type", "application/json".into()));
    config.bucket.put(&manifest_key(month), Bytes::from(manifest_json), &manifest_headers).await?;

    // Read back whole, and checked again, before anything leaves Postgres.
    let (read_events, read_bytes, read_sha256, problems) = read_month(&config.bucket, &key, &seals).await?;
    if !problems.is_empty() {
        return Err(format!("the archive read back does not match its seals: {}", problems.join("; ")));
    }
    if (read_events, read_bytes, read_sha256.as_str()) != (events, bytes, sha256.as_str()) {
        return Err(format!(
            "the archive read back is not what was written ({read_events} events, {read_bytes} bytes, sha256 \
             {read_sha256}; written {events}, {bytes}, {sha256})"
        ));
    }
    record_statement(&manifest, &manifest_key(month), retain_until).query_client(client).await?;
    tracing::info!(%month, events, bytes, sha256 = %manifest.sha256, "audit month archived and dropped from Postgres");
    Ok(())
}

/// Makes sure the object is locked in compliance mode until `retain_until` at least: S3
/// locks it as the upload asked; an S3 that did not (moto ignores a multipart upload's
/// lock) gets the lock put on it. Either way it is read back from the object's headers.
async fn ensure_locked(bucket: &Bucket, key: &str, retain_until: OffsetDateTime) -> Result<(), String> {
    let locked = |headers: &http::HeaderMap| {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let until = header("x-amz-object-lock-retain-until-date")
            .and_then(|until| OffsetDateTime::parse(&until, &Rfc3339).ok());
        header("x-amz-object-lock-mode").as_deref() == Some("COMPLIANCE") && until.is_some_and(|u| u >= retain_until)
    };
    let head = bucket.head(key).await?.ok_or("the archive is not there after its upload")?;
    if locked(&head) {
        return Ok(());
    }
    bucket.put_retention(key, &retain_until.format(&Rfc3339).map_err(|e| e.to_string())?).await?;
    match bucket.head(key).await?.is_some_and(|head| locked(&head)) {
        true => Ok(()),
        false => {
            Err("the archive is not locked in compliance mode after PutObjectRetention (is Object Lock on?)".into())
        }
    }
}

/// Streams the month's events from Postgres into the upload; answers the count, the first
/// and last ids, and the object's size and SHA-256.
async fn write_month(
    client: &Client,
    bucket: &Bucket,
    key: &str,
    upload: &str,
    seals: &[Seal],
    month: Date,
) -> Result<(i64, Option<Uuid>, Option<Uuid>, i64, String), String> {
    let (lower, upper) = (bound(midnight(month)), bound(midnight(next_month(month))));
    let mut checks = SealChecks::new(seals);
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    let (mut parts, mut object, mut bytes): (Vec<Part>, Context, i64) = (Vec::new(), Context::new(&SHA256), 0);
    let (mut events, mut first_id, mut last_id) = (0i64, None, None);
    let mut after = None;
    loop {
        let rows = batch_statement(lower, upper, after).query_client(client).await?;
        for row in &rows {
            let event = Event::from_row(row)?;
            let line = event.line();
            checks.push(event.id, line.as_bytes());
            gzip.write_all(line.as_bytes()).and_then(|()| gzip.write_all(b"\n")).map_err(|e| e.to_string())?;
            first_id.get_or_insert(event.id);
            last_id = Some(event.id);
            after = Some(event.id);
            events += 1;
        }
        if gzip.get_ref().len() >= part_bytes(parts.len()) {
            let part = std::mem::take(gzip.get_mut());
            object.update(&part);
            bytes += part.len() as i64;
            parts.push(bucket.upload_part(key, upload, parts.len() as u32 + 1, Bytes::from(part), true).await?);
        }
        if (rows.len() as i64) < READ_BATCH {
            break;
        }
    }
    let problems = checks.problems("Postgres");
    if !problems.is_empty() {
        return Err(format!("the events in Postgres do not match their seals: {}", problems.join("; ")));
    }
    let last = gzip.finish().map_err(|e| e.to_string())?;
    object.update(&last);
    bytes += last.len() as i64;
    parts.push(bucket.upload_part(key, upload, parts.len() as u32 + 1, Bytes::from(last), true).await?);
    bucket.complete_upload(key, upload, &parts).await?;
    Ok((events, first_id, last_id, bytes, hex(object.finish().as_ref())))
}

/// Each event of a month, routed to the seal whose range holds it.
struct SealChecks<'s> {
    comparisons: Vec<Comparison<'s>>,
    seals: &'s [Seal],
    current: usize,
}

impl<'s> SealChecks<'s> {
    fn new(seals: &'s [Seal]) -> Self {
        Self { comparisons: seals.iter().map(Comparison::new).collect(), seals, current: 0 }
    }

    fn push(&mut self, id: Uuid, line: &[u8]) {
        while self.current + 1 < self.seals.len() && id >= self.seals[self.current].upper_id {
            self.current += 1;
        }
        if let Some(comparison) = self.comparisons.get_mut(self.current) {
            comparison.push(id, line);
        }
    }

    fn problems(self, source: &str) -> Vec<String> {
        self.comparisons.into_iter().flat_map(|c| c.problems(source)).collect()
    }
}

/// Reads an archived month back as it arrives: decompressed line by line, each line handed
/// to `each` with its event (a line that is not an event is an error); answers the
/// object's size and SHA-256.
pub async fn read_lines(
    bucket: &Bucket,
    key: &str,
    mut each: impl FnMut(&Event, &[u8]),
) -> Result<(i64, String), String> {
    let mut object = Context::new(&SHA256);
    let mut bytes = 0i64;
    let mut gunzip = GzDecoder::new(Lines::default());
    let mut failure: Option<String> = None;
    bucket
        .get_each(key, |piece| {
            object.update(piece);
            bytes += piece.len() as i64;
            gunzip.write_all(piece).map_err(|e| format!("the archive is not gzip: {e}"))?;
            for line in gunzip.get_mut().take_complete() {
                match serde_json::from_slice::<Event>(&line) {
                    Ok(event) => each(&event, &line),
                    Err(e) => {
                        failure.get_or_insert(format!("a line of the archive is not an event: {e}"));
                    }
                }
            }
            Ok(())
        })
        .await?;
    let mut rest = gunzip.finish().map_err(|e| format!("the archive is not gzip: {e}"))?;
    for line in rest.take_all() {
        match serde_json::from_slice::<Event>(&line) {
            Ok(event) => each(&event, &line),
            Err(e) => {
                failure.get_or_insert(format!("a line of the archive is not an event: {e}"));
            }
        }
    }
    match failure {
        Some(failure) => Err(failure),
        None => Ok((bytes, hex(object.finish().as_ref()))),
    }
}

/// Lines as they are decompressed: whole ones taken as they complete.
#[derive(Default)]
struct Lines {
    buffer: Vec<u8>,
}

impl Lines {
    fn take_complete(&mut self) -> Vec<Vec<u8>> {
        let Some(end) = self.buffer.iter().rposition(|b| *b == b'\n') else { return Vec::new() };
        let rest = self.buffer.split_off(end + 1);
        let whole = std::mem::replace(&mut self.buffer, rest);
        whole.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
    }

    fn take_all(&mut self) -> Vec<Vec<u8>> {
        let whole = std::mem::take(&mut self.buffer);
        whole.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
    }
}

impl Write for Lines {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An archived month read back and checked against its seals: its events, size,
/// SHA-256, and the problems found.
pub async fn read_month(bucket: &Bucket, key: &str, seals: &[Seal]) -> Result<(i64, i64, String, Vec<String>), String> {
    let mut checks = SealChecks::new(seals);
    let mut events = 0i64;
    let (bytes, sha256) = read_lines(bucket, key, |event, line| {
        checks.push(event.id, line);
        events += 1;
    })
    .await?;
    Ok((events, bytes, sha256, checks.problems("archive")))
}

/// The months archived, with their objects.
pub async fn archived(client: &Client) -> Result<Vec<(Date, String, String)>, String> {
    let rows = archived_statement().query_client(client).await?;
    rows.iter()
        .map(|r| {
            let get = |e: tokio_postgres::Error| e.to_string();
            Ok((
                r.try_get("month").map_err(get)?,
                r.try_get("object_key").map_err(get)?,
                r.try_get("sha256").map_err(get)?,
            ))
        })
        .collect()
}

fn archivable_statement(hot_months: i32) -> Statement {
    Statement::new(&ARCHIVABLE).bind("hot_months", hot_months).reads(&[("month", Type::DATE)])
}

fn archived_statement() -> Statement {
    Statement::new(&ARCHIVED).reads(&[("month", Type::DATE), ("object_key", Type::TEXT), ("sha256", Type::TEXT)])
}

fn record_statement(manifest: &Manifest, manifest_key: &str, retain_until: OffsetDateTime) -> Statement {
    Statement::new(&RECORD)
        .bind("month", manifest.month)
        .bind("object_key", manifest.object.clone())
        .bind("manifest_key", manifest_key.to_owned())
        .bind("events", manifest.events)
        .bind("first_id", manifest.first_id)
        .bind("last_id", manifest.last_id)
        .bind("bytes", manifest.bytes)
        .bind("sha256", manifest.sha256.clone())
        .bind("retain_until", retain_until)
        .reads(&[("dropped", Type::TEXT)])
}

pub(crate) fn statements() -> Vec<Statement> {
    let manifest = Manifest {
        month: Date::MIN,
        object: String::new(),
        events: 0,
        first_id: None,
        last_id: None,
        bytes: 0,
        sha256: String::new(),
        retain_until: String::new(),
        seals: Vec::new(),
    };
    vec![archivable_statement(3), archived_statement(), record_statement(&manifest, "", OffsetDateTime::UNIX_EPOCH)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_so_ten_thousand_hold_a_large_month() {
        assert_eq!(part_bytes(0), 5 * 1024 * 1024);
        assert_eq!(part_bytes(999), 5 * 1024 * 1024);
        assert_eq!(part_bytes(1000), 10 * 1024 * 1024);
        let total: usize = (0..10_000).map(part_bytes).sum();
        assert!(total > 280_000_000_000, "{total}");
    }
}
