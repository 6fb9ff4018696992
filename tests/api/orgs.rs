//! `/api/orgs` and the organization's patients (API.md Part 3): organizations, members,
//! invitations by email, the role matrix on patients, the one-way move of a personal
//! patient. The "very next request" rules use the same access token throughout.

use api_tests::TestApp;
use serde_json::{Value, json};

use crate::email::{Mailbox, app_with_mail};

/// A clinic: its id and the owner's token.
pub(crate) struct Clinic {
    pub id: String,
    pub owner: String,
}

pub(crate) async fn clinic(app: &TestApp, owner_email: &str, name: &str) -> Clinic {
    let owner = app.user_token(owner_email).await;
    let created = app.post("/api/orgs", &json!({ "name": name }), Some(&owner)).await;
    created.expect(201, "created");
    assert_eq!(created.data()["my_role"], "owner");
    Clinic { id: created.data()["id"].as_str().unwrap().to_string(), owner }
}

pub(crate) async fn verify_email(app: &TestApp, email: &str) {
    app.sql().await.execute("UPDATE users SET email_verified = true WHERE email = $1", &[&email]).await.unwrap();
}

/// Invites `email` as `role`, registers that user with a verified email, and accepts:
/// the new member's token.
pub(crate) async fn join(app: &TestApp, mailbox: &Mailbox, clinic: &Clinic, email: &str, role: &str) -> String {
    let path = format!("/api/orgs/{}/invitations", clinic.id);
    app.post(&path, &json!({ "email": email, "role": role }), Some(&clinic.owner)).await.expect(201, "created");
    let token = mailbox.token("accept-invitation");
    let member = app.user_token(email).await;
    verify_email(app, email).await;
    let accepted = app.post("/api/orgs/invitations/accept", &json!({ "token": token }), Some(&member)).await;
    accepted.expect(200, "success");
    assert_eq!(accepted.data()["my_role"], role);
    member
}

pub(crate) async fn org_patient(app: &TestApp, token: &str, org: &str, notes: Option<&str>) -> Value {
    let mut body = json!({ "name": "Org Patient", "date_of_birth": "1970-01-02", "organization_id": org });
    if let Some(notes) = notes {
        body["notes"] = json!(notes);
    }
    let response = app.post("/api/patients", &body, Some(token)).await;
    response.expect(201, "created");
    response.data().clone()
}

fn id(value: &Value) -> &str {
    value["id"].as_str().unwrap()
}

