//! `/api/admin/*`: every route for an admin, an ordinary user (403) and no token (401);
//! reach across users; roles and the last-admin rule; the audit log; operator commands.

use api_tests::{PASSWORD, TestApp, spawn_app};
use axum::http::Method;
use futures::future::join_all;
use serde_json::{Value, json};

struct World {
    app: TestApp,
    admin: String,
    user: String,
    patient: Value,
    doctor: Value,
    mapping: Value,
    user_id: String,
}

/// An admin, and a user who owns a patient assigned to a doctor.
async fn world() -> World {
    let app = spawn_app().await;
    let admin = app.admin_token("admin@example.com").await;
    let bundle = app.register("Uma User", "user@example.com").await;
    let user = bundle["access_token"].as_str().unwrap().to_string();
    let patient = app.create_patient(&user, "Pat Private").await;
    let doctor = app.create_doctor(&user, "Dr Dee", "GP").await;
    let mapping =
        app.post("/api/mappings", &json!({"patient_id": patient["id"], "doctor_id": doctor["id"]}), Some(&user)).await;
    let user_id = bundle["user"]["id"].as_str().unwrap().to_string();
    World { mapping: mapping.data().clone(), app, admin, user, patient, doctor, user_id }
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

#[tokio::test]
async fn every_admin_route_is_403_for_users_and_401_without_a_token() {
    let w = world().await;
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/admin/patients".into(), None),
        (Method::GET, format!("/api/admin/patients/{}", id(&w.patient)), None),
        (Method::PUT, format!("/api/admin/patients/{}", id(&w.patient)), Some(json!({"notes": "x"}))),
        (Method::DELETE, format!("/api/admin/patients/{}", id(&w.patient)), None),
        (Method::GET, "/api/admin/doctors".into(), None),
        (Method::GET, format!("/api/admin/doctors/{}", id(&w.doctor)), None),
        (Method::PUT, format!("/api/admin/doctors/{}", id(&w.doctor)), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("/api/admin/doctors/{}", id(&w.doctor)), None),
        (Method::GET, "/api/admin/mappings".into(), None),
        (Method::GET, format!("/api/admin/mappings/{}", id(&w.mapping)), None),
        (Method::DELETE, format!("/api/admin/mappings/{}", id(&w.mapping)), None),
        (Method::GET, "/api/admin/users".into(), None),
        (Method::GET, format!("/api/admin/users/{}", w.user_id), None),
        (Method::PUT, format!("/api/admin/users/{}/role", w.user_id), Some(json!({"role": "admin"}))),
        (Method::GET, "/api/admin/audit".into(), None),
    ];
    for (method, path, body) in &routes {
        let as_user = w.app.call(method.clone(), path, body.as_ref(), Some(&w.user)).await;
        assert_eq!((as_user.status.as_u16(), as_user.envelope_status()), (403, "forbidden"), "{method} {path}");
        let anonymous = w.app.call(method.clone(), path, body.as_ref(), None).await;
        assert_eq!((anonymous.status.as_u16(), anonymous.envelope_status()), (401, "unauthorized"), "{method} {path}");
    }
    // Nothing was changed by the refused calls; then the admin can do each of them.
    let sql = w.app.sql().await;
    let role: String =
        sql.query_one("SELECT role FROM users WHERE email = 'user@example.com'", &[]).await.unwrap().get(0);
    assert_eq!(role, "user");
    // Reads and updates first, then deletes from the mapping up, so each target still exists.
    let (deletes, others): (Vec<_>, Vec<_>) = routes.iter().partition(|(m, _, _)| *m == Method::DELETE);
    for (method, path, body) in others.into_iter().chain(deletes.into_iter().rev()) {
        let as_admin = w.app.call(method.clone(), path, body.as_ref(), Some(&w.admin)).await;
        assert!(as_admin.status.is_success(), "{method} {path}: {:#}", as_admin.body);
    }
}

