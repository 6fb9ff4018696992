//! `ops`: operator commands against any PostgreSQL URL (Neon's direct host included).
//!
//!   ops migrate                 apply pending migrations
//!   ops make-admin EMAIL        give an existing user the admin role
//!   ops prune                   remove expired sessions, tokens and login failures
//!   ops maintain                prune, create the coming months' audit partitions, list
//!                               those past AUDIT_RETENTION_MONTHS (default 72), seal the
//!                               audit trail to today and archive the months past
//!                               AUDIT_HOT_MONTHS (with AUDIT_ARCHIVE_BUCKET)
//!   ops drop-expired-audit      drop the audit partitions past AUDIT_RETENTION_MONTHS
//!   ops deliver-mail            send the queued emails that are due (the outbox's retry;
//!                               MAIL_FROM or MAIL_DIR, DATA_KEY as the functions have them)
//!   ops seal-audit [--until T]  seal the audit events up to T (default: the start of today)
//!   ops verify-audit [--month YYYY-MM]
//!                               recompute every seal from Postgres or the archive; exits 1
//!                               listing each event changed, removed or added
//!   ops archive-audit           move the sealed months older than AUDIT_HOT_MONTHS to S3
//!   ops access-report PATIENT [--format json|csv]
//!                               every access to a patient, archive and Postgres
//!
//! The URL comes from `DATABASE_URL` (and `DATABASE_CA_FILE` for a private CA). On AWS
//! the same commands run in the operator Lambda (functions/operator).

use std::process::ExitCode;

use ops::Command;

const USAGE: &str = "usage: ops migrate | ops make-admin EMAIL | ops prune | ops maintain | ops drop-expired-audit | \
                     ops deliver-mail | ops seal-audit [--until RFC3339] | ops verify-audit [--month YYYY-MM] | \
                     ops archive-audit | ops access-report PATIENT_ID [--format json|csv]   (DATABASE_URL must be set)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Seals and archives say what they did in log lines too: a copy outside the database.
    shared::telemetry::init_local();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["migrate"] => Command::Migrate,
        ["make-admin", email] => Command::MakeAdmin { email: email.to_string() },
        ["prune"] => Command::Prune,
        ["maintain"] => Command::Maintain,
        ["drop-expired-audit"] => Command::DropExpiredAudit,
        ["deliver-mail"] => Command::DeliverMail,
        ["seal-audit"] => Command::SealAudit { until: None },
        ["seal-audit", "--until", until] => Command::SealAudit { until: Some(until.to_string()) },
        ["verify-audit"] => Command::VerifyAudit { month: None },
        ["verify-audit", "--month", month] => Command::VerifyAudit { month: Some(month.to_string()) },
        ["archive-audit"] => Command::ArchiveAudit,
        ["access-report", patient, rest @ ..] => {
            let Ok(patient) = patient.parse() else { return fail("access-report takes a patient's id (a UUID)") };
            let format = match rest {
                [] => None,
                ["--format", format] => Some(format.to_string()),
                _ => return fail(USAGE),
            };
            Command::AccessReport { patient, format }
        }
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
