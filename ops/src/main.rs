//! `ops`: operator commands against any PostgreSQL URL (Neon's direct host included).
//!
//!   ops migrate                 apply pending migrations
//!   ops make-admin EMAIL        give an existing user the admin role
//!
//! The URL comes from `DATABASE_URL` (and `DATABASE_CA_FILE` for a private CA).

use std::process::ExitCode;

use ops::MakeAdmin;

const USAGE: &str = "usage: ops migrate | ops make-admin EMAIL   (DATABASE_URL must be set)";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("ops: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<String, String> {
    let command: Vec<&str> = args.iter().map(String::as_str).collect();
    if !matches!(command.as_slice(), ["migrate"] | ["make-admin", _]) {
        return Err(USAGE.into());
    }
    let url = std::env::var("DATABASE_URL").map_err(|_| USAGE.to_string())?;
    let ca_file = std::env::var("DATABASE_CA_FILE").ok().filter(|v| !v.is_empty());
    let mut client = ops::connect(&url, ca_file.as_deref()).await?;
    match command.as_slice() {
        ["migrate"] => {
            let applied = ops::migrate(&mut client).await.map_err(|e| e.to_string())?;
            Ok(match applied.as_slice() {
                [] => "migrations: already up to date".into(),
                versions => format!("migrations: applied {versions:?}"),
            })
        }
        ["make-admin", email] => match ops::make_admin(&client, email).await.map_err(|e| ops::describe(&e))? {
            MakeAdmin::Promoted => Ok(format!("{email} is now an admin")),
            MakeAdmin::AlreadyAdmin => Ok(format!("{email} was already an admin")),
            MakeAdmin::NoSuchUser => Err(format!("no user has the email {email}; register first")),
        },
        _ => Err(USAGE.into()),
    }
}
