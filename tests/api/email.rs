//! The flows through the user's mailbox, with `MAIL_DIR` catching each message as a
//! file: verification on register and its resend, forgotten password and reset; and
//! the SES path against the local emulator (moto).

use std::path::PathBuf;

use api_tests::{PASSWORD, TestApp, fresh_database, session_of, settings};
use serde_json::{Value, json};

pub(crate) struct Mailbox {
    dir: PathBuf,
}

impl Mailbox {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("healthcare-mail-{}", uuid::Uuid::now_v7()));
        Self { dir }
    }

    /// Every message written so far, oldest first.
    pub(crate) fn messages(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut files: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        files.sort();
        files.iter().map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap()).collect()
    }

    /// The token in the newest message's link to `page`.
    pub(crate) fn token(&self, page: &str) -> String {
        let messages = self.messages();
        let text = messages.last().expect("a message")["text"].as_str().unwrap().to_string();
        let marker = format!("http://localhost:5173/{page}?token=");
        let start = text.find(&marker).unwrap_or_else(|| panic!("no {page} link in {text:?}")) + marker.len();
        text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) async fn app_with_mail() -> (TestApp, Mailbox) {
    app_with_mail_and(&[]).await
}

/// `app_with_mail` with more settings.
pub(crate) async fn app_with_mail_and(extra: &[(&str, &str)]) -> (TestApp, Mailbox) {
    let mailbox = Mailbox::new();
    let url = fresh_database().await;
    let mut vars = vec![("MAIL_DIR", mailbox.dir.to_str().unwrap())];
    vars.extend_from_slice(extra);
    let app = TestApp::with_settings(settings(&url, &vars), url);
    (app, mailbox)
}

#[tokio::test]
async fn registering_sends_a_verification_link_that_works_once() {
    let (app, mailbox) = app_with_mail().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    assert_eq!(bundle["user"]["email_verified"], false);
    assert_eq!(bundle["user"]["mfa_enabled"], false);
    assert_eq!(bundle["user"]["status"], "active");
    let messages = mailbox.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["to"], "ada@example.com");
    assert!(messages[0]["subject"].as_str().unwrap().contains("email"));
    let token = mailbox.token("verify-email");
    assert!(token.len() >= 43, "256 bits in base64url: {token}");

    let verified = app.post("/api/auth/email/verify", &json!({"token": token}), None).await;
    verified.expect(200, "success");
    let me = app.get("/api/auth/me", bundle["access_token"].as_str()).await;
    assert_eq!(me.data()["email_verified"], true);
    let again = app.post("/api/auth/email/verify", &json!({"token": token}), None).await;
    again.expect(400, "invalid");
    assert_eq!(again.error_fields(), ["token"]);
    for bad in [json!({"token": "made-up"}), json!({"token": ""}), json!({}), json!({"token": 5})] {
        let r = app.post("/api/auth/email/verify", &bad, None).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    // Verified: a resend sends nothing.
    app.post("/api/auth/email/verify/resend", &json!({}), bundle["access_token"].as_str()).await.expect(200, "success");
    assert_eq!(mailbox.messages().len(), 1);
    assert_eq!(
        app.audit("auth.email_verified").await.iter().map(|e| e.2.as_str()).collect::<Vec<_>>(),
        ["success", "denied", "denied"]
    );
}

#[tokio::test]
async fn a_verification_link_expires_after_seven_days_and_resend_makes_a_new_one() {
    let (app, mailbox) = app_with_mail().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    let old = mailbox.token("verify-email");
    app.sql().await.execute("UPDATE email_tokens SET expires_at = now() - interval '1 second'", &[]).await.unwrap();
    app.post("/api/auth/email/verify", &json!({"token": old}), None).await.expect(400, "invalid");

    let token = bundle["access_token"].as_str();
    app.post("/api/auth/email/verify/resend", &json!({}), token).await.expect(200, "success");
    assert_eq!(mailbox.messages().len(), 2);
    let fresh = mailbox.token("verify-email");
    assert_ne!(fresh, old);
    app.post("/api/auth/email/verify", &json!({"token": fresh}), None).await.expect(200, "success");
    app.post("/api/auth/email/verify/resend", &json!({}), None).await.expect(401, "unauthorized");
}

#[tokio::test]
async fn forgot_answers_the_same_for_unknown_emails_and_sends_at_most_three_an_hour() {
    let (app, mailbox) = app_with_mail().await;
    app.register("Ada", "ada@example.com").await;
    let registered = mailbox.messages().len();

    let unknown = app.post("/api/auth/password/forgot", &json!({"email": "nobody@example.com"}), None).await;
    unknown.expect(200, "success");
    let known = app.post("/api/auth/password/forgot", &json!({"email": "ADA@example.com"}), None).await;
    known.expect(200, "success");
    assert_eq!(unknown.body["message"], known.body["message"]);
    assert_eq!(mailbox.messages().len(), registered + 1);
    assert_eq!(mailbox.messages().last().unwrap()["to"], "ada@example.com");

    for _ in 0..4 {
        app.post("/api/auth/password/forgot", &json!({"email": "ada@example.com"}), None).await.expect(200, "success");
    }
    assert_eq!(mailbox.messages().len(), registered + 3, "three reset emails an hour");
    app.post("/api/auth/password/forgot", &json!({"email": "not an email"}), None).await.expect(400, "invalid");
    app.post("/api/auth/password/forgot", &json!({}), None).await.expect(400, "missing");

    // A disabled account gets no email either.
    let sql = app.sql().await;
    sql.execute("DELETE FROM email_tokens", &[]).await.unwrap();
    sql.execute("UPDATE users SET status = 'disabled'", &[]).await.unwrap();
    app.post("/api/auth/password/forgot", &json!({"email": "ada@example.com"}), None).await.expect(200, "success");
    assert_eq!(mailbox.messages().len(), registered + 3);
}

