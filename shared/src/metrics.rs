//! Metrics as CloudWatch Embedded Metric Format (EMF): on Lambda, each request's log
//! line is a JSON object that CloudWatch Logs also turns into metrics, so there is no
//! metrics SDK, no agent and no extra call on the request path. The names operators
//! (and template.yaml's alarms) see:
//!
//! - `Requests` (Count), `Latency` and `DatabaseTime` (Milliseconds), by
//!   `function` + `route` (the template, never the raw path) + `status_class`, and by
//!   `function` alone;
//! - `ColdStarts` (Count) and `InitDuration` (Milliseconds) by `function`, on the first
//!   invocation of each instance;
//! - `Logins` (Count) by `function` + `outcome`, on password logins;
//! - `EmergencyAccess` (Count) by `function`, on each emergency grant opened; an alarm
//!   fires on any;
//! - `MailSent`, `MailFailed`, `MailQueued` and `MailUndelivered` (Count) by `function`,
//!   once per outbox retry run (the operator's schedule); an alarm watches
//!   `MailUndelivered`.
//!
//! On when `METRICS_NAMESPACE` names a namespace (template.yaml sets it on every
//! function); off locally, where the request line stays a readable tracing line.

use std::cell::Cell;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::json;

/// Where this process's metrics go: set once per cold start by `lambda::serve`.
#[derive(Debug)]
pub struct Emf {
    pub namespace: String,
    /// The function's crate name (`patients`): stable across deploys, unlike the
    /// function name CloudFormation generates.
    pub function: &'static str,
}

static EMF: OnceLock<Emf> = OnceLock::new();

/// Turns EMF on for this process if `METRICS_NAMESPACE` is set and not empty.
pub fn init_from_env(function: &'static str) {
    if let Some(namespace) = std::env::var("METRICS_NAMESPACE").ok().filter(|n| !n.trim().is_empty()) {
        let _ = EMF.set(Emf { namespace, function });
    }
}

pub fn emf() -> Option<&'static Emf> {
    EMF.get()
}

tokio::task_local! {
    static REQUEST: Recorder;
}

/// What a request's handlers add to its line as they run.
#[derive(Default)]
struct Recorder {
    database: Cell<Duration>,
    login: Cell<Option<&'static str>>,
    emergency_access: Cell<bool>,
}

/// What `scoped` learned about the request it ran.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recorded {
    pub database: Duration,
    pub login: Option<&'static str>,
    /// The request opened an emergency grant.
    pub emergency_access: bool,
}

/// Runs one request with a fresh recorder and returns what was recorded during it.
pub async fn scoped<F: Future>(request: F) -> (F::Output, Recorded) {
    let recorder = Recorder::default();
    REQUEST
        .scope(recorder, async {
            let output = request.await;
            let recorded = REQUEST.with(|r| Recorded {
                database: r.database.get(),
                login: r.login.get(),
                emergency_access: r.emergency_access.get(),
            });
            (output, recorded)
        })
        .await
}

/// Time spent waiting on the database (connection checkout included), added by
/// `Db::query`. Outside a request (warmups, init) there is nothing to add it to.
pub fn add_database_time(elapsed: Duration) {
    let _ = REQUEST.try_with(|r| r.database.set(r.database.get() + elapsed));
}

/// How a password login ended (`success`, `mfa_required`, `invalid_credentials`, ...).
pub fn login_outcome(outcome: &'static str) {
    let _ = REQUEST.try_with(|r| r.login.set(Some(outcome)));
}

/// The request opened an emergency grant (the `EmergencyAccess` metric).
pub fn emergency_access_granted() {
    let _ = REQUEST.try_with(|r| r.emergency_access.set(true));
}

/// One request, as its log line reports it.
pub struct RequestLine<'a> {
    pub lambda_request_id: Option<&'a str>,
    pub request_id: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub latency: Duration,
    pub recorded: Recorded,
}

