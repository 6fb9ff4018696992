//! Bulk export at scale (`scripts/fleet` builds and runs it; docs/SCALE.md): one
//! organization of N patients exported by the worker that runs on Lambda
//! (`export::Worker`, here in this process, alone in it), through the Neon-like pooler,
//! to S3 (moto). Prints one JSON object: the time, rows and bytes written, rows per
//! second, the files, and this process's peak resident memory before and after - the
//! worker's, since nothing else runs in it. Each N runs in a process of its own, so each
//! peak is that export's.
//!
//!     export_scale --pooled-url URL --direct-url URL --ca-file PATH --bucket NAME --patients N
//!
//! Needs the AWS variables of an S3 endpoint (`AWS_ENDPOINT_URL`, a region, credentials).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use shared::db::{Db, Limits};
use shared::export::{ExportConfig, Exports};
use shared::s3::Bucket;
use uuid::Uuid;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(value) => println!("{value}"),
        Err(e) => {
            eprintln!("export_scale: {e}");
            std::process::exit(2);
        }
    }
}

fn flags(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    args.chunks(2)
        .map(|pair| match pair {
            [flag, value] if flag.starts_with("--") => Ok((flag[2..].to_string(), value.clone())),
            _ => Err(format!("expected --flag value pairs, got {pair:?}")),
        })
        .collect()
}

/// This process's resident memory now and at its peak, in KiB (Linux's /proc).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn run(args: &[String]) -> Result<Value, String> {
    let flags = flags(args)?;
    let get = |name: &str| flags.get(name).cloned().ok_or_else(|| format!("--{name} is required"));
    let patients: i32 = get("patients")?.parse().map_err(|_| "--patients must be a number")?;
    let (pooled, direct, ca, bucket) = (get("pooled-url")?, get("direct-url")?, get("ca-file")?, get("bucket")?);

    // The organization: an owner, N patients (one in three with an MRN), a doctor for
    // every hundred, assigned. Made in SQL, on the direct connection, outside the figures.
    let seeded = Instant::now();
    let client = ops::connect(&direct, None).await?;
    let seed = format!(
        "WITH owner AS (
             INSERT INTO users (name, email, password_hash) VALUES ('Export Owner', 'export-{run}@example.com', 'x')
             RETURNING id
         ), org AS (
             INSERT INTO organizations (name, created_by) SELECT 'Export Clinic {run}', id FROM owner RETURNING id
         ), member AS (
             INSERT INTO memberships (organization_id, user_id, role) SELECT org.id, owner.id, 'owner' FROM org, owner
         ), made AS (
             INSERT INTO patients (owner_id, organization_id, name, date_of_birth, gender, phone, address, identifiers)
             SELECT owner.id, org.id, 'Patient Number ' || g, DATE '1940-01-01' + (g % 20000),
                    (ARRAY['female', 'male', 'other', 'unknown'])[1 + g % 4], '+1 555 ' || lpad((g % 10000)::text, 4, '0'),
                    g || ' Main Street, Springfield',
                    CASE WHEN g % 3 = 0 THEN jsonb_build_array(jsonb_build_object(
                        'system', 'urn:oid:2.16.840.1.113883.19.5', 'value', 'MRN-{run}-' || g)) ELSE '[]'::jsonb END
             FROM owner, org, generate_series(1, {patients}) g
             RETURNING id
         )
         SELECT (SELECT id FROM owner), (SELECT id FROM org)",
        run = Uuid::now_v7().simple(),
    );
    let row = client.query_one(&seed, &[]).await.map_err(|e| ops::describe(&e))?;
    let (owner, org): (Uuid, Uuid) = (row.get(0), row.get(1));
    client
        .batch_execute(&format!(
            "WITH doctors AS (
                 INSERT INTO doctors (name, specialization, created_by)
                 SELECT 'Dr Export ' || g, 'General practice', '{owner}' FROM generate_series(1, greatest({patients} / 100, 1)) g
                 RETURNING id
             ), numbered AS (SELECT id, row_number() OVER () AS n FROM doctors)
             INSERT INTO mappings (patient_id, doctor_id, assigned_by)
             SELECT p.id, d.id, '{owner}' FROM (SELECT id, row_number() OVER () AS n FROM patients WHERE organization_id = '{org}') p
             JOIN numbered d ON d.n = 1 + p.n % greatest({patients} / 100, 1)
             WHERE p.n % 10 = 0;
             ANALYZE patients; ANALYZE mappings;"
        ))
        .await
        .map_err(|e| ops::describe(&e))?;
    let job: Uuid = client
        .query_one(
            "INSERT INTO export_jobs (user_id, role, organization_id, types, request, cursor)
             VALUES ($1, 'user', $2, '{Patient,Practitioner}', 'scale', uuid_v7_after(now())) RETURNING id",
            &[&owner, &org],
        )
        .await
        .map_err(|e| ops::describe(&e))?
        .get(0);
    let seed_seconds = seeded.elapsed().as_secs_f64();

    // The worker as the Lambda builds it: one pooled connection, the default sizes.
    let limits = Limits {
        pool_size: 1,
        connect_timeout: std::time::Duration::from_secs(8),
        statement_timeout: std::time::Duration::from_secs(60),
    };
    let db = Db::connect_url(&shared::config::Secret::new(pooled), Some(&ca), limits).map_err(|e| e.to_string())?;
    let config = ExportConfig::from_lookup(&|key: &str| (key == "EXPORT_BUCKET").then(|| bucket.clone()))
        .map_err(|e| e.to_string())?
        .ok_or("no bucket")?;
    Bucket::from_env(&bucket).map_err(|e| e.to_string())?.ensure_exists(false).await?;
    let exports = Arc::new(Exports::new(config.clone()).map_err(|e| e.to_string())?);
    let worker = export::Worker::new(db, exports);
    let (rss_before, _) = memory_kib();

    let started = Instant::now();
    let ended = worker.run(job, None).await;
    let seconds = started.elapsed().as_secs_f64();
    let (rss_after, peak) = memory_kib();
    if ended != export::Ended::Done {
        return Err(format!("the export ended {ended:?}"));
    }
    let files = client
        .query("SELECT type, count(*)::int8, sum(count)::int8, sum(bytes)::int8 FROM export_files WHERE job_id = $1 GROUP BY type", &[&job])
        .await
        .map_err(|e| ops::describe(&e))?;
    let by_type: BTreeMap<String, Value> = files
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                json!({"files": r.get::<_, i64>(1), "rows": r.get::<_, i64>(2), "bytes": r.get::<_, i64>(3)}),
            )
        })
        .collect();
    let rows: i64 = files.iter().map(|r| r.get::<_, i64>(2)).sum();
    let bytes: i64 = files.iter().map(|r| r.get::<_, i64>(3)).sum();
    let audited: i64 = client
        .query_one(
            "SELECT count(*) FROM audit_trail WHERE action = 'patient.export' AND request_id = $1",
            &[&job.to_string()],
        )
        .await
        .map_err(|e| ops::describe(&e))?
        .get(0);
    Ok(json!({
        "patients": patients,
        "seed_s": seed_seconds,
        "seconds": seconds,
        "rows": rows,
        "rows_per_s": rows as f64 / seconds,
        "bytes": bytes,
        "mb_per_s": bytes as f64 / seconds / 1e6,
        "by_type": by_type,
        "audited": audited,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "peak_rss_kib": peak,
        "file_bytes": config.file_bytes,
        "part_bytes": config.part_bytes,
        "batch": config.batch,
    }))
}
