//! template.yaml routes exactly what the functions serve: every path a function serves
//! reaches that function on API Gateway, every route in the template reaches something
//! its function serves, and a $default route sends everything else to a function (so
//! even unknown paths get the envelope). The template is read by cfn-lint's decoder
//! (scripts/lib/template_routes.py); what the functions serve is their `ROUTES`, and
//! each of those is checked against the function's own Router.

use std::collections::BTreeMap;

use api_tests::spawn_app;
use serde::Deserialize;
use tower::ServiceExt;

#[derive(Debug, Deserialize)]
struct TemplateRoute {
    binary: String,
    path: String,
}

/// What a script that reads template.yaml with cfn-lint's decoder prints, parsed.
fn read_template<T: serde::de::DeserializeOwned>(script: &str) -> T {
    let output = std::process::Command::new("python3")
        .arg(script)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("python3 with cfn-lint (run the tests through scripts/test)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn template_routes() -> Vec<TemplateRoute> {
    read_template("scripts/lib/template_routes.py")
}

/// A concrete path for a route pattern (`{id}` becomes a UUID).
fn concrete(pattern: &str) -> String {
    pattern.replace("{id}", "0190a1b2-0000-7000-8000-000000000000")
}

/// How API Gateway picks a route: an exact path first, then the longest greedy prefix,
/// then $default.
fn routed_to<'a>(routes: &'a [TemplateRoute], path: &str) -> Option<&'a TemplateRoute> {
    routes.iter().find(|r| r.path == path).or_else(|| {
        routes
            .iter()
            .filter_map(|r| {
                let prefix = r.path.strip_suffix("{proxy+}")?;
                (path.starts_with(prefix) && path.len() > prefix.len()).then_some((prefix.len(), r))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, r)| r)
            .or_else(|| routes.iter().find(|r| r.path == "$default"))
    })
}

/// Every route needs a token or is public; either way a served path is not a 404.
fn unauthenticated_get(path: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::get(path).header("host", "api.example.test").body(axum::body::Body::empty()).unwrap()
}

#[tokio::test]
async fn template_routes_match_the_routes_the_functions_serve() {
    let routes = template_routes();
    assert!(routes.iter().any(|r| r.path == "$default"), "a $default route must exist");
    let app = spawn_app().await;

    for local_api::Function { name: binary, routes: served, router, .. } in local_api::FUNCTIONS {
        for pattern in *served {
            let path = concrete(pattern);
            let route = routed_to(&routes, &path).unwrap_or_else(|| panic!("nothing routes {path}"));
            assert_eq!(
                &route.binary, binary,
                "{path} is served by {binary} but API Gateway sends it to {}",
                route.binary
            );
            // ROUTES does not lie: the function's own Router knows the path.
            let own = api_tests::TestApp::with_router(router(app.state.clone()), app.database_url.clone());
            let response = own.app.clone().oneshot(unauthenticated_get(&path)).await.unwrap();
            assert_ne!(response.status(), 404, "{binary} does not serve {path}");
        }
    }
    for route in routes.iter().filter(|r| r.path != "$default") {
        let served = local_api::FUNCTIONS.iter().find(|f| f.name == route.binary).expect("a known binary").routes;
        assert!(
            served.iter().any(|p| routed_to(&routes, &concrete(p)).is_some_and(|r| r.path == route.path)),
            "{} routes to {} but reaches nothing it serves",
            route.path,
            route.binary
        );
    }
}

/// `local_api::FUNCTIONS` names every crate under `functions/` that serves HTTP - all
/// but those whose Cargo.toml says `http = false` (the operator), which is also how the
/// scripts tell them apart (`lambda_functions --http` in scripts/lib/common.sh).
#[test]
fn the_list_of_functions_names_every_http_function_crate() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut crates: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| !std::fs::read_to_string(e.path().join("Cargo.toml")).unwrap().contains("http = false"))
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    crates.sort();
    let mut listed: Vec<&str> = local_api::FUNCTIONS.iter().map(|f| f.name).collect();
    listed.sort();
    assert_eq!(crates, listed);
}

