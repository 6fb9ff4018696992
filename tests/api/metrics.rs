//! Metrics in the log lines: the real binaries, with Lambda's JSON log format and a
//! metrics namespace as template.yaml sets them, write one CloudWatch Embedded Metric
//! Format line per request (and one per cold start) whose values match what happened.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_tests::lambda::{Emulator, event, http_answer};
use api_tests::{JWT_SECRET, fresh_database};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

const NAMESPACE: &str = "HealthcareTest";

/// Collects a function's stdout lines as it writes them.
fn capture(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut reader = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let sink = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// The lines so far, once `count` lines with `"message": "request"` have arrived.
async fn lines_after_requests(lines: &Arc<Mutex<Vec<String>>>, count: usize) -> Vec<Value> {
    for _ in 0..100 {
        let parsed: Vec<Value> = lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
            .collect();
        if parsed.iter().filter(|v| v["message"] == "request").count() >= count {
            return parsed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {count} request lines, got {:?}", lines.lock().unwrap());
}

/// What CloudWatch requires of an EMF line: every directive's dimensions are string
/// members and its metrics number members of the same object, in our namespace.
fn assert_emf(line: &Value, metrics: &[&str]) {
    let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap_or_else(|| panic!("not EMF: {line}"));
    assert!(line["_aws"]["Timestamp"].as_u64().is_some(), "{line}");
    let mut named = Vec::new();
    for d in directives {
        assert_eq!(d["Namespace"], NAMESPACE);
        for set in d["Dimensions"].as_array().unwrap() {
            for dimension in set.as_array().unwrap() {
                let value = &line[dimension.as_str().unwrap()];
                assert!(value.as_str().is_some_and(|v| !v.is_empty()), "dimension {dimension} in {line}");
            }
        }
        for m in d["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(line[name].as_f64().is_some(), "metric {name} in {line}");
            named.push(name.to_string());
        }
    }
    assert_eq!(named, metrics, "{line}");
}

fn ms(line: &Value, metric: &str) -> f64 {
    line[metric].as_f64().unwrap()
}

#[tokio::test]
async fn each_request_and_cold_start_writes_one_emf_line_with_its_values() {
    let database_url = fresh_database().await;
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("METRICS_NAMESPACE", NAMESPACE),
    ];
    let mut emulator = Emulator::start().await;
    let auth_lines = capture(emulator.spawn("auth", "auth", &env));
    let patients_lines = capture(emulator.spawn("patients", "patients", &env));

    // A warmup is not a request: no request line, and the cold start waits for one.
    emulator.invoke("patients", &event("warmup.json")).await.unwrap();
    let register = event("auth-register.json");
    let (_, body) = http_answer(&emulator.invoke("auth", &register).await.unwrap());
    let token = body["data"]["access_token"].as_str().unwrap().to_string();
    let mut wrong = event("auth-login.json");
    wrong["body"] = json!(r#"{"email": "ada@example.com", "password": "not the password"}"#);
    assert_eq!(http_answer(&emulator.invoke("auth", &wrong).await.unwrap()).0, 401);
    assert_eq!(http_answer(&emulator.invoke("auth", &event("auth-login.json")).await.unwrap()).0, 200);

    let mut get = event("patients-get.json");
    get["headers"]["authorization"] = json!(format!("Bearer {token}"));
    let missing = "/api/patients/0190a1b2-0000-7000-8000-000000000000";
    get["rawPath"] = json!(missing);
    get["requestContext"]["http"]["path"] = json!(missing);
    assert_eq!(http_answer(&emulator.invoke("patients", &get).await.unwrap()).0, 404);

    let auth = lines_after_requests(&auth_lines, 3).await;
    let requests: Vec<&Value> = auth.iter().filter(|l| l["message"] == "request").collect();
    let expected = [
        (&register, "/api/auth/register", "2xx", 201, None),
        (&wrong, "/api/auth/login", "4xx", 401, Some("invalid_credentials")),
        (&wrong, "/api/auth/login", "2xx", 200, Some("success")),
    ];
    for (line, (sent, route, class, status, outcome)) in requests.iter().zip(expected) {
        let metrics: &[&str] = match outcome {
            Some(_) => &["Requests", "Latency", "DatabaseTime", "Logins"],
            None => &["Requests", "Latency", "DatabaseTime"],
        };
        assert_emf(line, metrics);
        assert_eq!(
            (&line["function"], &line["route"], &line["status_class"]),
            (&json!("auth"), &json!(route), &json!(class))
        );
        assert_eq!(line["status"], status);
        assert_eq!(line["Requests"], 1);
        assert_eq!(line["request_id"], sent["requestContext"]["requestId"], "API Gateway's request id");
        assert!(line["requestId"].as_str().is_some_and(|id| !id.is_empty()), "Lambda's request id: {line}");
        assert!(ms(line, "DatabaseTime") > 0.0, "every one of these reads the database: {line}");
        assert!(ms(line, "DatabaseTime") <= ms(line, "Latency"), "{line}");
        assert_eq!(line.get("outcome").and_then(Value::as_str), outcome);
    }
    let lambda_ids: std::collections::HashSet<&str> =
        requests.iter().map(|l| l["requestId"].as_str().unwrap()).collect();
    assert_eq!(lambda_ids.len(), 3, "one Lambda request id per invocation");

    // One cold start per instance, written with (and before) its first request.
    let cold: Vec<&Value> = auth.iter().filter(|l| l["message"] == "cold start").collect();
    assert_eq!(cold.len(), 1, "{auth:?}");
    assert_emf(cold[0], &["ColdStarts", "InitDuration"]);
    assert_eq!((cold[0]["function"].as_str(), cold[0]["ColdStarts"].as_u64()), (Some("auth"), Some(1)));
    assert!(ms(cold[0], "InitDuration") > 0.0);
    assert_eq!(cold[0]["requestId"], requests[0]["requestId"]);
    let first_request = auth.iter().position(|l| l["message"] == "request").unwrap();
    let cold_line = auth.iter().position(|l| l["message"] == "cold start").unwrap();
    assert!(cold_line < first_request);
    // Every line written while serving carries Lambda's request id (ours at the top
    // level; the runtime's tracing lines in their span).
    for line in &auth[cold_line..] {
        let id = line.get("requestId").or_else(|| line.get("span").and_then(|s| s.get("requestId")));
        assert!(id.and_then(Value::as_str).is_some_and(|id| !id.is_empty()), "no request id: {line}");
    }

    let patients = lines_after_requests(&patients_lines, 1).await;
    let requests: Vec<&Value> = patients.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(requests.len(), 1, "the warmup wrote no request line: {patients:?}");
    let read = requests[0];
    assert_emf(read, &["Requests", "Latency", "DatabaseTime"]);
    assert_eq!((&read["route"], &read["status_class"]), (&json!("/api/patients/{id}"), &json!("4xx")));
    assert!(!read.to_string().contains("0190a1b2"), "the route template, never the path: {read}");
    assert!(ms(read, "DatabaseTime") > 0.0 && ms(read, "DatabaseTime") <= ms(read, "Latency"), "{read}");
    assert_eq!(patients.iter().filter(|l| l["message"] == "cold start").count(), 1);
}
