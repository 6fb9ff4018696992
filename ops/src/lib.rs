//! Operator tasks, shared by the `ops` CLI, the local API and the tests.
//!
//! Migrations are the SQL files in `migrations/`, compiled in, applied in order, each
//! recorded in `schema_migrations` with a checksum. A run holds an advisory lock, so two
//! deploys migrating at once apply each file once; all pending files go in one
//! transaction, so a failing file leaves the database as it was. A file that was applied
//! and then edited is refused rather than silently skipped.
//!
//! Written here rather than taken from a migration crate: the whole need is these ~60
//! lines on the tokio-postgres we already have, where the crates bring their own
//! config formats, regexes and file walkers into the operator binary.

pub mod archive;
pub mod seal;
pub mod trail;
pub mod verify;

use std::time::Duration;

use shared::RequestMeta;
use shared::audit::Audit;
use shared::auth::LOGIN_WINDOW_MINUTES;
use shared::config::{ConfigError, Secret};
use shared::crypto::DataKeys;
use shared::db::{Connection, Db, Limits, Sql, Statement};
use shared::mail::MailConfig;
use shared::outbox::{self, Delivery};
use tokio_postgres::Client;
use tokio_postgres::types::Type;

pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration { version: $version, name: $name, sql: include_str!(concat!("../../migrations/", $name, ".sql")) }
    };
}

/// Every file in `migrations/`, in order. A test checks this list against the folder.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_identity_and_audit"),
    migration!(2, "0002_patients_doctors_mappings"),
    migration!(3, "0003_sessions_and_status"),
    migration!(4, "0004_email_tokens"),
    migration!(5, "0005_mfa"),
    migration!(6, "0006_audit_partitions"),
    migration!(7, "0007_session_start_and_mail_outbox"),
    migration!(8, "0008_organizations_and_care_teams"),
    migration!(9, "0009_restricted_emergency_portal"),
    migration!(10, "0010_smart_on_fhir"),
    migration!(11, "0011_app_standing"),
    migration!(12, "0012_patient_versions"),
    migration!(13, "0013_patient_identifiers"),
    migration!(14, "0014_bulk_export"),
    migration!(15, "0015_compact_audit"),
];

/// Any fixed number; it only has to be the same for every migrator.
const MIGRATION_LOCK_KEY: i64 = 0x6865_616c_7468; // "health"

#[derive(Debug)]
pub enum MigrateError {
    Database(tokio_postgres::Error),
    /// An applied migration's file has changed since it was applied.
    Edited {
        version: i32,
        name: String,
    },
}

impl std::fmt::Display for MigrateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateError::Database(e) => write!(f, "migration failed: {}", describe(e)),
            MigrateError::Edited { version, name } => {
                write!(f, "migration {version} ({name}) was edited after it was applied; add a new migration instead")
            }
        }
    }
}

impl std::error::Error for MigrateError {}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Database(e)
    }
}

/// The server's own message where there is one: what an operator needs to fix it.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// Applies every pending migration; returns the versions it applied (none on a second run).
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, MigrateError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             checksum   text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let applied: Vec<(i32, String)> = tx
        .query("SELECT version, checksum FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();

    let mut newly_applied = Vec::new();
    for migration in MIGRATIONS {
        let checksum = checksum(migration.sql);
        match applied.iter().find(|(version, _)| *version == migration.version) {
            Some((_, recorded)) if *recorded == checksum => continue,
            Some(_) => {
                return Err(MigrateError::Edited { version: migration.version, name: migration.name.into() });
            }
            None => {}
        }
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&migration.version, &migration.name, &checksum],
        )
        .await?;
        newly_applied.push(migration.version);
    }
    tx.commit().await?;
    Ok(newly_applied)
}

/// Identifies the schema the migrations produce: tests name their template database
/// after it, so an edited migration gets a fresh template instead of a stale one.
pub fn fingerprint() -> String {
    let all: String = MIGRATIONS.iter().map(|m| m.sql).collect();
    checksum(&all)[..16].to_string()
}

