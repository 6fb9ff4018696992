//! Prints one statement exactly as the code composes it - audit CTE included, rendered
//! to `$n` - with the name and Postgres type behind each `$n`, as JSON:
//!
//!     cargo run -p api-tests --example statement -- functions/patients/src/sql/read.sql
//!
//! `scripts/bench` runs the real GET-by-id statement through pgbench with it, instead of
//! keeping a copy of the SQL that could drift from the code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: statement <path of a .sql file, from the workspace root>");
        return ExitCode::from(2);
    };
    let all = local_api::FUNCTIONS.iter().flat_map(|f| (f.statements)()).chain(ops::statements());
    for statement in all {
        let description = match statement.describe() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        if description.path == path {
            let types: Vec<String> = description.types.iter().map(|t| t.name().to_owned()).collect();
            let json = serde_json::json!({ "sql": description.sql, "names": description.names, "types": types });
            println!("{json}");
            return ExitCode::SUCCESS;
        }
    }
    eprintln!("no statement is built from {path}");
    ExitCode::FAILURE
}
