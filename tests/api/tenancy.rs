//! The tenancy matrix: members of organization A try organization B's ids on every route
//! `local_api::FUNCTIONS` serves - read, write, delete, list filters, cursors, FHIR - and
//! find nothing (404; 403 only on /api/admin), and nothing of B changes. Generated from
//! the function list: a new route is tried without anyone remembering to, and a new
//! route that takes a body fails here until `body_for` gives it one.

use api_tests::TestApp;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, header};
use serde_json::{Value, json};
use shared::pagination::encode_cursor;
use tower::ServiceExt;

use crate::orgs::{clinic, join, org_patient, verify_email};

const METHODS: &[Method] = &[Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

/// A valid body for a route that takes one, so the request reaches the access decision
/// rather than stopping at validation. `id` is what the path's `{id}` became.
fn body_for(method: &Method, route: &str, id: &str) -> Option<Value> {
    let body = match (method.as_str(), route) {
        ("GET" | "DELETE", _) => return None,
        ("PUT", "/api/patients/{id}" | "/api/admin/patients/{id}") => json!({"phone": "+44 20 7946 0999"}),
        ("PUT", "/api/doctors/{id}" | "/api/admin/doctors/{id}") => json!({"name": "Dr Hijack"}),
        ("POST", "/api/doctors/{id}/claim") => json!({}),
        ("PUT", "/api/orgs/{id}") => json!({"name": "Hijacked"}),
        ("PUT", "/api/orgs/{id}/members/{user_id}") => json!({"role": "owner"}),
        ("POST", "/api/orgs/{id}/invitations") => json!({"email": "intruder@example.com", "role": "owner"}),
        ("POST", "/api/patients/{id}/emergency-access") => {
            json!({"reason": "Unconscious in the ER, need history", "password": api_tests::PASSWORD})
        }
        ("POST", "/api/orgs/{id}/apps") => {
            json!({"name": "Intruder", "redirect_uris": ["https://evil.example/cb"], "scopes": "user/*.rs"})
        }
        ("POST", "/api/patients/{id}/portal-invitation") => json!({"email": "intruder@example.com"}),
        ("PUT", "/api/orgs/{id}/emergency-access/{grant_id}") => json!({"outcome": "justified"}),
        ("PUT", "/api/admin/users/{id}/role") => json!({"role": "admin"}),
        ("PUT", "/api/admin/users/{id}/status") => json!({"status": "disabled"}),
        ("PUT", "/api/fhir/Patient/{id}") => json!({
            "resourceType": "Patient", "id": id, "name": [{"text": "Hijacked"}], "birthDate": "1970-01-01"
        }),
        _ => panic!("{method} {route} takes a body: give it one in body_for so the tenancy matrix covers it"),
    };
    Some(body)
}

async fn send(app: &TestApp, method: Method, path: &str, body: Option<&Value>, token: &str) -> (u16, String) {
    // With a Host, as every HTTP/1.1 client sends (FHIR's Bundles need it for their links).
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "localhost")
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let body = match body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(body).unwrap())
        }
        None => Body::empty(),
    };
    let response = app.app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Everything of organization B, as JSON rows, to compare before and after.
async fn snapshot(app: &TestApp, org: &str) -> Vec<String> {
    let queries = [
        "SELECT row_to_json(o)::text FROM organizations o WHERE id = $1::text::uuid",
        "SELECT row_to_json(m)::text FROM memberships m WHERE organization_id = $1::text::uuid ORDER BY user_id",
        "SELECT row_to_json(i)::text FROM organization_invitations i WHERE organization_id = $1::text::uuid ORDER BY id",
        "SELECT row_to_json(p)::text FROM patients p WHERE organization_id = $1::text::uuid \
         OR owner_id IN (SELECT user_id FROM memberships WHERE organization_id = $1::text::uuid) ORDER BY id",
        "SELECT row_to_json(m)::text FROM mappings m JOIN patients p ON p.id = m.patient_id \
         WHERE p.organization_id = $1::text::uuid ORDER BY m.id",
        "SELECT row_to_json(d)::text FROM doctors d WHERE user_id IN \
         (SELECT user_id FROM memberships WHERE organization_id = $1::text::uuid) ORDER BY id",
        "SELECT row_to_json(g)::text FROM emergency_access g WHERE organization_id = $1::text::uuid ORDER BY id",
        "SELECT row_to_json(i)::text FROM portal_invitations i JOIN patients p ON p.id = i.patient_id \
         WHERE p.organization_id = $1::text::uuid ORDER BY i.id",
    ];
    let client = app.sql().await;
    let mut rows = Vec::new();
    for query in queries {
        for row in client.query(query, &[&org]).await.unwrap() {
            rows.push(row.get(0));
        }
    }
    rows
}