fn checksum(sql: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, sql.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
pub enum MakeAdmin {
    Promoted,
    AlreadyAdmin,
    NoSuchUser,
}

static MAKE_ADMIN: Sql = shared::sql!("sql/make_admin.sql");
static PRUNE: Sql = shared::sql!("sql/prune.sql");
static AUDIT_PREPARE: Sql = shared::sql!("sql/audit_prepare.sql");
static AUDIT_EXPIRED: Sql = shared::sql!("sql/audit_expired.sql");
static AUDIT_DROP_EXPIRED: Sql = shared::sql!("sql/audit_drop_expired.sql");

/// Months of audit partitions `maintain` keeps ready beyond this one. Three gives a
/// quarter's slack if the daily schedule stops; past that, events still land (in the
/// default partition) and the next `maintain` moves them.
pub const AUDIT_MONTHS_AHEAD: i32 = 3;

/// HIPAA keeps audit records six years; `AUDIT_RETENTION_MONTHS` may lengthen or shorten it.
pub const DEFAULT_AUDIT_RETENTION_MONTHS: i32 = 72;

/// `AUDIT_RETENTION_MONTHS` (default 72), checked: a typo must not drop a year of events.
pub fn audit_retention_months() -> Result<i32, String> {
    retention_months(std::env::var("AUDIT_RETENTION_MONTHS").ok())
}

fn retention_months(value: Option<String>) -> Result<i32, String> {
    match value.filter(|v| !v.trim().is_empty()) {
        None => Ok(DEFAULT_AUDIT_RETENTION_MONTHS),
        Some(v) => v.trim().parse().ok().filter(|m| (1..=1200).contains(m)).ok_or_else(|| {
            format!("AUDIT_RETENTION_MONTHS must be a whole number of months from 1 to 1200, not {v:?}")
        }),
    }
}

/// Months of audit events kept in Postgres besides this one before `archive-audit` moves
/// them to S3 (`AUDIT_HOT_MONTHS`).
pub const DEFAULT_AUDIT_HOT_MONTHS: i32 = 3;

/// The audit archive's settings, from the environment: `AUDIT_ARCHIVE_BUCKET` (unset: no
/// archive), `AUDIT_HOT_MONTHS`, `AUDIT_RETENTION_MONTHS`, `AUDIT_ARCHIVE_STORAGE_CLASS`.
pub fn archive_config() -> Result<Option<archive::ArchiveConfig>, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let Some(name) = var("AUDIT_ARCHIVE_BUCKET") else { return Ok(None) };
    let hot_months = match var("AUDIT_HOT_MONTHS") {
        None => DEFAULT_AUDIT_HOT_MONTHS,
        Some(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|m| (1..=120).contains(m))
            .ok_or_else(|| format!("AUDIT_HOT_MONTHS must be a whole number of months from 1 to 120, not {v:?}"))?,
    };
    let storage_class = var("AUDIT_ARCHIVE_STORAGE_CLASS").unwrap_or_else(|| "GLACIER_IR".into());
    Ok(Some(archive::ArchiveConfig {
        bucket: shared::s3::Bucket::from_env(&name).map_err(|e| e.to_string())?,
        hot_months,
        retention_months: audit_retention_months()?,
        storage_class,
    }))
}

/// What a `maintain` run did.
#[derive(Debug, PartialEq, Eq)]
pub struct Maintained {
    pub pruned: Pruned,
    /// Audit partitions created (ahead, or for events the default partition caught).
    pub created: Vec<String>,
    /// Audit partitions past retention, left in place for `drop-expired-audit`.
    pub expired: Vec<String>,
}

/// The daily schedule: prune, prepare the coming months' audit partitions, and report
/// (never drop) the ones past retention.
pub async fn maintain(client: &Client, retention_months: i32) -> Result<Maintained, String> {
    let pruned = prune(client).await?;
    let created = texts(&audit_prepare_statement().query_client(client).await?, "created")?;
    let expired = texts(&audit_expired_statement(retention_months).query_client(client).await?, "expired")?;
    Ok(Maintained { pruned, created, expired })
}

