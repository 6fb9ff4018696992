//! docs/openapi.json tells the truth about the routes: every path and method it lists is
//! served by the function API Gateway sends it to, and every method the functions serve
//! is listed. The local API serves the same document.

use std::collections::BTreeSet;

use api_tests::spawn_app;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request};
use serde_json::Value;
use tower::ServiceExt;

const METHODS: &[Method] = &[Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

fn document() -> Value {
    serde_json::from_str(local_api::OPENAPI).expect("docs/openapi.json is JSON")
}

#[tokio::test]
async fn the_document_lists_exactly_the_served_paths_and_methods() {
    let app = spawn_app().await;
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (path.clone(), m.to_uppercase())))
        .collect();

    let mut served = BTreeSet::new();
    for path in local_api::FUNCTIONS.iter().flat_map(|function| function.routes.iter()) {
        let concrete = ["{id}", "{user_id}", "{invitation_id}"]
            .iter()
            .fold(path.to_string(), |p, param| p.replace(param, "0190a1b2-0000-7000-8000-000000000000"));
        for method in METHODS {
            let request =
                Request::builder().method(method.clone()).uri(&concrete).header("host", "api.test").body(Body::empty());
            let response = app.app.clone().oneshot(request.unwrap()).await.unwrap();
            let status = response.status();
            let body: Value = serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap())
                .unwrap_or(Value::Null);
            // The envelope's message, or (under /api/fhir) the OperationOutcome's diagnostics.
            let said = body["message"].as_str().or(body["issue"][0]["diagnostics"].as_str()).unwrap_or("");
            let routed = status != 405 && !said.starts_with("No such route");
            if routed {
                served.insert((path.to_string(), method.to_string()));
            }
        }
    }
    assert_eq!(documented, served, "docs/openapi.json and the routers disagree");
}

#[tokio::test]
async fn the_local_api_serves_the_document() {
    let app = spawn_app().await;
    let request = Request::builder().uri(local_api::OPENAPI_PATH).body(Body::empty()).unwrap();
    let response = app.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), document());
}

#[tokio::test]
async fn every_operation_documents_its_errors_and_every_reference_resolves() {
    let doc = document();
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/").skip(1).map(|rest| rest.split('"').next().unwrap()) {
        let mut node = &doc;
        for part in reference.split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "dangling $ref #/{reference}");
    }
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let codes: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
            for required in ["405", "500", "503"] {
                assert!(codes.iter().any(|c| *c == required), "{method} {path} lacks {required}");
            }
            if op.get("security").is_none() {
                assert!(codes.iter().any(|c| *c == "401"), "{method} {path} takes a token but does not document 401");
            }
        }
    }
}