#[tokio::test]
async fn an_invitation_needs_the_invited_verified_email_and_works_once() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "owner@example.com", "Riverside Clinic").await;
    let invitations = format!("/api/orgs/{}/invitations", clinic.id);
    let invited =
        app.post(&invitations, &json!({"email": "Nia@Example.com", "role": "clinician"}), Some(&clinic.owner)).await;
    invited.expect(201, "created");
    assert_eq!(invited.data()["role"], "clinician");
    assert!(invited.data()["expires_at"].is_string());
    let token = mailbox.token("accept-invitation");
    assert!(token.len() >= 43, "256 bits, base64url: {token}");
    let stored: Vec<u8> =
        app.sql().await.query_one("SELECT token_hash FROM organization_invitations", &[]).await.unwrap().get(0);
    assert_ne!(stored, token.as_bytes(), "only the hash is kept");
    assert_eq!(app.audit("org.invited").await.len(), 1);

    let listed = app.get(&invitations, Some(&clinic.owner)).await;
    listed.expect(200, "success");
    assert_eq!(listed.data()["items"].as_array().unwrap().len(), 1);

    let accept = |token: String| json!({ "token": token });
    let stranger = app.user_token("someone@example.com").await;
    verify_email(&app, "someone@example.com").await;
    app.post("/api/orgs/invitations/accept", &accept(token.clone()), Some(&stranger)).await.expect(403, "forbidden");
    let nia = app.user_token("nia@example.com").await;
    app.post("/api/orgs/invitations/accept", &accept(token.clone()), Some(&nia)).await.expect(403, "forbidden");
    verify_email(&app, "nia@example.com").await;
    let joined = app.post("/api/orgs/invitations/accept", &accept(token.clone()), Some(&nia)).await;
    joined.expect(200, "success");
    assert_eq!(
        (joined.data()["id"].as_str().unwrap(), &joined.data()["my_role"]),
        (clinic.id.as_str(), &json!("clinician"))
    );
    let used = app.post("/api/orgs/invitations/accept", &accept(token), Some(&nia)).await;
    used.expect(400, "invalid");
    assert_eq!(used.error_fields(), ["token"]);
    let joins = app.audit("org.member_joined").await;
    let outcomes: Vec<&str> = joins.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(outcomes, ["denied", "denied", "success", "not_found"]);
    assert!(app.get(&invitations, Some(&clinic.owner)).await.data()["items"].as_array().unwrap().is_empty());

    // A member's address cannot be invited again; a bad role is named.
    let again =
        app.post(&invitations, &json!({"email": "NIA@example.com", "role": "auditor"}), Some(&clinic.owner)).await;
    again.expect(409, "conflict");
    let bad = app.post(&invitations, &json!({"email": "x@example.com", "role": "admin"}), Some(&clinic.owner)).await;
    bad.expect(400, "invalid");
    assert_eq!(bad.error_fields(), ["role"]);
    // Only owners invite and see invitations.
    app.post(&invitations, &json!({"email": "y@example.com", "role": "auditor"}), Some(&nia))
        .await
        .expect(403, "forbidden");
    app.get(&invitations, Some(&nia)).await.expect(403, "forbidden");
    app.get(&invitations, Some(&stranger)).await.expect(404, "not_found");

    // A withdrawn invitation's token stops working.
    app.post(&invitations, &json!({"email": "zed@example.com", "role": "front_desk"}), Some(&clinic.owner))
        .await
        .expect(201, "created");
    let withdrawn_token = mailbox.token("accept-invitation");
    let open = app.get(&invitations, Some(&clinic.owner)).await;
    let invitation = open.data()["items"][0]["id"].as_str().unwrap().to_string();
    app.delete(&format!("{invitations}/{invitation}"), Some(&nia)).await.expect(403, "forbidden");
    app.delete(&format!("{invitations}/{invitation}"), Some(&clinic.owner)).await.expect(200, "deleted");
    app.delete(&format!("{invitations}/{invitation}"), Some(&clinic.owner)).await.expect(404, "not_found");
    let zed = app.user_token("zed@example.com").await;
    verify_email(&app, "zed@example.com").await;
    app.post("/api/orgs/invitations/accept", &accept(withdrawn_token), Some(&zed)).await.expect(400, "invalid");

    // An expired one too.
    app.post(&invitations, &json!({"email": "zed@example.com", "role": "front_desk"}), Some(&clinic.owner))
        .await
        .expect(201, "created");
    let late = mailbox.token("accept-invitation");
    app.sql()
        .await
        .execute("UPDATE organization_invitations SET expires_at = now() - interval '1 second'", &[])
        .await
        .unwrap();
    app.post("/api/orgs/invitations/accept", &accept(late), Some(&zed)).await.expect(400, "invalid");
}