#[tokio::test]
async fn admins_reach_every_users_records() {
    let w = world().await;
    let other = w.app.user_token("other@example.com").await;
    w.app.create_patient(&other, "Oscar Other").await;

    let all = w.app.get("/api/admin/patients", Some(&w.admin)).await;
    assert_eq!(all.data()["items"].as_array().unwrap().len(), 2);
    let mine = w.app.get(&format!("/api/admin/patients?owner_id={}", w.user_id), Some(&w.admin)).await;
    assert_eq!(mine.data()["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine.data()["items"][0]["id"], w.patient["id"]);
    let searched = w.app.get("/api/admin/patients?q=oscar", Some(&w.admin)).await;
    assert_eq!(searched.data()["items"][0]["name"], "Oscar Other");
    // owner_id is an admin filter only.
    w.app.get(&format!("/api/patients?owner_id={}", w.user_id), Some(&w.user)).await.expect(400, "invalid");

    let path = format!("/api/admin/patients/{}", id(&w.patient));
    let read = w.app.get(&path, Some(&w.admin)).await;
    read.expect(200, "success");
    assert_eq!(read.headers["etag"], "\"1\"");
    let updated = w.app.put_if_match(&path, &json!({"notes": "reviewed"}), &w.admin, "\"1\"").await;
    updated.expect(200, "updated");
    assert_eq!(updated.data()["owner_id"], w.user_id.as_str(), "ownership does not move to the admin");
    w.app.put_if_match(&path, &json!({"notes": "again"}), &w.admin, "\"1\"").await.expect(412, "conflict");

    let mapping_path = format!("/api/admin/mappings/{}", id(&w.mapping));
    let mapping = w.app.get(&mapping_path, Some(&w.admin)).await;
    mapping.expect(200, "success");
    assert_eq!(mapping.data()["patient_id"], w.patient["id"]);
    let filtered = w.app.get(&format!("/api/admin/mappings?doctor_id={}", id(&w.doctor)), Some(&w.admin)).await;
    assert_eq!(filtered.data()["items"].as_array().unwrap().len(), 1);
    w.app.delete(&mapping_path, Some(&w.admin)).await.expect(200, "deleted");
    w.app.get(&mapping_path, Some(&w.admin)).await.expect(404, "not_found");

    let doctor_path = format!("/api/admin/doctors/{}", id(&w.doctor));
    w.app.put(&doctor_path, &json!({"specialization": "Surgery"}), Some(&w.admin)).await.expect(200, "updated");
    assert_eq!(
        w.app.get("/api/admin/doctors?specialization=surgery", Some(&w.admin)).await.data()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    w.app.delete(&doctor_path, Some(&w.admin)).await.expect(200, "deleted");

    w.app.delete(&path, Some(&w.admin)).await.expect(200, "deleted");
    w.app.get(&format!("/api/patients/{}", id(&w.patient)), Some(&w.user)).await.expect(404, "not_found");

    // Every admin write is audited with the admin as actor.
    let admin_id = w.app.get("/api/auth/me", Some(&w.admin)).await.data()["id"].as_str().unwrap().to_string();
    for action in ["patient.update", "patient.delete", "mapping.delete", "doctor.update", "doctor.delete"] {
        let events = w.app.audit(action).await;
        assert!(
            events
                .iter()
                .any(|(actor, _, outcome)| actor.map(|a| a.to_string()) == Some(admin_id.clone())
                    && outcome == "success"),
            "{action}: {events:?}"
        );
    }
    // Bad input is refused the same way as on the user routes.
    w.app.get("/api/admin/patients/nope", Some(&w.admin)).await.expect(400, "invalid");
    w.app.get("/api/admin/patients?owner_id=nope", Some(&w.admin)).await.expect(400, "invalid");
    w.app
        .put(&format!("/api/admin/patients/{}", id(&w.patient)), &json!({"owner_id": w.user_id}), Some(&w.admin))
        .await
        .expect(400, "invalid");
}

#[tokio::test]
async fn users_are_listed_and_read_without_secrets() {
    let w = world().await;
    let list = w.app.get("/api/admin/users", Some(&w.admin)).await;
    list.expect(200, "success");
    let users = list.data()["items"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["email"], "user@example.com", "newest first");
    let admins = w.app.get("/api/admin/users?role=admin", Some(&w.admin)).await;
    assert_eq!(admins.data()["items"].as_array().unwrap().len(), 1);
    let found = w.app.get("/api/admin/users?q=UMA", Some(&w.admin)).await;
    assert_eq!(found.data()["items"][0]["name"], "Uma User");
    w.app.get("/api/admin/users?role=root", Some(&w.admin)).await.expect(400, "invalid");
    assert_eq!(w.app.walk("/api/admin/users", &w.admin, 1).await.len(), 2);
    let one = w.app.get(&format!("/api/admin/users/{}", w.user_id), Some(&w.admin)).await;
    one.expect(200, "success");
    assert_eq!(one.data()["role"], "user");
    w.app.get("/api/admin/users/0190a1b2-0000-7000-8000-000000000000", Some(&w.admin)).await.expect(404, "not_found");
}

#[tokio::test]
async fn role_changes_take_effect_at_the_next_refresh_and_are_audited() {
    let w = world().await;
    let login = w.app.post("/api/auth/login", &json!({"email": "user@example.com", "password": PASSWORD}), None).await;
    let refresh = login.data()["refresh_token"].clone();
    let path = format!("/api/admin/users/{}/role", w.user_id);
    let promoted = w.app.put(&path, &json!({"role": "admin"}), Some(&w.admin)).await;
    promoted.expect(200, "updated");
    assert_eq!(promoted.data()["role"], "admin");
    // The old access token still says "user" until it is refreshed.
    w.app.get("/api/admin/users", Some(&w.user)).await.expect(403, "forbidden");
    let refreshed = w.app.post("/api/auth/refresh", &json!({"refresh_token": refresh}), None).await;
    let new_token = refreshed.data()["access_token"].as_str().unwrap();
    w.app.get("/api/admin/users", Some(new_token)).await.expect(200, "success");
    // Setting the role a user already has changes nothing and says so.
    let again = w.app.put(&path, &json!({"role": "admin"}), Some(&w.admin)).await;
    again.expect(200, "updated");
    assert_eq!(again.body["message"], "The user already had this role.");
    let outcomes: Vec<String> = w.app.audit("user.role_changed").await.into_iter().map(|e| e.2).collect();
    assert_eq!(outcomes, ["success", "success"]);

    for (body, status) in [
        (json!({}), "missing"),
        (json!({"role": "root"}), "invalid"),
        (json!({"role": "admin", "email": "x"}), "invalid"),
    ] {
        w.app.put(&path, &body, Some(&w.admin)).await.expect(400, status);
    }
    w.app
        .put("/api/admin/users/0190a1b2-0000-7000-8000-000000000000/role", &json!({"role": "user"}), Some(&w.admin))
        .await
        .expect(404, "not_found");
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted() {
    let w = world().await;
    let admin_id = w.app.get("/api/auth/me", Some(&w.admin)).await.data()["id"].as_str().unwrap().to_string();
    let refused =
        w.app.put(&format!("/api/admin/users/{admin_id}/role"), &json!({"role": "user"}), Some(&w.admin)).await;
    refused.expect(409, "conflict");
    assert_eq!(refused.error_fields(), ["role"]);
    let outcomes: Vec<String> = w.app.audit("user.role_changed").await.into_iter().map(|e| e.2).collect();
    assert_eq!(outcomes, ["denied"]);
    // With a second admin, demotion works.
    w.app
        .put(&format!("/api/admin/users/{}/role", w.user_id), &json!({"role": "admin"}), Some(&w.admin))
        .await
        .expect(200, "updated");
    w.app
        .put(&format!("/api/admin/users/{admin_id}/role"), &json!({"role": "user"}), Some(&w.admin))
        .await
        .expect(200, "updated");
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    for _ in 0..3 {
        let app = spawn_app().await;
        let a = app.admin_token("a@example.com").await;
        let b = app.admin_token("b@example.com").await;
        let a_id = app.get("/api/auth/me", Some(&a)).await.data()["id"].as_str().unwrap().to_string();
        let b_id = app.get("/api/auth/me", Some(&b)).await.data()["id"].as_str().unwrap().to_string();
        let a_path = format!("/api/admin/users/{b_id}/role");
        let b_path = format!("/api/admin/users/{a_id}/role");
        let body = json!({"role": "user"});
        let results = join_all([app.put(&a_path, &body, Some(&a)), app.put(&b_path, &body, Some(&b))]).await;
        let mut statuses: Vec<u16> = results.iter().map(|r| r.status.as_u16()).collect();
        statuses.sort();
        assert_eq!(statuses, [200, 409]);
        let admins: i64 =
            app.sql().await.query_one("SELECT count(*) FROM users WHERE role = 'admin'", &[]).await.unwrap().get(0);
        assert_eq!(admins, 1);
    }
}

#[tokio::test]
async fn the_audit_log_is_newest_first_filterable_and_pages_exactly_once() {
    let w = world().await;
    let patient_path = format!("/api/patients/{}", id(&w.patient));
    w.app.get(&patient_path, Some(&w.user)).await;
    w.app.put(&patient_path, &json!({"notes": "n"}), Some(&w.user)).await;

    let all = w.app.walk("/api/admin/audit", &w.admin, 3).await;
    let total: i64 = w.app.sql().await.query_one("SELECT count(*) FROM audit_trail", &[]).await.unwrap().get(0);
    // Each page read appends one audit.list event, newer than anything the walk goes on
    // to read: the walk saw exactly the events that existed before it, each once.
    let pages = w.app.audit("audit.list").await.len() as i64;
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "no event twice");
    assert_eq!(all.len() as i64, total - pages);
    assert_eq!(pages, (all.len() as i64 + 2) / 3, "pages of 3");

    let newest = w.app.get("/api/admin/audit?limit=1", Some(&w.admin)).await;
    assert_eq!(newest.data()["items"][0]["action"], "audit.list", "the previous page read is the newest event");

    let by_resource = w
        .app
        .get(&format!("/api/admin/audit?resource_type=patient&resource_id={}", id(&w.patient)), Some(&w.admin))
        .await;
    let actions: Vec<&str> =
        by_resource.data()["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["patient.update", "patient.read", "patient.create"]);
    let event = &by_resource.data()["items"][0];
    assert_eq!(event["actor_id"], w.user_id.as_str());
    assert_eq!(event["outcome"], "success");
    assert!(event["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(event["at"].as_str().unwrap().ends_with('Z'));

    let by_actor =
        w.app.get(&format!("/api/admin/audit?actor_id={}&action=patient.create", w.user_id), Some(&w.admin)).await;
    assert_eq!(by_actor.data()["items"].as_array().unwrap().len(), 1);
    // An actor's events, a page at a time (along their contexts): each once, newest first.
    let acted = w.app.audit_ids_where(&format!("actor_id = '{}'", w.user_id)).await;
    assert!(acted.len() >= 3, "{acted:?}");
    assert_eq!(w.app.walk(&format!("/api/admin/audit?actor_id={}", w.user_id), &w.admin, 1).await, acted);
    for bad in ["actor_id=x", "resource_id=1", "limit=500", "cursor=zzz", "verb=read"] {
        w.app.get(&format!("/api/admin/audit?{bad}"), Some(&w.admin)).await.expect(400, "invalid");
    }
}

#[tokio::test]
async fn operator_commands_work_on_fresh_and_migrated_databases() {
    let app = spawn_app().await;
    let mut client = app.sql().await;
    assert!(ops::migrate(&mut client).await.unwrap().is_empty(), "already migrated: nothing to do");
    assert_eq!(ops::make_admin(&client, "nobody@example.com").await.unwrap(), ops::MakeAdmin::NoSuchUser);
    app.register("Ada", "ada@example.com").await;
    assert_eq!(ops::make_admin(&client, " ADA@example.com").await.unwrap(), ops::MakeAdmin::Promoted);
    assert_eq!(ops::make_admin(&client, "ada@example.com").await.unwrap(), ops::MakeAdmin::AlreadyAdmin);
    let events = app.audit("user.role_changed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, None, "an operator, not a user");
    let token = app.post("/api/auth/login", &json!({"email": "ada@example.com", "password": PASSWORD}), None).await;
    app.get("/api/admin/users", token.data()["access_token"].as_str()).await.expect(200, "success");
}
