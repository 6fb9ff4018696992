//! Restricted charts and emergency access (API.md Part 3): who reads and writes a
//! restricted chart's notes, break-glass with a reason and a fresh re-authentication,
//! the grant's end by the clock (set in the database, never slept for), the alerts,
//! the audit of every access under a grant, and the review (concurrency included).

use api_tests::{PASSWORD, TestApp};
use serde_json::{Value, json};
use shared::auth::totp;
use uuid::Uuid;

use crate::email::{Mailbox, app_with_mail};
use crate::orgs::{Clinic, clinic, join, org_patient};

/// A clinic with a restricted chart: the owner, a clinician, the chart's path.
struct Ward {
    clinic: Clinic,
    clinician: String,
    patient: Value,
    path: String,
}

async fn ward(app: &TestApp, mailbox: &Mailbox) -> Ward {
    let clinic = clinic(app, "owner@example.com", "Hillside").await;
    let clinician = join(app, mailbox, &clinic, "cli@example.com", "clinician").await;
    let patient = org_patient(app, &clinic.owner, &clinic.id, Some("behavioural health history")).await;
    let path = format!("/api/patients/{}", patient["id"].as_str().unwrap());
    Ward { clinic, clinician, patient, path }
}

fn grant_body(password: &str) -> Value {
    json!({ "reason": "Unconscious in the ER, need medication history", "minutes": 30, "password": password })
}

