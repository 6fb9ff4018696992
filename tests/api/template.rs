//! template.yaml routes exactly what the functions serve: every path a function serves
//! reaches that function on API Gateway, every route in the template reaches something
//! its function serves, and a $default route sends everything else to a function (so
//! even unknown paths get the envelope). The template is read by cfn-lint's decoder
//! (scripts/lib/template_routes.py); what the functions serve is their `ROUTES`, and
//! each of those is checked against the function's own Router.

use api_tests::spawn_app;
use serde::Deserialize;
use tower::ServiceExt;

#[derive(Debug, Deserialize)]
struct TemplateRoute {
    binary: String,
    path: String,
}

fn template_routes() -> Vec<TemplateRoute> {
    let output = std::process::Command::new("python3")
        .arg("scripts/lib/template_routes.py")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("python3 with cfn-lint (run the tests through scripts/test)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
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