#[tokio::test]
async fn organizations_are_seen_by_members_and_managed_by_owners() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "owner@example.com", "Riverside Clinic").await;
    let clinician = join(&app, &mailbox, &clinic, "cli@example.com", "clinician").await;
    let auditor = join(&app, &mailbox, &clinic, "aud@example.com", "auditor").await;
    let stranger = app.user_token("stranger@example.com").await;
    let org = format!("/api/orgs/{}", clinic.id);

    let mine = app.get("/api/orgs", Some(&clinician)).await;
    mine.expect(200, "success");
    assert_eq!(mine.data()["items"][0]["my_role"], "clinician");
    assert!(app.get("/api/orgs", Some(&stranger)).await.data()["items"].as_array().unwrap().is_empty());
    app.get(&org, Some(&auditor)).await.expect(200, "success");
    app.get(&org, Some(&stranger)).await.expect(404, "not_found");

    app.put(&org, &json!({"name": "Renamed"}), Some(&clinician)).await.expect(403, "forbidden");
    app.put(&org, &json!({"name": "Renamed"}), Some(&stranger)).await.expect(404, "not_found");
    let renamed = app.put(&org, &json!({"name": "Riverside Health"}), Some(&clinic.owner)).await;
    renamed.expect(200, "updated");
    assert_eq!(renamed.data()["name"], "Riverside Health");
    let bad = app.put(&org, &json!({"name": "", "id": clinic.id}), Some(&clinic.owner)).await;
    bad.expect(400, "invalid");
    assert_eq!(app.audit("org.updated").await.iter().filter(|e| e.2 == "success").count(), 1);

    let members = app.get(&format!("{org}/members"), Some(&auditor)).await;
    members.expect(200, "success");
    let items = members.data()["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(
        items.iter().any(|m| m["email"] == "cli@example.com" && m["role"] == "clinician" && m["joined_at"].is_string())
    );
    app.get(&format!("{org}/members"), Some(&stranger)).await.expect(404, "not_found");
    let me = |token: &str| {
        let app = &app;
        let token = token.to_string();
        async move { app.get("/api/auth/me", Some(&token)).await.data()["id"].as_str().unwrap().to_string() }
    };
    let (owner_id, clinician_id, auditor_id) = (me(&clinic.owner).await, me(&clinician).await, me(&auditor).await);

    // Role changes and removals: owners only; a member may leave; an owner always stays.
    let member = |user: &str| format!("{org}/members/{user}");
    app.put(&member(&auditor_id), &json!({"role": "owner"}), Some(&clinician)).await.expect(403, "forbidden");
    let bad_role = app.put(&member(&auditor_id), &json!({"role": "superuser"}), Some(&clinic.owner)).await;
    assert_eq!(bad_role.error_fields(), ["role"]);
    app.put(&member(&owner_id), &json!({"role": "clinician"}), Some(&clinic.owner)).await.expect(409, "conflict");
    app.delete(&member(&owner_id), Some(&clinic.owner)).await.expect(409, "conflict");
    app.delete(&member(&owner_id), Some(&clinician)).await.expect(403, "forbidden");
    app.put(&member(&stranger), &json!({"role": "auditor"}), Some(&clinic.owner)).await.expect(400, "invalid");
    let promoted = app.put(&member(&clinician_id), &json!({"role": "owner"}), Some(&clinic.owner)).await;
    promoted.expect(200, "updated");
    assert_eq!(promoted.data()["role"], "owner");
    // Two owners now: the first may step down, and the last one may not.
    app.put(&member(&owner_id), &json!({"role": "auditor"}), Some(&clinic.owner)).await.expect(200, "updated");
    app.delete(&member(&clinician_id), Some(&clinician)).await.expect(409, "conflict");
    app.delete(&member(&auditor_id), Some(&auditor)).await.expect(200, "deleted");
    app.get(&org, Some(&auditor)).await.expect(404, "not_found");
    assert_eq!(app.audit("org.member_removed").await.iter().filter(|e| e.2 == "success").count(), 1);
    assert_eq!(app.audit("org.member_role_changed").await.iter().filter(|e| e.2 == "success").count(), 2);
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "a@example.com", "Pair").await;
    let second = join(&app, &mailbox, &clinic, "b@example.com", "owner").await;
    let id_of = |token: String| {
        let app = &app;
        async move { app.get("/api/auth/me", Some(&token)).await.data()["id"].as_str().unwrap().to_string() }
    };
    let (a, b) = (id_of(clinic.owner.clone()).await, id_of(second.clone()).await);
    for _ in 0..5 {
        let path = |user: &str| format!("/api/orgs/{}/members/{user}", clinic.id);
        let (path_b, path_a, body) = (path(&b), path(&a), json!({"role": "clinician"}));
        let (one, two) =
            tokio::join!(app.put(&path_b, &body, Some(&clinic.owner)), app.put(&path_a, &body, Some(&second)));
        let statuses = [one.status.as_u16(), two.status.as_u16()];
        let owners: i64 = app
            .sql()
            .await
            .query_one("SELECT count(*) FROM memberships WHERE role = 'owner'", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(owners, 1, "statuses {statuses:?}");
        assert!(statuses.contains(&200) && statuses.iter().all(|s| [200, 403, 409].contains(s)), "{statuses:?}");
        // Make both owners again for the next round.
        app.sql().await.execute("UPDATE memberships SET role = 'owner'", &[]).await.unwrap();
    }
}