/// Drops the audit partitions past retention: the operator's explicit decision.
pub async fn drop_expired_audit(client: &Client, retention_months: i32) -> Result<Vec<String>, String> {
    texts(&audit_drop_statement(retention_months).query_client(client).await?, "dropped")
}

fn texts(rows: &[tokio_postgres::Row], column: &str) -> Result<Vec<String>, String> {
    let row = rows.first().ok_or_else(|| format!("no answer with {column}"))?;
    row.try_get(column).map_err(|e| format!("reading {column}: {e}"))
}

fn audit_prepare_statement() -> Statement {
    Statement::new(&AUDIT_PREPARE).bind("ahead_months", AUDIT_MONTHS_AHEAD).reads(&[("created", Type::TEXT_ARRAY)])
}

fn audit_expired_statement(retention_months: i32) -> Statement {
    Statement::new(&AUDIT_EXPIRED).bind("retention_months", retention_months).reads(&[("expired", Type::TEXT_ARRAY)])
}

fn audit_drop_statement(retention_months: i32) -> Statement {
    Statement::new(&AUDIT_DROP_EXPIRED)
        .bind("retention_months", retention_months)
        .reads(&[("dropped", Type::TEXT_ARRAY)])
}

/// How many rows of each kind a prune removed.
#[derive(Debug, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: i64,
    pub refresh_tokens: i64,
    pub email_tokens: i64,
    pub login_failures: i64,
    pub mfa_challenges: i64,
    pub oauth_codes: i64,
    pub oauth_assertions: i64,
    /// Bulk export jobs a day old, with their rows (their files expire in S3).
    pub exports: i64,
    /// Queued emails whose link expired before they could be sent: lost mail, which
    /// the operator should hear about (the line says so).
    pub mail_discarded: i64,
}

/// Housekeeping, daily on AWS (the operator function's schedule): removes sign-in
/// records that can no longer be used (see `sql/prune.sql`).
pub async fn prune(client: &Client) -> Result<Pruned, String> {
    let rows = prune_statement().query_client(client).await?;
    let row = rows.first().ok_or("prune answered no row")?;
    let count = |name: &str| row.try_get::<_, i64>(name).map_err(|e| format!("reading prune's answer: {e}"));
    Ok(Pruned {
        sessions: count("sessions")?,
        refresh_tokens: count("refresh_tokens")?,
        email_tokens: count("email_tokens")?,
        login_failures: count("login_failures")?,
        mfa_challenges: count("mfa_challenges")?,
        oauth_codes: count("oauth_codes")?,
        oauth_assertions: count("oauth_assertions")?,
        exports: count("exports")?,
        mail_discarded: count("mail_discarded")?,
    })
}

fn prune_statement() -> Statement {
    Statement::new(&PRUNE).bind("window_minutes", LOGIN_WINDOW_MINUTES).reads(&[
        ("sessions", Type::INT8),
        ("refresh_tokens", Type::INT8),
        ("email_tokens", Type::INT8),
        ("login_failures", Type::INT8),
        ("mfa_challenges", Type::INT8),
        ("oauth_codes", Type::INT8),
        ("oauth_assertions", Type::INT8),
        ("exports", Type::INT8),
        ("mail_discarded", Type::INT8),
    ])
}

/// Gives the user with this email the admin role: the only way the first admin is made.
/// Audited like a role change through the API, with no actor (an operator, not a user).
pub async fn make_admin(client: &Client, email: &str) -> Result<MakeAdmin, String> {
    let rows = make_admin_statement(email).query_client(client).await?;
    let column = |e: tokio_postgres::Error| format!("reading make-admin's answer: {e}");
    let (role, promoted): (Option<String>, bool) = match rows.first() {
        Some(row) => (row.try_get("role").map_err(column)?, row.try_get("promoted").map_err(column)?),
        None => (None, false),
    };
    Ok(match (role, promoted) {
        (_, true) => MakeAdmin::Promoted,
        (Some(_), false) => MakeAdmin::AlreadyAdmin,
        (None, _) => MakeAdmin::NoSuchUser,
    })
}

