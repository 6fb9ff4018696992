//! Each CRUD request costs exactly one database statement, counted by Postgres itself
//! (`pg_stat_statements`, scoped to this test's database). Handlers use typed one-shot
//! queries, which go out as a single Parse/Bind/Execute/Sync flight, so one statement is
//! one round trip. The audit insert rides in the same statement.

use api_tests::{TestApp, TestResponse, spawn_app};
use serde_json::json;
use tokio_postgres::Client;

async fn statements(sql: &Client) -> i64 {
    sql.query_one(
        "SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND query NOT LIKE '%pg_stat_statements%'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// Runs one request and returns it with the number of statements it executed.
async fn counted<F: std::future::Future<Output = TestResponse>>(sql: &Client, request: F) -> (TestResponse, i64) {
    let before = statements(sql).await;
    let response = request.await;
    (response, statements(sql).await - before)
}

async fn setup() -> (TestApp, Client, String) {
    let app = spawn_app().await;
    let sql = app.sql().await;
    sql.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").await.unwrap();
    let token = app.user_token("ada@example.com").await;
    (app, sql, token)
}

#[tokio::test]
async fn every_crud_request_is_one_statement() {
    let (app, sql, t) = setup().await;
    let token = Some(t.as_str());
    let mut counts: Vec<(&str, i64)> = Vec::new();

    let (p, n) =
        counted(&sql, app.post("/api/patients", &json!({"name": "P", "date_of_birth": "1980-01-01"}), token)).await;
    counts.push(("POST /api/patients", n));
    let patient = format!("/api/patients/{}", p.data()["id"].as_str().unwrap());
    counts.push(("GET /api/patients", counted(&sql, app.get("/api/patients?q=p", token)).await.1));
    counts.push(("GET /api/patients/{id}", counted(&sql, app.get(&patient, token)).await.1));
    counts.push(("PUT /api/patients/{id}", counted(&sql, app.put(&patient, &json!({"notes": "n"}), token)).await.1));

    let (d, n) = counted(&sql, app.post("/api/doctors", &json!({"name": "D", "specialization": "GP"}), token)).await;
    counts.push(("POST /api/doctors", n));
    let doctor = format!("/api/doctors/{}", d.data()["id"].as_str().unwrap());
    counts.push(("GET /api/doctors", counted(&sql, app.get("/api/doctors?specialization=gp", token)).await.1));
    counts.push(("GET /api/doctors/{id}", counted(&sql, app.get(&doctor, token)).await.1));
    counts.push(("PUT /api/doctors/{id}", counted(&sql, app.put(&doctor, &json!({"name": "E"}), token)).await.1));

    let body = json!({"patient_id": p.data()["id"], "doctor_id": d.data()["id"]});
    let (m, n) = counted(&sql, app.post("/api/mappings", &body, token)).await;
    counts.push(("POST /api/mappings", n));
    counts.push(("GET /api/mappings", counted(&sql, app.get("/api/mappings", token)).await.1));
    counts.push((
        "GET /api/mappings/{patient_id}",
        counted(&sql, app.get(&format!("/api/mappings/{}", p.data()["id"].as_str().unwrap()), token)).await.1,
    ));
    let mapping = format!("/api/mappings/{}", m.data()["id"].as_str().unwrap());
    counts.push(("DELETE /api/mappings/{id}", counted(&sql, app.delete(&mapping, token)).await.1));
    counts.push(("DELETE /api/doctors/{id}", counted(&sql, app.delete(&doctor, token)).await.1));
    counts.push(("DELETE /api/patients/{id}", counted(&sql, app.delete(&patient, token)).await.1));
    // A refused request costs its one statement too (ownership is in the WHERE).
    counts.push(("GET /api/patients/{id} (gone)", counted(&sql, app.get(&patient, token)).await.1));
    counts.push(("GET /api/auth/me", counted(&sql, app.get("/api/auth/me", token)).await.1));

    let wrong: Vec<_> = counts.iter().filter(|(_, n)| *n != 1).collect();
    assert!(wrong.is_empty(), "requests not costing exactly one statement: {wrong:?}");
}
