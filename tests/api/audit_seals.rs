//! The audit trail kept and trusted (the compact store, migrations/0015): seals that
//! detect an event changed, removed or added - the triggers bypassed as a superuser
//! would - and a seal edited; old months archived to S3 (moto) only once verified there,
//! read back by `verify-audit` and by a patient's six-year access report; a reordered
//! archive detected; a failed archive leaving its partition where it was.

use api_tests::{TestApp, spawn_app};
use shared::s3::Bucket;
use time::OffsetDateTime;
use tokio_postgres::Client;
use uuid::Uuid;

/// An event about `patient` by `actor`, `minutes_ago` minutes back (a UUIDv7 of then).
async fn event_at(sql: &Client, minutes_ago: i64, action: &str, actor: Option<Uuid>, patient: Uuid) -> Uuid {
    let row = sql
        .query_one(
            "WITH t AS (SELECT now() - make_interval(mins => $1) AS at)
             INSERT INTO audit_trail (id, action, resource_type, resource_id, outcome, request_id, actor_id, access)
             SELECT encode(overlay(uuid_send(uuid_v7())
                             placing substring(int8send((extract(epoch FROM t.at) * 1000)::bigint) FROM 3)
                             FROM 1 FOR 6), 'hex')::uuid,
                    $2, 'patient', $3, 'success', gen_random_uuid()::text, $4, 'clinician'
             FROM t RETURNING id",
            &[&(minutes_ago as i32), &action, &patient, &actor],
        )
        .await
        .unwrap();
    row.get(0)
}

/// Runs SQL as a superuser would to get past the append-only triggers.
async fn bypassing_triggers(sql: &Client, statement: &str) {
    sql.batch_execute(&format!(
        "SET session_replication_role = replica; {statement}; SET session_replication_role = origin"
    ))
    .await
    .unwrap();
}

async fn verify(sql: &Client) -> Result<String, String> {
    ops::verify_audit(sql, None, None).await
}

fn minutes_ago(minutes: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::minutes(minutes)
}

#[tokio::test]
async fn seals_catch_an_event_changed_removed_or_added_and_a_seal_edited() {
    let app = spawn_app().await;
    let sql = app.sql().await;
    let patient = Uuid::now_v7();
    let mut ids = Vec::new();
    for n in 0..2500 {
        ids.push(event_at(&sql, 120 - n / 100, "patient.read", Some(Uuid::now_v7()), patient).await);
    }
    let until = minutes_ago(30);
    let sealed = ops::seal::seal(&sql, until).await.unwrap();
    assert_eq!(sealed.iter().map(|s| s.events).sum::<i64>(), 2500);
    assert!(sealed.iter().all(|s| s.chunks.iter().all(|c| c.events <= 1000)));
    assert_eq!(ops::seal::seal(&sql, until).await.unwrap(), Vec::new(), "nothing new to seal");
    let too_late = ops::seal::seal(&sql, OffsetDateTime::now_utc()).await.unwrap_err();
    assert!(too_late.contains("a minute ago"), "{too_late}");
    let ok = verify(&sql).await.unwrap();
    assert!(ok.contains("2500 event(s)") && ok.contains("no event changed, removed or added"), "{ok}");

    // Changed: another kind (a denial made a success, say).
    let other_kind: i16 = sql
        .query_one("SELECT audit_kind_id('patient.read', 'patient', 'denied', 'clinician')", &[])
        .await
        .unwrap()
        .get(0);
    bypassing_triggers(&sql, &format!("UPDATE audit_events SET kind = {other_kind} WHERE id = '{}'", ids[10])).await;
    let problems = verify(&sql).await.unwrap_err();
    assert!(problems.contains("1 problem(s)") && problems.contains("event(s) changed among ids from"), "{problems}");
    bypassing_triggers(&sql, &format!("DELETE FROM audit_events WHERE id = '{}'", ids[10])).await;
    let problems = verify(&sql).await.unwrap_err();
    assert!(problems.contains("1 event(s) removed among ids from"), "{problems}");

    // Added: an event put back in a sealed range, and one older than every seal.
    event_at(&sql, 100, "patient.update", None, patient).await;
    event_at(&sql, 60 * 24 * 40, "patient.read", None, patient).await;
    let problems = verify(&sql).await.unwrap_err();
    assert!(problems.contains("1 event(s) added among ids from"), "{problems}");
    assert!(problems.contains("1 event(s) older than every seal were added"), "{problems}");

    // A seal edited, or removed: the chain breaks.
    let last: i64 = sql.query_one("SELECT max(id) FROM audit_seals", &[]).await.unwrap().get(0);
    bypassing_triggers(&sql, &format!("UPDATE audit_seals SET events = events + 1 WHERE id = {last}")).await;
    let problems = verify(&sql).await.unwrap_err();
    assert!(problems.contains("the seal was edited"), "{problems}");
    // The append-only rules hold for the seals themselves.
    for statement in [
        "UPDATE audit_seals SET events = 0",
        "DELETE FROM audit_seal_chunks",
        "TRUNCATE audit_seals CASCADE",
        "TRUNCATE audit_archives",
    ] {
        let err = sql.execute(statement, &[]).await.unwrap_err();
        assert!(err.as_db_error().unwrap().message().contains("append-only"), "{statement}: {err}");
    }
}