fn make_admin_statement(email: &str) -> Statement {
    // An operator's command has no request: a fresh id.
    let operator = RequestMeta { request_id: uuid::Uuid::now_v7().to_string(), source_ip: None };
    Statement::new(&MAKE_ADMIN)
        .bind("email", email.to_owned())
        .audit(
            &operator,
            Audit::new("user.role_changed", "user").actor(None).resource_from("id").for_each_row_of("promoted"),
        )
        .reads(&[("role", Type::TEXT), ("promoted", Type::BOOL)])
}

/// Every statement the operator tasks issue (migrations aside), for the schema test.
pub fn statements() -> Vec<Statement> {
    let mut all = outbox::statements();
    all.extend(seal::statements());
    all.extend(archive::statements());
    all.extend(verify::statements());
    all.extend([
        make_admin_statement(""),
        prune_statement(),
        audit_prepare_statement(),
        audit_expired_statement(DEFAULT_AUDIT_RETENTION_MONTHS),
        audit_drop_statement(DEFAULT_AUDIT_RETENTION_MONTHS),
    ]);
    all
}

/// An operator command, as the CLI parses it and as the operator Lambda receives it
/// (`{"command": "migrate"}`, `{"command": "make-admin", "email": "..."}`,
/// `{"command": "prune"}`, `{"command": "maintain"}`, `{"command": "drop-expired-audit"}`,
/// `{"command": "deliver-mail"}`, `{"command": "seal-audit", "until": "..."}`,
/// `{"command": "verify-audit", "month": "2026-09"}`, `{"command": "archive-audit"}`,
/// `{"command": "access-report", "patient": "...", "format": "csv"}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Command {
    Migrate,
    MakeAdmin {
        email: String,
    },
    Prune,
    Maintain,
    DropExpiredAudit,
    DeliverMail,
    /// Seal the audit events up to `until` (RFC 3339; default: the start of today, UTC).
    SealAudit {
        until: Option<String>,
    },
    /// Recompute every seal (of `month`, `YYYY-MM`, when given); an error lists each problem.
    VerifyAudit {
        month: Option<String>,
    },
    /// Move the sealed months older than `AUDIT_HOT_MONTHS` to S3.
    ArchiveAudit,
    /// Every access to a patient, archive and Postgres, as JSON (default) or CSV.
    AccessReport {
        patient: uuid::Uuid,
        format: Option<String>,
    },
}

/// The start of today, UTC: what the daily seal seals up to.
fn start_of_today() -> time::OffsetDateTime {
    seal::midnight(time::OffsetDateTime::now_utc().date())
}

fn parse_until(until: Option<&str>) -> Result<time::OffsetDateTime, String> {
    match until {
        None => Ok(start_of_today()),
        Some(text) => time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| format!("--until must be an RFC 3339 instant (2026-12-01T00:00:00Z), not {text:?}")),
    }
}

fn parse_month(month: &str) -> Result<time::Date, String> {
    let refused = || format!("--month must be YYYY-MM, not {month:?}");
    let (year, number) = month.split_once('-').ok_or_else(refused)?;
    let month_of_year = number.parse::<u8>().ok().and_then(|m| time::Month::try_from(m).ok()).ok_or_else(refused)?;
    time::Date::from_calendar_date(year.parse().map_err(|_| refused())?, month_of_year, 1).map_err(|_| refused())
}

fn sealed_line(seals: &[seal::Seal], until: time::OffsetDateTime) -> String {
    match seals.last() {
        None => "audit: nothing new to seal".into(),
        Some(last) => format!(
            "audit sealed up to {}: {} seal(s), {} event(s); the last seal's hash is {}",
            trail::instant(until),
            seals.len(),
            seals.iter().map(|s| s.events).sum::<i64>(),
            last.hash
        ),
    }
}