#[tokio::test]
async fn each_role_reaches_the_organization_s_patients_as_far_as_the_table_says() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "owner@example.com", "Riverside").await;
    let clinician = join(&app, &mailbox, &clinic, "cli@example.com", "clinician").await;
    let desk = join(&app, &mailbox, &clinic, "desk@example.com", "front_desk").await;
    let auditor = join(&app, &mailbox, &clinic, "aud@example.com", "auditor").await;
    let stranger = app.user_token("stranger@example.com").await;

    // Front desk registers patients, never with notes, and never sees them.
    let body = json!({"name": "Pat", "date_of_birth": "1970-01-02", "organization_id": clinic.id, "notes": "x"});
    app.post("/api/patients", &body, Some(&desk)).await.expect(403, "forbidden");
    let patient = org_patient(&app, &desk, &clinic.id, None).await;
    assert!(patient.get("notes").is_none(), "{patient}");
    assert_eq!(patient["organization_id"].as_str(), Some(clinic.id.as_str()));
    app.post("/api/patients", &body, Some(&auditor)).await.expect(403, "forbidden");
    app.post("/api/patients", &body, Some(&stranger)).await.expect(404, "not_found");
    let missing_org = json!({"name": "Pat", "date_of_birth": "1970-01-02", "organization_id": uuid::Uuid::now_v7()});
    app.post("/api/patients", &missing_org, Some(&clinic.owner)).await.expect(404, "not_found");

    let path = format!("/api/patients/{}", id(&patient));
    let noted = app.put(&path, &json!({"notes": "allergic to penicillin"}), Some(&clinician)).await;
    noted.expect(200, "updated");
    assert_eq!(noted.data()["notes"], "allergic to penicillin");
    let seen = app.get(&path, Some(&desk)).await;
    seen.expect(200, "success");
    assert!(seen.data().get("notes").is_none());
    app.put(&path, &json!({"notes": "overwritten"}), Some(&desk)).await.expect(403, "forbidden");
    let phoned = app.put(&path, &json!({"phone": "+44 20 7946 0000"}), Some(&desk)).await;
    phoned.expect(200, "updated");
    assert!(phoned.data().get("notes").is_none());
    assert_eq!(app.get(&path, Some(&clinic.owner)).await.data()["notes"], "allergic to penicillin");
    let fhir = app.fhir_get(&format!("/api/fhir/Patient/{}", id(&patient)), &desk).await;
    assert_eq!(fhir.status, 200);
    assert!(!fhir.body.to_string().contains("penicillin"));
    assert_eq!(fhir.body["managingOrganization"]["reference"], format!("Organization/{}", clinic.id));

    for token in [&auditor, &stranger] {
        app.get(&path, Some(token)).await.expect(404, "not_found");
        app.put(&path, &json!({"phone": "+44 20 7946 0001"}), Some(token)).await.expect(404, "not_found");
        app.delete(&path, Some(token)).await.expect(404, "not_found");
        assert!(app.get("/api/patients", Some(token)).await.data()["items"].as_array().unwrap().is_empty());
        assert_eq!(app.fhir_get(&format!("/api/fhir/Patient/{}", id(&patient)), token).await.status, 404);
    }
    app.delete(&path, Some(&clinician)).await.expect(403, "forbidden");
    app.delete(&path, Some(&desk)).await.expect(403, "forbidden");

    // Lists: everything reached, filtered by organization or none.
    let personal = app.create_patient(&clinician, "Own Patient").await;
    let all = app.walk("/api/patients", &clinician, 1).await;
    assert_eq!(all, [id(&personal), id(&patient)]);
    let in_org = app.walk(&format!("/api/patients?organization_id={}", clinic.id), &clinician, 5).await;
    assert_eq!(in_org, [id(&patient)]);
    assert_eq!(app.walk("/api/patients?organization_id=none", &clinician, 5).await, [id(&personal)]);
    assert_eq!(app.walk("/api/patients?organization_id=none", &desk, 5).await, Vec::<String>::new());
    let bad = app.get("/api/patients?organization_id=nope", Some(&clinician)).await;
    assert_eq!(bad.error_fields(), ["organization_id"]);
    let listed = app.get("/api/patients", Some(&desk)).await;
    assert!(listed.data()["items"][0].get("notes").is_none());
    let searched = app.get("/api/patients?q=org", Some(&clinician)).await;
    assert_eq!(searched.data()["items"].as_array().unwrap().len(), 1);

    // Assigning doctors needs write access: the front desk may; the auditor finds nothing.
    let doctor = app.create_doctor(&desk, "Dr Who", "General practice").await;
    let assign = json!({"patient_id": id(&patient), "doctor_id": id(&doctor)});
    app.post("/api/mappings", &assign, Some(&auditor)).await.expect(404, "not_found");
    let mapping = app.post("/api/mappings", &assign, Some(&desk)).await;
    mapping.expect(201, "created");
    app.get(&format!("/api/mappings/{}", id(&patient)), Some(&clinician)).await.expect(200, "success");
    app.get(&format!("/api/mappings/{}", id(&patient)), Some(&auditor)).await.expect(404, "not_found");

    // Only an owner deletes.
    app.delete(&path, Some(&clinic.owner)).await.expect(200, "deleted");
}

