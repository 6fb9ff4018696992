//! The patient's own access (the portal) and who looked at a record (API.md Part 3):
//! the invitation, its acceptance by the verified invited address (two at once: one
//! wins), the portal user's read-only reach through REST, mappings and FHIR, the
//! access log and the organization's audit.

use api_tests::{PASSWORD, TestApp};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::email::{Mailbox, app_with_mail};
use crate::orgs::{clinic, join, org_patient, verify_email};

/// Invites `email` to the patient at `path`, and accepts as that user (registered and
/// verified here): the portal user's token.
pub(crate) async fn portal_user(app: &TestApp, mailbox: &Mailbox, path: &str, inviter: &str, email: &str) -> String {
    app.post(&format!("{path}/portal-invitation"), &json!({"email": email}), Some(inviter))
        .await
        .expect(201, "created");
    let token = mailbox.token("accept-portal");
    let user = app.user_token(email).await;
    verify_email(app, email).await;
    app.post("/api/portal/accept", &json!({"token": token}), Some(&user)).await.expect(200, "success");
    user
}

fn items(response: &api_tests::TestResponse) -> Vec<Value> {
    response.data()["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_portal_invitation_is_accepted_once_by_the_verified_invited_address() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let desk = join(&app, &mailbox, &clinic, "desk@example.com", "front_desk").await;
    let auditor = join(&app, &mailbox, &clinic, "aud@example.com", "auditor").await;
    let patient = org_patient(&app, &clinic.owner, &clinic.id, Some("allergic to penicillin")).await;
    let path = format!("/api/patients/{}", patient["id"].as_str().unwrap());
    let invite = format!("{path}/portal-invitation");

    // Whoever writes the patient may invite (the front desk too); others may not.
    app.post(&invite, &json!({"email": "not an email"}), Some(&desk)).await.expect(400, "invalid");
    app.post(&invite, &json!({"email": "pat@example.com"}), Some(&auditor)).await.expect(404, "not_found");
    let invited = app.post(&invite, &json!({"email": "Pat@Example.com"}), Some(&desk)).await;
    invited.expect(201, "created");
    assert_eq!(invited.data()["email"], "pat@example.com");
    assert_eq!(invited.data()["patient_id"], patient["id"]);
    let token = mailbox.token("accept-portal");
    assert!(token.len() >= 43, "256 bits: {token}");
    let text = mailbox.messages().last().unwrap()["text"].as_str().unwrap().to_string();
    assert!(!text.contains("Org Patient") && !text.contains("penicillin"), "{text}");
    let stored: Vec<u8> =
        app.sql().await.query_one("SELECT token_hash FROM portal_invitations", &[]).await.unwrap().get(0);
    assert_ne!(stored, token.as_bytes());

    let accept = |token: &str| json!({ "token": token });
    let pat = app.user_token("pat@example.com").await;
    app.post("/api/portal/accept", &accept(&token), Some(&pat)).await.expect(403, "forbidden");
    let other = app.user_token("other@example.com").await;
    verify_email(&app, "other@example.com").await;
    app.post("/api/portal/accept", &accept(&token), Some(&other)).await.expect(403, "forbidden");
    app.post("/api/portal/accept", &json!({}), None).await.expect(401, "unauthorized");
    verify_email(&app, "pat@example.com").await;
    let linked = app.post("/api/portal/accept", &accept(&token), Some(&pat)).await;
    linked.expect(200, "success");
    assert_eq!(linked.data()["id"], patient["id"]);
    assert_eq!(linked.data()["notes"], "allergic to penicillin");
    let used = app.post("/api/portal/accept", &accept(&token), Some(&pat)).await;
    used.expect(400, "invalid");
    assert_eq!(used.error_fields(), ["token"]);
    app.post("/api/portal/accept", &accept("made-up"), Some(&pat)).await.expect(400, "invalid");
    // One portal user per patient.
    app.post(&invite, &json!({"email": "again@example.com"}), Some(&clinic.owner)).await.expect(409, "conflict");
    let outcomes: Vec<String> = app.audit("patient.portal_linked").await.into_iter().map(|e| e.2).collect();
    assert_eq!(outcomes, ["denied", "denied", "success", "not_found", "not_found"]);

    // An expired invitation is refused like a used one.
    let second = org_patient(&app, &clinic.owner, &clinic.id, None).await;
    let second_invite = format!("/api/patients/{}/portal-invitation", second["id"].as_str().unwrap());
    app.post(&second_invite, &json!({"email": "pat@example.com"}), Some(&clinic.owner)).await.expect(201, "created");
    let expired = mailbox.token("accept-portal");
    app.sql()
        .await
        .execute("UPDATE portal_invitations SET expires_at = now() WHERE accepted_at IS NULL", &[])
        .await
        .unwrap();
    app.post("/api/portal/accept", &accept(&expired), Some(&pat)).await.expect(400, "invalid");
}

#[tokio::test]
async fn two_accepts_at_once_link_one_portal_user() {
    let (app, mailbox) = app_with_mail().await;
    let owner = app.user_token("owner@example.com").await;
    let patient = app.create_patient(&owner, "Pat").await;
    let invite = format!("/api/patients/{}/portal-invitation", patient["id"].as_str().unwrap());
    let mut tokens = Vec::new();
    for (email, _) in [("one@example.com", 1), ("two@example.com", 2)] {
        app.post(&invite, &json!({"email": email}), Some(&owner)).await.expect(201, "created");
        tokens.push(mailbox.token("accept-portal"));
    }
    let one = app.user_token("one@example.com").await;
    let two = app.user_token("two@example.com").await;
    verify_email(&app, "one@example.com").await;
    verify_email(&app, "two@example.com").await;
    let (a, b) = (json!({"token": tokens[0]}), json!({"token": tokens[1]}));
    let (first, second) =
        tokio::join!(app.post("/api/portal/accept", &a, Some(&one)), app.post("/api/portal/accept", &b, Some(&two)));
    let mut statuses = [first.status.as_u16(), second.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let linked: i64 = app
        .sql()
        .await
        .query_one("SELECT count(*) FROM patients WHERE portal_user_id IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(linked, 1);
}

#[tokio::test]
async fn the_portal_user_reads_its_record_everywhere_and_writes_nothing() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let patient = org_patient(&app, &clinic.owner, &clinic.id, Some("private history")).await;
    let id = patient["id"].as_str().unwrap().to_string();
    let path = format!("/api/patients/{id}");
    app.put(&path, &json!({"restricted": true}), Some(&clinic.owner)).await.expect(200, "updated");
    let doctor = app.create_doctor(&clinic.owner, "Dr Lee", "Cardiology").await;
    app.post("/api/mappings", &json!({"patient_id": id, "doctor_id": doctor["id"]}), Some(&clinic.owner))
        .await
        .expect(201, "created");
    let other = org_patient(&app, &clinic.owner, &clinic.id, None).await;
    let pat = portal_user(&app, &mailbox, &path, &clinic.owner, "pat@example.com").await;

    // Reads: the record with its notes (restricted or not), its list, its doctors, FHIR.
    let read = app.get(&path, Some(&pat)).await;
    read.expect(200, "success");
    assert_eq!(read.data()["notes"], "private history");
    assert_eq!(app.walk("/api/patients", &pat, 5).await, [id.as_str()]);
    app.get(&format!("/api/patients/{}", other["id"].as_str().unwrap()), Some(&pat)).await.expect(404, "not_found");
    let doctors = app.get(&format!("/api/mappings/{id}"), Some(&pat)).await;
    doctors.expect(200, "success");
    assert_eq!(app.fhir_get(&format!("/api/fhir/Patient/{id}"), &pat).await.status, 200);
    let (access, purpose): (Option<String>, Option<String>) = {
        let row = app
            .sql()
            .await
            .query_one(
                "SELECT access, purpose FROM audit_trail WHERE action = 'patient.read' ORDER BY id DESC LIMIT 1",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((access.as_deref(), purpose.as_deref()), (Some("patient"), Some("patient")));

    // Writes: every one 403.
    app.put(&path, &json!({"phone": "+1 555 0100"}), Some(&pat)).await.expect(403, "forbidden");
    app.put(&path, &json!({"notes": "mine"}), Some(&pat)).await.expect(403, "forbidden");
    app.delete(&path, Some(&pat)).await.expect(403, "forbidden");
    app.post("/api/mappings", &json!({"patient_id": id, "doctor_id": doctor["id"]}), Some(&pat))
        .await
        .expect(403, "forbidden");
    app.post(&format!("{path}/portal-invitation"), &json!({"email": "x@example.com"}), Some(&pat))
        .await
        .expect(403, "forbidden");
    let body = json!({"reason": "I would like to see everything now", "password": PASSWORD});
    app.post(&format!("{path}/emergency-access"), &body, Some(&pat)).await.expect(409, "conflict");
    let fhir_body =
        json!({"resourceType": "Patient", "id": id, "name": [{"text": "Renamed"}], "birthDate": "1970-01-02"});
    let fhir_put =
        app.fhir(axum::http::Method::PUT, &format!("/api/fhir/Patient/{id}")).token(&pat).json(&fhir_body).send().await;
    assert_eq!(fhir_put.status, 403);
    assert_eq!(app.get(&path, Some(&clinic.owner)).await.data()["name"], "Org Patient");
}

#[tokio::test]
async fn the_access_log_shows_who_looked_how_and_why_to_the_patient_owners_and_auditors() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let clinician = join(&app, &mailbox, &clinic, "cli@example.com", "clinician").await;
    let desk = join(&app, &mailbox, &clinic, "desk@example.com", "front_desk").await;
    let auditor = join(&app, &mailbox, &clinic, "aud@example.com", "auditor").await;
    let stranger = app.user_token("stranger@example.com").await;
    let patient = org_patient(&app, &clinic.owner, &clinic.id, Some("history")).await;
    let id = patient["id"].as_str().unwrap().to_string();
    let path = format!("/api/patients/{id}");
    app.get(&path, Some(&desk)).await.expect(200, "success");
    app.put(&path, &json!({"restricted": true}), Some(&clinic.owner)).await.expect(200, "updated");
    let glass = format!("{path}/emergency-access");
    let body = json!({"reason": "Unconscious in the ER, need history", "password": PASSWORD});
    let grant = app.post(&glass, &body, Some(&clinician)).await.data()["id"].as_str().unwrap().to_string();
    app.get(&path, Some(&clinician)).await.expect(200, "success");
    let pat = portal_user(&app, &mailbox, &path, &clinic.owner, "pat@example.com").await;

    let log = format!("{path}/access-log");
    for token in [&clinician, &desk] {
        app.get(&log, Some(token)).await.expect(403, "forbidden");
    }
    app.get(&log, Some(&stranger)).await.expect(404, "not_found");
    app.get(&format!("/api/patients/{}/access-log", Uuid::now_v7()), Some(&clinic.owner))
        .await
        .expect(404, "not_found");

    let seen = app.get(&log, Some(&pat)).await;
    seen.expect(200, "success");
    let entries = items(&seen);
    // Newest first: the portal's linking, the invitation, the read under the grant, ...
    let reads: Vec<&Value> = entries.iter().filter(|e| e["action"] == "patient.read").collect();
    assert_eq!(reads.len(), 2, "{entries:#?}");
    assert_eq!(reads[0]["actor"]["name"], "Test User");
    assert_eq!((&reads[0]["access"], &reads[0]["purpose"]), (&json!("emergency"), &json!("emergency")));
    assert_eq!(reads[0]["emergency_access_id"], grant.as_str());
    assert_eq!((&reads[1]["access"], &reads[1]["purpose"]), (&json!("front_desk"), &json!("operations")));
    assert!(reads[1]["emergency_access_id"].is_null());
    let create = entries.iter().find(|e| e["action"] == "patient.create").unwrap();
    assert_eq!(create["outcome"], "success");
    assert!(entries.iter().any(|e| e["action"] == "patient.emergency_access" && e["purpose"] == "emergency"));
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");

    // Reading the log is itself audited, and shows up in it; owners and auditors read it too.
    let again = app.get(&format!("{log}?limit=1"), Some(&auditor)).await;
    again.expect(200, "success");
    assert_eq!(items(&again)[0]["action"], "patient.access_log");
    assert_eq!(items(&again)[0]["access"], "patient");
    assert!(again.data()["next_cursor"].is_string());
    let last = app.get(&format!("{log}?limit=1"), Some(&clinic.owner)).await;
    last.expect(200, "success");
    assert_eq!(items(&last)[0]["access"], "auditor");
    assert_eq!(items(&last)[0]["purpose"], "operations");

    // The organization's audit: owners and auditors, with filters.
    let audit = format!("/api/orgs/{}/audit", clinic.id);
    app.get(&audit, Some(&clinician)).await.expect(403, "forbidden");
    app.get(&audit, Some(&stranger)).await.expect(404, "not_found");
    let all = app.get(&audit, Some(&auditor)).await;
    all.expect(200, "success");
    let actions: Vec<String> = items(&all).iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
    for expected in [
        "org.created",
        "org.invited",
        "org.member_joined",
        "patient.create",
        "patient.read",
        "patient.emergency_access",
    ] {
        assert!(actions.iter().any(|a| a == expected), "{expected} in {actions:?}");
    }
    let grants_only = app.get(&format!("{audit}?action=patient.emergency_access"), Some(&clinic.owner)).await;
    assert!(items(&grants_only).iter().all(|e| e["action"] == "patient.emergency_access"));
    assert_eq!(items(&grants_only).len(), 1);
    let desk_id = app.get("/api/auth/me", Some(&desk)).await.data()["id"].as_str().unwrap().to_string();
    let by_desk = app.get(&format!("{audit}?actor_id={desk_id}"), Some(&clinic.owner)).await;
    assert!(!items(&by_desk).is_empty());
    assert!(items(&by_desk).iter().all(|e| e["actor"]["id"] == desk_id.as_str()));
    let about = app.get(&format!("{audit}?patient_id={id}"), Some(&clinic.owner)).await;
    assert!(items(&about).iter().all(|e| e["resource_id"] == id.as_str()));
    app.get(&format!("{audit}?actor_id=nope"), Some(&clinic.owner)).await.expect(400, "invalid");
    // A page at a time, merged from every member's contexts, and by patient: the events
    // there were before the walk, each once, newest first.
    let org_events = app.audit_ids_where(&format!("organization_id = '{}'", clinic.id)).await;
    assert!(org_events.len() > 10, "{org_events:?}");
    assert_eq!(app.walk(&audit, &clinic.owner, 2).await, org_events);
    let patient_events = app
        .audit_ids_where(&format!(
            "organization_id = '{}' AND resource_type = 'patient' AND resource_id = '{id}'",
            clinic.id
        ))
        .await;
    assert!(patient_events.len() > 2, "{patient_events:?}");
    assert_eq!(app.walk(&format!("{audit}?patient_id={id}"), &clinic.owner, 2).await, patient_events);
    // Another organization's events are not in it.
    let other = clinic_events_elsewhere(&app).await;
    assert!(items(&app.get(&audit, Some(&clinic.owner)).await).iter().all(|e| e["resource_id"] != other.as_str()));
}

/// A patient of another organization, read once: its id.
async fn clinic_events_elsewhere(app: &TestApp) -> String {
    let elsewhere = clinic(app, "else@example.com", "Elsewhere").await;
    let patient = org_patient(app, &elsewhere.owner, &elsewhere.id, None).await;
    let id = patient["id"].as_str().unwrap().to_string();
    app.get(&format!("/api/patients/{id}"), Some(&elsewhere.owner)).await.expect(200, "success");
    id
}
