//! Bulk export's worker when things go wrong (API.md Part 5, "Bulk export"): one that
//! stops at its deadline or dies midway leaves no partial manifest, and the next one
//! finishes from the last committed file with every patient exported and audited once;
//! two workers never share a job; a cancelled export is gone with its files and can be
//! started again; an export whose requester loses access stops. The worker is run by
//! hand here, as the export Lambda runs it, against moto's S3.

use std::collections::BTreeSet;
use std::time::Instant;

use api_tests::TestApp;
use axum::http::Method;
use export::Ended;
use serde_json::{Value, json};
use shared::s3::Bucket;
use uuid::Uuid;

use crate::bulk_export::{
    export_app_without_worker, exported_events, job_of, kick_off, lines, manifest, run_worker, status_path,
};

/// `count` personal patients of the token's user, made in the database directly.
async fn patients(app: &TestApp, token: &str, count: i32) -> BTreeSet<String> {
    let me: Uuid = app.get("/api/auth/me", Some(token)).await.data()["id"].as_str().unwrap().parse().unwrap();
    let rows = app
        .sql()
        .await
        .query(
            "INSERT INTO patients (owner_id, name, date_of_birth, gender)
             SELECT $1, 'Patient Number ' || g, DATE '1950-01-01' + g, 'unknown' FROM generate_series(1, $2) g
             RETURNING id::text",
            &[&me, &count],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

async fn state_of(app: &TestApp, status: &str) -> (String, i32, i64) {
    let row = app
        .sql()
        .await
        .query_one("SELECT state, files, exported FROM export_jobs WHERE id = $1", &[&job_of(status)])
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

fn ids(resources: &[Value]) -> Vec<String> {
    resources.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_worker_that_stops_or_dies_midway_leaves_no_manifest_and_the_next_finishes_once() {
    let app = export_app_without_worker(1024).await;
    let token = app.user_token("ada@example.com").await;
    let expected = patients(&app, &token, 40).await;
    let status = status_path(&kick_off(&app, "/api/fhir/Patient/$export", &token).await);

    // A run past its deadline stops at the first place everything is committed.
    assert_eq!(run_worker(&app, &status, Some(Instant::now())).await, Ended::Paused);
    let (state, files, exported) = state_of(&app, &status).await;
    assert_eq!((state.as_str(), files), ("running", 1), "one file committed, then it stopped");
    let polled = app.fhir_get(&status, &token).await;
    polled.expect(202, None);
    assert_eq!(polled.headers["x-progress"], format!("Patient: {exported} resources exported"));
    assert_eq!(exported_events(&app).await.len() as i64, exported, "the committed file's patients, audited");

    // Another worker takes the job and dies holding it: nobody else takes it while its
    // lease lives, and a poll does not hand it out.
    let sql = app.sql().await;
    let job = job_of(&status);
    sql.execute(
        "UPDATE export_jobs SET lease = gen_random_uuid(), lease_until = now() + interval '1 hour' WHERE id = $1",
        &[&job],
    )
    .await
    .unwrap();
    assert_eq!(run_worker(&app, &status, None).await, Ended::NotClaimed);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.fhir_get(&status, &token).await.expect(202, None);
    // Its lease lapses: the next poll hands the job out again.
    sql.execute(
        "UPDATE export_jobs SET lease_until = now() - interval '1 second', dispatched_at = now() - interval '1 minute'
         WHERE id = $1",
        &[&job],
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.fhir_get(&status, &token).await.expect(202, None);
    let redispatched: bool = sql
        .query_one("SELECT dispatched_at > now() - interval '5 seconds' FROM export_jobs WHERE id = $1", &[&job])
        .await
        .unwrap()
        .get(0);
    assert!(redispatched, "the poll restarted the job");

    // The next worker finishes from the cursor: every patient once, audited once.
    assert_eq!(run_worker(&app, &status, None).await, Ended::Done);
    let done = manifest(&app, &status, &token).await;
    let exported = lines(&app, &done, "Patient", &token).await;
    let exported_ids = ids(&exported);
    assert_eq!(exported_ids.len(), expected.len(), "no patient twice");
    assert_eq!(exported_ids.into_iter().collect::<BTreeSet<_>>(), expected);
    let events = exported_events(&app).await;
    let audited: BTreeSet<String> = events.iter().map(|(_, r, _)| r.unwrap().to_string()).collect();
    assert_eq!((events.len(), audited), (expected.len(), expected.clone()), "each patient audited once");
    let seqs: Vec<i32> = sql
        .query("SELECT seq FROM export_files WHERE job_id = $1 ORDER BY seq", &[&job])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i32).collect::<Vec<_>>(), "files numbered without a gap");
}

#[tokio::test]
async fn two_workers_never_share_a_job() {
    let app = export_app_without_worker(1024).await;
    let token = app.user_token("ada@example.com").await;
    patients(&app, &token, 30).await;
    let status = status_path(&kick_off(&app, "/api/fhir/Patient/$export", &token).await);
    let (first, second) = tokio::join!(run_worker(&app, &status, None), run_worker(&app, &status, None));
    let mut ended = [format!("{first:?}"), format!("{second:?}")];
    ended.sort();
    assert_eq!(ended, ["Done", "NotClaimed"]);
    let done = manifest(&app, &status, &token).await;
    assert_eq!(lines(&app, &done, "Patient", &token).await.len(), 30);
    assert_eq!(run_worker(&app, &status, None).await, Ended::NotClaimed, "a done job is nobody's");
}

#[tokio::test]
async fn a_cancelled_export_is_gone_with_its_files_and_can_be_started_again() {
    let app = export_app_without_worker(1024).await;
    let token = app.user_token("ada@example.com").await;
    let expected = patients(&app, &token, 20).await;
    let status = status_path(&kick_off(&app, "/api/fhir/Patient/$export", &token).await);
    assert_eq!(run_worker(&app, &status, Some(Instant::now())).await, Ended::Paused);
    let sql = app.sql().await;
    let keys: Vec<String> = sql
        .query("SELECT key FROM export_files WHERE job_id = $1", &[&job_of(&status)])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let bucket = Bucket::from_env(&app.state.settings.export.as_ref().unwrap().bucket).unwrap();
    assert!(bucket.get(&keys[0]).await.unwrap().is_some());

    let cancelled = app.fhir(Method::DELETE, &status).token(&token).send().await;
    assert_eq!(cancelled.expect(202, None)["issue"][0]["severity"], "information");
    app.fhir_get(&status, &token).await.expect(404, Some("not-found"));
    let (code, _, _) = app.fhir(Method::GET, &format!("{status}/1.ndjson")).token(&token).send_bytes().await;
    assert_eq!(code, 404);
    app.fhir(Method::DELETE, &status).token(&token).send().await.expect(404, Some("not-found"));
    for key in &keys {
        assert!(bucket.get(key).await.unwrap().is_none(), "{key} was deleted");
    }
    assert_eq!(run_worker(&app, &status, None).await, Ended::NotClaimed, "a cancelled job is nobody's");
    assert_eq!(app.audit("export.cancelled").await.iter().filter(|e| e.2 == "success").count(), 1);

    // Started again, it runs to the end.
    let again = status_path(&kick_off(&app, "/api/fhir/Patient/$export", &token).await);
    assert_eq!(run_worker(&app, &again, None).await, Ended::Done);
    let done = manifest(&app, &again, &token).await;
    assert_eq!(ids(&lines(&app, &done, "Patient", &token).await).into_iter().collect::<BTreeSet<_>>(), expected);
}

#[tokio::test]
async fn an_export_stops_when_its_requester_loses_access() {
    let app = export_app_without_worker(1024).await;
    let owner = app.user_token("owner@example.com").await;
    let org =
        app.post("/api/orgs", &json!({"name": "North"}), Some(&owner)).await.data()["id"].as_str().unwrap().to_owned();
    for _ in 0..12 {
        crate::orgs::org_patient(&app, &owner, &org, None).await;
    }
    let status = status_path(&kick_off(&app, &format!("/api/fhir/Group/{org}/$export"), &owner).await);
    assert_eq!(run_worker(&app, &status, Some(Instant::now())).await, Ended::Paused);
    // No longer an owner (a second owner makes them a clinician): the next batch refuses.
    app.user_token("second@example.com").await;
    let me: Uuid = app.get("/api/auth/me", Some(&owner)).await.data()["id"].as_str().unwrap().parse().unwrap();
    let sql = app.sql().await;
    let org_id: Uuid = org.parse().unwrap();
    sql.execute(
        "INSERT INTO memberships (organization_id, user_id, role)
         SELECT $1, id, 'owner' FROM users WHERE email = 'second@example.com'",
        &[&org_id],
    )
    .await
    .unwrap();
    sql.execute(
        "UPDATE memberships SET role = 'clinician' WHERE organization_id = $1 AND user_id = $2",
        &[&org_id, &me],
    )
    .await
    .unwrap();
    let refused = run_worker(&app, &status, None).await;
    assert_eq!(refused, Ended::Refused("You may no longer export this organization.".into()));
    let answer = app.fhir_get(&status, &owner).await;
    answer.expect(403, Some("forbidden"));
    let (code, _, _) = app.fhir(Method::GET, &format!("{status}/1.ndjson")).token(&owner).send_bytes().await;
    assert_eq!(code, 404, "a refused export has no files to read");

    // A disabled user's export stops too (the unattended guard), whatever it exports.
    let ada = app.user_token("ada@example.com").await;
    patients(&app, &ada, 3).await;
    let audited = exported_events(&app).await.len();
    let status = status_path(&kick_off(&app, "/api/fhir/Patient/$export", &ada).await);
    sql.execute("UPDATE users SET status = 'disabled' WHERE email = 'ada@example.com'", &[]).await.unwrap();
    assert!(matches!(run_worker(&app, &status, None).await, Ended::Refused(_)));
    let state: String =
        sql.query_one("SELECT state FROM export_jobs WHERE id = $1", &[&job_of(&status)]).await.unwrap().get(0);
    assert_eq!(state, "refused");
    assert_eq!(exported_events(&app).await.len(), audited, "nothing exported, nothing audited");
}

#[tokio::test]
async fn a_file_larger_than_a_part_is_uploaded_in_parts_of_at_least_five_mib() {
    // 20,000 patients are ~6 MB of ndjson: one 16 MiB file, uploaded as a 5 MiB part and
    // the rest (moto refuses a part under 5 MiB that is not the last, as S3 does).
    let app = export_app_without_worker(16 << 20).await;
    let token = app.user_token("ada@example.com").await;
    let expected = patients(&app, &token, 20_000).await;
    let status = status_path(&kick_off(&app, "/api/fhir/Patient/$export?_type=Patient", &token).await);
    // Batches of 7 would be 2,858 statements: this one reads a thousand at a time.
    let exports = app.state.exports.clone().unwrap();
    let mut config = exports.config.clone();
    config.batch = 1000;
    let exports = std::sync::Arc::new(shared::export::Exports::new(config).unwrap());
    assert_eq!(export::Worker::new(app.state.db.clone(), exports).run(job_of(&status), None).await, Ended::Done);
    let done = manifest(&app, &status, &token).await;
    assert_eq!(done["output"].as_array().unwrap().len(), 1, "{done:#}");
    let bytes: i64 = app.sql().await.query_one("SELECT bytes FROM export_files", &[]).await.unwrap().get(0);
    assert!(bytes > 5 << 20, "more than a part: {bytes}");
    let exported = lines(&app, &done, "Patient", &token).await;
    assert_eq!(ids(&exported).into_iter().collect::<BTreeSet<_>>(), expected);
}
