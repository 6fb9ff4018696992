//! The database itself: migrations, the audit trail's append-only rule, TLS.

use api_tests::{connect, fresh_database, pg_base, settings, spawn_app};

#[tokio::test]
async fn migrations_apply_once_and_a_second_run_changes_nothing() {
    let name = format!("migrate_{}", uuid::Uuid::now_v7().simple());
    connect(&format!("{}/postgres", pg_base())).await.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let mut client = connect(&format!("{}/{name}", pg_base())).await;
    let all: Vec<i32> = ops::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(ops::migrate(&mut client).await.unwrap(), all);
    assert_eq!(ops::migrate(&mut client).await.unwrap(), Vec::<i32>::new());
    let recorded: i64 = client.query_one("SELECT count(*) FROM schema_migrations", &[]).await.unwrap().get(0);
    assert_eq!(recorded as usize, all.len());
}

#[tokio::test]
async fn an_edited_migration_is_refused() {
    let url = api_tests::direct_url(&fresh_database().await);
    let mut client = connect(&url).await;
    client.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1", &[]).await.unwrap();
    let err = ops::migrate(&mut client).await.unwrap_err();
    assert!(err.to_string().contains("edited"), "{err}");
}

#[tokio::test]
async fn the_audit_trail_refuses_update_delete_and_truncate() {
    let app = spawn_app().await;
    app.register("Ada", "ada@example.com").await;
    let sql = app.sql().await;
    // The events, and the contexts and kinds they name (migrations/0015).
    for statement in [
        "UPDATE audit_events SET kind = kind",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE audit_contexts SET actor_id = organization_id",
        "DELETE FROM audit_kinds",
        "TRUNCATE audit_contexts, audit_kinds",
    ] {
        let err = sql.execute(statement, &[]).await.unwrap_err();
        assert!(err.as_db_error().unwrap().message().contains("append-only"), "{statement}: {err}");
    }
    let count: i64 = sql.query_one("SELECT count(*) FROM audit_events", &[]).await.unwrap().get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn audit_events_outlive_the_user_they_describe() {
    let app = spawn_app().await;
    app.register("Ada", "ada@example.com").await;
    let sql = app.sql().await;
    sql.execute("DELETE FROM users", &[]).await.unwrap();
    assert_eq!(app.audit("auth.register").await.len(), 1);
}

#[tokio::test]
async fn uuid_v7_ids_sort_by_creation() {
    let url = api_tests::direct_url(&fresh_database().await);
    let client = connect(&url).await;
    let rows = client.query("SELECT uuid_v7() FROM generate_series(1, 3)", &[]).await.unwrap();
    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.get(0)).collect();
    assert!(ids.iter().all(|id| id.get_version_num() == 7), "{ids:?}");
    let again: uuid::Uuid = client.query_one("SELECT uuid_v7()", &[]).await.unwrap().get(0);
    assert!(ids.iter().all(|id| id.as_bytes()[..6] <= again.as_bytes()[..6]));
}

/// `sslmode=require` goes through rustls, which verifies the server's chain and name:
/// with the test CA it connects; without it, the same server is refused (503).
#[tokio::test]
async fn tls_connections_verify_the_server_certificate() {
    let Ok(ca_file) = std::env::var("TEST_PG_CA_FILE") else {
        panic!("TEST_PG_CA_FILE is not set: run the tests through scripts/test");
    };
    // Directly to the server: the local PgBouncer speaks no TLS.
    let url = api_tests::direct_url(&fresh_database().await).replace("sslmode=disable", "sslmode=require");
    let trusted = api_tests::TestApp::with_settings(settings(&url, &[("DATABASE_CA_FILE", &ca_file)]), url.clone());
    trusted.get("/api/health", None).await.expect(200, "success");
    let ssl: bool = connect_tls_check(&trusted).await;
    assert!(ssl, "the session must be encrypted");

    let untrusted = api_tests::TestApp::with_settings(settings(&url, &[("DB_CONNECT_TIMEOUT_MS", "2000")]), url);
    untrusted.get("/api/health", None).await.expect(503, "failed");
}

async fn connect_tls_check(app: &api_tests::TestApp) -> bool {
    let rows = app.state.db.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
    rows[0].get(0)
}
