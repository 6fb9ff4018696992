//! Bulk export's worker (API.md Part 5, "Bulk export"): takes a job the FHIR function
//! recorded (functions/fhir/src/export.rs) and writes its ndjson files to S3, outside any
//! request. On AWS it is the `export` Lambda, started by an asynchronous invoke; locally
//! and in tests the same code runs in the server's process (`shared::export`).
//!
//! The work is done in the open, so that it can stop anywhere and go on elsewhere:
//! - a lease with a fencing token (`claim.sql`): one worker per job; every statement of
//!   a worker whose lease was taken over (or whose job was cancelled) finds no job;
//! - rows are streamed from Postgres a batch at a time along a keyset cursor, the
//!   requester's reach decided in each batch's statement from the rows as they are
//!   then - a removal bites on the next batch - and never more than a batch in memory;
//! - a file is written as an S3 multipart upload, a part at a time, so memory is about
//!   one part whatever the export's size;
//! - each finished file is committed in one statement with the cursor past its rows and
//!   one `patient.export` event per patient in it (`commit.sql`): a worker that dies
//!   loses only the file it was writing, which the next one writes again from the
//!   cursor, and every exported patient is audited once.

mod file;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::access::{self, OrgFilter};
use shared::audit::Audit;
use shared::auth::{AppGrant, Caller, Role, RoleScoped};
use shared::db::{Db, Sql, Statement};
use shared::export::{Exports, file_key};
use shared::records::doctor::Doctor;
use shared::records::patient::Patient;
use shared::records::{FromRow, column};
use shared::{ApiError, RequestMeta, sql};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::file::File;

static CLAIM: Sql = sql!("sql/claim.sql");
static PATIENTS: Sql = sql!("sql/patients.sql");
static PRACTITIONERS: Sql = sql!("sql/practitioners.sql");
static COMMIT: Sql = sql!("sql/commit.sql");
static STOP: Sql = sql!("sql/stop.sql");

/// How long a lease lasts past its last renewal (every batch and commit renews it).
const LEASE_SECONDS: i32 = 120;
/// Attempts in a row that commit nothing before a job is given up as failed.
const MAX_ATTEMPTS: i32 = 5;

/// How a run of the worker ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The export is complete: its manifest is ready.
    Done,
    /// Stopped at its deadline between files; the job waits for the next worker.
    Paused,
    /// Not this worker's: done, cancelled, or another worker holds it.
    NotClaimed,
    /// Its lease was taken over, or the job cancelled, while it worked.
    Lost,
    /// The requester's access ended: the job is refused, with why.
    Refused(String),
    /// This attempt failed (storage, database); the job waits for the next worker, or
    /// failed for good after `MAX_ATTEMPTS`.
    Failed(String),
}

/// What stops a run midway.
enum Stop {
    Lost,
    Refused(String),
    Failed(String),
}

impl From<ApiError> for Stop {
    fn from(error: ApiError) -> Self {
        match error {
            // The unattended guard (`require_standing`): the user is disabled, or their
            // app no longer admits them.
            ApiError::Unauthorized(_) => Stop::Refused("Your account or your app no longer has access.".into()),
            other => Stop::Failed(other.to_string()),
        }
    }
}

/// The worker: the database, and the bucket and sizes of `shared::export`.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    exports: Arc<Exports>,
}

/// A job as its worker sees it.
struct Job {
    id: Uuid,
    lease: Uuid,
    principal: RoleScoped,
    organization: Option<Uuid>,
    backend_organization: Option<Uuid>,
    types: Vec<String>,
    since: Option<OffsetDateTime>,
    phase: String,
    cursor: Option<Uuid>,
    files: i32,
}

