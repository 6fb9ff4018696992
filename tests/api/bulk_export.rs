//! Bulk export through the API (API.md Part 5, "Bulk export"): the kick-off's rules, the
//! status (202 with progress, 429 when polled too often, the manifest when done), the
//! files through the API with the same token, one `patient.export` event per exported
//! patient, `_type`, `_since` and Group exports, and who sees an export (its requester
//! only: 404 for anyone else). The worker runs in the server's process, as `scripts/dev`
//! runs it, against moto's S3; `bulk_worker.rs` stops and restarts it by hand.

use std::collections::BTreeSet;
use std::time::Duration;

use api_tests::fhir::{FhirResponse, HOST};
use api_tests::{TestApp, fresh_database, settings};
use axum::http::Method;
use serde_json::{Value, json};
use shared::s3::Bucket;
use uuid::Uuid;

use crate::email::app_with_mail_and;
use crate::orgs::{clinic, join, org_patient};

/// An app whose exports go to a bucket of its own on moto, files closed past `file_bytes`.
pub(crate) async fn export_settings(file_bytes: usize) -> Vec<(&'static str, String)> {
    let bucket = format!("test-{}", Uuid::now_v7().simple());
    Bucket::from_env(&bucket).unwrap().ensure_exists(false).await.expect("moto's S3 (scripts/test starts it)");
    vec![("EXPORT_BUCKET", bucket), ("EXPORT_FILE_BYTES", file_bytes.to_string()), ("EXPORT_BATCH", "7".into())]
}

/// The whole API, its export worker in the process.
pub(crate) async fn export_app(file_bytes: usize) -> (TestApp, crate::email::Mailbox) {
    let extra = export_settings(file_bytes).await;
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app_with_mail_and(&extra).await
}

/// The FHIR function alone: no worker in the process, so the test runs it (`run_worker`).
pub(crate) async fn export_app_without_worker(file_bytes: usize) -> TestApp {
    let database_url = fresh_database().await;
    let extra = export_settings(file_bytes).await;
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::with_router_and_settings(local_api::routers, settings(&database_url, &extra), database_url.clone())
}

pub(crate) async fn kick_off(app: &TestApp, path: &str, token: &str) -> FhirResponse {
    app.fhir(Method::GET, path).token(token).header("prefer", "respond-async").send().await
}

/// The status URL's path, from a 202 kick-off.
pub(crate) fn status_path(kicked: &FhirResponse) -> String {
    assert_eq!(kicked.status, 202, "{:#}", kicked.body);
    let location = kicked.headers["content-location"].to_str().unwrap();
    assert!(location.starts_with(&format!("http://{HOST}/api/fhir/bulk/")), "absolute: {location}");
    location[location.find("/api/").unwrap()..].to_owned()
}

pub(crate) fn job_of(status: &str) -> Uuid {
    status.rsplit('/').next().unwrap().parse().unwrap()
}

/// Waits for the job to finish in the database (polls would be throttled), then reads
/// the manifest through the status URL.
pub(crate) async fn manifest(app: &TestApp, status: &str, token: &str) -> Value {
    let sql = app.sql().await;
    for _ in 0..300 {
        let row = sql.query_one("SELECT state FROM export_jobs WHERE id = $1", &[&job_of(status)]).await.unwrap();
        if row.get::<_, String>(0) != "queued" && row.get::<_, String>(0) != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The manifest is plain JSON, not a FHIR resource.
    let (code, headers, bytes) = app.fhir(Method::GET, status).token(token).send_bytes().await;
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers["content-type"], "application/json");
    serde_json::from_slice(&bytes).unwrap()
}

/// Every line of every file of a manifest's `type`, read through the API with `token`.
pub(crate) async fn lines(app: &TestApp, manifest: &Value, kind: &str, token: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for output in manifest["output"].as_array().unwrap().iter().filter(|o| o["type"] == kind) {
        let url = output["url"].as_str().unwrap();
        let (status, headers, bytes) =
            app.fhir(Method::GET, &url[url.find("/api/").unwrap()..]).token(token).send_bytes().await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(headers["content-type"], "application/fhir+ndjson");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.ends_with('\n'));
        let file: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(file.len() as u64, output["count"].as_u64().unwrap(), "the manifest counts the file's lines");
        all.extend(file);
    }
    all
}

