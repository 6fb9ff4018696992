//! Sending one email: Amazon SES (SESv2 `SendEmail`, `ses`) from `MAIL_FROM`, or - with
//! `MAIL_DIR` set - one JSON file per message (`{"to", "subject", "text"}`) for local use
//! and tests. Nothing here retries or decides what an email says: the outbox
//! (`crate::outbox`) queues each message with its token and calls `send`.
//!
//! A mailer is built on its first message, not at cold start: most invocations send none.

mod ses;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

/// How email goes out, from `MAIL_FROM`, `MAIL_DIR` and the SES endpoint override.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailConfig {
    /// The sender of every email (an SES-verified identity).
    pub from: Option<String>,
    /// Write each email as a file here instead of sending it.
    pub dir: Option<String>,
    /// `AWS_ENDPOINT_URL_SESV2`, else `AWS_ENDPOINT_URL`: a local emulator. The
    /// service's own variable wins, as in the AWS SDKs; unset here, the process
    /// environment's are used (as for every AWS variable).
    pub ses_endpoint: Option<String>,
}

impl MailConfig {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Self {
        let value = |key: &str| get(key).filter(|v| !v.is_empty());
        Self {
            from: value("MAIL_FROM"),
            dir: value("MAIL_DIR"),
            ses_endpoint: value("AWS_ENDPOINT_URL_SESV2").or_else(|| value("AWS_ENDPOINT_URL")),
        }
    }

    /// Whether email can go out at all.
    pub fn configured(&self) -> bool {
        self.dir.is_some() || self.from.is_some()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Bound on one send. A handler's first attempt waits at most this long before it
/// answers; the outbox retries what timed out.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

enum Mailer {
    Dir(PathBuf),
    Ses(Box<ses::Ses>),
    None(String),
}

/// The mailer for each configuration seen: on Lambda one; in the tests, one per
/// configuration the test apps use.
static MAILERS: Mutex<Vec<(MailConfig, Arc<Mailer>)>> = Mutex::new(Vec::new());

fn mailer_for(config: &MailConfig) -> Arc<Mailer> {
    let mut mailers = MAILERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, mailer)) = mailers.iter().find(|(c, _)| c == config) {
        return mailer.clone();
    }
    let mailer = Arc::new(mailer(config));
    mailers.push((config.clone(), mailer.clone()));
    mailer
}

fn mailer(config: &MailConfig) -> Mailer {
    if let Some(dir) = &config.dir {
        return Mailer::Dir(PathBuf::from(dir));
    }
    let Some(from) = config.from.clone() else {
        return Mailer::None("neither MAIL_FROM nor MAIL_DIR is set".into());
    };
    match ses::Ses::from_env(from, config.ses_endpoint.clone()) {
        Ok(ses) => Mailer::Ses(Box::new(ses)),
        Err(e) => Mailer::None(format!("the SES client could not be built: {e}")),
    }
}

/// Sends one message, within `SEND_TIMEOUT`. The error says what kind of failure it was
/// (an SES error code, a timeout) and never carries the address or the text.
pub async fn send(config: &MailConfig, message: &Message) -> Result<(), String> {
    let mailer = mailer_for(config);
    let sending = async {
        match mailer.as_ref() {
            Mailer::Dir(dir) => write(dir, message).await,
            Mailer::Ses(ses) => ses.send(message).await,
            Mailer::None(why) => Err(why.clone()),
        }
    };
    tokio::time::timeout(SEND_TIMEOUT, sending).await.unwrap_or_else(|_| Err("timeout".into()))
}

async fn write(dir: &PathBuf, message: &Message) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(message).map_err(|e| e.to_string())?;
    tokio::fs::create_dir_all(dir).await.map_err(|e| format!("creating {}: {e}", dir.display()))?;
    // Written under a temporary name and renamed, so a reader never sees half a file.
    let name = uuid::Uuid::now_v7();
    let (partial, done) = (dir.join(format!("{name}.partial")), dir.join(format!("{name}.json")));
    tokio::fs::write(&partial, json).await.map_err(|e| format!("writing {}: {e}", partial.display()))?;
    tokio::fs::rename(&partial, &done).await.map_err(|e| format!("renaming {}: {e}", partial.display()))
}