/// The audit trail's daily work after `maintain`'s: seal up to today, then archive the
/// months past the hot ones (when an archive bucket is set). Both always run; the
/// answer lists what each did, or failed to.
async fn seal_and_archive(client: &Client) -> (String, Option<String>) {
    let mut line = String::new();
    let mut failed = None;
    let until = start_of_today();
    if until <= time::OffsetDateTime::now_utc() - seal::SETTLE {
        match seal::seal(client, until).await {
            Ok(seals) => line += &format!("; {}", sealed_line(&seals, until)),
            Err(e) => failed = Some(format!("sealing the audit trail failed: {e}")),
        }
    }
    match archive_config() {
        Ok(None) => {}
        Ok(Some(config)) => match archive::archive(client, &config).await {
            Ok(months) if months.is_empty() => line += "; no audit month to archive",
            Ok(months) => line += &format!("; audit months archived to S3 and dropped: {months:?}"),
            Err(e) => failed = Some(failed.map_or(e.clone(), |f| format!("{f}; {e}"))),
        },
        Err(e) => failed = Some(e),
    }
    (line, failed)
}

/// `verify-audit`: every seal (of `month`, when given) recomputed from Postgres, and from
/// the archive for the months there; an error lists each problem found.
pub async fn verify_audit(
    client: &Client,
    archive: Option<&archive::ArchiveConfig>,
    month: Option<time::Date>,
) -> Result<String, String> {
    let verified = verify::verify(client, archive.map(|c| &c.bucket), month).await?;
    match verified.problems.is_empty() {
        true => Ok(format!(
            "audit verified: {} seal(s), {} event(s), the chain whole; no event changed, removed or added",
            verified.seals, verified.events
        )),
        false => Err(format!(
            "audit verification found {} problem(s):\n{}",
            verified.problems.len(),
            verified.problems.join("\n")
        )),
    }
}

/// What delivering queued mail needs: where mail goes, and the key its bodies are
/// sealed under.
#[derive(Debug, Default)]
pub struct MailContext {
    pub config: MailConfig,
    pub keys: DataKeys,
}

impl MailContext {
    /// From the process environment (`MAIL_FROM`, `MAIL_DIR`, `DATA_KEY`, ...), with a
    /// data key fetched elsewhere (Secrets Manager) taking the place of `DATA_KEY`.
    pub fn from_env(data_key: Option<Secret>) -> Result<Self, ConfigError> {
        let get = |key: &str| match (key, &data_key) {
            ("DATA_KEY", Some(secret)) => Some(secret.expose().to_owned()),
            _ => std::env::var(key).ok(),
        };
        Ok(Self { config: MailConfig::from_lookup(&get), keys: DataKeys::from_lookup(&get)? })
    }
}

/// The outbox's retry (`shared::outbox`); with metrics on, its counts as an EMF line.
pub async fn deliver_mail(client: &Client, mail: &MailContext) -> Result<Delivery, String> {
    let delivery = outbox::deliver_due(client, &mail.config, &mail.keys).await?;
    if let Some(emf) = shared::metrics::emf() {
        shared::metrics::emit(emf.mail_delivery(delivery.sent, delivery.failed, delivery.queued, delivery.undelivered));
    }
    Ok(delivery)
}