impl Job {
    fn from_row(row: &Row, lease: Uuid) -> Result<Self, ApiError> {
        let client_id: Option<Uuid> = column(row, "client_id")?;
        let (organization, patient) = (column(row, "app_organization")?, column(row, "app_patient")?);
        // The requester as their token made them at kick-off: the same role, the same
        // app narrowing; no session (the guard is `require_standing`).
        let caller = Caller {
            id: column(row, "user_id")?,
            role: Role::parse(column(row, "role")?)?,
            session_id: Uuid::nil(),
            session_idle_minutes: 0,
            touch_session: false,
            app: client_id.map(|client_id| AppGrant { client_id, organization, patient }),
        };
        Ok(Self {
            id: column(row, "id")?,
            lease,
            principal: RoleScoped::new(caller),
            organization: column(row, "organization_id")?,
            backend_organization: column(row, "backend_organization")?,
            types: column(row, "types")?,
            since: column(row, "since")?,
            phase: column(row, "phase")?,
            cursor: column(row, "cursor")?,
            files: column(row, "files")?,
        })
    }

    fn wants(&self, kind: &str) -> bool {
        self.types.iter().any(|t| t == kind)
    }

    fn changed_since(&self, updated_at: OffsetDateTime) -> bool {
        self.since.is_none_or(|since| updated_at > since)
    }

    /// The next file of `kind`, numbered after the files committed.
    fn next_file(&self, kind: &'static str) -> File {
        let seq = self.files + 1;
        File::new(seq, file_key(self.id, self.lease, seq), kind)
    }
}

/// What a commit moves forward: the phase and cursor, the file finished (if one), and
/// the doctors of the patients walked since the last commit.
struct Progress {
    phase: &'static str,
    cursor: Option<Uuid>,
    file: Option<File>,
    doctors: Vec<Uuid>,
}

impl Worker {
    pub fn new(db: Db, exports: Arc<Exports>) -> Self {
        Self { db, exports }
    }

    /// Works on `job` until it is done, or `deadline` (if any) has passed at a point
    /// between files, or something stops it. Never leaves a partial manifest: a job is
    /// `done` only once every file is committed.
    pub async fn run(&self, job: Uuid, deadline: Option<Instant>) -> Ended {
        let lease = Uuid::now_v7();
        let claimed = match claim_statement(job, lease).query_opt(&self.db).await {
            Ok(Some(row)) => row,
            Ok(None) => return Ended::NotClaimed,
            Err(e) => return Ended::Failed(format!("claiming the job: {e}")),
        };
        let attempts: i32 = column(&claimed, "attempts").unwrap_or(MAX_ATTEMPTS + 1);
        let job = Job::from_row(&claimed, lease);
        let (mut job, attempts) = match job {
            Ok(job) if attempts <= MAX_ATTEMPTS => (job, attempts),
            Ok(_) => {
                let why = format!("The export failed {MAX_ATTEMPTS} times in a row.");
                return self.stop(job_id(&claimed), lease, "failed", Some(why.clone()), Ended::Failed(why)).await;
            }
            Err(e) => {
                let why = format!("The export job could not be read ({e}).");
                return self.stop(job_id(&claimed), lease, "failed", Some(why.clone()), Ended::Failed(why)).await;
            }
        };
        tracing::info!(job = %job.id, attempts, "bulk export: working");
        match self.work(&mut job, deadline).await {
            Ok(true) => self.stop(job.id, lease, "done", None, Ended::Done).await,
            Ok(false) => self.stop(job.id, lease, "running", None, Ended::Paused).await,
            Err(Stop::Lost) => Ended::Lost,
            Err(Stop::Refused(why)) => {
                self.stop(job.id, lease, "refused", Some(why.clone()), Ended::Refused(why)).await
            }
            Err(Stop::Failed(why)) => self.stop(job.id, lease, "running", None, Ended::Failed(why)).await,
        }
    }

    /// Lets go of the job in `state`, answering `ended` when that took (the lease was
    /// still this worker's).
    async fn stop(&self, job: Uuid, lease: Uuid, state: &'static str, failure: Option<String>, ended: Ended) -> Ended {
        match stop_statement(job, lease, state, failure).query_opt(&self.db).await {
            Ok(Some(_)) => ended,
            Ok(None) => Ended::Lost,
            Err(e) => Ended::Failed(format!("letting go of the job: {e}")),
        }
    }

