//! Every statement the code can issue, prepared against the migrated schema: the
//! composed SQL (audit CTE included) parses and names real tables and columns, each
//! parameter has the type its Rust value binds as, and the statement returns every
//! column its reader reads, with that column's type. A renamed column fails here, in
//! seconds, not at request time. Each function lists its statements (`statements()`,
//! built by the same code its handlers use), and every `.sql` file must be among them.

use std::collections::BTreeSet;
use std::path::Path;

use api_tests::{connect, direct_url, fresh_database};
use shared::db::{Description, Sql, Statement};
use tokio_postgres::Client;
use tokio_postgres::types::Type;

fn all_statements() -> Vec<Description> {
    let mut statements: Vec<Statement> = local_api::FUNCTIONS.iter().flat_map(|f| (f.statements)()).collect();
    statements.extend(ops::statements());
    statements.extend(local_api::worker_statements());
    statements.into_iter().map(|s| s.describe().unwrap_or_else(|e| panic!("{e}"))).collect()
}

/// Prepares one statement and compares what Postgres says with what the code assumes.
async fn check(client: &Client, statement: &Description) -> Result<(), String> {
    let prepared = client.prepare_typed(&statement.sql, &statement.types).await.map_err(|e| {
        let detail = e.as_db_error().map(|db| db.message().to_owned()).unwrap_or_else(|| e.to_string());
        format!("{} does not prepare: {detail}", statement.path)
    })?;
    // Postgres's own inference, where it can infer: a value bound as INT8 where the
    // column is INT4 would prepare above (by an implicit cast) but is caught here.
    if let Ok(inferred) = client.prepare(&statement.sql).await {
        for ((name, ours), theirs) in statement.names.iter().zip(&statement.types).zip(inferred.params()) {
            if ours != theirs {
                return Err(format!("{}: :{name} is bound as {ours} but the statement takes {theirs}", statement.path));
            }
        }
    }
    for (name, ty) in &statement.reads {
        match prepared.columns().iter().find(|c| c.name() == *name) {
            None => return Err(format!("{} does not return {name}, which its reader reads", statement.path)),
            Some(column) if column.type_() != ty => {
                return Err(format!("{}: {name} is {} but is read as {ty}", statement.path, column.type_()));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

async fn schema() -> Client {
    connect(&direct_url(&fresh_database().await)).await
}

#[tokio::test]
async fn every_statement_prepares_against_the_schema_with_the_types_the_code_uses() {
    let client = schema().await;
    let statements = all_statements();
    let mut faults = Vec::new();
    for statement in &statements {
        if let Err(fault) = check(&client, statement).await {
            faults.push(fault);
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
}

#[tokio::test]
async fn every_sql_file_is_a_listed_statement() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = BTreeSet::new();
    for dir in ["functions", "shared", "ops"] {
        collect_sql(&root, &root.join(dir), &mut files);
    }
    let listed: BTreeSet<String> = all_statements().into_iter().map(|s| s.path).collect();
    let unlisted: Vec<_> = files.difference(&listed).collect();
    assert!(unlisted.is_empty(), "SQL files no function's statements() builds: {unlisted:?}");
    assert!(listed.is_subset(&files), "listed statements with no file: {:?}", listed.difference(&files));
}

fn collect_sql(root: &Path, dir: &Path, files: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("migrations") {
            collect_sql(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "sql") {
            files.insert(path.strip_prefix(root).unwrap().to_string_lossy().replace("/../", "/"));
        }
    }
}

/// The check is not a rubber stamp: each kind of mistake it exists for is caught.
#[tokio::test]
async fn the_check_catches_a_renamed_column_a_wrong_type_and_a_missing_read() {
    static WRONG_COLUMN: Sql =
        Sql { source: file!(), file: "wrong_column.sql", text: "SELECT nme FROM patients WHERE id = :id" };
    static PATIENT_NAME: Sql =
        Sql { source: file!(), file: "name.sql", text: "SELECT name FROM patients WHERE id = :id" };
    static VERSION: Sql =
        Sql { source: file!(), file: "version.sql", text: "SELECT 1 FROM patients WHERE version = :v" };
    let client = schema().await;
    let id = uuid::Uuid::nil();

    let renamed = Statement::new(&WRONG_COLUMN).bind("id", id).describe().unwrap();
    assert!(check(&client, &renamed).await.unwrap_err().contains("does not prepare"));

    let text_for_uuid = Statement::new(&PATIENT_NAME).bind("id", String::new()).describe().unwrap();
    assert!(check(&client, &text_for_uuid).await.is_err(), "a text bound where a uuid belongs");

    let wide = Statement::new(&VERSION).bind("v", 1i64).describe().unwrap();
    assert!(check(&client, &wide).await.unwrap_err().contains(":v is bound as int8 but the statement takes int4"));

    let unread = Statement::new(&PATIENT_NAME).bind("id", id).reads(&[("age", Type::INT4)]).describe().unwrap();
    assert!(check(&client, &unread).await.unwrap_err().contains("does not return age"));
    let mistyped = Statement::new(&PATIENT_NAME).bind("id", id).reads(&[("name", Type::INT4)]).describe().unwrap();
    assert!(check(&client, &mistyped).await.unwrap_err().contains("name is text but is read as int4"));

    let fine = Statement::new(&PATIENT_NAME).bind("id", id).reads(&[("name", Type::TEXT)]).describe().unwrap();
    check(&client, &fine).await.unwrap();
}
