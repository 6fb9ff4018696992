//! The real function binaries, under cargo lambda's Runtime API emulator, answering real
//! API Gateway v2 payloads (from `events/`), EventBridge scheduled events and the
//! constant warmup; and taking their secrets from a local Secrets Manager (moto).

use api_tests::lambda::{Emulator, event, http_answer};
use api_tests::{JWT_SECRET, fresh_database};
use serde_json::{Value, json};

/// The HTTP functions' names, from the one list.
fn functions() -> impl Iterator<Item = &'static str> {
    local_api::FUNCTIONS.iter().map(|f| f.name)
}

fn with_token(mut event: Value, token: &str) -> Value {
    event["headers"]["authorization"] = json!(format!("Bearer {token}"));
    event
}

#[tokio::test]
async fn auth_and_patients_binaries_answer_api_gateway_events() {
    let database_url = fresh_database().await;
    let env = [("DATABASE_URL", database_url.as_str()), ("JWT_SECRET", JWT_SECRET)];
    let mut emulator = Emulator::start().await;
    emulator.spawn("auth", "auth", &env);
    emulator.spawn("patients", "patients", &env);

    let register = event("auth-register.json");
    let response = emulator.invoke("auth", &register).await.unwrap();
    let (status, body) = http_answer(&response);
    assert_eq!((status, body["status"].as_str()), (201, Some("created")), "{body}");
    // The request id is API Gateway's, from the event's request context.
    assert_eq!(response["headers"]["x-request-id"], register["requestContext"]["requestId"]);
    assert_eq!(response["headers"]["cache-control"], "no-store");

    let (status, body) = http_answer(&emulator.invoke("auth", &event("auth-login.json")).await.unwrap());
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["access_token"].as_str().unwrap().to_string();

    let (status, created) =
        http_answer(&emulator.invoke("patients", &with_token(event("patients-create.json"), &token)).await.unwrap());
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap();

    let mut get = with_token(event("patients-get.json"), &token);
    let path = format!("/api/patients/{id}");
    get["rawPath"] = json!(path);
    get["requestContext"]["http"]["path"] = json!(path);
    let (status, read) = http_answer(&emulator.invoke("patients", &get).await.unwrap());
    assert_eq!((status, &read["data"]["name"]), (200, &json!("Grace Hopper")), "{read}");

    let (status, list) =
        http_answer(&emulator.invoke("patients", &with_token(event("patients-list.json"), &token)).await.unwrap());
    assert_eq!((status, list["data"]["items"].as_array().map(Vec::len)), (200, Some(1)));
    // Without the token, the same binary says 401 in the envelope.
    let (status, _) = http_answer(&emulator.invoke("patients", &event("patients-create.json")).await.unwrap());
    assert_eq!(status, 401);
}

/// The first connection is opened during init; a database that is down then must not
/// stop the function from starting: it answers warmups (saying so) and requests.
#[tokio::test]
async fn a_function_starts_and_answers_while_the_database_is_down() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("postgres://nobody:secret@127.0.0.1:{port}/none?sslmode=disable");
    let env = [("DATABASE_URL", url.as_str()), ("JWT_SECRET", JWT_SECRET), ("DB_CONNECT_TIMEOUT_MS", "300")];
    let mut emulator = Emulator::start().await;
    emulator.spawn("patients", "patients", &env);
    let answer = emulator.invoke("patients", &event("warmup.json")).await.unwrap();
    assert_eq!(answer, json!({"warmup": "done", "database": "unreachable"}));
    let (status, body) = http_answer(&emulator.invoke("patients", &event("patients-list.json")).await.unwrap());
    assert_eq!(status, 401, "the token is checked before the database is needed: {body}");
}

