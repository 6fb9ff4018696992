//! A patient's versions as lists (API.md Part 5, "Versions and history"): REST
//! `GET /api/patients/{id}/versions` and FHIR's `_history` Bundle, newest first, paged,
//! the current version included, notes only for who may read them now, one
//! `patient.history` event per request, and nothing for whoever does not reach it.

use api_tests::TestApp;
use axum::http::Method;
use serde_json::{Value, json};

use crate::email::app_with_mail;
use crate::orgs::{clinic, join, org_patient};

fn versions_of(page: &Value) -> Vec<i64> {
    page["items"].as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect()
}

async fn history_events(app: &TestApp, id: &str) -> usize {
    let events = app.audit("patient.history").await;
    events.iter().filter(|(_, resource, _)| resource.map(|r| r.to_string()).as_deref() == Some(id)).count()
}

#[tokio::test]
async fn rest_versions_list_every_version_newest_first_with_who_made_it() {
    let (app, mailbox) = app_with_mail().await;
    let clinic = clinic(&app, "owner@example.com", "Hillside").await;
    let desk = join(&app, &mailbox, &clinic, "desk@example.com", "front_desk").await;
    let patient = org_patient(&app, &clinic.owner, &clinic.id, Some("first notes")).await;
    let id = patient["id"].as_str().unwrap().to_owned();
    let path = format!("/api/patients/{id}");
    app.put(&path, &json!({"phone": "+1 555 0100"}), Some(&desk)).await.expect(200, "updated");
    app.put(&path, &json!({"notes": "second notes", "name": "Org Patient Renamed"}), Some(&clinic.owner))
        .await
        .expect(200, "updated");
    let versions = format!("{path}/versions");

    let listed = app.get(&versions, Some(&clinic.owner)).await;
    listed.expect(200, "success");
    let page = listed.data();
    assert_eq!(versions_of(page), [3, 2, 1]);
    let owner_id = app.get("/api/auth/me", Some(&clinic.owner)).await.data()["id"].clone();
    let desk_id = app.get("/api/auth/me", Some(&desk)).await.data()["id"].clone();
    let items = page["items"].as_array().unwrap();
    let made_by: Vec<&Value> = items.iter().map(|v| &v["changed_by"]).collect();
    assert_eq!(made_by, [&owner_id, &desk_id, &owner_id]);
    assert_eq!(items[0]["name"], "Org Patient Renamed");
    assert_eq!((&items[1]["phone"], &items[1]["notes"]), (&json!("+1 555 0100"), &json!("first notes")));
    assert_eq!((&items[2]["phone"], &items[2]["name"]), (&Value::Null, &json!("Org Patient")));
    assert_eq!(items[2]["organization_id"], json!(clinic.id));
    let mut keys: Vec<&String> = items[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "address",
            "changed_at",
            "changed_by",
            "date_of_birth",
            "email",
            "gender",
            "identifiers",
            "name",
            "notes",
            "organization_id",
            "phone",
            "restricted",
            "version"
        ]
    );
    let times: Vec<&str> = items.iter().map(|v| v["changed_at"].as_str().unwrap()).collect();
    assert!(times[0] > times[1] && times[1] > times[2], "{times:?}");

    // Front desk reads the versions, never their notes.
    let seen_by_desk = app.get(&versions, Some(&desk)).await;
    seen_by_desk.expect(200, "success");
    assert!(seen_by_desk.data()["items"].as_array().unwrap().iter().all(|v| v.get("notes").is_none()));

    // Paged: one at a time, by cursor, to the end.
    let (mut walked, mut url) = (Vec::new(), format!("{versions}?limit=1"));
    loop {
        let page = app.get(&url, Some(&clinic.owner)).await;
        page.expect(200, "success");
        walked.extend(versions_of(page.data()));
        match page.data()["next_cursor"].as_str() {
            Some(cursor) => url = format!("{versions}?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(walked, [3, 2, 1]);
    app.get(&format!("{versions}?cursor=garbage"), Some(&clinic.owner)).await.expect(400, "invalid");
    app.get(&format!("{versions}?limit=0"), Some(&clinic.owner)).await.expect(400, "invalid");
    app.get(&format!("{versions}?since=1"), Some(&clinic.owner)).await.expect(400, "invalid");

    // Nobody else reaches them; an audited event per request that ran, found or not.
    let stranger = app.user_token("eve@example.com").await;
    app.get(&versions, Some(&stranger)).await.expect(404, "not_found");
    app.get("/api/patients/not-a-uuid/versions", Some(&clinic.owner)).await.expect(400, "invalid");
    let before = history_events(&app, &id).await;
    assert_eq!(before, 2 + 3 + 1, "the two lists, three pages, the stranger's");
    let outcomes: Vec<String> = app.audit("patient.history").await.into_iter().map(|(_, _, outcome)| outcome).collect();
    assert_eq!(outcomes.iter().filter(|o| *o == "not_found").count(), 1, "{outcomes:?}");

    // Deleted: its versions go with it.
    app.delete(&path, Some(&clinic.owner)).await.expect(200, "deleted");
    app.get(&versions, Some(&clinic.owner)).await.expect(404, "not_found");
}

#[tokio::test]
async fn fhir_history_is_a_paged_history_bundle_of_the_same_versions() {
    let (app, _) = app_with_mail().await;
    let token = app.user_token("ada@example.com").await;
    let body = json!({"resourceType": "Patient", "name": [{"text": "Ada King"}], "birthDate": "1990-12-10"});
    let id = app.fhir_create(&token, &body).await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/fhir/Patient/{id}");
    for name in ["Ada Lovelace", "Augusta Ada Lovelace"] {
        app.put(&format!("/api/patients/{id}"), &json!({ "name": name }), Some(&token)).await.expect(200, "updated");
    }
    let history = app.fhir_get(&format!("{path}/_history"), &token).await;
    let bundle = history.expect(200, None);
    assert_eq!((&bundle["resourceType"], &bundle["type"]), (&json!("Bundle"), &json!("history")));
    let entries = bundle["entry"].as_array().unwrap();
    let summary: Vec<(String, String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["resource"]["meta"]["versionId"].as_str().unwrap().to_owned(),
                e["request"]["method"].as_str().unwrap().to_owned(),
                e["response"]["status"].as_str().unwrap().to_owned(),
                e["response"]["etag"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected =
        [("3", "PUT", "200 OK", "W/\"3\""), ("2", "PUT", "200 OK", "W/\"2\""), ("1", "POST", "201 Created", "W/\"1\"")];
    let expected: Vec<(String, String, String, String)> =
        expected.iter().map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string())).collect();
    assert_eq!(summary, expected);
    assert_eq!(entries[0]["request"]["url"], format!("Patient/{id}"));
    assert_eq!(entries[2]["request"]["url"], "Patient");
    assert_eq!(entries[2]["resource"]["name"][0]["text"], "Ada King");
    for entry in entries {
        assert!(entry["fullUrl"].as_str().unwrap().ends_with(&path), "{entry}");
        assert!(entry.get("search").is_none(), "search is a searchset's only (bdl-2)");
        assert_eq!(entry["response"]["lastModified"], entry["resource"]["meta"]["lastUpdated"]);
    }

    // Paged like searches: `next` until the first version.
    let first = app.fhir_get(&format!("{path}/_history?_count=2"), &token).await.body;
    assert_eq!(first["entry"].as_array().unwrap().len(), 2);
    let next = first["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next").expect("a next link");
    let next = next["url"].as_str().unwrap();
    let rest = app.fhir_get(&next[next.find("/api/").unwrap()..], &token).await.body;
    let versions: Vec<&str> = rest["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1"]);
    assert!(rest["link"].as_array().unwrap().iter().all(|l| l["relation"] != "next"));

    app.fhir_get(&format!("{path}/_history?_since=2020-01-01"), &token).await.expect(400, Some("invalid"));
    let other = app.user_token("eve@example.com").await;
    app.fhir_get(&format!("{path}/_history"), &other).await.expect(404, Some("not-found"));
    app.fhir(Method::DELETE, &path).token(&token).send().await.expect(204, None);
    app.fhir_get(&format!("{path}/_history"), &token).await.expect(404, Some("not-found"));
    assert_eq!(history_events(&app, &id).await, 5, "each history request that ran, once: three pages, two 404s");
}
