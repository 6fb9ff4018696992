//! Email: Amazon SES (SESv2 `SendEmail`) from `MAIL_FROM`, or - with `MAIL_DIR` set -
//! one JSON file per message (`{"to", "subject", "text"}`) for local use and tests.
//!
//! Sending never changes an answer: a failure is logged (without the address or the
//! link, which holds a token) and the request goes on. The SES client is built on the
//! first message, not at cold start: most invocations of this function send none.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use shared::Settings;
use shared::aws::Target;

#[derive(Debug, Serialize)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub text: String,
}

enum Mailer {
    Dir(PathBuf),
    Ses { client: aws_sdk_sesv2::Client, from: String },
    None,
}

/// The mailer for each mail configuration seen: on Lambda one, built on first use; in
/// the tests, one per configuration the test apps use.
static MAILERS: Mutex<Vec<(Config, Arc<Mailer>)>> = Mutex::new(Vec::new());

type Config = (Option<String>, Option<String>);

fn mailer_for(settings: &Settings) -> Arc<Mailer> {
    let config = (settings.mail_dir.clone(), settings.mail_from.clone());
    let mut mailers = MAILERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, mailer)) = mailers.iter().find(|(c, _)| *c == config) {
        return mailer.clone();
    }
    let mailer = Arc::new(mailer(settings));
    mailers.push((config, mailer.clone()));
    mailer
}

pub async fn send(settings: &Settings, message: Message) {
    let mailer = mailer_for(settings);
    let sent = match mailer.as_ref() {
        Mailer::Dir(dir) => write(dir, &message).await,
        Mailer::Ses { client, from } => ses(client, from, message).await,
        Mailer::None => Err("neither MAIL_FROM nor MAIL_DIR is set".into()),
    };
    if let Err(e) = sent {
        tracing::error!(error = %e, "an email could not be sent");
    }
}

fn mailer(settings: &Settings) -> Mailer {
    if let Some(dir) = &settings.mail_dir {
        return Mailer::Dir(PathBuf::from(dir));
    }
    let Some(from) = settings.mail_from.clone() else { return Mailer::None };
    match ses_client() {
        Ok(client) => Mailer::Ses { client, from },
        Err(e) => {
            tracing::error!(error = %e, "the SES client could not be built; no email will be sent");
            Mailer::None
        }
    }
}

fn ses_client() -> Result<aws_sdk_sesv2::Client, shared::config::ConfigError> {
    let target = Target::from_env("AWS_ENDPOINT_URL_SESV2")?;
    let mut config = aws_sdk_sesv2::Config::builder()
        .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
        .credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
    if let Some(http) = target.http_client()? {
        config = config.http_client(http);
    }
    if let Some(endpoint) = target.endpoint {
        config = config.endpoint_url(endpoint);
    }
    Ok(aws_sdk_sesv2::Client::from_conf(config.region(aws_sdk_sesv2::config::Region::new(target.region)).build()))
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

async fn ses(client: &aws_sdk_sesv2::Client, from: &str, message: Message) -> Result<(), String> {
    use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message as SesMessage};
    let content = |text: String| Content::builder().data(text).charset("UTF-8").build().map_err(|e| e.to_string());
    let email = SesMessage::builder()
        .subject(content(message.subject)?)
        .body(Body::builder().text(content(message.text)?).build())
        .build();
    client
        .send_email()
        .from_email_address(from)
        .destination(Destination::builder().to_addresses(message.to).build())
        .content(EmailContent::builder().simple(email).build())
        .send()
        .await
        .map(drop)
        // The code only: SES's messages can quote the recipient's address.
        .map_err(|e| {
            use aws_sdk_sesv2::error::ProvideErrorMetadata;
            format!("SES SendEmail failed: {}", e.code().unwrap_or("no error code (a network or client failure)"))
        })
}