#[tokio::test]
async fn a_removal_or_a_role_change_bites_on_the_very_next_request() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "owner@example.com", "Riverside").await;
    let clinician = join(&app, &mailbox, &clinic, "cli@example.com", "clinician").await;
    let desk = join(&app, &mailbox, &clinic, "desk@example.com", "front_desk").await;
    let patient = org_patient(&app, &clinic.owner, &clinic.id, Some("private")).await;
    let path = format!("/api/patients/{}", id(&patient));
    let fhir = format!("/api/fhir/Patient/{}", id(&patient));
    let user_id = |token: &str| {
        let app = &app;
        let token = token.to_string();
        async move { app.get("/api/auth/me", Some(&token)).await.data()["id"].as_str().unwrap().to_string() }
    };

    assert!(app.get(&path, Some(&desk)).await.data().get("notes").is_none());
    let desk_id = user_id(&desk).await;
    let member = format!("/api/orgs/{}/members/{desk_id}", clinic.id);
    app.put(&member, &json!({"role": "clinician"}), Some(&clinic.owner)).await.expect(200, "updated");
    assert_eq!(app.get(&path, Some(&desk)).await.data()["notes"], "private");
    app.put(&member, &json!({"role": "auditor"}), Some(&clinic.owner)).await.expect(200, "updated");
    app.get(&path, Some(&desk)).await.expect(404, "not_found");

    app.get(&path, Some(&clinician)).await.expect(200, "success");
    let clinician_id = user_id(&clinician).await;
    app.delete(&format!("/api/orgs/{}/members/{clinician_id}", clinic.id), Some(&clinic.owner))
        .await
        .expect(200, "deleted");
    app.get(&path, Some(&clinician)).await.expect(404, "not_found");
    assert_eq!(app.fhir_get(&fhir, &clinician).await.status, 404);
    assert!(app.get("/api/patients", Some(&clinician)).await.data()["items"].as_array().unwrap().is_empty());
    app.get(&format!("/api/orgs/{}", clinic.id), Some(&clinician)).await.expect(404, "not_found");
}

