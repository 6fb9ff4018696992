//! When the database misbehaves: connections killed under the app, a statement that
//! overruns, PostgreSQL stopped and started again, and a mixed load while connections
//! are being killed. The answer is then success or 503 `failed` with Retry-After -
//! never another 5xx, never a hang, never a half-applied request.

use std::time::{Duration, Instant};

use api_tests::{TestApp, TestResponse, connect, direct_url, pg_base, settings, spawn_app};
use futures::future::join_all;
use serde_json::json;

/// Terminates every server connection to this test's database except the caller's.
async fn kill_connections(app: &TestApp) -> i64 {
    let name = direct_url(&app.database_url).rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let admin = connect(&format!("{}/postgres", pg_base())).await;
    admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

fn app_with(extra: &[(&str, &str)], database_url: String) -> TestApp {
    TestApp::with_settings(settings(&database_url, extra), database_url)
}

#[tokio::test]
async fn connections_killed_between_requests_are_replaced_transparently() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    for round in 0..5 {
        assert!(kill_connections(&app).await >= 1 || round > 0, "the pool held a connection to kill");
        app.get("/api/patients", Some(&token)).await.expect(200, "success");
        kill_connections(&app).await;
        app.post("/api/patients", &json!({"name": format!("P{round}"), "date_of_birth": "1990-01-01"}), Some(&token))
            .await
            .expect(201, "created");
    }
    let count: i64 = app.sql().await.query_one("SELECT count(*) FROM patients", &[]).await.unwrap().get(0);
    assert_eq!(count, 5, "each create applied exactly once");
}