#[tokio::test]
async fn a_reset_sets_the_password_ends_every_session_clears_failures_and_verifies_the_email() {
    let (app, mailbox) = app_with_mail().await;
    let bundle = app.register("Ada", "ada@example.com").await;
    for _ in 0..5 {
        app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": "wrong-guess"}), None).await;
    }
    app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": PASSWORD}), None)
        .await
        .expect(429, "rate_limited");

    app.post("/api/auth/password/forgot", &json!({"email": "ada@example.com"}), None).await.expect(200, "success");
    let token = mailbox.token("reset-password");
    let short = app.post("/api/auth/password/reset", &json!({"token": token, "new_password": "short"}), None).await;
    short.expect(400, "invalid");
    assert_eq!(short.error_fields(), ["new_password"]);

    let reset =
        app.post("/api/auth/password/reset", &json!({"token": token, "new_password": "the-new-password"}), None).await;
    reset.expect(200, "success");
    assert_eq!(reset.data()["user"]["email_verified"], true);
    let new_token = reset.data()["access_token"].as_str().unwrap();
    assert_ne!(session_of(new_token), session_of(bundle["access_token"].as_str().unwrap()));
    app.get("/api/patients", bundle["access_token"].as_str()).await.expect(401, "unauthorized");
    app.get("/api/patients", Some(new_token)).await.expect(200, "success");
    // Failures were forgotten: the new password signs in at once.
    app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": "the-new-password"}), None)
        .await
        .expect(200, "success");

    let used =
        app.post("/api/auth/password/reset", &json!({"token": token, "new_password": "yet-another-one"}), None).await;
    used.expect(400, "invalid");
    assert_eq!(used.error_fields(), ["token"]);
    app.post("/api/auth/password/forgot", &json!({"email": "ada@example.com"}), None).await.expect(200, "success");
    let late = mailbox.token("reset-password");
    app.sql().await.execute("UPDATE email_tokens SET expires_at = now() - interval '1 second'", &[]).await.unwrap();
    app.post("/api/auth/password/reset", &json!({"token": late, "new_password": "yet-another-one"}), None)
        .await
        .expect(400, "invalid");
    let outcomes: Vec<String> = app.audit("auth.password_reset").await.into_iter().map(|e| e.2).collect();
    assert_eq!(outcomes, ["success", "denied", "denied"]);
    assert_eq!(app.audit("auth.password_reset_requested").await.len(), 2);
}

/// Without `MAIL_DIR`, mail goes to SES from `MAIL_FROM`: here the local emulator that
/// scripts/test starts (AWS_ENDPOINT_URL), which counts what it was asked to send.
#[tokio::test]
async fn with_mail_from_set_the_message_goes_to_ses() {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        panic!("AWS_ENDPOINT_URL is not set: run the tests through scripts/test");
    };
    let sender = format!("no-reply-{}@clinic.example", uuid::Uuid::now_v7().simple());
    ses_verify_sender(&endpoint, &sender).await;
    let url = fresh_database().await;
    let app = TestApp::with_settings(settings(&url, &[("MAIL_FROM", &sender)]), url);
    let before = ses_sent(&endpoint).await;
    app.register("Ada", "ada@example.com").await;
    app.post("/api/auth/password/forgot", &json!({"email": "ada@example.com"}), None).await.expect(200, "success");
    assert_eq!(ses_sent(&endpoint).await - before, 2, "the verification and the reset email");

    // A sender SES refuses: the mail fails, the answers do not.
    let url = fresh_database().await;
    let refused = TestApp::with_settings(settings(&url, &[("MAIL_FROM", "unverified@clinic.example")]), url);
    let before = ses_sent(&endpoint).await;
    refused.register("Grace", "grace@example.com").await;
    let forgot = refused.post("/api/auth/password/forgot", &json!({"email": "grace@example.com"}), None).await;
    forgot.expect(200, "success");
    assert_eq!(ses_sent(&endpoint).await, before, "nothing was sent");
}

/// Makes `address` a verified SES identity in the emulator (SES refuses other senders).
pub(crate) async fn ses_verify_sender(endpoint: &str, address: &str) {
    let body = format!("Action=VerifyEmailIdentity&Version=2010-12-01&EmailAddress={}", address.replace('@', "%40"));
    let answer = ses_query(endpoint, &body).await;
    assert!(answer.contains("VerifyEmailIdentityResponse"), "{answer}");
}

/// How many messages the emulator has sent (`SentLast24Hours`).
pub(crate) async fn ses_sent(endpoint: &str) -> i64 {
    let answer = ses_query(endpoint, "Action=GetSendQuota&Version=2010-12-01").await;
    let value = answer.split("<SentLast24Hours>").nth(1).and_then(|rest| rest.split('<').next());
    value.and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or_else(|| panic!("{answer}")) as i64
}

/// One SES query-API call to the emulator, over plain HTTP/1.1 (the emulator routes by
/// the service named in the credential scope and checks no signature).
async fn ses_query(endpoint: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/ses/aws4_request, SignedHeaders=host, \
         Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}