/// An app whose audit archive is a bucket of its own on moto, with Object Lock.
async fn archive_bucket() -> String {
    let name = format!("audit-{}", Uuid::now_v7().simple());
    Bucket::from_env(&name).unwrap().ensure_exists(true).await.expect("moto's S3 (scripts/test starts it)");
    name
}

fn archive_config(bucket: &str) -> ops::archive::ArchiveConfig {
    ops::archive::ArchiveConfig {
        bucket: Bucket::from_env(bucket).unwrap(),
        hot_months: 3,
        retention_months: 72,
        storage_class: "GLACIER_IR".into(),
    }
}

async fn partition_exists(sql: &Client, month: time::Date) -> bool {
    let name = format!("audit_events_{:04}_{:02}", month.year(), month.month() as u8);
    sql.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name]).await.unwrap().get(0)
}

#[tokio::test]
async fn old_months_go_to_s3_only_once_verified_there_and_the_access_report_spans_both() {
    let app = spawn_app().await;
    let sql = app.sql().await;
    let token = app.user_token("ada@example.com").await;
    let ada: Uuid = app.get("/api/auth/me", Some(&token)).await.data()["id"].as_str().unwrap().parse().unwrap();
    let patient: Uuid = app.create_patient(&token, "Grace Hopper").await["id"].as_str().unwrap().parse().unwrap();
    app.get(&format!("/api/patients/{patient}"), Some(&token)).await.expect(200, "success");
    // In the fifth and sixth months back - past the hot three - this patient's accesses and others'.
    let now = OffsetDateTime::now_utc();
    let old_month = ops::seal::month_start((now - time::Duration::days(150)).date());
    let older_month = ops::seal::month_start(old_month.previous_day().unwrap());
    for (month, day) in [(old_month, 10), (old_month, 11), (older_month, 10)] {
        let at = ops::seal::midnight(month.replace_day(day).unwrap());
        let minutes = (now - at).whole_minutes();
        event_at(&sql, minutes, "patient.read", Some(ada), patient).await;
        event_at(&sql, minutes, "patient.read", None, Uuid::now_v7()).await;
    }
    ops::maintain(&sql, 72).await.unwrap();
    assert!(partition_exists(&sql, old_month).await);
    let bucket = archive_bucket().await;
    let config = archive_config(&bucket);

    // Not sealed to the month's end yet: nothing is archived, nothing dropped.
    let refused = ops::archive::archive(&sql, &config).await.unwrap_err();
    assert!(refused.contains("seal-audit first"), "{refused}");
    assert!(partition_exists(&sql, old_month).await);
    ops::seal::seal(&sql, minutes_ago(2)).await.unwrap();

    // The bucket missing (a wrong AUDIT_ARCHIVE_BUCKET): the upload fails, the partition stays.
    let unreachable = archive_config(&format!("missing-{}", Uuid::now_v7().simple()));
    assert!(ops::archive::archive(&sql, &unreachable).await.is_err());
    assert!(partition_exists(&sql, old_month).await, "a failed archive leaves the partition");

    let archived = ops::archive::archive(&sql, &config).await.unwrap();
    assert!(archived.contains(&old_month) && archived.contains(&older_month), "{archived:?}");
    assert!(!partition_exists(&sql, old_month).await, "archived, then dropped");
    let key = ops::archive::object_key(old_month);
    let head = config.bucket.head(&key).await.unwrap().expect("the archived month");
    assert_eq!(head.get("x-amz-object-lock-mode").map(|v| v.to_str().unwrap()), Some("COMPLIANCE"), "{head:?}");
    assert!(head.contains_key("x-amz-object-lock-retain-until-date"), "{head:?}");
    let manifest: serde_json::Value = {
        let bytes = config.bucket.get(&key.replace("events.ndjson.gz", "manifest.json")).await.unwrap().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    assert_eq!(manifest["events"], 4, "{manifest:#}");
    assert!(!manifest["seals"].as_array().unwrap().is_empty());

    // Verified from S3 for the archived month, from Postgres for the rest.
    ops::verify_audit(&sql, Some(&config), None).await.unwrap();

    // The access report: the archived months' and Postgres's, oldest first, with names.
    let report = ops::verify::access_report(&sql, Some(&config.bucket), patient).await.unwrap();
    let actions: Vec<&str> = report.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        ["patient.read", "patient.read", "patient.read", "patient.create", "patient.read"],
        "{report:?}"
    );
    assert_eq!(report[0].actor_name.as_deref(), Some("Test User"));
    let csv = ops::verify::csv(&report);
    assert_eq!(csv.lines().count(), 6, "{csv}");

    // A reordered archive (a new version of the object, its lines swapped) is found.
    let mut lines = Vec::new();
    ops::archive::read_lines(&config.bucket, &key, |_, line| lines.push(line.to_vec())).await.unwrap();
    lines.swap(0, 1);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    use std::io::Write;
    for line in &lines {
        gz.write_all(line).unwrap();
        gz.write_all(b"\n").unwrap();
    }
    let retain = head["x-amz-object-lock-retain-until-date"].to_str().unwrap().to_owned();
    let locked = [("x-amz-object-lock-mode", "COMPLIANCE".to_owned()), ("x-amz-object-lock-retain-until-date", retain)];
    config.bucket.put(&key, gz.finish().unwrap().into(), &locked).await.unwrap();
    let problems = ops::verify_audit(&sql, Some(&config), None).await.unwrap_err();
    assert!(problems.contains("reordered") && problems.contains("SHA-256 changed"), "{problems}");
}