#[tokio::test]
async fn members_of_one_organization_find_nothing_of_another_on_any_route() {
    let (app, mailbox) = crate::bulk_export::export_app(1 << 20).await;
    let a = clinic(&app, "owner-a@example.com", "Clinic A").await;
    let a_clinician = join(&app, &mailbox, &a, "cli-a@example.com", "clinician").await;
    let b = clinic(&app, "owner-b@example.com", "Clinic B").await;
    let b_clinician = join(&app, &mailbox, &b, "cli-b@example.com", "clinician").await;

    // B's world: an organization patient with notes and a doctor, a personal patient, an
    // open invitation, members, a doctor held by B's clinician, sessions.
    let b_patient = org_patient(&app, &b.owner, &b.id, Some("B's secret")).await;
    let b_personal = app.create_patient(&b.owner, "B Personal").await;
    let doctor = json!({"name": "Dr B", "specialization": "GP", "email": "cli-b@example.com"});
    let b_doctor = app.post("/api/doctors", &doctor, Some(&b.owner)).await.data().clone();
    verify_email(&app, "cli-b@example.com").await;
    let claim = format!("/api/doctors/{}/claim", b_doctor["id"].as_str().unwrap());
    app.post(&claim, &json!({}), Some(&b_clinician)).await.expect(200, "updated");
    let assign = json!({"patient_id": b_patient["id"], "doctor_id": b_doctor["id"]});
    let b_mapping = app.post("/api/mappings", &assign, Some(&b.owner)).await.data().clone();
    let invite = json!({"email": "later@example.com", "role": "front_desk"});
    let b_invitation =
        app.post(&format!("/api/orgs/{}/invitations", b.id), &invite, Some(&b.owner)).await.data().clone();
    // A restricted chart of B, a grant on it, and a portal invitation.
    let b_restricted = org_patient(&app, &b.owner, &b.id, Some("B's restricted secret")).await;
    let b_restricted_path = format!("/api/patients/{}", b_restricted["id"].as_str().unwrap());
    app.put(&b_restricted_path, &json!({"restricted": true}), Some(&b.owner)).await.expect(200, "updated");
    let glass = json!({"reason": "Unconscious in the ER, need history", "password": api_tests::PASSWORD});
    let b_grant = app.post(&format!("{b_restricted_path}/emergency-access"), &glass, Some(&b_clinician)).await;
    b_grant.expect(201, "created");
    let portal = json!({"email": "b-patient@example.com"});
    app.post(&format!("{b_restricted_path}/portal-invitation"), &portal, Some(&b.owner)).await.expect(201, "created");
    // And a finished bulk export of B.
    let kicked = crate::bulk_export::kick_off(&app, &format!("/api/fhir/Group/{}/$export", b.id), &b.owner).await;
    let b_export = crate::bulk_export::status_path(&kicked);
    crate::bulk_export::manifest(&app, &b_export, &b.owner).await;
    let user_id = |token: &str| {
        let app = &app;
        let token = token.to_string();
        async move { app.get("/api/auth/me", Some(&token)).await.data()["id"].as_str().unwrap().to_string() }
    };
    let b_ids: Vec<String> = vec![
        b.id.clone(),
        b_patient["id"].as_str().unwrap().to_string(),
        b_personal["id"].as_str().unwrap().to_string(),
        b_mapping["id"].as_str().unwrap().to_string(),
        b_invitation["id"].as_str().unwrap().to_string(),
        b_restricted["id"].as_str().unwrap().to_string(),
        b_grant.data()["id"].as_str().unwrap().to_string(),
        user_id(&b.owner).await,
        user_id(&b_clinician).await,
        api_tests::session_of(&b.owner),
        crate::bulk_export::job_of(&b_export).to_string(),
    ];
    let before = snapshot(&app, &b.id).await;

    let attackers = [("owner of A", a.owner.clone()), ("clinician of A", a_clinician)];
    let mut tried = 0;
    let mut faults = Vec::new();
    for function in local_api::FUNCTIONS {
        for route in function.routes.iter().filter(|r| r.contains('{')) {
            let slots = route.matches('{').count();
            let combinations: Vec<Vec<&String>> = match slots {
                1 => b_ids.iter().map(|id| vec![id]).collect(),
                2 => b_ids.iter().flat_map(|x| b_ids.iter().map(move |y| vec![x, y])).collect(),
                n => panic!("{route}: {n} path parameters; extend the matrix"),
            };
            for method in METHODS {
                for ids in &combinations {
                    let mut path = route.to_string();
                    for id in ids {
                        let start = path.find('{').unwrap();
                        let end = path[start..].find('}').unwrap() + start;
                        path.replace_range(start..=end, id);
                    }
                    let (status, said) = send(&app, method.clone(), &path, None, &attackers[0].1).await;
                    if status == 405 || said.contains("No such route") {
                        break; // this method is not served on this route
                    }
                    let body = body_for(method, route, ids[0]);
                    for (who, token) in &attackers {
                        let (status, said) = send(&app, method.clone(), &path, body.as_ref(), token).await;
                        tried += 1;
                        let allowed: &[u16] = if route.starts_with("/api/admin") { &[403] } else { &[404] };
                        let leaked = b_ids.iter().any(|id| said.contains(id.as_str()));
                        if !allowed.contains(&status) || leaked {
                            faults.push(format!("{who}: {method} {path} -> {status} {said}"));
                        }
                    }
                }
            }
        }
    }

    // Collections: B's ids as filters, cursors and bodies find nothing of B. The doctors'
    // directory is shared by the contract (with who created and who holds each doctor).
    let shared_directory = ["/api/doctors", "/api/fhir/Practitioner"];
    let collections: Vec<&str> = local_api::FUNCTIONS
        .iter()
        .flat_map(|f| f.routes.iter().copied())
        .filter(|r| !r.contains('{') && !shared_directory.contains(r))
        .collect();
    for route in &collections {
        for id in &b_ids {
            let cursor = encode_cursor(id.parse::<uuid::Uuid>().unwrap());
            for query in [
                format!("organization_id={id}"),
                format!("patient_id={id}"),
                format!("doctor_id={id}"),
                format!("owner_id={id}"),
                format!("cursor={cursor}"),
                format!("_cursor={cursor}"),
            ] {
                let (status, said) = send(&app, Method::GET, &format!("{route}?{query}"), None, &attackers[1].1).await;
                tried += 1;
                if b_ids.iter().any(|b| said.contains(b.as_str())) || status >= 500 {
                    faults.push(format!("GET {route}?{query} -> {status} {said}"));
                }
            }
        }
    }
    let a_doctor = app.create_doctor(&a.owner, "Dr A", "GP").await;
    let writes = [
        ("/api/patients", json!({"name": "X", "date_of_birth": "1970-01-01", "organization_id": b.id})),
        ("/api/mappings", json!({"patient_id": b_patient["id"], "doctor_id": a_doctor["id"]})),
        (
            "/api/fhir/Patient",
            json!({"resourceType": "Patient", "name": [{"text": "X"}], "birthDate": "1970-01-01",
            "managingOrganization": {"reference": format!("Organization/{}", b.id)}}),
        ),
    ];
    for (route, body) in &writes {
        for (who, token) in &attackers {
            let (status, said) = send(&app, Method::POST, route, Some(body), token).await;
            tried += 1;
            if status != 404 {
                faults.push(format!("{who}: POST {route} {body} -> {status} {said}"));
            }
        }
    }

    assert!(faults.is_empty(), "{} of {tried} requests reached organization B:\n{}", faults.len(), faults.join("\n"));
    assert!(tried > 500, "only {tried} requests tried");
    assert_eq!(snapshot(&app, &b.id).await, before, "organization B changed");
    // B's own people still reach it all.
    app.get(&format!("/api/patients/{}", b_patient["id"].as_str().unwrap()), Some(&b_clinician))
        .await
        .expect(200, "success");
}