fn ids(resources: &[Value]) -> BTreeSet<String> {
    resources.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

pub(crate) async fn exported_events(app: &TestApp) -> Vec<(Option<Uuid>, Option<Uuid>, String)> {
    app.audit("patient.export").await
}

#[tokio::test]
async fn a_kick_off_is_checked_before_anything_runs() {
    let (app, mailbox) = export_app(4096).await;
    let north = clinic(&app, "owner@example.com", "North").await;
    let clinician = join(&app, &mailbox, &north, "clinician@example.com", "clinician").await;
    let eve = app.user_token("eve@example.com").await;
    let group = format!("/api/fhir/Group/{}/$export", north.id);

    let plain = app.fhir_get("/api/fhir/Patient/$export", &north.owner).await;
    plain.expect(400, Some("invalid"));
    assert_eq!(plain.expressions(), ["Prefer"]);
    for (query, named) in [
        ("_type=Observation", "_type"),
        ("_type=Patient,Encounter", "_type"),
        ("_since=yesterday", "_since"),
        ("_since=2026-01-01", "_since"),
        ("_outputFormat=text/csv", "_outputFormat"),
        ("_typeFilter=Patient%3Fgender%3Dmale", "_typeFilter"),
        ("patient=Patient/1", "patient"),
    ] {
        let refused = kick_off(&app, &format!("/api/fhir/Patient/$export?{query}"), &north.owner).await;
        refused.expect(400, Some("invalid"));
        assert_eq!(refused.expressions(), [named], "{query}");
    }
    app.fhir(Method::GET, "/api/fhir/Patient/$export")
        .header("prefer", "respond-async")
        .send()
        .await
        .expect(401, Some("login"));
    // A Group: its owners; a member of another role 403; anyone else 404.
    kick_off(&app, &group, &clinician).await.expect(403, Some("forbidden"));
    kick_off(&app, &group, &eve).await.expect(404, Some("not-found"));
    kick_off(&app, &format!("/api/fhir/Group/{}/$export", Uuid::now_v7()), &north.owner).await.expect(404, None);
    kick_off(&app, "/api/fhir/Group/not-ours/$export", &north.owner).await.expect(404, None);
    let refused = app.audit("export.started").await;
    assert_eq!(refused.iter().filter(|e| e.2 == "denied").count(), 3, "{refused:?}");

    // Every accepted output format; a browser client (another origin) may read where to poll.
    for format in ["application/fhir%2Bndjson", "application/ndjson", "ndjson"] {
        let started = app
            .fhir(Method::GET, &format!("{group}?_outputFormat={format}&_type=Patient"))
            .token(&north.owner)
            .header("prefer", "respond-async")
            .header("origin", "http://app.example.test")
            .send()
            .await;
        let exposed = started.headers["access-control-expose-headers"].to_str().unwrap();
        assert!(exposed.contains("content-location") && exposed.contains("x-progress"), "{exposed}");
        manifest(&app, &status_path(&started), &north.owner).await;
    }
    // Not set up (no EXPORT_BUCKET): 503, saying so.
    let bare = api_tests::spawn_app().await;
    let token = bare.user_token("ada@example.com").await;
    let off = kick_off(&bare, "/api/fhir/Patient/$export", &token).await;
    off.expect(503, Some("transient"));
    assert!(off.body["issue"][0]["diagnostics"].as_str().unwrap().contains("EXPORT_BUCKET"));
}

#[tokio::test]
async fn an_export_holds_every_patient_reached_once_audited_once_and_only_for_its_requester() {
    let (app, mailbox) = export_app(1024).await;
    let north = clinic(&app, "owner@example.com", "North").await;
    let clinician = join(&app, &mailbox, &north, "clinician@example.com", "clinician").await;
    let mut ours = BTreeSet::new();
    for _ in 0..12 {
        let patient = org_patient(&app, &north.owner, &north.id, Some("never exported")).await;
        ours.insert(patient["id"].as_str().unwrap().to_owned());
    }
    let personal = app.create_patient(&north.owner, "Personal Patient").await["id"].as_str().unwrap().to_owned();
    let rival = clinic(&app, "rival@example.com", "Rival").await;
    let theirs = org_patient(&app, &rival.owner, &rival.id, None).await["id"].as_str().unwrap().to_owned();

    let started = kick_off(&app, "/api/fhir/Patient/$export", &north.owner).await;
    assert_eq!(started.body["resourceType"], "OperationOutcome");
    let status = status_path(&started);
    let done = manifest(&app, &status, &north.owner).await;
    assert_eq!((&done["requiresAccessToken"], &done["error"]), (&json!(true), &json!([])));
    assert_eq!(done["request"], format!("http://{HOST}/api/fhir/Patient/$export"));
    let transaction_time = done["transactionTime"].as_str().unwrap();
    assert!(time::OffsetDateTime::parse(transaction_time, &time::format_description::well_known::Rfc3339).is_ok());
    let outputs = done["output"].as_array().unwrap();
    assert!(outputs.len() >= 3, "1 KiB files: several of them: {done:#}");
    assert!(outputs.iter().all(|o| o["type"] == "Patient"), "no doctors are assigned: {done:#}");

    let patients = lines(&app, &done, "Patient", &north.owner).await;
    let mut expected = ours.clone();
    expected.insert(personal.clone());
    assert_eq!(ids(&patients), expected, "every patient reached, and only those");
    assert_eq!(patients.len(), expected.len(), "each once");
    assert!(!ids(&patients).contains(&theirs));
    assert!(patients.iter().all(|p| p["resourceType"] == "Patient" && p.get("notes").is_none()));
    assert!(!serde_json::to_string(&patients).unwrap().contains("never exported"), "notes are never exported");

    // One patient.export event per exported patient, by the requester, with how they reached it.
    let owner_id: Uuid =
        app.get("/api/auth/me", Some(&north.owner)).await.data()["id"].as_str().unwrap().parse().unwrap();
    let events = exported_events(&app).await;
    assert_eq!(events.len(), expected.len());
    assert!(events.iter().all(|(actor, _, outcome)| *actor == Some(owner_id) && outcome == "success"));
    let audited: BTreeSet<String> = events.iter().map(|(_, r, _)| r.unwrap().to_string()).collect();
    assert_eq!(audited, expected);
    let sql = app.sql().await;
    let how: Vec<(Option<String>, Option<String>)> = sql
        .query(
            "SELECT access, purpose FROM audit_trail WHERE action = 'patient.export' AND resource_id = $1",
            &[&personal.parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(how, [(Some("owner".to_owned()), Some("treatment".to_owned()))]);
    // The patient's access log shows the export.
    let log = app.get(&format!("/api/patients/{personal}/access-log"), Some(&north.owner)).await;
    assert!(log.data()["items"].as_array().unwrap().iter().any(|e| e["action"] == "patient.export"), "{:#}", log.body);

    // The status, the files and cancel are the requester's alone.
    let first = outputs[0]["url"].as_str().unwrap();
    let first = &first[first.find("/api/").unwrap()..];
    for token in [&clinician, &rival.owner] {
        app.fhir_get(&status, token).await.expect(404, Some("not-found"));
        let (code, _, _) = app.fhir(Method::GET, first).token(token).send_bytes().await;
        assert_eq!(code, 404);
        app.fhir(Method::DELETE, &status).token(token).send().await.expect(404, Some("not-found"));
    }
    let (code, _, _) = app.fhir(Method::GET, first).send_bytes().await;
    assert_eq!(code, 401, "files need the token (requiresAccessToken)");
    for missing in [
        format!("{status}/99.ndjson"),
        format!("{status}/1.csv"),
        format!("/api/fhir/bulk/{}/1.ndjson", Uuid::now_v7()),
    ] {
        let (code, _, _) = app.fhir(Method::GET, &missing).token(&north.owner).send_bytes().await;
        assert_eq!(code, 404, "{missing}");
    }
    let downloads = app.audit("export.downloaded").await;
    assert!(downloads.iter().filter(|e| e.2 == "success").count() >= outputs.len());
    // Done, its status stays the manifest (never throttled) until it is cancelled.
    manifest(&app, &status, &north.owner).await;
    manifest(&app, &status, &north.owner).await;
}

#[tokio::test]
async fn types_since_and_group_choose_what_is_exported() {
    let (app, _) = export_app(1 << 20).await;
    let north = clinic(&app, "owner@example.com", "North").await;
    let assigned = org_patient(&app, &north.owner, &north.id, None).await["id"].as_str().unwrap().to_owned();
    let older = org_patient(&app, &north.owner, &north.id, None).await["id"].as_str().unwrap().to_owned();
    let personal = app.create_patient(&north.owner, "Personal Patient").await["id"].as_str().unwrap().to_owned();
    let doctor = app.create_doctor(&north.owner, "Dr Assigned", "Cardiology").await["id"].as_str().unwrap().to_owned();
    app.create_doctor(&north.owner, "Dr Unassigned", "Oncology").await;
    app.post("/api/mappings", &json!({"patient_id": assigned, "doctor_id": doctor}), Some(&north.owner))
        .await
        .expect(201, "created");
    let sql = app.sql().await;
    let backdated: Uuid = older.parse().unwrap();
    sql.execute("UPDATE patients SET updated_at = '2020-01-01T00:00:00Z' WHERE id = $1", &[&backdated]).await.unwrap();

    // A Group: the organization's patients (not the owner's personal one), and their doctors.
    let group = status_path(&kick_off(&app, &format!("/api/fhir/Group/{}/$export", north.id), &north.owner).await);
    let manifest_of_group = manifest(&app, &group, &north.owner).await;
    let patients = lines(&app, &manifest_of_group, "Patient", &north.owner).await;
    assert_eq!(ids(&patients), BTreeSet::from([assigned.clone(), older.clone()]));
    let practitioners = lines(&app, &manifest_of_group, "Practitioner", &north.owner).await;
    assert_eq!(ids(&practitioners), BTreeSet::from([doctor.clone()]), "the doctors of the exported patients only");
    assert_eq!(practitioners[0]["resourceType"], "Practitioner");
    let with_doctor = patients.iter().find(|p| p["id"] == json!(assigned)).unwrap();
    assert_eq!(with_doctor["generalPractitioner"][0]["reference"], format!("Practitioner/{doctor}"));

    // _type: only what is named.
    let only = status_path(&kick_off(&app, "/api/fhir/Patient/$export?_type=Practitioner", &north.owner).await);
    let only = manifest(&app, &only, &north.owner).await;
    let kinds: BTreeSet<&str> =
        only["output"].as_array().unwrap().iter().map(|o| o["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["Practitioner"]));
    assert_eq!(exported_events(&app).await.len(), 2, "doctors alone audit no patient");

    // _since: resources changed after it (the doctor was, the backdated patient was not).
    let since =
        status_path(&kick_off(&app, "/api/fhir/Patient/$export?_since=2021-01-01T00:00:00Z", &north.owner).await);
    let since = manifest(&app, &since, &north.owner).await;
    assert_eq!(ids(&lines(&app, &since, "Patient", &north.owner).await), BTreeSet::from([assigned.clone(), personal]));
    assert_eq!(ids(&lines(&app, &since, "Practitioner", &north.owner).await), BTreeSet::from([doctor]));
    assert!(since["request"].as_str().unwrap().ends_with("_since=2021-01-01T00:00:00Z"));
}

#[tokio::test]
async fn polls_closer_than_a_second_are_429_and_a_queued_job_says_so() {
    let app = export_app_without_worker(4096).await;
    let token = app.user_token("ada@example.com").await;
    app.create_patient(&token, "Grace Hopper").await;
    let status = status_path(&kick_off(&app, "/api/fhir/Patient/$export", &token).await);
    let polled = app.fhir_get(&status, &token).await;
    polled.expect(202, None);
    assert_eq!(polled.headers["retry-after"], "2");
    assert_eq!(polled.headers["x-progress"], "queued");
    let again = app.fhir_get(&status, &token).await;
    again.expect(429, Some("too-costly"));
    assert_eq!(again.headers["retry-after"], "2");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.fhir_get(&status, &token).await.expect(202, None);
    // One export at a time per requester (user and app): 429 until it ends.
    let second = kick_off(&app, "/api/fhir/Patient/$export", &token).await;
    second.expect(429, Some("too-costly"));
    assert!(second.headers.contains_key("retry-after"));
    // The worker runs (here, by hand): the next poll is the manifest.
    assert_eq!(run_worker(&app, &status, None).await, export::Ended::Done);
    assert_eq!(manifest(&app, &status, &token).await["output"][0]["count"], 1);
    status_path(&kick_off(&app, "/api/fhir/Patient/$export", &token).await);
}

/// Runs the worker on the job of `status`, as the export Lambda would, until `deadline`.
pub(crate) async fn run_worker(app: &TestApp, status: &str, deadline: Option<std::time::Instant>) -> export::Ended {
    let exports = app.state.exports.clone().unwrap();
    export::Worker::new(app.state.db.clone(), exports).run(job_of(status), deadline).await
}