#[tokio::test]
async fn a_personal_patient_moves_into_an_organization_one_way() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "owner@example.com", "Riverside").await;
    let other = clinic_for(&app, &clinic.owner, "Elsewhere").await;
    let clinician = join(&app, &mailbox, &clinic, "cli@example.com", "clinician").await;
    let desk_clinic = clinic_for(&app, &clinician, "Desk Clinic").await;
    let personal = app.create_patient(&clinician, "Moving Patient").await;
    let path = format!("/api/patients/{}", id(&personal));

    // Into an organization where the caller is no member: 404; front desk or auditor: 403.
    app.put(&path, &json!({"organization_id": other}), Some(&clinician)).await.expect(404, "not_found");
    let desk_invite = format!("/api/orgs/{desk_clinic}/invitations");
    app.post(&desk_invite, &json!({"email": "owner@example.com", "role": "front_desk"}), Some(&clinician))
        .await
        .expect(201, "created");
    verify_email(&app, "owner@example.com").await;
    let token = mailbox.token("accept-invitation");
    app.post("/api/orgs/invitations/accept", &json!({"token": token}), Some(&clinic.owner))
        .await
        .expect(200, "success");
    let owners_patient = app.create_patient(&clinic.owner, "Owner's Own").await;
    let owners_path = format!("/api/patients/{}", id(&owners_patient));
    app.put(&owners_path, &json!({"organization_id": desk_clinic}), Some(&clinic.owner)).await.expect(403, "forbidden");

    let moved = app.put(&path, &json!({"organization_id": clinic.id}), Some(&clinician)).await;
    moved.expect(200, "updated");
    assert_eq!(moved.data()["organization_id"].as_str(), Some(clinic.id.as_str()));
    assert_eq!(moved.data()["version"], 2);
    // The organization's owner reaches it now; naming its organization again is no change.
    app.get(&path, Some(&clinic.owner)).await.expect(200, "success");
    app.put(&path, &json!({"organization_id": clinic.id, "name": "Moved"}), Some(&clinician))
        .await
        .expect(200, "updated");
    // Out again, or elsewhere: 400 naming organization_id.
    for to in [json!(null), json!(desk_clinic)] {
        let refused = app.put(&path, &json!({"organization_id": to}), Some(&clinician)).await;
        refused.expect(400, "invalid");
        assert_eq!(refused.error_fields(), ["organization_id"]);
    }
    // Its creator reaches it through the organization only: leaving loses it.
    let me = app.get("/api/auth/me", Some(&clinician)).await.data()["id"].as_str().unwrap().to_string();
    app.delete(&format!("/api/orgs/{}/members/{me}", clinic.id), Some(&clinician)).await.expect(200, "deleted");
    app.get(&path, Some(&clinician)).await.expect(404, "not_found");
    let row = app.sql().await.query_one("SELECT organization_id::text FROM patients WHERE name = 'Moved'", &[]).await;
    assert_eq!(row.unwrap().get::<_, String>(0), clinic.id);
}

async fn clinic_for(app: &TestApp, owner: &str, name: &str) -> String {
    let created = app.post("/api/orgs", &json!({ "name": name }), Some(owner)).await;
    created.expect(201, "created");
    created.data()["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn fhir_serves_the_caller_s_organizations() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "owner@example.com", "Riverside").await;
    let auditor = join(&app, &mailbox, &clinic, "aud@example.com", "auditor").await;
    let stranger = app.user_token("stranger@example.com").await;
    let path = format!("/api/fhir/Organization/{}", clinic.id);
    let read = app.fhir_get(&path, &auditor).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["resourceType"], "Organization");
    read.assert_last_modified();
    assert_eq!((&read.body["name"], &read.body["active"]), (&json!("Riverside"), &json!(true)));
    assert_eq!(app.fhir_get(&path, &stranger).await.status, 404);
    let bundle = app.fhir_get("/api/fhir/Organization", &auditor).await;
    assert_eq!(bundle.body["type"], "searchset");
    assert_eq!(bundle.body["entry"][0]["resource"]["id"].as_str(), Some(clinic.id.as_str()));
    let none = app.fhir_get("/api/fhir/Organization", &stranger).await;
    assert!(none.body["entry"].as_array().is_none_or(|e| e.is_empty()), "{}", none.body);
    let metadata = app.fhir(axum::http::Method::GET, "/api/fhir/metadata").send().await;
    let types: Vec<&str> =
        metadata.body["rest"][0]["resource"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"Organization"));
}