    /// The phases from where the job stands; `Ok(false)`: stopped at the deadline.
    async fn work(&self, job: &mut Job, deadline: Option<Instant>) -> Result<bool, Stop> {
        if job.phase == "Patient" && !self.patients(job, deadline).await? {
            return Ok(false);
        }
        if job.wants("Practitioner") && !self.practitioners(job, deadline).await? {
            return Ok(false);
        }
        Ok(true)
    }

    /// Walks the patients the requester reaches, writing those asked for into files and
    /// gathering their doctors; ends by moving the job to the Practitioner phase.
    async fn patients(&self, job: &mut Job, deadline: Option<Instant>) -> Result<bool, Stop> {
        let config = &self.exports.config;
        let mut file = job.next_file("Patient");
        let mut doctors = BTreeSet::new();
        // Rows walked since the last commit.
        let mut walked = false;
        loop {
            let rows = patients_statement(job, config.batch).query(&self.db).await?;
            let batch = standing(&rows, "id")?;
            for row in batch {
                let patient = Patient::from_row(row)?;
                let practitioners: Vec<Uuid> = column(row, "practitioners")?;
                let access: String = column(row, "access")?;
                let (id, organization) = (patient.id, patient.organization_id);
                job.cursor = Some(id);
                walked = true;
                if job.wants("Practitioner") {
                    doctors.extend(practitioners.iter().copied());
                }
                if !job.wants("Patient") || !job.changed_since(patient.updated_at) {
                    continue;
                }
                let line = serde_json::to_vec(&fhir::patient_resource(patient, practitioners))
                    .map_err(|e| Stop::Failed(format!("serialising a Patient: {e}")))?;
                file.push(&self.exports.bucket, &line, config.part_bytes).await.map_err(Stop::Failed)?;
                file.patients.push(id);
                file.accesses.push(access);
                file.organizations.push(organization);
                if file.bytes >= config.file_bytes {
                    let progress =
                        Progress { phase: "Patient", cursor: job.cursor, file: None, doctors: take(&mut doctors) };
                    self.commit_file(job, &mut file, progress).await?;
                    walked = false;
                    // Everything up to the cursor is committed: a place to stop. The rest
                    // of the batch is below the cursor, for the next run.
                    if past(deadline) {
                        return Ok(false);
                    }
                }
            }
            if (batch.len() as i64) < config.batch {
                break;
            }
            // Between files, what was walked is committed, and the deadline may stop the run.
            if file.is_empty() {
                if walked {
                    let progress =
                        Progress { phase: "Patient", cursor: job.cursor, file: None, doctors: take(&mut doctors) };
                    self.commit(job, progress).await?;
                    walked = false;
                }
                if past(deadline) {
                    return Ok(false);
                }
            }
        }
        let last = (!file.is_empty()).then_some(file);
        self.commit(job, Progress { phase: "Practitioner", cursor: None, file: last, doctors: take(&mut doctors) })
            .await?;
        Ok(true)
    }

    /// Writes the doctors the patient phase gathered, as the directory has them now.
    async fn practitioners(&self, job: &mut Job, deadline: Option<Instant>) -> Result<bool, Stop> {
        let config = &self.exports.config;
        let mut file = job.next_file("Practitioner");
        loop {
            let rows = practitioners_statement(job, config.batch).query(&self.db).await?;
            let batch = standing(&rows, "doctor_id")?;
            for row in batch {
                job.cursor = column(row, "doctor_id")?;
                // Deleted from the directory since its patient was walked.
                if column::<Option<Uuid>>(row, "id")?.is_none() {
                    continue;
                }
                let doctor = Doctor::from_row(row)?;
                if !job.changed_since(doctor.updated_at) {
                    continue;
                }
                let line = serde_json::to_vec(&fhir::practitioner_resource(doctor))
                    .map_err(|e| Stop::Failed(format!("serialising a Practitioner: {e}")))?;
                file.push(&self.exports.bucket, &line, config.part_bytes).await.map_err(Stop::Failed)?;
                if file.bytes >= config.file_bytes {
                    let progress =
                        Progress { phase: "Practitioner", cursor: job.cursor, file: None, doctors: Vec::new() };
                    self.commit_file(job, &mut file, progress).await?;
                    if past(deadline) {
                        return Ok(false);
                    }
                }
            }
            if (batch.len() as i64) < config.batch {
                break;
            }
            if file.is_empty() && past(deadline) {
                self.commit(
                    job,
                    Progress { phase: "Practitioner", cursor: job.cursor, file: None, doctors: Vec::new() },
                )
                .await?;
                return Ok(false);
            }
        }
        let last = (!file.is_empty()).then_some(file);
        self.commit(job, Progress { phase: "Practitioner", cursor: job.cursor, file: last, doctors: Vec::new() })
            .await?;
        Ok(true)
    }