impl Emf {
    /// The request's log line, carrying its metrics: serialized straight from borrowed
    /// fields (no JSON tree), since every request pays for it.
    pub fn request(&self, line: &RequestLine<'_>) -> String {
        let mut directives =
            vec![Directive { namespace: &self.namespace, dimensions: REQUEST_DIMENSIONS, metrics: REQUEST_METRICS }];
        if line.recorded.login.is_some() {
            directives.push(Directive {
                namespace: &self.namespace,
                dimensions: LOGIN_DIMENSIONS,
                metrics: LOGIN_METRICS,
            });
        }
        if line.recorded.emergency_access {
            directives.push(Directive {
                namespace: &self.namespace,
                dimensions: &[&["function"]],
                metrics: EMERGENCY_ACCESS_METRICS,
            });
        }
        let record = RequestRecord {
            aws: Aws { timestamp: now_ms(), directives },
            level: "INFO",
            message: "request",
            lambda_request_id: line.lambda_request_id,
            request_id: line.request_id,
            method: line.method,
            function: self.function,
            route: line.route,
            status: line.status,
            status_class: status_class(line.status),
            requests: 1,
            latency: millis(line.latency),
            database_time: millis(line.recorded.database),
            outcome: line.recorded.login,
            logins: line.recorded.login.map(|_| 1),
            emergency_access: line.recorded.emergency_access.then_some(1),
        };
        serde_json::to_string(&record).unwrap_or_default()
    }

    /// The first invocation's extra line: this instance's cold start.
    pub fn cold_start(&self, lambda_request_id: &str, init: Duration) -> String {
        let directive =
            Directive { namespace: &self.namespace, dimensions: &[&["function"]], metrics: COLD_START_METRICS };
        json!({
            "_aws": { "Timestamp": now_ms(), "CloudWatchMetrics": [directive] },
            "level": "INFO",
            "message": "cold start",
            "requestId": lambda_request_id,
            "function": self.function,
            "ColdStarts": 1,
            "InitDuration": millis(init),
        })
        .to_string()
    }
}

impl Emf {
    /// An outbox retry run's line (`crate::outbox::deliver_due`).
    pub fn mail_delivery(&self, sent: usize, failed: usize, queued: i64, undelivered: i64) -> String {
        let directive = Directive { namespace: &self.namespace, dimensions: &[&["function"]], metrics: MAIL_METRICS };
        json!({
            "_aws": { "Timestamp": now_ms(), "CloudWatchMetrics": [directive] },
            "level": if undelivered > 0 { "WARN" } else { "INFO" },
            "message": "mail delivery",
            "function": self.function,
            "MailSent": sent,
            "MailFailed": failed,
            "MailQueued": queued,
            "MailUndelivered": undelivered,
        })
        .to_string()
    }
}

const MAIL_METRICS: &[Metric] = &[
    Metric { name: "MailSent", unit: "Count" },
    Metric { name: "MailFailed", unit: "Count" },
    Metric { name: "MailQueued", unit: "Count" },
    Metric { name: "MailUndelivered", unit: "Count" },
];

const REQUEST_DIMENSIONS: &[&[&str]] = &[&["function", "route", "status_class"], &["function"]];
const REQUEST_METRICS: &[Metric] = &[
    Metric { name: "Requests", unit: "Count" },
    Metric { name: "Latency", unit: "Milliseconds" },
    Metric { name: "DatabaseTime", unit: "Milliseconds" },
];
const LOGIN_DIMENSIONS: &[&[&str]] = &[&["function", "outcome"]];
const LOGIN_METRICS: &[Metric] = &[Metric { name: "Logins", unit: "Count" }];
const EMERGENCY_ACCESS_METRICS: &[Metric] = &[Metric { name: "EmergencyAccess", unit: "Count" }];
const COLD_START_METRICS: &[Metric] =
    &[Metric { name: "ColdStarts", unit: "Count" }, Metric { name: "InitDuration", unit: "Milliseconds" }];

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metric {
    name: &'static str,
    unit: &'static str,
}

/// One EMF directive: which members of the line are metrics, by which dimensions.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive<'a> {
    namespace: &'a str,
    dimensions: &'static [&'static [&'static str]],
    metrics: &'static [Metric],
}

#[derive(Serialize)]
struct Aws<'a> {
    #[serde(rename = "Timestamp")]
    timestamp: u64,
    #[serde(rename = "CloudWatchMetrics")]
    directives: Vec<Directive<'a>>,
}