/// On Lambda the links of a searchset come from the event's `host` and
/// `x-forwarded-proto` headers, as API Gateway sends them.
#[tokio::test]
async fn the_fhir_binary_answers_in_fhir_with_links_on_the_api_gateway_host() {
    let database_url = fresh_database().await;
    let env = [("DATABASE_URL", database_url.as_str()), ("JWT_SECRET", JWT_SECRET)];
    let mut emulator = Emulator::start().await;
    emulator.spawn("auth", "auth", &env);
    emulator.spawn("fhir", "fhir", &env);
    let (_, body) = http_answer(&emulator.invoke("auth", &event("auth-register.json")).await.unwrap());
    let token = body["data"]["access_token"].as_str().unwrap().to_string();

    let response = emulator.invoke("fhir", &event("fhir-metadata.json")).await.unwrap();
    assert_eq!(response["headers"]["content-type"], "application/fhir+json; charset=utf-8");
    let (status, metadata) = http_answer(&response);
    assert_eq!((status, &metadata["resourceType"]), (200, &json!("CapabilityStatement")), "{metadata}");

    let response = emulator.invoke("fhir", &with_token(event("fhir-patient-create.json"), &token)).await.unwrap();
    let (status, patient) = http_answer(&response);
    assert_eq!((status, &patient["name"][0]["text"]), (201, &json!("Ada Lovelace")), "{patient}");
    assert_eq!(response["headers"]["etag"], "W/\"1\"");

    let (status, bundle) =
        http_answer(&emulator.invoke("fhir", &with_token(event("fhir-patient-search.json"), &token)).await.unwrap());
    assert_eq!(status, 200, "{bundle}");
    let host = "https://abc123.execute-api.us-east-1.amazonaws.com";
    assert_eq!(bundle["link"][0]["url"], format!("{host}/api/fhir/Patient?name=lovelace&_count=2"));
    assert_eq!(bundle["entry"][0]["fullUrl"], format!("{host}/api/fhir/Patient/{}", patient["id"].as_str().unwrap()));

    let (status, outcome) = http_answer(&emulator.invoke("fhir", &event("fhir-patient-search.json")).await.unwrap());
    assert_eq!((status, &outcome["issue"][0]["code"]), (401, &json!("login")), "{outcome}");
}

#[tokio::test]
async fn every_binary_answers_warmups_without_touching_the_router() {
    let database_url = fresh_database().await;
    let env = [("DATABASE_URL", database_url.as_str()), ("JWT_SECRET", JWT_SECRET)];
    let mut emulator = Emulator::start().await;
    for name in functions() {
        emulator.spawn(name, name, &env);
    }
    for name in functions() {
        for warmup in [event("scheduled.json"), event("warmup.json")] {
            let answer = emulator.invoke(name, &warmup).await.unwrap();
            assert_eq!(answer, json!({"warmup": "done", "database": "ok"}), "{name}");
        }
    }
    // A client cannot pose as a warmup: its request is routed like any other.
    let mut posing = event("health.json");
    posing["headers"]["source"] = json!("aws.events");
    posing["headers"]["detail-type"] = json!("Scheduled Event");
    posing["body"] = json!("{\"warmup\": true}");
    let (status, body) = http_answer(&emulator.invoke("auth", &posing).await.unwrap());
    assert_eq!((status, body["data"]["database"].as_str()), (200, Some("ok")), "health answered, as a request");
    // Anything that is neither is refused as an invocation error, not answered.
    assert!(emulator.invoke("auth", &json!({"hello": "world"})).await.is_err());
}

async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "AWS_ENDPOINT_URL is not set: run the tests through scripts/test"
    );
    aws_sdk_secretsmanager::Client::new(&aws_config::load_from_env().await)
}

async fn put_secret(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    let name = format!("healthcare/test/{}", uuid::Uuid::now_v7());
    let created = client.create_secret().name(&name).secret_string(value).send().await.unwrap();
    created.arn().unwrap().to_string()
}

#[tokio::test]
async fn a_cold_start_reads_both_secrets_from_secrets_manager() {
    let client = secrets_client().await;
    let database_url = fresh_database().await;
    let jwt_secret = "a-jwt-secret-that-only-secrets-manager-knows";
    let database_arn = put_secret(&client, &json!({"url": database_url, "username": "ignored"}).to_string()).await;
    let jwt_arn = put_secret(&client, jwt_secret).await;

    let mut emulator = Emulator::start().await;
    emulator.spawn("auth", "auth", &[("DATABASE_SECRET_ARN", &database_arn), ("JWT_SECRET_ARN", &jwt_arn)]);
    let (status, body) = http_answer(&emulator.invoke("auth", &event("auth-register.json")).await.unwrap());
    assert_eq!(status, 201, "{body}");
    // The token is signed with the key from Secrets Manager.
    let token = body["data"]["access_token"].as_str().unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["healthcare-api"]);
    jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(jwt_secret.as_bytes()), &validation)
        .expect("signed with the secret from Secrets Manager");
}

