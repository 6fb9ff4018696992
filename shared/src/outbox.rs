//! The mail outbox: email that is never lost, and never holds a request up for long.
//!
//! The statement that issues a token (a reset, a verification; later an invitation or
//! an alert) also queues its email: `Outgoing::queued_in` binds the message for the
//! statement's `queue_mail(...)` CTE (migrations/0007), so the email exists exactly when
//! the token does. The row is created claimed by the request, which then sends it once
//! (`send_now`, bounded by `mail::SEND_TIMEOUT`) and deletes it, or on failure releases
//! it with a backoff. The operator's schedule runs `deliver_due` every few minutes:
//! it claims what is due (`FOR UPDATE SKIP LOCKED`, so two runs never take the same
//! row), sends, deletes or backs off, and reports how many messages have failed
//! `ALERT_ATTEMPTS` times or more (the `MailUndelivered` metric, which has an alarm).
//!
//! Delivery is at least once: a sender that dies after SES accepted a message but before
//! deleting its row sends it again when the claim runs out. A message whose link has
//! expired (`discard_after`) is not sent; `ops prune` removes it.

use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::config::Settings;
use crate::crypto::DataKeys;
use crate::db::{Column, Sql, Statement};
use crate::mail::{self, MailConfig, Message};
use crate::{ApiError, AppState, sql};

static SENT: Sql = sql!("sql/mail_sent.sql");
static FAILED: Sql = sql!("sql/mail_failed.sql");
static CLAIM: Sql = sql!("sql/mail_claim.sql");
static BACKLOG: Sql = sql!("sql/mail_backlog.sql");

/// How long a sender holds a message it claimed: well past `mail::SEND_TIMEOUT`, so a
/// claim never runs out while its send is still in flight.
pub const CLAIM_SECONDS: i32 = 60;
/// Messages claimed at a time; a run sends them one after another.
const BATCH: i64 = 10;
/// A run claims no new batch after this long. With a batch's sends bounded by
/// `mail::SEND_TIMEOUT` each, a run ends within ~95 s, inside the operator's 120 s
/// timeout even when every send times out; what is left waits for the next run.
const RUN_SECONDS: u64 = 45;
/// A message that has failed this often counts as undelivered (metric and alarm).
pub const ALERT_ATTEMPTS: i32 = 5;

/// An email to queue with the statement that issues its token. The body is sealed under
/// the data key when one is configured: it holds a live link.
#[derive(Clone)]
pub struct Outgoing {
    subject: String,
    text: String,
    /// What the outbox keeps: the text, sealed when `sealed`.
    body: Vec<u8>,
    sealed: bool,
}

impl Outgoing {
    pub fn new(settings: &Settings, subject: &str, text: String) -> Result<Self, ApiError> {
        let sealed = settings.data_keys.configured();
        let body = if sealed { settings.data_keys.seal(text.as_bytes())? } else { text.clone().into_bytes() };
        Ok(Self { subject: subject.into(), text, body, sealed })
    }

    /// What the statement builders are given for the schema test.
    pub fn placeholder() -> Self {
        Self { subject: String::new(), text: String::new(), body: Vec::new(), sealed: false }
    }

    /// Binds what the statement's `queue_mail(recipient, :mail_subject, :mail_body,
    /// :mail_sealed, discard_after, :mail_claim_seconds)` needs; the statement supplies
    /// the recipient and the link's expiry from the rows it writes, and answers `mail_id`.
    pub fn queued_in(&self, statement: Statement) -> Statement {
        statement
            .bind("mail_subject", self.subject.clone())
            .bind("mail_body", self.body.clone())
            .bind("mail_sealed", self.sealed)
            .bind("mail_claim_seconds", CLAIM_SECONDS)
    }
}

/// The request's one attempt at a message its statement just queued (and claimed). A
/// failure is logged by kind and left to the retry; it never changes the answer.
pub async fn send_now(state: &AppState, mail_id: Uuid, to: String, outgoing: Outgoing) {
    let message = Message { to, subject: outgoing.subject, text: outgoing.text };
    let sent = mail::send(&state.settings.mail, &message).await;
    let settled = match &sent {
        Ok(()) => sent_statement(mail_id).execute(&state.db).await,
        Err(why) => {
            tracing::warn!(error = %why, %mail_id, "an email could not be sent yet; the outbox will retry it");
            failed_statement(mail_id, why).execute(&state.db).await
        }
    };
    if let Err(e) = settled {
        // The claim runs out and the retry takes the message (again, if it was sent).
        tracing::error!(error = %e, %mail_id, "the outbox row of an email could not be settled");
    }
}