/// The latest audit event of `action`: (access, purpose, emergency_access_id, organization_id).
async fn how_audited(app: &TestApp, action: &str) -> (Option<String>, Option<String>, Option<Uuid>, Option<Uuid>) {
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT access, purpose, emergency_access_id, organization_id FROM audit_trail \
             WHERE action = $1 ORDER BY id DESC LIMIT 1",
            &[&action],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[tokio::test]
async fn a_restricted_chart_s_notes_are_for_the_few_the_table_names() {
    let (app, mailbox) = app_with_mail().await;
    let Ward { clinic, clinician, patient, path } = ward(&app, &mailbox).await;
    let desk = join(&app, &mailbox, &clinic, "desk@example.com", "front_desk").await;
    assert_eq!(patient["restricted"], false);

    // The front desk may not restrict (it cannot read notes); a clinician may.
    app.put(&path, &json!({"restricted": true}), Some(&desk)).await.expect(403, "forbidden");
    let restricted = app.put(&path, &json!({"restricted": true}), Some(&clinician)).await;
    restricted.expect(200, "updated");
    assert_eq!(restricted.data()["restricted"], true);
    assert_eq!(how_audited(&app, "patient.update").await.0.as_deref(), Some("clinician"));

    // Now the clinician sees the chart without its notes, and may not write them or
    // lift the restriction; the owner reads them.
    let seen = app.get(&path, Some(&clinician)).await;
    seen.expect(200, "success");
    assert!(seen.data().get("notes").is_none());
    assert_eq!(seen.data()["restricted"], true);
    app.put(&path, &json!({"notes": "x"}), Some(&clinician)).await.expect(403, "forbidden");
    app.put(&path, &json!({"restricted": false}), Some(&clinician)).await.expect(403, "forbidden");
    app.put(&path, &json!({"phone": "+1 555 0100"}), Some(&clinician)).await.expect(200, "updated");
    assert_eq!(app.get(&path, Some(&clinic.owner)).await.data()["notes"], "behavioural health history");
    let listed = app.get("/api/patients", Some(&clinician)).await;
    assert!(listed.data()["items"][0].get("notes").is_none());
    assert_eq!(listed.data()["items"][0]["restricted"], true);
    app.put(&path, &json!({"restricted": "yes"}), Some(&clinic.owner)).await.expect(400, "invalid");
    app.put(&path, &json!({"restricted": null}), Some(&clinic.owner)).await.expect(400, "invalid");

    // The front desk cannot create a restricted chart either; a clinician can.
    let body = json!({"name": "VIP", "date_of_birth": "1960-05-05", "organization_id": clinic.id, "restricted": true});
    app.post("/api/patients", &body, Some(&desk)).await.expect(403, "forbidden");
    let vip = app.post("/api/patients", &body, Some(&clinician)).await;
    vip.expect(201, "created");
    assert_eq!(vip.data()["restricted"], true);

    // FHIR labels it R, and never carries notes.
    let id = patient["id"].as_str().unwrap();
    let fhir = app.fhir_get(&format!("/api/fhir/Patient/{id}"), &clinician).await;
    assert_eq!(fhir.status, 200);
    let security = &fhir.body["meta"]["security"];
    assert_eq!(security[0]["system"], "http://terminology.hl7.org/CodeSystem/v3-Confidentiality");
    assert_eq!(security[0]["code"], "R");
    assert!(!fhir.body.to_string().contains("behavioural"));
    let plain = org_patient(&app, &clinic.owner, &clinic.id, None).await;
    let unlabelled = app.fhir_get(&format!("/api/fhir/Patient/{}", plain["id"].as_str().unwrap()), &clinician).await;
    assert!(unlabelled.body["meta"].get("security").is_none());
}

#[tokio::test]
async fn break_glass_asks_a_reason_and_the_password_alerts_each_owner_and_ends_by_the_clock() {
    let (app, mailbox) = app_with_mail().await;
    let Ward { clinic, clinician, patient, path } = ward(&app, &mailbox).await;
    let second_owner = join(&app, &mailbox, &clinic, "owner2@example.com", "owner").await;
    let desk = join(&app, &mailbox, &clinic, "desk@example.com", "front_desk").await;
    let auditor = join(&app, &mailbox, &clinic, "aud@example.com", "auditor").await;
    let stranger = app.user_token("stranger@example.com").await;
    let glass = format!("{path}/emergency-access");

    // Unrestricted: the clinician reads the notes already.
    app.post(&glass, &grant_body(PASSWORD), Some(&clinician)).await.expect(409, "conflict");
    app.put(&path, &json!({"restricted": true}), Some(&clinic.owner)).await.expect(200, "updated");

    // Who may not, and bad bodies.
    app.post(&glass, &grant_body(PASSWORD), Some(&clinic.owner)).await.expect(409, "conflict");
    app.post(&glass, &grant_body(PASSWORD), Some(&desk)).await.expect(403, "forbidden");
    app.post(&glass, &grant_body(PASSWORD), Some(&auditor)).await.expect(403, "forbidden");
    app.post(&glass, &grant_body(PASSWORD), Some(&stranger)).await.expect(404, "not_found");
    app.post(&format!("/api/patients/{}/emergency-access", Uuid::now_v7()), &grant_body(PASSWORD), Some(&clinician))
        .await
        .expect(404, "not_found");
    let short = app.post(&glass, &json!({"reason": "  too short  ", "password": PASSWORD}), Some(&clinician)).await;
    short.expect(400, "invalid");
    assert_eq!(short.error_fields(), ["reason"]);
    for minutes in [json!(0), json!(241), json!(1.5), json!("60")] {
        let mut body = grant_body(PASSWORD);
        body["minutes"] = minutes;
        let refused = app.post(&glass, &body, Some(&clinician)).await;
        refused.expect(400, "invalid");
        assert_eq!(refused.error_fields(), ["minutes"]);
    }
    app.post(&glass, &json!({"reason": "Unconscious in the ER, need history"}), Some(&clinician))
        .await
        .expect(400, "missing");
    app.post(&glass, &grant_body("not my password"), Some(&clinician)).await.expect(403, "forbidden");
    let outcomes: Vec<String> = app.audit("patient.emergency_access").await.into_iter().map(|e| e.2).collect();
    assert_eq!(outcomes.iter().filter(|o| *o == "denied").count(), 5, "{outcomes:?}");
    assert!(mailbox.messages().iter().all(|m| !m["subject"].as_str().unwrap().contains("Emergency")));

    // The grant.
    let before = mailbox.messages().len();
    let opened = app.post(&glass, &grant_body(PASSWORD), Some(&clinician)).await;
    opened.expect(201, "created");
    let grant = opened.data().clone();
    let grant_id = grant["id"].as_str().unwrap().to_string();
    assert_eq!(grant["patient_id"], patient["id"]);
    assert_eq!(grant["active"], true);
    assert!(grant["review"].is_null());
    let minutes = (time::OffsetDateTime::parse(
        grant["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
        - time::OffsetDateTime::parse(
            grant["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap())
    .whole_minutes();
    assert_eq!(minutes, 30);
    let (access, purpose, audited_grant, organization) = how_audited(&app, "patient.emergency_access").await;
    assert_eq!((access.as_deref(), purpose.as_deref()), (Some("emergency"), Some("emergency")));
    assert_eq!(audited_grant.unwrap().to_string(), grant_id);
    assert_eq!(organization.unwrap().to_string(), clinic.id);

    // One alert per owner, with the requester, the grant and the reason; no PHI.
    let alerts: Vec<Value> = mailbox.messages().into_iter().skip(before).collect();
    let mut recipients: Vec<&str> = alerts.iter().map(|m| m["to"].as_str().unwrap()).collect();
    recipients.sort();
    assert_eq!(recipients, ["owner2@example.com", "owner@example.com"]);
    for alert in &alerts {
        let text = alert["text"].as_str().unwrap();
        assert!(text.contains(&grant_id) && text.contains("Unconscious in the ER"), "{text}");
        assert!(text.contains(&format!("http://localhost:5173/emergency-access/{grant_id}")), "{text}");
        assert!(!text.contains("Org Patient") && !text.contains("1970-01-02") && !text.contains("behavioural"));
    }

    // Under the grant: the notes, every read audited with the grant; no note writes.
    let read = app.get(&path, Some(&clinician)).await;
    read.expect(200, "success");
    assert_eq!(read.data()["notes"], "behavioural health history");
    let (access, purpose, audited_grant, _) = how_audited(&app, "patient.read").await;
    assert_eq!((access.as_deref(), purpose.as_deref()), (Some("emergency"), Some("emergency")));
    assert_eq!(audited_grant.unwrap().to_string(), grant_id);
    app.put(&path, &json!({"notes": "added under the grant"}), Some(&clinician)).await.expect(403, "forbidden");
    app.post(&glass, &grant_body(PASSWORD), Some(&clinician)).await.expect(409, "conflict");
    let id = patient["id"].as_str().unwrap();
    assert_eq!(app.fhir_get(&format!("/api/fhir/Patient/{id}"), &clinician).await.status, 200);
    assert_eq!(how_audited(&app, "patient.read").await.0.as_deref(), Some("emergency"));
    // A list never opens notes through a grant.
    assert!(app.get("/api/patients", Some(&clinician)).await.data()["items"][0].get("notes").is_none());
    let _ = second_owner;

    // The clock ends it, whatever the token says: the next request reads no notes.
    app.sql()
        .await
        .execute(
            "UPDATE emergency_access SET expires_at = now() - interval '1 second' WHERE id = $1",
            &[&Uuid::parse_str(&grant_id).unwrap()],
        )
        .await
        .unwrap();
    let after = app.get(&path, Some(&clinician)).await;
    after.expect(200, "success");
    assert!(after.data().get("notes").is_none());
    assert_eq!(how_audited(&app, "patient.read").await.0.as_deref(), Some("clinician"));
    app.delete(&format!("{glass}/{grant_id}"), Some(&clinician)).await.expect(409, "conflict");

    // A new grant ended early by its holder; an auditor may not end one, a stranger
    // does not see it.
    let second = app.post(&glass, &grant_body(PASSWORD), Some(&clinician)).await;
    second.expect(201, "created");
    let second_id = second.data()["id"].as_str().unwrap().to_string();
    let end = format!("{glass}/{second_id}");
    app.delete(&end, Some(&auditor)).await.expect(403, "forbidden");
    app.delete(&end, Some(&stranger)).await.expect(404, "not_found");
    app.delete(&format!("{glass}/{}", Uuid::now_v7()), Some(&clinician)).await.expect(404, "not_found");
    app.delete(&end, Some(&clinician)).await.expect(200, "deleted");
    assert!(app.get(&path, Some(&clinician)).await.data().get("notes").is_none());
    app.delete(&end, Some(&clinician)).await.expect(409, "conflict");
    assert_eq!(how_audited(&app, "patient.emergency_access_ended").await.2.unwrap().to_string(), second_id);

    // A grant ends with its holder's role: a third one, then the clinician is moved to
    // the front desk.
    let third = app.post(&glass, &grant_body(PASSWORD), Some(&clinician)).await;
    third.expect(201, "created");
    assert_eq!(app.get(&path, Some(&clinician)).await.data()["notes"], "behavioural health history");
    let me = app.get("/api/auth/me", Some(&clinician)).await.data()["id"].as_str().unwrap().to_string();
    let member = format!("/api/orgs/{}/members/{me}", clinic.id);
    app.put(&member, &json!({"role": "front_desk"}), Some(&clinic.owner)).await.expect(200, "updated");
    assert!(app.get(&path, Some(&clinician)).await.data().get("notes").is_none());
}

#[tokio::test]
async fn with_mfa_on_break_glass_also_spends_a_fresh_code() {
    let (app, mailbox) = app_with_mail().await;
    let Ward { clinic, clinician, path, .. } = ward(&app, &mailbox).await;
    app.put(&path, &json!({"restricted": true}), Some(&clinic.owner)).await.expect(200, "updated");
    let started = app.post("/api/auth/mfa/totp", &json!({}), Some(&clinician)).await;
    started.expect(200, "success");
    let secret = crate::mfa::base32_decode(started.data()["secret"].as_str().unwrap());
    let step = totp::now_step();
    app.post("/api/auth/mfa/totp/confirm", &json!({"code": totp::code(&secret, step)}), Some(&clinician))
        .await
        .expect(200, "updated");
    let glass = format!("{path}/emergency-access");

    // Without a code, with a wrong one, or with the one the confirmation spent: 403.
    app.post(&glass, &grant_body(PASSWORD), Some(&clinician)).await.expect(403, "forbidden");
    let mut body = grant_body(PASSWORD);
    body["code"] = json!("000000");
    app.post(&glass, &body, Some(&clinician)).await.expect(403, "forbidden");
    body["code"] = json!(totp::code(&secret, step));
    app.post(&glass, &body, Some(&clinician)).await.expect(403, "forbidden");
    // The next step's code opens a grant once; with a wrong password it does not.
    body["code"] = json!(totp::code(&secret, step + 1));
    let mut wrong = body.clone();
    wrong["password"] = json!("not my password");
    app.post(&glass, &wrong, Some(&clinician)).await.expect(403, "forbidden");
    let opened = app.post(&glass, &body, Some(&clinician)).await;
    opened.expect(201, "created");
    let grant = opened.data()["id"].as_str().unwrap().to_string();
    app.delete(&format!("{glass}/{grant}"), Some(&clinician)).await.expect(200, "deleted");
    app.post(&glass, &body, Some(&clinician)).await.expect(403, "forbidden");
}

#[tokio::test]
async fn grants_are_reviewed_once_by_owners_and_auditors_never_by_their_holder() {
    let (app, mailbox) = app_with_mail().await;
    let Ward { clinic, clinician, path, .. } = ward(&app, &mailbox).await;
    let auditor = join(&app, &mailbox, &clinic, "aud@example.com", "auditor").await;
    let desk = join(&app, &mailbox, &clinic, "desk@example.com", "front_desk").await;
    let stranger = app.user_token("stranger@example.com").await;
    app.put(&path, &json!({"restricted": true}), Some(&clinic.owner)).await.expect(200, "updated");
    let glass = format!("{path}/emergency-access");
    let first =
        app.post(&glass, &grant_body(PASSWORD), Some(&clinician)).await.data()["id"].as_str().unwrap().to_string();
    app.delete(&format!("{glass}/{first}"), Some(&clinic.owner)).await.expect(200, "deleted");
    let second =
        app.post(&glass, &grant_body(PASSWORD), Some(&clinician)).await.data()["id"].as_str().unwrap().to_string();

    let list = format!("/api/orgs/{}/emergency-access", clinic.id);
    for token in [&clinician, &desk] {
        app.get(&list, Some(token)).await.expect(403, "forbidden");
    }
    app.get(&list, Some(&stranger)).await.expect(404, "not_found");
    app.get(&format!("{list}?reviewed=maybe"), Some(&auditor)).await.expect(400, "invalid");
    let listed = app.get(&list, Some(&auditor)).await;
    listed.expect(200, "success");
    let ids: Vec<&str> = listed.data()["items"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
    assert_eq!(listed.data()["items"][0]["active"], true);
    assert_eq!(listed.data()["items"][1]["active"], false);
    assert!(listed.data()["items"][1]["ended_at"].is_string());

    let review = |outcome: &str| json!({"outcome": outcome, "comment": "Called the ER: confirmed"});
    let first_path = format!("{list}/{first}");
    app.put(&first_path, &review("fine"), Some(&auditor)).await.expect(400, "invalid");
    app.put(&first_path, &json!({"outcome": "justified", "comment": "x".repeat(1001)}), Some(&auditor))
        .await
        .expect(400, "invalid");
    app.put(&first_path, &review("justified"), Some(&clinician)).await.expect(403, "forbidden");
    app.put(&first_path, &review("justified"), Some(&stranger)).await.expect(404, "not_found");
    app.put(&format!("{list}/{}", Uuid::now_v7()), &review("justified"), Some(&auditor)).await.expect(404, "not_found");
    let other = crate::orgs::clinic(&app, "elsewhere@example.com", "Elsewhere").await;
    app.put(&format!("/api/orgs/{}/emergency-access/{first}", other.id), &review("justified"), Some(&other.owner))
        .await
        .expect(404, "not_found");

    // Two reviewers at once: one wins, one 409.
    let (justified, unjustified) = (review("justified"), review("unjustified"));
    let (a, b) = tokio::join!(
        app.put(&first_path, &justified, Some(&auditor)),
        app.put(&first_path, &unjustified, Some(&clinic.owner)),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let winner = if a.status == 200 { &a } else { &b };
    let review_of = &winner.data()["review"];
    assert!(review_of["outcome"] == "justified" || review_of["outcome"] == "unjustified");
    assert_eq!(review_of["comment"], "Called the ER: confirmed");
    assert!(review_of["reviewed_at"].is_string());
    let open = app.get(&format!("{list}?reviewed=false"), Some(&clinic.owner)).await;
    let open_ids: Vec<&str> =
        open.data()["items"].as_array().unwrap().iter().map(|g| g["id"].as_str().unwrap()).collect();
    assert_eq!(open_ids, [second.as_str()]);
    let done = app.get(&format!("{list}?reviewed=true"), Some(&clinic.owner)).await;
    assert_eq!(done.data()["items"][0]["id"], first.as_str());
    assert_eq!(how_audited(&app, "patient.emergency_access_reviewed").await.2.unwrap().to_string(), first);

    // Its holder never reviews its own grant, even once it may review others'.
    let me = app.get("/api/auth/me", Some(&clinician)).await.data()["id"].as_str().unwrap().to_string();
    app.put(&format!("/api/orgs/{}/members/{me}", clinic.id), &json!({"role": "auditor"}), Some(&clinic.owner))
        .await
        .expect(200, "updated");
    app.put(&format!("{list}/{second}"), &review("justified"), Some(&clinician)).await.expect(403, "forbidden");
    app.put(&format!("{list}/{second}"), &review("justified"), Some(&auditor)).await.expect(200, "updated");
}

#[tokio::test]
async fn wrong_passwords_at_break_glass_count_towards_the_login_throttle() {
    let (app, mailbox) = app_with_mail().await;
    let Ward { clinic, clinician, path, .. } = ward(&app, &mailbox).await;
    app.put(&path, &json!({"restricted": true}), Some(&clinic.owner)).await.expect(200, "updated");
    let glass = format!("{path}/emergency-access");
    for _ in 0..5 {
        app.post(&glass, &grant_body("not my password"), Some(&clinician)).await.expect(403, "forbidden");
    }
    let refused = app.post(&glass, &grant_body(PASSWORD), Some(&clinician)).await;
    refused.expect(429, "rate_limited");
    assert!(refused.headers.get("retry-after").is_some());
    let login = json!({"email": "cli@example.com", "password": PASSWORD});
    assert_eq!(app.post("/api/auth/login", &login, None).await.status, 429);
    let denied = app.audit("patient.emergency_access").await;
    assert_eq!(denied.iter().filter(|e| e.2 == "denied").count(), 6);
}

#[tokio::test]
async fn the_care_team_reads_and_writes_a_restricted_chart_s_notes() {
    let (app, mailbox) = app_with_mail().await;
    let Ward { clinic, path, patient, .. } = ward(&app, &mailbox).await;
    app.put(&path, &json!({"restricted": true}), Some(&clinic.owner)).await.expect(200, "updated");
    let body = json!({"name": "Dr Dee", "specialization": "Psychiatry", "email": "dee@example.com"});
    let doctor = app.post("/api/doctors", &body, Some(&clinic.owner)).await.data().clone();
    let dee = app.user_token("dee@example.com").await;
    crate::orgs::verify_email(&app, "dee@example.com").await;
    let claim = format!("/api/doctors/{}/claim", doctor["id"].as_str().unwrap());
    app.post(&claim, &json!({}), Some(&dee)).await.expect(200, "updated");
    app.post("/api/mappings", &json!({"patient_id": patient["id"], "doctor_id": doctor["id"]}), Some(&clinic.owner))
        .await
        .expect(201, "created");

    assert_eq!(app.get(&path, Some(&dee)).await.data()["notes"], "behavioural health history");
    app.put(&path, &json!({"notes": "seen by psychiatry"}), Some(&dee)).await.expect(200, "updated");
    app.put(&path, &json!({"restricted": false}), Some(&dee)).await.expect(200, "updated");
    assert_eq!(how_audited(&app, "patient.update").await.0.as_deref(), Some("care_team"));
    assert_eq!(how_audited(&app, "patient.update").await.1.as_deref(), Some("treatment"));
    // The care team reads notes anyway: no grant for it.
    app.put(&path, &json!({"restricted": true}), Some(&dee)).await.expect(200, "updated");
    app.post(&format!("{path}/emergency-access"), &grant_body(PASSWORD), Some(&dee)).await.expect(409, "conflict");
}
