//! The audit trail by month: partitions made ahead by `maintain`, events a missing
//! partition would have lost caught and moved, append-only on every partition, and old
//! months dropped only by the explicit command.

use api_tests::{connect, pg_base, spawn_app};
use tokio_postgres::Client;

/// `audit_events_YYYY_MM` for the month `months_ago` months before this one (UTC).
async fn partition_name(sql: &Client, months_ago: i32) -> String {
    let row = sql
        .query_one(
            "SELECT 'audit_events_' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC')
                     - make_interval(months => $1), 'YYYY_MM')",
            &[&months_ago],
        )
        .await
        .unwrap();
    row.get(0)
}

/// Adds an event made mid-month `months_ago` months back: a UUIDv7 of that time, as
/// `uuid_v7()` would have made it then.
async fn event_months_ago(sql: &Client, months_ago: i32) -> uuid::Uuid {
    event_months_ago_into(sql, months_ago, "audit_trail").await
}

/// The same, into `table`: `audit_trail` (the events whole, stored compact), or the table
/// of a schema from before migrations/0015.
async fn event_months_ago_into(sql: &Client, months_ago: i32, table: &str) -> uuid::Uuid {
    let row = sql
        .query_one(
            &format!("WITH t AS (SELECT date_trunc('month', now()) - make_interval(months => $1) + interval '14 days 12 hours' AS at)
             INSERT INTO {table} (id, at, action, resource_type, outcome, request_id)
             SELECT encode(overlay(uuid_send(uuid_v7())
                             placing substring(int8send((extract(epoch FROM t.at) * 1000)::bigint) FROM 3)
                             FROM 1 FOR 6), 'hex')::uuid,
                    t.at, 'patient.read', 'patient', 'success', 'test'
             FROM t RETURNING id"),
            &[&months_ago],
        )
        .await
        .unwrap();
    row.get(0)
}

async fn partition_of(sql: &Client, id: uuid::Uuid) -> String {
    sql.query_one("SELECT tableoid::regclass::text FROM audit_events WHERE id = $1", &[&id]).await.unwrap().get(0)
}

async fn partitions(sql: &Client) -> Vec<String> {
    sql.query(
        "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'audit_events'::regclass ORDER BY 1",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Every event as text, in id order: what must survive any move untouched.
async fn all_events(sql: &Client) -> Vec<String> {
    let rows = sql.query("SELECT row_to_json(a)::text FROM audit_events a ORDER BY id", &[]).await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn events_land_in_this_months_partition_with_three_more_months_ready() {
    let app = spawn_app().await;
    app.register("Ada", "ada@example.com").await;
    let sql = app.sql().await;
    let kind: i8 =
        sql.query_one("SELECT relkind FROM pg_class WHERE oid = 'audit_events'::regclass", &[]).await.unwrap().get(0);
    assert_eq!(kind as u8, b'p', "audit_events is a partitioned table");
    let all = partitions(&sql).await;
    for ahead in 0..=ops::AUDIT_MONTHS_AHEAD {
        let name = partition_name(&sql, -ahead).await;
        assert!(all.contains(&name), "{name} missing from {all:?}");
    }
    assert!(all.contains(&"audit_events_default".to_string()));
    let located: String = sql
        .query_one(
            "SELECT e.tableoid::regclass::text FROM audit_events e JOIN audit_trail t ON t.id = e.id
             WHERE t.action = 'auth.register'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(located, partition_name(&sql, 0).await);
}

#[tokio::test]
async fn maintain_moves_events_the_default_partition_caught_into_their_months() {
    let app = spawn_app().await;
    app.register("Ada", "ada@example.com").await;
    let sql = app.sql().await;
    let old = [event_months_ago(&sql, 30).await, event_months_ago(&sql, 30).await, event_months_ago(&sql, 31).await];
    for id in old {
        assert_eq!(partition_of(&sql, id).await, "audit_events_default", "no partition for that month yet");
    }
    let before = all_events(&sql).await;

    let done = ops::maintain(&sql, ops::DEFAULT_AUDIT_RETENTION_MONTHS).await.unwrap();
    let (month_30, month_31) = (partition_name(&sql, 30).await, partition_name(&sql, 31).await);
    assert_eq!(done.created, vec![month_31.clone(), month_30.clone()]);
    assert!(done.expired.is_empty());
    assert_eq!(partition_of(&sql, old[0]).await, month_30);
    assert_eq!(partition_of(&sql, old[2]).await, month_31);
    let left: i64 = sql.query_one("SELECT count(*) FROM audit_events_default", &[]).await.unwrap().get(0);
    assert_eq!(left, 0);
    assert_eq!(all_events(&sql).await, before, "the same events, ids and all");

    let again = ops::maintain(&sql, ops::DEFAULT_AUDIT_RETENTION_MONTHS).await.unwrap();
    assert!(again.created.is_empty(), "idempotent: {again:?}");
    // Writes still land while the default is swapped out and back.
    app.register("Grace", "grace@example.com").await;
    assert_eq!(app.audit("auth.register").await.len(), 2);
}

#[tokio::test]
async fn every_partition_refuses_update_delete_and_truncate() {
    let app = spawn_app().await;
    app.register("Ada", "ada@example.com").await;
    let sql = app.sql().await;
    event_months_ago(&sql, 5).await;
    ops::maintain(&sql, ops::DEFAULT_AUDIT_RETENTION_MONTHS).await.unwrap();
    event_months_ago(&sql, 400).await; // stays in the default partition
    let count = all_events(&sql).await.len();
    let all = partitions(&sql).await;
    assert!(all.len() >= 6, "{all:?}");
    let mut with_rows = 0;
    for table in all.iter().map(String::as_str).chain(["audit_events"]) {
        // A row trigger has nothing to refuse in an empty partition; TRUNCATE always does.
        let rows: i64 = sql.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0);
        let mut statements = vec![format!("TRUNCATE {table}")];
        if rows > 0 {
            with_rows += 1;
            statements.extend([format!("UPDATE {table} SET kind = kind"), format!("DELETE FROM {table}")]);
        }
        for statement in statements {
            let err = sql.execute(statement.as_str(), &[]).await.unwrap_err();
            assert!(err.as_db_error().unwrap().message().contains("append-only"), "{statement}: {err}");
        }
    }
    assert_eq!(with_rows, 4, "this month's, month 5's and the default partition, and the parent");
    assert_eq!(all_events(&sql).await.len(), count);
}

#[tokio::test]
async fn past_retention_partitions_are_reported_by_maintain_and_dropped_only_on_command() {
    let app = spawn_app().await;
    app.register("Ada", "ada@example.com").await;
    let sql = app.sql().await;
    let months = [80, 73, 72, 71];
    let mut ids = Vec::new();
    for m in months {
        ids.push(event_months_ago(&sql, m).await);
    }
    let done = ops::maintain(&sql, 72).await.unwrap();
    // Month 73's last day is 72 months before this month began: all its events are six
    // years old. Month 72's are not, yet.
    let expired = vec![partition_name(&sql, 80).await, partition_name(&sql, 73).await];
    assert_eq!(done.expired, expired);
    assert_eq!(all_events(&sql).await.len(), 5, "maintain never drops");

    assert_eq!(ops::drop_expired_audit(&sql, 72).await.unwrap(), expired);
    let left: Vec<uuid::Uuid> =
        sql.query("SELECT id FROM audit_events ORDER BY id", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert!(!left.contains(&ids[0]) && !left.contains(&ids[1]));
    assert!(left.contains(&ids[2]) && left.contains(&ids[3]));
    assert_eq!(left.len(), 3, "this month's registration stays");
    assert!(ops::drop_expired_audit(&sql, 72).await.unwrap().is_empty());
    for refused in [0, -1] {
        let err = ops::drop_expired_audit(&sql, refused).await.unwrap_err();
        assert!(err.contains("at least 1 month"), "{err}");
    }
}

/// A database that already has events (migrations 1-5) keeps every one of them, each in
/// its month's partition, when migration 6 partitions the table.
#[tokio::test]
async fn partitioning_keeps_the_events_a_database_already_had() {
    let name = format!("partition_{}", uuid::Uuid::now_v7().simple());
    connect(&format!("{}/postgres", pg_base())).await.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let sql = connect(&format!("{}/{name}", pg_base())).await;
    let (before, partitioning) = ops::MIGRATIONS.split_at(5);
    for m in before {
        sql.batch_execute(m.sql).await.unwrap();
    }
    let old = event_months_ago_into(&sql, 13, "audit_events").await;
    sql.execute(
        "INSERT INTO audit_events (action, resource_type, outcome, request_id, source_ip)
         VALUES ('auth.login', 'user', 'denied', 'r-1', '203.0.113.7')",
        &[],
    )
    .await
    .unwrap();
    let events = all_events(&sql).await;

    sql.batch_execute(partitioning[0].sql).await.unwrap();
    assert_eq!(all_events(&sql).await, events);
    assert_eq!(partition_of(&sql, old).await, partition_name(&sql, 13).await);
    let left: i64 = sql.query_one("SELECT count(*) FROM audit_events_default", &[]).await.unwrap().get(0);
    assert_eq!(left, 0);
}

/// A database that already has events (migrations 1-14) keeps every one of them, each as
/// it was, when migration 15 stores them compact: `audit_trail` answers them whole.
#[tokio::test]
async fn the_compact_store_keeps_the_events_a_database_already_had() {
    let name = format!("compact_{}", uuid::Uuid::now_v7().simple());
    connect(&format!("{}/postgres", pg_base())).await.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let sql = connect(&format!("{}/{name}", pg_base())).await;
    let (before, compact) = ops::MIGRATIONS.split_at(14);
    for m in before {
        sql.batch_execute(m.sql).await.unwrap();
    }
    event_months_ago_into(&sql, 2, "audit_events").await;
    sql.batch_execute(
        "INSERT INTO audit_events (action, resource_type, resource_id, outcome, request_id, source_ip, actor_id,
                                   organization_id, access, purpose, emergency_access_id, client_id) VALUES
         ('auth.login', 'user', NULL, 'denied', 'JKJaXmPLvHcESHA=', '203.0.113.7', NULL, NULL, NULL, NULL, NULL, NULL),
         ('patient.read', 'patient', gen_random_uuid(), 'success', '01a25163-3834-7374-8834-a3cd18016f8e', '::1',
          gen_random_uuid(), gen_random_uuid(), 'emergency', 'emergency', gen_random_uuid(), gen_random_uuid()),
         ('patient.read', 'patient', gen_random_uuid(), 'success', 'ops:make-admin', NULL,
          gen_random_uuid(), NULL, 'clinician', 'treatment', NULL, NULL)",
    )
    .await
    .unwrap();
    let columns = "id, actor_id, action, resource_type, resource_id, outcome, request_id, source_ip, organization_id, \
                   access, purpose, emergency_access_id, client_id";
    let whole = |table: &str| format!("SELECT json_agg(x ORDER BY x.id)::text FROM (SELECT {columns} FROM {table}) x");
    let was: String = sql.query_one(&whole("audit_events"), &[]).await.unwrap().get(0);
    sql.batch_execute(compact[0].sql).await.unwrap();
    let now: String = sql.query_one(&whole("audit_trail"), &[]).await.unwrap().get(0);
    let (was, mut now): (Vec<serde_json::Value>, Vec<serde_json::Value>) =
        (serde_json::from_str(&was).unwrap(), serde_json::from_str(&now).unwrap());
    // Every event as it was - but a request id that is neither a UUID nor API Gateway's,
    // which is kept as a hash.
    for event in now.iter_mut() {
        if event["request_id"].as_str().is_some_and(|r| r.starts_with("sha256:") && r.len() == 7 + 30) {
            event["request_id"] = serde_json::json!("ops:make-admin");
        }
    }
    assert_eq!(now, was);
    let stored: i64 = sql.query_one("SELECT count(*) FROM audit_events", &[]).await.unwrap().get(0);
    assert_eq!(stored, 4);
}