/// Every function has its own log group in the template, with the stack's retention:
/// without one, Lambda creates it on first use and keeps its logs forever.
#[test]
fn every_function_has_a_log_group_with_the_retention_parameter() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().into_string().unwrap();
        let resource = format!("{}{}Function", name[..1].to_uppercase(), &name[1..]);
        let group =
            format!("{{LogGroupName: !Sub \"/aws/lambda/${{{resource}}}\", RetentionInDays: !Ref LogRetentionDays}}");
        assert!(template.contains(&group), "{resource} has no log group with LogRetentionDays in template.yaml");
    }
}

/// What scripts/lib/template_checks.py reads from template.yaml for monitoring.
#[derive(Debug, Deserialize)]
struct Monitoring {
    functions: Vec<MonitoredFunction>,
    parameters: BTreeMap<String, String>,
    access_log: AccessLog,
    alarms: Vec<Alarm>,
    metric_filters: Vec<MetricFilter>,
}

#[derive(Debug, Deserialize)]
struct MonitoredFunction {
    resource: String,
    binary: Option<String>,
    http: bool,
    env: BTreeMap<String, String>,
    build: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct AccessLog {
    log_group: Option<String>,
    retention: String,
    single_line: bool,
    fields: BTreeMap<String, String>,
    variables: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Alarm {
    name: String,
    condition: Option<String>,
    metrics: Vec<String>,
    function: Option<String>,
    statistic: String,
    alarm_actions: Vec<String>,
    ok_actions: Vec<String>,
    treat_missing_data: Option<String>,
}

#[derive(Debug, Deserialize)]
struct MetricFilter {
    function: Option<String>,
    pattern: String,
    metric: String,
}

fn monitoring() -> Monitoring {
    read_template("scripts/lib/template_checks.py")
}

/// Every function is watched: Lambda errors and throttles for all, p99 duration for the
/// API ones, and a metric filter that counts failed cold starts (which never reach the
/// handler, so never write our own metrics). Every alarm exists only with an
/// AlarmTopicArn and tells it both ways; every function gets METRICS_NAMESPACE.
#[test]
fn every_function_has_its_alarms_and_an_init_failure_metric_filter() {
    let m = monitoring();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().into_string().unwrap();
        let resource = format!("{}{}Function", name[..1].to_uppercase(), &name[1..]);
        assert!(m.functions.iter().any(|f| f.resource == resource), "{resource} is not in template.yaml");
    }
    let lambda_alarm = |function: &str, metric: &str| {
        m.alarms
            .iter()
            .find(|a| a.function.as_deref() == Some(function) && a.metrics == [format!("AWS/Lambda:{metric}")])
    };
    for f in &m.functions {
        for metric in ["Errors", "Throttles"] {
            assert!(lambda_alarm(&f.resource, metric).is_some(), "{} has no {metric} alarm", f.resource);
        }
        if f.http {
            let p99 =
                lambda_alarm(&f.resource, "Duration").unwrap_or_else(|| panic!("{} has no latency alarm", f.resource));
            assert_eq!(p99.statistic, "p99", "{}", p99.name);
        }
        let filter = m
            .metric_filters
            .iter()
            .find(|mf| mf.function.as_deref() == Some(f.resource.as_str()))
            .unwrap_or_else(|| panic!("{} has no init-failure metric filter", f.resource));
        assert!(filter.pattern.contains("cold start failed") && filter.pattern.contains("platform.initReport"));
        assert_eq!(filter.metric, "!Ref MetricsNamespace:InitFailures");
        assert_eq!(
            f.env.get("METRICS_NAMESPACE").map(String::as_str),
            Some("!Ref MetricsNamespace"),
            "{} does not get METRICS_NAMESPACE",
            f.resource
        );
    }
    assert!(
        m.alarms.iter().any(|a| a.metrics == ["!Ref MetricsNamespace:InitFailures"]),
        "nothing alarms on InitFailures"
    );
    assert!(m.alarms.iter().any(|a| a.metrics.iter().any(|x| x == "AWS/ApiGateway:5xx")), "nothing alarms on 5xx");
    for alarm in &m.alarms {
        assert_eq!(alarm.condition.as_deref(), Some("HasAlarmTopic"), "{} exists without an AlarmTopicArn", alarm.name);
        assert_eq!(alarm.alarm_actions, ["!Ref AlarmTopicArn"], "{}", alarm.name);
        assert_eq!(alarm.ok_actions, ["!Ref AlarmTopicArn"], "{}", alarm.name);
        assert_eq!(alarm.treat_missing_data.as_deref(), Some("notBreaching"), "{}", alarm.name);
    }
    assert_eq!(m.parameters["AlarmTopicArn"], "", "alarms are opt-in");
    assert_eq!(m.parameters["MetricsNamespace"], "HealthcareApi");
    assert_eq!(m.parameters["TracingEnabled"], "false");
}

/// The access log explains a request without identifying anyone: one JSON line, kept
/// LogRetentionDays, with no path (it carries record ids), query string, body, header,
/// IP, user agent or authorizer claim.
#[test]
fn access_logs_are_one_json_line_without_paths_or_personal_data() {
    let log = monitoring().access_log;
    assert!(log.log_group.is_some(), "the HttpApi has no access log group");
    assert!(log.single_line, "API Gateway takes a one-line format");
    assert_eq!(log.retention, "!Ref LogRetentionDays");
    for field in [
        "requestId",
        "routeKey",
        "status",
        "responseLatency",
        "integrationLatency",
        "integrationError",
        "integrationRequestId",
    ] {
        assert!(log.fields.contains_key(field), "the access log has no {field}");
    }
    assert!(log.fields.values().all(|v| v.starts_with("$context.")), "{:?}", log.fields);
    for variable in &log.variables {
        let lower = variable.to_ascii_lowercase();
        for forbidden in ["path", "querystring", "body", "header", "identity", "authorizer"] {
            assert!(!lower.contains(forbidden), "the access log must not hold {variable}");
        }
    }
}

/// `sam build` builds every function through scripts/sam/Makefile, which must have a
/// target for each (`build-<LogicalId>`, copying that function's binary): a function
/// added to the template but not to the Makefile would fail only on a user's machine.
/// And `sam local` can reach a function's database only if the template declares
/// DATABASE_URL and JWT_SECRET (SAM passes nothing undeclared); they are empty on AWS.
#[test]
fn sam_builds_every_function_through_the_makefile_and_sam_local_can_configure_them() {
    let m = monitoring();
    let makefile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/sam/Makefile")).unwrap();
    for f in &m.functions {
        assert_eq!(f.build.get("BuildMethod").map(String::as_str), Some("makefile"), "{}", f.resource);
        assert_eq!(f.build.get("ContextPath").map(String::as_str), Some("scripts/sam"), "{}", f.resource);
        let binary = f.binary.as_deref().unwrap_or_else(|| panic!("{} names no Binary", f.resource));
        let target = format!("lambda_function,{},{binary})", f.resource);
        assert!(makefile.contains(&target), "scripts/sam/Makefile has no target for {} ({binary})", f.resource);
        for declared in ["DATABASE_URL", "JWT_SECRET"] {
            assert_eq!(
                f.env.get(declared).map(String::as_str),
                Some(""),
                "{} must declare {declared}, empty",
                f.resource
            );
        }
    }
    assert_eq!(m.parameters["Architecture"], "arm64");
}

/// The mail outbox on AWS: the operator retries on a schedule with what sending needs
/// (the sender, the data key that seals bodies), and an alarm fires on undelivered mail.
#[test]
fn the_operator_retries_queued_mail_on_a_schedule_and_undelivered_mail_alarms() {
    let m = monitoring();
    let operator = m.functions.iter().find(|f| f.resource == "OperatorFunction").expect("the operator function");
    for variable in ["MAIL_FROM", "DATA_KEY_SECRET_ARN"] {
        assert!(operator.env.contains_key(variable), "the operator needs {variable} to send queued mail");
    }
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    assert!(template.contains(r#"Input: '{"command": "deliver-mail"}'"#), "no schedule runs deliver-mail");
    assert_eq!(m.parameters["MailRetrySchedule"], "rate(5 minutes)");
    let alarm = m.alarms.iter().find(|a| a.metrics == ["!Ref MetricsNamespace:MailUndelivered"]);
    let alarm = alarm.expect("nothing alarms on MailUndelivered");
    assert_eq!(alarm.statistic, "Maximum", "{}", alarm.name);
}