#[derive(Serialize)]
struct RequestRecord<'a> {
    #[serde(rename = "_aws")]
    aws: Aws<'a>,
    level: &'static str,
    message: &'static str,
    #[serde(rename = "requestId")]
    lambda_request_id: Option<&'a str>,
    request_id: &'a str,
    method: &'a str,
    function: &'a str,
    route: &'a str,
    status: u16,
    status_class: &'static str,
    #[serde(rename = "Requests")]
    requests: u8,
    #[serde(rename = "Latency")]
    latency: f64,
    #[serde(rename = "DatabaseTime")]
    database_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'a str>,
    #[serde(rename = "Logins", skip_serializing_if = "Option::is_none")]
    logins: Option<u8>,
    #[serde(rename = "EmergencyAccess", skip_serializing_if = "Option::is_none")]
    emergency_access: Option<u8>,
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Writes one line to stdout in one write, so lines from concurrent requests (the local
/// server) never interleave; CloudWatch takes each stdout line as one log event.
pub fn emit(mut line: String) {
    line.push('\n');
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

fn millis(d: Duration) -> f64 {
    // Microsecond precision is all a latency figure needs, and keeps lines short.
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn emf() -> Emf {
        Emf { namespace: "Test".into(), function: "patients" }
    }

    fn line(status: u16, login: Option<&'static str>) -> Value {
        let line = emf().request(&RequestLine {
            lambda_request_id: Some("lambda-1"),
            request_id: "api-1",
            method: "GET",
            route: "/api/patients/{id}",
            status,
            latency: Duration::from_micros(2500),
            recorded: Recorded { database: Duration::from_micros(1200), login, emergency_access: false },
        });
        serde_json::from_str(&line).unwrap()
    }

    /// Every dimension and metric a directive names must be a top-level member, or
    /// CloudWatch drops the whole line's metrics.
    fn assert_valid_emf(value: &Value) {
        let directives = value["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert!(value["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        for d in directives {
            for set in d["Dimensions"].as_array().unwrap() {
                for name in set.as_array().unwrap() {
                    assert!(value[name.as_str().unwrap()].is_string(), "dimension {name} must be a string member");
                }
            }
            for m in d["Metrics"].as_array().unwrap() {
                assert!(value[m["Name"].as_str().unwrap()].is_number(), "metric {m} must be a number member");
            }
        }
    }

    #[test]
    fn a_request_line_carries_its_metrics_in_emf() {
        let value = line(404, None);
        assert_valid_emf(&value);
        assert_eq!(value["status_class"], "4xx");
        assert_eq!(value["Latency"], 2.5);
        assert_eq!(value["DatabaseTime"], 1.2);
        assert_eq!(value["requestId"], "lambda-1");
        assert_eq!(value["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(), 1);
        assert!(value.get("Logins").is_none());
    }

    #[test]
    fn a_login_adds_its_outcome_as_a_second_directive() {
        let value = line(401, Some("invalid_credentials"));
        assert_valid_emf(&value);
        assert_eq!(value["outcome"], "invalid_credentials");
        assert_eq!(value["_aws"]["CloudWatchMetrics"][1]["Metrics"][0]["Name"], "Logins");
    }

    #[test]
    fn an_emergency_grant_adds_its_count_as_a_directive() {
        let line = emf().request(&RequestLine {
            lambda_request_id: None,
            request_id: "api-2",
            method: "POST",
            route: "/api/patients/{id}/emergency-access",
            status: 201,
            latency: Duration::from_micros(900),
            recorded: Recorded { database: Duration::ZERO, login: None, emergency_access: true },
        });
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_valid_emf(&value);
        assert_eq!(value["EmergencyAccess"], 1);
        assert_eq!(value["_aws"]["CloudWatchMetrics"][1]["Metrics"][0]["Name"], "EmergencyAccess");
        assert!(line_without_grant_has_no_such_metric());
    }

    fn line_without_grant_has_no_such_metric() -> bool {
        line(201, None).get("EmergencyAccess").is_none()
    }

    #[test]
    fn a_cold_start_line_is_valid_emf() {
        let value: Value = serde_json::from_str(&emf().cold_start("lambda-1", Duration::from_millis(7))).unwrap();
        assert_valid_emf(&value);
        assert_eq!(value["InitDuration"], 7.0);
    }

    #[tokio::test]
    async fn database_time_adds_up_inside_a_request_and_is_ignored_outside() {
        add_database_time(Duration::from_millis(5));
        let ((), recorded) = scoped(async {
            add_database_time(Duration::from_millis(2));
            add_database_time(Duration::from_millis(3));
            login_outcome("success");
            emergency_access_granted();
        })
        .await;
        assert_eq!(recorded.database, Duration::from_millis(5));
        assert_eq!(recorded.login, Some("success"));
        assert!(recorded.emergency_access);
    }
}