/// What one retry run did, and what it left.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub failed: usize,
    /// Messages still queued after the run.
    pub queued: i64,
    /// Of those, the ones that have failed `ALERT_ATTEMPTS` times or more.
    pub undelivered: i64,
}

/// The operator's retry: sends the messages that are due, until none is left that this
/// run has not tried or its time is up.
pub async fn deliver_due(
    client: &tokio_postgres::Client,
    mail: &MailConfig,
    keys: &DataKeys,
) -> Result<Delivery, String> {
    let mut delivery = Delivery::default();
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(RUN_SECONDS) {
        let claimed = claim_statement().query_client(client).await?;
        for row in &claimed {
            let (id, message) = claimed_message(row, keys)?;
            let outcome = match &message {
                Ok(message) => mail::send(mail, message).await,
                Err(why) => Err(why.clone()),
            };
            match outcome {
                Ok(()) => {
                    sent_statement(id).query_client(client).await?;
                    delivery.sent += 1;
                }
                Err(why) => {
                    tracing::warn!(error = %why, mail_id = %id, "an email could not be sent; it will be retried");
                    failed_statement(id, &why).query_client(client).await?;
                    delivery.failed += 1;
                }
            }
        }
        // A failed message is due again only after its backoff, so a short batch means
        // nothing due is left.
        if (claimed.len() as i64) < BATCH {
            break;
        }
    }
    let backlog = backlog_statement().query_client(client).await?;
    let backlog = backlog.first().ok_or("the outbox backlog answered no row")?;
    let count = |name: &str| backlog.try_get::<_, i64>(name).map_err(|e| format!("reading {name}: {e}"));
    (delivery.queued, delivery.undelivered) = (count("queued")?, count("undelivered")?);
    Ok(delivery)
}

/// A claimed row's id and message; the message is an error when its body cannot be
/// opened (the key it was sealed under is gone), which counts as a failed attempt.
fn claimed_message(row: &Row, keys: &DataKeys) -> Result<(Uuid, Result<Message, String>), String> {
    let get = |e: tokio_postgres::Error| format!("reading a claimed email: {e}");
    let id: Uuid = row.try_get("id").map_err(get)?;
    let (to, subject): (String, String) =
        (row.try_get("recipient").map_err(get)?, row.try_get("subject").map_err(get)?);
    let body: Vec<u8> = row.try_get("body").map_err(get)?;
    let text = match row.try_get::<_, bool>("sealed").map_err(get)? {
        true => keys.open(&body).map_err(|_| "the body's data key is not configured".to_string()),
        false => Ok(body),
    };
    let text = text.and_then(|text| String::from_utf8(text).map_err(|_| "the body is not UTF-8".to_string()));
    Ok((id, text.map(|text| Message { to, subject, text })))
}

fn sent_statement(id: Uuid) -> Statement {
    Statement::new(&SENT).bind("id", id)
}

fn failed_statement(id: Uuid, why: &str) -> Statement {
    // Bounded: an error kind, not a transcript.
    Statement::new(&FAILED).bind("id", id).bind("error", why.chars().take(200).collect::<String>())
}

const CLAIMED: &[Column] = &[
    ("id", Type::UUID),
    ("recipient", Type::TEXT),
    ("subject", Type::TEXT),
    ("body", Type::BYTEA),
    ("sealed", Type::BOOL),
    ("attempts", Type::INT4),
];

fn claim_statement() -> Statement {
    Statement::new(&CLAIM).bind("batch", BATCH).bind("claim_seconds", CLAIM_SECONDS).reads(CLAIMED)
}

fn backlog_statement() -> Statement {
    Statement::new(&BACKLOG)
        .bind("alert_attempts", ALERT_ATTEMPTS)
        .reads(&[("queued", Type::INT8), ("undelivered", Type::INT8)])
}

/// Every statement of the outbox, for the schema test.
pub fn statements() -> Vec<Statement> {
    vec![sent_statement(Uuid::nil()), failed_statement(Uuid::nil(), ""), claim_statement(), backlog_statement()]
}