    /// Commits the full `file` with `progress`, and begins the next file of its kind.
    async fn commit_file(&self, job: &mut Job, file: &mut File, progress: Progress) -> Result<(), Stop> {
        let kind = file.kind;
        let full = std::mem::take(file);
        self.commit(job, Progress { file: Some(full), ..progress }).await?;
        *file = job.next_file(kind);
        Ok(())
    }

    /// Completes the file (if any) and commits it with the cursor, the doctors and its
    /// patients' audit events; a commit that finds the job gone deletes the file again.
    async fn commit(&self, job: &mut Job, mut progress: Progress) -> Result<(), Stop> {
        let bucket = &self.exports.bucket;
        if let Some(file) = progress.file.as_mut()
            && let Err(e) = file.complete(bucket).await
        {
            if let Some(file) = progress.file.take() {
                file.discard(bucket, false).await;
            }
            return Err(Stop::Failed(e));
        }
        let answer = commit_statement(job, &progress).query_one(&self.db).await;
        let committed = answer.and_then(|row| column::<bool>(&row, "committed"));
        if !matches!(committed, Ok(true))
            && let Some(file) = progress.file.take()
        {
            file.discard(bucket, true).await;
        }
        match committed {
            Ok(true) => {}
            Ok(false) => return Err(Stop::Lost),
            Err(e) => return Err(e.into()),
        }
        if progress.file.is_some() {
            job.files += 1;
        }
        job.phase = progress.phase.to_owned();
        job.cursor = progress.cursor;
        Ok(())
    }
}

fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

fn job_id(claimed: &Row) -> Uuid {
    column(claimed, "id").unwrap_or_default()
}

fn take(doctors: &mut BTreeSet<Uuid>) -> Vec<Uuid> {
    std::mem::take(doctors).into_iter().collect()
}

/// A batch's rows, after what every row of it says: the lease is still held, and a
/// Group export's requester may still export the organization. An empty batch is one
/// row whose `key` column is NULL.
fn standing<'r>(rows: &'r [Row], key: &str) -> Result<&'r [Row], Stop> {
    let first = rows.first().ok_or_else(|| Stop::Failed("a batch with no standing row".into()))?;
    if !column::<bool>(first, "held")? {
        return Err(Stop::Lost);
    }
    if !column::<bool>(first, "allowed")? {
        return Err(Stop::Refused("You may no longer export this organization.".into()));
    }
    match column::<Option<Uuid>>(first, key)? {
        Some(_) => Ok(rows),
        None => Ok(&[]),
    }
}

fn claim_statement(job: Uuid, lease: Uuid) -> Statement {
    Statement::new(&CLAIM).bind("job", job).bind("lease", lease).bind("lease_seconds", LEASE_SECONDS).reads(&[
        ("id", Type::UUID),
        ("user_id", Type::UUID),
        ("role", Type::TEXT),
        ("client_id", Type::UUID),
        ("app_organization", Type::UUID),
        ("app_patient", Type::UUID),
        ("backend_organization", Type::UUID),
        ("organization_id", Type::UUID),
        ("types", Type::TEXT_ARRAY),
        ("since", Type::TIMESTAMPTZ),
        ("phase", Type::TEXT),
        ("cursor", Type::UUID),
        ("files", Type::INT4),
        ("attempts", Type::INT4),
    ])
}

