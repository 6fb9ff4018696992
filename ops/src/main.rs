//! `ops`: operator commands against any PostgreSQL URL (Neon's direct host included).
//!
//!   ops migrate                 apply pending migrations
//!   ops make-admin EMAIL        give an existing user the admin role
//!   ops prune                   remove expired sessions, tokens and login failures
//!   ops maintain                prune, create the coming months' audit partitions, and
//!                               list those past AUDIT_RETENTION_MONTHS (default 72)
//!   ops drop-expired-audit      drop the audit partitions past AUDIT_RETENTION_MONTHS
//!   ops deliver-mail            send the queued emails that are due (the outbox's retry;
//!                               MAIL_FROM or MAIL_DIR, DATA_KEY as the functions have them)
//!
//! The URL comes from `DATABASE_URL` (and `DATABASE_CA_FILE` for a private CA). On AWS
//! the same commands run in the operator Lambda (functions/operator).

use std::process::ExitCode;

use ops::Command;

const USAGE: &str = "usage: ops migrate | ops make-admin EMAIL | ops prune | ops maintain | ops drop-expired-audit | \
                     ops deliver-mail   (DATABASE_URL must be set)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["migrate"] => Command::Migrate,
        ["make-admin", email] => Command::MakeAdmin { email: email.to_string() },
        ["prune"] => Command::Prune,
        ["maintain"] => Command::Maintain,
        ["drop-expired-audit"] => Command::DropExpiredAudit,
        ["deliver-mail"] => Command::DeliverMail,
        _ => return fail(USAGE),
    };
    let Ok(url) = std::env::var("DATABASE_URL") else { return fail(USAGE) };
    let ca_file = std::env::var("DATABASE_CA_FILE").ok().filter(|v| !v.is_empty());
    let mut client = match ops::connect(&url, ca_file.as_deref()).await {
        Ok(client) => client,
        Err(e) => return fail(&e),
    };
    let mail = match ops::MailContext::from_env(None) {
        Ok(mail) => mail,
        Err(e) => return fail(&e.to_string()),
    };
    match ops::run(&mut client, &command, &mail).await {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("ops: {message}");
    ExitCode::FAILURE
}