/// Runs a command; the answer is one line for the operator either way.
pub async fn run(client: &mut Client, command: &Command, mail: &MailContext) -> Result<String, String> {
    match command {
        Command::Migrate => {
            let applied = migrate(client).await.map_err(|e| e.to_string())?;
            Ok(match applied.as_slice() {
                [] => "migrations: already up to date".into(),
                versions => format!("migrations: applied {versions:?}"),
            })
        }
        Command::MakeAdmin { email } => match make_admin(client, email).await? {
            MakeAdmin::Promoted => Ok(format!("{email} is now an admin")),
            MakeAdmin::AlreadyAdmin => Ok(format!("{email} was already an admin")),
            MakeAdmin::NoSuchUser => Err(format!("no user has the email {email}; register first")),
        },
        Command::Prune => Ok(pruned_line(&prune(client).await?)),
        Command::Maintain => {
            let retention = audit_retention_months()?;
            let m = maintain(client, retention).await?;
            let mut line = format!("{}; audit partitions created: {}", pruned_line(&m.pruned), list(&m.created));
            if !m.expired.is_empty() {
                line += &format!(
                    "; past the {retention}-month retention, kept until `drop-expired-audit`: {}",
                    list(&m.expired)
                );
            }
            let (audit_line, failed) = seal_and_archive(client).await;
            line += &audit_line;
            match failed {
                None => Ok(line),
                Some(failed) => Err(format!("{line}; {failed}")),
            }
        }
        Command::SealAudit { until } => {
            let until = parse_until(until.as_deref())?;
            Ok(sealed_line(&seal::seal(client, until).await?, until))
        }
        Command::VerifyAudit { month } => {
            let month = month.as_deref().map(parse_month).transpose()?;
            verify_audit(client, archive_config()?.as_ref(), month).await
        }
        Command::ArchiveAudit => {
            let config = archive_config()?.ok_or("AUDIT_ARCHIVE_BUCKET is not set")?;
            let months = archive::archive(client, &config).await?;
            Ok(match months.is_empty() {
                true => "no audit month to archive".into(),
                false => format!("audit months archived to S3 and dropped from Postgres: {months:?}"),
            })
        }
        Command::AccessReport { patient, format } => {
            let config = archive_config()?;
            let report = verify::access_report(client, config.as_ref().map(|c| &c.bucket), *patient).await?;
            match format.as_deref() {
                None | Some("json") => serde_json::to_string_pretty(&report).map_err(|e| e.to_string()),
                Some("csv") => Ok(verify::csv(&report)),
                Some(other) => Err(format!("--format must be json or csv, not {other:?}")),
            }
        }
        Command::DropExpiredAudit => {
            let retention = audit_retention_months()?;
            let dropped = drop_expired_audit(client, retention).await?;
            Ok(format!("audit partitions older than {retention} months dropped: {}", list(&dropped)))
        }
        Command::DeliverMail => {
            let d = deliver_mail(client, mail).await?;
            let mut line = format!("mail: {} sent, {} failed, {} still queued", d.sent, d.failed, d.queued);
            if d.undelivered > 0 {
                line += &format!(
                    "; {} failed {}+ times (MailUndelivered): check MAIL_FROM and SES",
                    d.undelivered,
                    outbox::ALERT_ATTEMPTS
                );
            }
            Ok(line)
        }
    }
}

fn pruned_line(p: &Pruned) -> String {
    let mut line = format!(
        "pruned {} sessions, {} refresh tokens, {} email tokens, {} login failures, {} MFA challenges, {} bulk exports",
        p.sessions, p.refresh_tokens, p.email_tokens, p.login_failures, p.mfa_challenges, p.exports
    );
    if p.mail_discarded > 0 {
        line += &format!("; {} queued emails expired unsent (their links no longer work)", p.mail_discarded);
    }
    line
}

fn list(names: &[String]) -> String {
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

/// Connects with the same URL rules (and TLS) as the functions, for one-off operator work.
pub async fn connect(url: &str, ca_file: Option<&str>) -> Result<Connection, String> {
    // Migrations may legitimately run for minutes (an index on a big table).
    let limits =
        Limits { pool_size: 1, connect_timeout: Duration::from_secs(10), statement_timeout: Duration::from_secs(3600) };
    let db = Db::connect_url(&Secret::new(url), ca_file, limits).map_err(|e| e.to_string())?;
    db.connection().await.map_err(|e| format!("connecting to the database: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_retention_is_72_months_unless_set_to_a_sane_number() {
        assert_eq!(retention_months(None), Ok(72));
        assert_eq!(retention_months(Some(" ".into())), Ok(72));
        assert_eq!(retention_months(Some("84".into())), Ok(84));
        for bad in ["0", "-6", "six", "1201", "7.5"] {
            let err = retention_months(Some(bad.into())).unwrap_err();
            assert!(err.contains("AUDIT_RETENTION_MONTHS"), "{bad}: {err}");
        }
    }

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .map(|n| n.trim_end_matches(".sql").to_string())
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| m.name.to_string()).collect();
        assert_eq!(files, listed);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "versions must count up from 1");
            assert!(m.name.starts_with(&format!("{:04}_", m.version)), "{} must start with its version", m.name);
        }
    }
}