fn patients_statement(job: &Job, batch: i64) -> Statement {
    let reach = access::Patients {
        organization: job.organization.map_or(OrgFilter::Any, OrgFilter::Org),
        name: None,
        after: job.cursor,
        limit: Some(batch),
        among: None,
    };
    Statement::new(&PATIENTS)
        .acting_unattended(&job.principal)
        .reaching_patients(reach)
        .bind("job", job.id)
        .bind("lease", job.lease)
        .bind("lease_seconds", LEASE_SECONDS)
        .bind("batch", batch)
        .bind("group", job.organization)
        .bind("backend_organization", job.backend_organization)
        .reads(Patient::COLUMNS)
        .reads(&[
            ("access", Type::TEXT),
            ("practitioners", Type::UUID_ARRAY),
            ("held", Type::BOOL),
            ("allowed", Type::BOOL),
        ])
}

fn practitioners_statement(job: &Job, batch: i64) -> Statement {
    Statement::new(&PRACTITIONERS)
        .acting_unattended(&job.principal)
        .bind("job", job.id)
        .bind("lease", job.lease)
        .bind("lease_seconds", LEASE_SECONDS)
        .bind("after", job.cursor)
        .bind("batch", batch)
        .bind("group", job.organization)
        .bind("backend_organization", job.backend_organization)
        .reads(Doctor::COLUMNS)
        .reads(&[("doctor_id", Type::UUID), ("held", Type::BOOL), ("allowed", Type::BOOL)])
}

/// The worker's events carry no request: their request id is the job's id.
fn worker_meta(job: Uuid) -> RequestMeta {
    RequestMeta { request_id: job.to_string(), source_ip: None }
}

fn commit_statement(job: &Job, progress: &Progress) -> Statement {
    let file = progress.file.as_ref();
    let (patients, accesses, organizations) = match file {
        Some(f) => (f.patients.clone(), f.accesses.clone(), f.organizations.clone()),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    Statement::new(&COMMIT)
        .acting_unattended(&job.principal)
        .bind("job", job.id)
        .bind("lease", job.lease)
        .bind("lease_seconds", LEASE_SECONDS)
        .bind("phase", progress.phase)
        .bind("cursor", progress.cursor)
        .bind("seq", file.map(|f| f.seq))
        .bind("type", file.map(|f| f.kind))
        .bind("key", file.map(|f| f.key.clone()))
        .bind("count", file.map_or(0, |f| f.count))
        .bind("bytes", file.map(|f| f.bytes as i64))
        .bind("doctors", progress.doctors.clone())
        .bind("patients", patients)
        .bind("accesses", accesses)
        .bind("organizations", organizations)
        .audit(
            &worker_meta(job.id),
            Audit::new("patient.export", "patient")
                .resource_from("id")
                .organization_from("organization_id")
                .access_from("access")
                .for_each_row_of("exported"),
        )
        .reads(&[("committed", Type::BOOL)])
}

fn stop_statement(job: Uuid, lease: Uuid, state: &'static str, failure: Option<String>) -> Statement {
    Statement::new(&STOP)
        .bind("job", job)
        .bind("lease", lease)
        .bind("state", state)
        .bind("failure", failure)
        .reads(&[("id", Type::UUID)])
}

/// Every statement the worker issues, for the schema test.
pub fn statements() -> Vec<Statement> {
    let caller = Caller::placeholder(Role::User);
    let job = Job {
        id: Uuid::nil(),
        lease: Uuid::nil(),
        principal: RoleScoped::new(caller),
        organization: None,
        backend_organization: None,
        types: vec!["Patient".into()],
        since: None,
        phase: "Patient".into(),
        cursor: None,
        files: 0,
    };
    let progress =
        Progress { phase: "Patient", cursor: None, file: Some(job.next_file("Patient")), doctors: Vec::new() };
    vec![
        claim_statement(Uuid::nil(), Uuid::nil()),
        patients_statement(&job, 1),
        practitioners_statement(&job, 1),
        commit_statement(&job, &progress),
        stop_statement(Uuid::nil(), Uuid::nil(), "done", None),
    ]
}

/// How long before its deadline a Lambda run stops starting new files: the longest a
/// file takes (a batch, a part, a commit), with room to spare.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(60);
