//! The mail outbox (shared::outbox): an email is queued by the statement that issues its
//! token, sent at once when it can be, and otherwise retried by the operator's run -
//! never lost, never sent twice by racing retries, never left as plain text beside a
//! data key.

use std::path::PathBuf;

use api_tests::{TestApp, fresh_database, settings};
use serde_json::json;
use shared::crypto::DataKeys;
use shared::mail::MailConfig;
use shared::outbox::{self, Delivery};

use crate::email::{ses_sent, ses_verify_sender};

/// An address nothing listens on: SES "down", refused at once.
const SES_DOWN: &str = "http://127.0.0.1:9";

fn moto() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL is not set: run the tests through scripts/test")
}

async fn queued(app: &TestApp) -> Vec<(i32, Option<String>, bool)> {
    let rows =
        app.sql().await.query("SELECT attempts, last_error, sealed FROM mail_outbox ORDER BY id", &[]).await.unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
}

/// What the retry run would find after the backoff: every queued message due now.
async fn backoff_passes(app: &TestApp) {
    app.sql().await.execute("UPDATE mail_outbox SET next_attempt_at = now()", &[]).await.unwrap();
}

fn keys() -> DataKeys {
    DataKeys::from_lookup(&|k: &str| (k == "DATA_KEY").then(|| api_tests::DATA_KEY.to_string())).unwrap()
}

fn mail_dir() -> PathBuf {
    std::env::temp_dir().join(format!("healthcare-outbox-{}", uuid::Uuid::now_v7()))
}

fn files(dir: &PathBuf) -> Vec<serde_json::Value> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn ses_down_during_forgot_still_answers_200_and_the_next_retry_delivers() {
    let sender = format!("no-reply-{}@clinic.example", uuid::Uuid::now_v7().simple());
    ses_verify_sender(&moto(), &sender).await;
    let url = fresh_database().await;
    let down = [("MAIL_FROM", sender.as_str()), ("AWS_ENDPOINT_URL_SESV2", SES_DOWN)];
    let app = TestApp::with_settings(settings(&url, &down), url);
    let before = ses_sent(&moto()).await;

    app.register("Ada", "ada@example.com").await;
    let forgot = app.post("/api/auth/password/forgot", &json!({"email": "ada@example.com"}), None).await;
    forgot.expect(200, "success");
    assert_eq!(ses_sent(&moto()).await, before, "SES was down: nothing went out");
    let waiting = queued(&app).await;
    assert_eq!(waiting.len(), 2, "the verification and the reset email wait in the outbox");
    for (attempts, error, sealed) in &waiting {
        assert_eq!(*attempts, 1, "one attempt, by the request");
        assert!(error.as_deref().is_some_and(|e| e.contains("could not be reached")), "{error:?}");
        assert!(sealed, "the body holds a link: sealed under the data key");
    }

    // Not yet due: the run before the backoff has passed sends nothing.
    let client = app.sql().await;
    let up = MailConfig { from: Some(sender.clone()), dir: None, ses_endpoint: Some(moto()) };
    let early = outbox::deliver_due(&client, &up, &keys()).await.unwrap();
    assert_eq!(early, Delivery { sent: 0, failed: 0, queued: 2, undelivered: 0 });

    backoff_passes(&app).await;
    let delivered = outbox::deliver_due(&client, &up, &keys()).await.unwrap();
    assert_eq!(delivered, Delivery { sent: 2, failed: 0, queued: 0, undelivered: 0 });
    assert_eq!(ses_sent(&moto()).await - before, 2, "both emails went out, once each");
    assert!(queued(&app).await.is_empty(), "sent messages leave the outbox");
}