#[tokio::test]
async fn the_compact_store_keeps_each_event_whole_in_about_a_hundred_bytes() {
    let app: TestApp = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    let patient = app.create_patient(&token, "Grace Hopper").await;
    let id = patient["id"].as_str().unwrap();
    app.get(&format!("/api/patients/{id}"), Some(&token)).await.expect(200, "success");
    let sql = app.sql().await;
    // The event reads back whole through the view, with its request id as the API gave it.
    let read = sql
        .query_one(
            "SELECT action, resource_type, outcome, access, purpose, request_id, actor_id IS NOT NULL
             FROM audit_trail WHERE action = 'patient.read'",
            &[],
        )
        .await
        .unwrap();
    let (action, kind, outcome): (String, String, String) = (read.get(0), read.get(1), read.get(2));
    assert_eq!((action.as_str(), kind.as_str(), outcome.as_str()), ("patient.read", "patient", "success"));
    assert_eq!(
        (read.get::<_, Option<String>>(3), read.get::<_, Option<String>>(4)),
        (Some("owner".into()), Some("treatment".into()))
    );
    assert!(read.get::<_, String>(5).parse::<Uuid>().is_ok() && read.get::<_, bool>(6));
    // API Gateway's request ids, ours and anything else read back as given (the last as a hash).
    for given in ["JKJaXmPLvHcESHA=", "Xh0u3hgqPHcEJYQ=", "01a25163-3834-7374-8834-a3cd18016f8e", "AA=="] {
        let back: String =
            sql.query_one("SELECT audit_request_text(audit_request_key($1))", &[&given]).await.unwrap().get(0);
        assert_eq!(back, given);
    }
    // The API packs request ids in Rust, the migration and the view's inserts in SQL: the same.
    for given in [
        "JKJaXmPLvHcESHA=",
        "01A25163-3834-7374-8834-A3CD18016F8E",
        "00000000-0000-0000-0000-000000000000",
        "AAB=",
        "AA==",
        "AAAAAAAAAAAAAAAAAAA=",
        "AAAAAAAAAAAAAAAAAAAA",
        "ops:make-admin",
        "",
        "é",
    ] {
        let in_sql: Uuid = sql.query_one("SELECT audit_request_key($1)", &[&given]).await.unwrap().get(0);
        assert_eq!(in_sql, shared::audit::request_key(given), "{given:?}");
    }
    let hashed: String =
        sql.query_one("SELECT audit_request_text(audit_request_key('ops:x'))", &[]).await.unwrap().get(0);
    assert!(hashed.starts_with("sha256:"), "{hashed}");
    // One row of six columns, its header 24 bytes: ~90 bytes on the heap with an IPv4 address.
    let width: i32 = sql.query_one("SELECT max(pg_column_size(e.*)) FROM audit_events e", &[]).await.unwrap().get(0);
    assert!(width <= 96, "an event row is {width} bytes");
}