#[tokio::test]
async fn settings_accept_plain_and_json_secrets_and_explain_bad_ones() {
    let client = secrets_client().await;
    let key = "k".repeat(40);
    let plain_db = put_secret(&client, "postgres://u:p@db.example.com/app?sslmode=require").await;
    let json_jwt = put_secret(&client, &json!({"secret": key}).to_string()).await;
    let lookup =
        |pairs: Vec<(&'static str, String)>| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());

    let settings = shared::Settings::load_with(lookup(vec![
        ("DATABASE_SECRET_ARN", plain_db.clone()),
        ("JWT_SECRET_ARN", json_jwt),
    ]))
    .await
    .unwrap();
    assert_eq!(settings.database_url.expose(), "postgres://u:p@db.example.com/app?sslmode=require");
    assert_eq!(settings.jwt_secret.expose(), key);

    // One from Secrets Manager, the other from the environment.
    let mixed = shared::Settings::load_with(lookup(vec![
        ("DATABASE_SECRET_ARN", plain_db.clone()),
        ("JWT_SECRET", key.clone()),
    ]))
    .await
    .unwrap();
    assert_eq!(mixed.jwt_secret.expose(), key);

    // One JSON secret may hold both values, named by its name rather than its ARN.
    let both =
        put_secret(&client, &json!({"url": "postgres://both@db.example.com/app", "secret": key}).to_string()).await;
    let both_name = client.describe_secret().secret_id(&both).send().await.unwrap().name().unwrap().to_string();
    let shared_secret = shared::Settings::load_with(lookup(vec![
        ("DATABASE_SECRET_ARN", both_name.clone()),
        ("JWT_SECRET_ARN", both_name),
    ]))
    .await
    .unwrap();
    assert_eq!(shared_secret.database_url.expose(), "postgres://both@db.example.com/app");
    assert_eq!(shared_secret.jwt_secret.expose(), key);

    // A missing secret is named, with Secrets Manager's reason, also beside one that exists.
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist";
    let err =
        shared::Settings::load_with(lookup(vec![("DATABASE_SECRET_ARN", missing.into()), ("JWT_SECRET", key.clone())]))
            .await
            .unwrap_err();
    assert!(err.to_string().contains("does-not-exist"), "{err}");
    let err = shared::Settings::load_with(lookup(vec![
        ("DATABASE_SECRET_ARN", plain_db.clone()),
        ("JWT_SECRET_ARN", missing.into()),
    ]))
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("secret arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist"), "{err}");
    assert!(err.contains("ResourceNotFoundException"), "{err}");

    let wrong_shape = put_secret(&client, &json!({"password": "hunter2"}).to_string()).await;
    let err = shared::Settings::load_with(lookup(vec![("DATABASE_SECRET_ARN", wrong_shape), ("JWT_SECRET", key)]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("url") && !err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn a_missing_secret_fails_the_cold_start_with_a_clear_log_line() {
    let _ = secrets_client().await;
    let mut emulator = Emulator::start().await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope";
    let child = emulator.spawn("auth", "auth", &[("DATABASE_SECRET_ARN", arn), ("JWT_SECRET", JWT_SECRET)]);
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait()).await.expect("exits").unwrap();
    assert!(!status.success());
    let mut out = String::new();
    use tokio::io::AsyncReadExt;
    child.stdout.take().unwrap().read_to_string(&mut out).await.unwrap();
    child.stderr.take().unwrap().read_to_string(&mut out).await.unwrap();
    assert!(out.contains("cold start failed") && out.contains("secret:nope"), "{out}");
}

#[tokio::test]
async fn the_operator_binary_migrates_and_makes_admins() {
    // Operators get the direct URL (docs/DEPLOY.md): migrations need one server connection.
    let database_url = api_tests::direct_url(&fresh_database().await);
    let mut emulator = Emulator::start().await;
    emulator.spawn("operator", "operator", &[("DATABASE_URL", &database_url)]);
    let answer = emulator.invoke("operator", &event("operator-migrate.json")).await.unwrap();
    assert_eq!(answer, json!({"ok": true, "message": "migrations: already up to date"}));
    let refused = emulator.invoke("operator", &event("operator-make-admin.json")).await.unwrap_err();
    assert!(refused.contains("register first"), "{refused}");
    let maintained = emulator.invoke("operator", &json!({"command": "maintain"})).await.unwrap();
    let message = maintained["message"].as_str().unwrap();
    assert!(
        message.starts_with("pruned 0 sessions") && message.contains("audit partitions created: none"),
        "{message}"
    );
    assert!(emulator.invoke("operator", &json!({"command": "drop-everything"})).await.is_err());
}

/// The operator's mail schedule on the real binary: what a request could not send (SES
/// down) goes out on `deliver-mail`, opened with the data key it was sealed under.
#[tokio::test]
async fn the_operator_binary_delivers_queued_mail() {
    let url = fresh_database().await;
    let down = [("MAIL_FROM", "no-reply@clinic.example"), ("AWS_ENDPOINT_URL_SESV2", "http://127.0.0.1:9")];
    let app = api_tests::TestApp::with_settings(api_tests::settings(&url, &down), url.clone());
    app.register("Ada", "ada@example.com").await;
    app.sql().await.execute("UPDATE mail_outbox SET next_attempt_at = now()", &[]).await.unwrap();

    let mailbox = std::env::temp_dir().join(format!("healthcare-operator-mail-{}", uuid::Uuid::now_v7()));
    let mut emulator = Emulator::start().await;
    let env = [
        ("DATABASE_URL", api_tests::direct_url(&url)),
        ("MAIL_DIR", mailbox.to_string_lossy().into_owned()),
        ("DATA_KEY", api_tests::DATA_KEY.to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    emulator.spawn("operator", "operator", &env);
    let answer = emulator.invoke("operator", &event("operator-deliver-mail.json")).await.unwrap();
    assert_eq!(answer, json!({"ok": true, "message": "mail: 1 sent, 0 failed, 0 still queued"}));
    let sent: Vec<_> = std::fs::read_dir(&mailbox).unwrap().collect();
    assert_eq!(sent.len(), 1, "the verification email, once");
    let text = std::fs::read_to_string(sent[0].as_ref().unwrap().path()).unwrap();
    assert!(text.contains("ada@example.com") && text.contains("verify-email?token="), "{text}");
    let _ = std::fs::remove_dir_all(mailbox);
}

/// Bulk export across the real binaries: the fhir binary's kick-off starts the export
/// binary through the Lambda invoke API (cargo lambda's emulator stands in for Lambda),
/// which writes the files to S3 (moto); the fhir binary then answers the manifest.
#[tokio::test]
async fn the_fhir_binary_starts_the_export_binary_which_writes_the_files() {
    let url = fresh_database().await;
    let export = crate::bulk_export::export_settings(1 << 20).await;
    let bucket = export[0].1.clone();
    let app = api_tests::TestApp::with_settings(api_tests::settings(&url, &[]), url.clone());
    let token = app.user_token("ada@example.com").await;
    app.create_patient(&token, "Grace Hopper").await;

    let mut emulator = Emulator::start().await;
    let lambda_api = format!("http://127.0.0.1:{}", emulator.port());
    let database_url = api_tests::direct_url(&url);
    emulator.spawn("export", "export", &[("DATABASE_URL", &database_url), ("EXPORT_BUCKET", &bucket)]);
    emulator.spawn(
        "fhir",
        "fhir",
        &[
            ("DATABASE_URL", &database_url),
            ("JWT_SECRET", JWT_SECRET),
            ("EXPORT_BUCKET", &bucket),
            ("EXPORT_FUNCTION", "export"),
            ("AWS_ENDPOINT_URL_LAMBDA", &lambda_api),
        ],
    );
    let mut kick_off = event("fhir-metadata.json");
    kick_off["rawPath"] = json!("/api/fhir/Patient/$export");
    kick_off["requestContext"]["http"]["path"] = json!("/api/fhir/Patient/$export");
    kick_off["headers"]["authorization"] = json!(format!("Bearer {token}"));
    kick_off["headers"]["prefer"] = json!("respond-async");
    let started = emulator.invoke("fhir", &kick_off).await.unwrap();
    assert_eq!(started["statusCode"], 202, "{started:#}");
    let location = started["headers"]["content-location"].as_str().unwrap().to_owned();
    let job: uuid::Uuid = location.rsplit('/').next().unwrap().parse().unwrap();
    let sql = app.sql().await;
    let mut state = String::new();
    for _ in 0..200 {
        state = sql.query_one("SELECT state FROM export_jobs WHERE id = $1", &[&job]).await.unwrap().get(0);
        if state == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(state, "done", "the export binary ran the job");
    let mut status = kick_off.clone();
    let path = &location[location.find("/api/").unwrap()..];
    status["rawPath"] = json!(path);
    status["requestContext"]["http"]["path"] = json!(path);
    let manifest = emulator.invoke("fhir", &status).await.unwrap();
    assert_eq!(manifest["statusCode"], 200, "{manifest:#}");
    let manifest: Value = serde_json::from_str(manifest["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (manifest["output"][0]["type"].as_str(), manifest["output"][0]["count"].as_i64()),
        (Some("Patient"), Some(1))
    );
}