#[tokio::test]
async fn two_retry_runs_at_once_send_every_message_exactly_once() {
    let url = fresh_database().await;
    let down = [("MAIL_FROM", "no-reply@clinic.example"), ("AWS_ENDPOINT_URL_SESV2", SES_DOWN)];
    let app = TestApp::with_settings(settings(&url, &down), url);
    for n in 0..30 {
        app.register("Patient", &format!("p{n}@example.com")).await;
    }
    assert_eq!(queued(&app).await.len(), 30);
    backoff_passes(&app).await;

    let dir = mail_dir();
    let to_dir = MailConfig { from: None, dir: Some(dir.to_string_lossy().into()), ses_endpoint: None };
    let (a, b, keys) = (app.sql().await, app.sql().await, keys());
    let (first, second) =
        tokio::join!(outbox::deliver_due(&a, &to_dir, &keys), outbox::deliver_due(&b, &to_dir, &keys));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.sent + second.sent, 30, "{first:?} {second:?}");
    assert_eq!(first.failed + second.failed, 0);

    let mut recipients: Vec<String> = files(&dir).iter().map(|m| m["to"].as_str().unwrap().to_owned()).collect();
    recipients.sort();
    let mut expected: Vec<String> = (0..30).map(|n| format!("p{n}@example.com")).collect();
    expected.sort();
    assert_eq!(recipients, expected, "every message once, none twice");
    assert!(queued(&app).await.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_message_sent_at_once_leaves_nothing_behind_and_one_that_expired_is_never_sent() {
    let dir = mail_dir();
    let url = fresh_database().await;
    let app = TestApp::with_settings(settings(&url, &[("MAIL_DIR", dir.to_str().unwrap())]), url.clone());
    app.register("Ada", "ada@example.com").await;
    assert_eq!(files(&dir).len(), 1, "sent by the request itself");
    assert!(queued(&app).await.is_empty(), "and removed from the outbox");

    // Without a data key the body is kept as text; with SES down it stays queued.
    let url = fresh_database().await;
    let no_key = [("DATA_KEY", ""), ("MAIL_FROM", "no-reply@clinic.example"), ("AWS_ENDPOINT_URL_SESV2", SES_DOWN)];
    let app = TestApp::with_settings(settings(&url, &no_key), url);
    app.register("Grace", "grace@example.com").await;
    assert!(!queued(&app).await[0].2, "no key: not sealed");

    // Its link expires before SES comes back: the retry skips it, prune removes it.
    let sql = app.sql().await;
    sql.execute("UPDATE mail_outbox SET next_attempt_at = now(), discard_after = now() - interval '1 second'", &[])
        .await
        .unwrap();
    let to_dir = MailConfig { from: None, dir: Some(dir.to_string_lossy().into()), ses_endpoint: None };
    let run = outbox::deliver_due(&sql, &to_dir, &DataKeys::default()).await.unwrap();
    assert_eq!(run, Delivery { sent: 0, failed: 0, queued: 1, undelivered: 0 });
    assert_eq!(files(&dir).len(), 1, "nothing more was written");
    let pruned = ops::prune(&sql).await.unwrap();
    assert_eq!(pruned.mail_discarded, 1);
    assert!(queued(&app).await.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn messages_that_keep_failing_are_counted_undelivered_and_backed_off() {
    let url = fresh_database().await;
    let down = [("MAIL_FROM", "no-reply@clinic.example"), ("AWS_ENDPOINT_URL_SESV2", SES_DOWN)];
    let app = TestApp::with_settings(settings(&url, &down), url);
    app.register("Ada", "ada@example.com").await;
    let sql = app.sql().await;
    let still_down =
        MailConfig { from: Some("no-reply@clinic.example".into()), dir: None, ses_endpoint: Some(SES_DOWN.into()) };
    for run in 2..=outbox::ALERT_ATTEMPTS {
        backoff_passes(&app).await;
        let delivery = outbox::deliver_due(&sql, &still_down, &keys()).await.unwrap();
        let undelivered = i64::from(run >= outbox::ALERT_ATTEMPTS);
        assert_eq!(delivery, Delivery { sent: 0, failed: 1, queued: 1, undelivered }, "run {run}");
    }
    // The backoff doubles per attempt: after the fifth, the next is ~32 minutes away.
    let wait: f64 = sql
        .query_one("SELECT extract(epoch FROM next_attempt_at - now())::float8 FROM mail_outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert!((31.0 * 60.0..=32.0 * 60.0).contains(&wait), "{wait}");
}