#[tokio::test]
async fn a_statement_past_the_timeout_is_cancelled_and_answered_503() {
    let base = spawn_app().await;
    let app = app_with(&[("DB_STATEMENT_TIMEOUT_MS", "400")], base.database_url.clone());
    let token = app.user_token("ada@example.com").await;
    let patient = app.create_patient(&token, "Locked").await;
    let id: uuid::Uuid = patient["id"].as_str().unwrap().parse().unwrap();
    let path = format!("/api/patients/{id}");

    // Another session holds the row: the update waits on its lock, past the timeout.
    let mut holder = app.sql().await;
    let lock = holder.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM patients WHERE id = $1 FOR UPDATE", &[&id]).await.unwrap();
    let started = Instant::now();
    let blocked = app.put(&path, &json!({"notes": "never"}), Some(&token)).await;
    blocked.expect(503, "failed");
    assert_eq!(blocked.headers["retry-after"], "2");
    assert!(started.elapsed() < Duration::from_secs(3), "answered in {:?}", started.elapsed());
    // The server was told to cancel it: within moments nothing of ours is left waiting
    // (through PgBouncer the cancel is relayed, so allow it a little time).
    let sql = app.sql().await;
    let mut waiting = -1;
    for _ in 0..40 {
        waiting = sql
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'healthcare-api' AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(waiting, 0, "the timed-out statement is still waiting on the server");
    lock.rollback().await.unwrap();

    // The app is fine afterwards - on the same connection, which the cancel left clean -
    // and the cancelled update changed nothing.
    let after = app.put(&path, &json!({"notes": "later"}), Some(&token)).await;
    after.expect(200, "updated");
    assert_eq!(after.data()["version"], 2);
}

/// Stops the fault cluster, and starts it again when dropped, whatever the test did.
struct Outage(String);

impl Outage {
    fn begin() -> Self {
        let dir = std::env::var("TEST_FAULT_PG_DIR")
            .expect("TEST_FAULT_PG_DIR is not set: run the tests through scripts/test");
        cluster_ctl("stop", &dir);
        Outage(dir)
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        cluster_ctl("start", &self.0);
    }
}

fn cluster_ctl(action: &str, dir: &str) {
    let status = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/lib/cluster-ctl"))
        .args([action, dir])
        .status()
        .expect("scripts/lib/cluster-ctl");
    assert!(status.success(), "cluster-ctl {action} failed");
}

#[tokio::test]
async fn postgres_stopped_is_503_within_bounds_and_the_same_process_recovers() {
    let base =
        std::env::var("TEST_FAULT_PG_BASE").expect("TEST_FAULT_PG_BASE is not set: run the tests through scripts/test");
    let mut client = connect(&format!("{base}/postgres")).await;
    ops::migrate(&mut client).await.unwrap();
    drop(client);
    let url = format!("{base}/postgres?sslmode=disable");
    let app = app_with(&[("DB_CONNECT_TIMEOUT_MS", "1000")], url);
    app.get("/api/health", None).await.expect(200, "success");
    let token = app.user_token(&format!("{}@example.com", uuid::Uuid::now_v7().simple())).await;

    let outage = Outage::begin();
    for _ in 0..3 {
        let started = Instant::now();
        let health = app.get("/api/health", None).await;
        health.expect(503, "failed");
        assert_eq!(health.headers["retry-after"], "2");
        app.get("/api/patients", Some(&token)).await.expect(503, "failed");
        assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}", started.elapsed());
    }
    drop(outage); // PostgreSQL starts again

    let mut recovered: Option<TestResponse> = None;
    for _ in 0..50 {
        let response = app.get("/api/patients", Some(&token)).await;
        if response.status == 200 {
            recovered = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    recovered.expect("the same app recovered without a restart").expect(200, "success");
    app.get("/api/health", None).await.expect(200, "success");
}

#[tokio::test]
async fn a_mixed_load_while_connections_die_gets_no_5xx_but_503_and_applies_nothing_by_halves() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let doctor = app.create_doctor(&token, "Dr Load", "GP").await;

    let killer_app = TestApp::with_settings(settings(&app.database_url, &[]), app.database_url.clone());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut kills = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                kills += kill_connections(&killer_app).await;
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
            kills
        })
    };

    let mut statuses = Vec::new();
    let mut created = Vec::new();
    for batch in 0..30 {
        let requests = (0..10).map(|i| {
            let app = &app;
            let token = &token;
            let doctor_id = doctor["id"].clone();
            let created = created.clone();
            async move {
                match i % 5 {
                    0 | 1 => {
                        app.post(
                            "/api/patients",
                            &json!({"name": format!("L{batch}-{i}"), "date_of_birth": "1970-01-01"}),
                            Some(token),
                        )
                        .await
                    }
                    2 => app.get("/api/patients?limit=5", Some(token)).await,
                    3 => match created.last() {
                        Some(id) => {
                            app.post("/api/mappings", &json!({"patient_id": id, "doctor_id": doctor_id}), Some(token))
                                .await
                        }
                        None => app.get("/api/health", None).await,
                    },
                    _ => match created.first() {
                        Some(id) => {
                            app.put(&format!("/api/patients/{id}"), &json!({"notes": format!("b{batch}")}), Some(token))
                                .await
                        }
                        None => app.get("/api/auth/me", Some(token)).await,
                    },
                }
            }
        });
        for response in join_all(requests).await {
            if response.status == 201 && response.data().get("date_of_birth").is_some() {
                created.push(response.data()["id"].as_str().unwrap().to_string());
            }
            statuses.push(response.status.as_u16());
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let kills = killer.await.unwrap();
    // Through a pooler there are fewer server connections to kill, but still some.
    assert!(kills > 0, "connections were killed during the load ({kills})");

    let unexpected: Vec<_> = statuses.iter().filter(|s| **s >= 500 && **s != 503).collect();
    assert!(unexpected.is_empty(), "5xx other than 503: {unexpected:?}");
    assert!(statuses.iter().filter(|s| **s < 300).count() > 200, "most requests succeed: {statuses:?}");

    // Nothing by halves: every patient has its audit event, every answered create exists.
    let sql = app.sql().await;
    let unaudited: i64 = sql
        .query_one(
            "SELECT count(*) FROM patients p WHERE NOT EXISTS
               (SELECT 1 FROM audit_trail a WHERE a.action = 'patient.create' AND a.resource_id = p.id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unaudited, 0);
    let ids: Vec<uuid::Uuid> = created.iter().map(|id| id.parse().unwrap()).collect();
    let found: i64 = sql.query_one("SELECT count(*) FROM patients WHERE id = ANY($1)", &[&ids]).await.unwrap().get(0);
    assert_eq!(found as usize, ids.len());
    let orphans: i64 = sql
        .query_one(
            "SELECT count(*) FROM mappings m WHERE NOT EXISTS (SELECT 1 FROM patients p WHERE p.id = m.patient_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(orphans, 0);
}