#[tokio::test]
async fn the_daily_maintain_seals_up_to_today_and_says_so() {
    let app = spawn_app().await;
    let token = app.user_token("ada@example.com").await;
    app.create_patient(&token, "Grace Hopper").await;
    let mut sql = app.sql().await;
    // Yesterday's events, which today's seal covers (today's wait for tomorrow's).
    event_at(&sql, 24 * 60, "patient.read", None, Uuid::now_v7()).await;
    let line = ops::run(&mut sql, &ops::Command::Maintain, &ops::MailContext::default()).await.unwrap();
    assert!(line.contains("audit sealed up to") && line.contains("the last seal's hash is"), "{line}");
    let sealed: i64 = sql.query_one("SELECT sum(events)::int8 FROM audit_seals", &[]).await.unwrap().get(0);
    assert_eq!(sealed, 1, "yesterday's event, not today's: {line}");
    verify(&sql).await.unwrap();
}

/// Contexts and kinds are made on first use, inside the audit insert: many requests
/// using a new one at once all record their event, against one row of each.
#[tokio::test]
async fn first_uses_at_once_share_one_context_and_one_kind() {
    let app = spawn_app().await;
    let actor = Uuid::now_v7();
    let inserts = (0..16).map(|_| {
        let app = &app;
        async move {
            let sql = app.sql().await;
            sql.execute(
                "INSERT INTO audit_trail (action, resource_type, outcome, request_id, actor_id, access)
                 VALUES ('patient.first_use', 'patient', 'success', gen_random_uuid()::text, $1, 'owner')",
                &[&actor],
            )
            .await
        }
    });
    for inserted in futures::future::join_all(inserts).await {
        assert_eq!(inserted.unwrap(), 1);
    }
    let sql = app.sql().await;
    let counts = sql
        .query_one(
            "SELECT (SELECT count(*) FROM audit_trail WHERE actor_id = $1),
                    (SELECT count(*) FROM audit_contexts WHERE actor_id = $1),
                    (SELECT count(*) FROM audit_kinds WHERE action = 'patient.first_use')",
            &[&actor],
        )
        .await
        .unwrap();
    assert_eq!((counts.get::<_, i64>(0), counts.get::<_, i64>(1), counts.get::<_, i64>(2)), (16, 1, 1));
}
