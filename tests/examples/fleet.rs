//! The fleet simulation's driver (`scripts/fleet` builds and runs it; docs/SCALE.md).
//! Each simulated Lambda instance is what a function's cold start makes - its own
//! `AppState` and pool of `DB_POOL_SIZE` 2 over TLS - serving the real Router one request
//! at a time, as a Lambda instance does. All of them go through one pooler configured
//! like Neon's, while a sampler watches the pooler's and Postgres's connection counts.
//!
//!     fleet setup  --direct-url URL
//!     fleet steady --pooled-url URL --direct-url URL --admin-url URL --ca-file PATH
//!                  --instances N --seconds S [--workload read|audit-list]
//!     fleet storm  --pooled-url URL --direct-url URL --admin-url URL --ca-file PATH --instances N
//!
//! Each prints one JSON object on stdout.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_tests::{TestApp, settings};
use serde_json::{Value, json};

/// Users the instances act for, each with one patient: enough that reads spread over
/// many rows and sessions, as a clinic's would.
const USERS: usize = 100;
const PASSWORD: &str = "fleet password 1";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    log_counter::install();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async {
        match args.first().map(String::as_str) {
            Some("setup") => setup(&Args::parse(&args[1..])?).await,
            Some("steady") => steady(&Args::parse(&args[1..])?).await,
            Some("storm") => storm(&Args::parse(&args[1..])?).await,
            _ => Err("usage: fleet setup|steady|storm --flags (see the top of tests/examples/fleet.rs)".into()),
        }
    });
    match result {
        Ok(value) => println!("{value}"),
        Err(e) => {
            eprintln!("fleet: {e}");
            std::process::exit(2);
        }
    }
}

struct Args(BTreeMap<String, String>);

impl Args {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for pair in args.chunks(2) {
            match pair {
                [flag, value] if flag.starts_with("--") => map.insert(flag[2..].to_string(), value.clone()),
                _ => return Err(format!("expected --flag value pairs, got {pair:?}")),
            };
        }
        Ok(Self(map))
    }

    fn get(&self, name: &str) -> Result<&str, String> {
        self.0.get(name).map(String::as_str).ok_or_else(|| format!("--{name} is required"))
    }

    fn number(&self, name: &str) -> Result<usize, String> {
        self.get(name)?.parse().map_err(|_| format!("--{name} must be a number"))
    }
}

fn email(user: usize) -> String {
    format!("fleet{user}@example.com")
}

/// An instance as a cold start makes it, through the pooler.
fn instance(args: &Args) -> Result<TestApp, String> {
    let url = args.get("pooled-url")?.to_string();
    let ca = args.get("ca-file")?;
    Ok(TestApp::with_settings(settings(&url, &[("DB_POOL_SIZE", "2"), ("DATABASE_CA_FILE", ca)]), url))
}

/// Migrates, registers the users (user 0 is made an admin) and gives each a patient.
async fn setup(args: &Args) -> Result<Value, String> {
    let url = args.get("direct-url")?.to_string();
    let mut client = ops::connect(&url, None).await?;
    ops::migrate(&mut client).await.map_err(|e| e.to_string())?;
    let app = TestApp::with_settings(settings(&url, &[]), url);
    for user in 0..USERS {
        let body = json!({"name": format!("Fleet {user}"), "email": email(user), "password": PASSWORD});
        let registered = app.post("/api/auth/register", &body, None).await;
        if registered.status.as_u16() == 409 {
            continue; // a second setup on the same database
        }
        let token = registered.expect(201, "created").data()["access_token"].as_str().unwrap_or_default().to_string();
        let patient = json!({"name": format!("Patient {user}"), "date_of_birth": "1970-01-01"});
        app.post("/api/patients", &patient, Some(&token)).await.expect(201, "created");
    }
    ops::make_admin(&client, &email(0)).await?;
    Ok(json!({ "users": USERS }))
}

/// A signed-in user and the patient they own.
struct Actor {
    token: String,
    patient: String,
}

async fn sign_in(app: &TestApp) -> Result<Vec<Actor>, String> {
    let mut actors = Vec::new();
    for user in 0..USERS {
        let login = app.post("/api/auth/login", &json!({"email": email(user), "password": PASSWORD}), None).await;
        let token =
            login.data()["access_token"].as_str().ok_or(format!("login {user}: {:?}", login.status))?.to_string();
        let list = app.get("/api/patients", Some(&token)).await;
        let patient =
            list.data()["items"][0]["id"].as_str().ok_or(format!("user {user} has no patient: run setup"))?.to_string();
        actors.push(Actor { token, patient });
    }
    Ok(actors)
}

/// What every instance saw, merged.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, status: u16, latency: Duration) {
        self.latencies_us.push(latency.as_micros() as u64);
        *self.statuses.entry(status.to_string()).or_default() += 1;
    }

    fn percentile_ms(&mut self, p: f64) -> f64 {
        percentile_ms(&mut self.latencies_us, p)
    }
}

fn percentile_ms(latencies_us: &mut [u64], p: f64) -> f64 {
    latencies_us.sort_unstable();
    match latencies_us.len() {
        0 => 0.0,
        n => latencies_us[((n - 1) as f64 * p).round() as usize] as f64 / 1000.0,
    }
}

async fn steady(args: &Args) -> Result<Value, String> {
    let instances = args.number("instances")?;
    let seconds = args.number("seconds")?;
    let workload = args.0.get("workload").map(String::as_str).unwrap_or("read").to_string();
    if !["read", "audit-list"].contains(&workload.as_str()) {
        return Err(format!("unknown workload {workload}"));
    }
    let seed = TestApp::with_settings(settings(args.get("direct-url")?, &[]), args.get("direct-url")?.into());
    let actors = Arc::new(sign_in(&seed).await?);
    let apps: Vec<TestApp> = (0..instances).map(|_| instance(args)).collect::<Result<_, _>>()?;
    // Warm: each instance opens its connection first, as a Lambda's init does.
    futures::future::join_all(
        apps.iter().map(|app| app.state.db.open_first(app.state.settings.db_init_connect_timeout)),
    )
    .await;

    let sampler = Sampler::start(args).await?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds as u64);
    let started = Instant::now();
    let tasks = apps.into_iter().enumerate().map(|(i, app)| {
        let (actors, tally, workload) = (actors.clone(), tally.clone(), workload.clone());
        tokio::spawn(async move {
            let actor = &actors[i % USERS];
            let admin = &actors[0];
            let mut local = Tally::default();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = match workload.as_str() {
                    "read" => app.get(&format!("/api/patients/{}", actor.patient), Some(&actor.token)).await,
                    _ => app.get("/api/admin/audit?action=patient.read&limit=50", Some(&admin.token)).await,
                };
                local.add(response.status.as_u16(), sent.elapsed());
            }
            let mut all = tally.lock().unwrap();
            all.latencies_us.extend(local.latencies_us);
            for (status, n) in local.statuses {
                *all.statuses.entry(status).or_default() += n;
            }
        })
    });
    futures::future::join_all(tasks).await;
    let elapsed = started.elapsed().as_secs_f64();
    let watched = sampler.stop().await;
    let mut tally = Arc::try_unwrap(tally).map_err(|_| "tally still shared")?.into_inner().unwrap();
    let requests = tally.latencies_us.len();
    Ok(json!({
        "mode": "steady", "workload": workload, "instances": instances, "seconds": seconds,
        "requests": requests, "rps": requests as f64 / elapsed,
        "p50_ms": tally.percentile_ms(0.50), "p99_ms": tally.percentile_ms(0.99), "max_ms": tally.percentile_ms(1.0),
        "statuses": tally.statuses, "errors": errors(),
        "pooler": watched.pooler, "postgres_connections_max": watched.postgres_max,
    }))
}

/// N instances cold at once: each opens its connection (TLS and SCRAM through the
/// pooler) as init does, then serves its first request.
async fn storm(args: &Args) -> Result<Value, String> {
    let instances = args.number("instances")?;
    let seed = TestApp::with_settings(settings(args.get("direct-url")?, &[]), args.get("direct-url")?.into());
    let actors = Arc::new(sign_in(&seed).await?);
    let sampler = Sampler::start(args).await?;
    let started = Instant::now();
    let tasks = (0..instances).map(|i| {
        let actors = actors.clone();
        let app = instance(args);
        tokio::spawn(async move {
            let app = app?;
            // What a Lambda's init does (shared::lambda), with its longer timeout.
            let connect = Instant::now();
            let opened = app.state.db.open_first(app.state.settings.db_init_connect_timeout).await;
            let connect = connect.elapsed();
            let actor = &actors[i % USERS];
            let first = app.get(&format!("/api/patients/{}", actor.patient), Some(&actor.token)).await;
            Ok::<_, String>((connect, opened, first.status.as_u16(), started.elapsed()))
        })
    });
    let outcomes = futures::future::join_all(tasks).await;
    let watched = sampler.stop().await;

    let mut connects_us = Vec::new();
    let mut first = BTreeMap::<String, u64>::new();
    let mut failures = BTreeMap::<String, u64>::new();
    let mut all_serving = Some(Duration::ZERO);
    for outcome in outcomes {
        let (connect, opened, status, done) = outcome.map_err(|e| e.to_string())??;
        connects_us.push(connect.as_micros() as u64);
        if let Err(e) = opened {
            *failures.entry(e.to_string()).or_default() += 1;
        }
        *first.entry(status.to_string()).or_default() += 1;
        all_serving = match status {
            200 => all_serving.map(|d| d.max(done)),
            _ => None,
        };
    }
    Ok(json!({
        "mode": "storm", "instances": instances,
        "all_serving_ms": all_serving.map(|d| d.as_secs_f64() * 1000.0),
        "connect_p50_ms": percentile_ms(&mut connects_us, 0.50), "connect_p99_ms": percentile_ms(&mut connects_us, 0.99),
        "connect_failures": failures.values().sum::<u64>(), "connect_errors": failures,
        "first_request_statuses": first, "errors": errors(),
        "pooler": watched.pooler, "postgres_connections_max": watched.postgres_max,
    }))
}

/// Warnings and errors the instances logged, by message: what failed, and how often.
fn errors() -> Value {
    json!(log_counter::counts())
}

struct Watched {
    pooler: Value,
    postgres_max: i64,
}

/// Polls the pooler's `SHOW POOLS` and Postgres's connection count every 200 ms.
struct Sampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Watched>,
}

impl Sampler {
    async fn start(args: &Args) -> Result<Self, String> {
        let admin = admin_client(args.get("admin-url")?, args.get("ca-file")?).await?;
        let (direct, connection) =
            tokio_postgres::connect(args.get("direct-url")?, tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut max = BTreeMap::<&str, f64>::new();
            let mut postgres_max = 0;
            loop {
                if let Ok(messages) = admin.simple_query("SHOW POOLS").await {
                    let mut sums = BTreeMap::<&str, f64>::new();
                    for message in messages {
                        if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                            if row.get("database") != Some("fleet") {
                                continue;
                            }
                            for column in ["cl_active", "cl_waiting", "sv_active", "sv_idle"] {
                                *sums.entry(column).or_default() += number(row.get(column));
                            }
                            let wait = number(row.get("maxwait")) * 1000.0 + number(row.get("maxwait_us")) / 1000.0;
                            let entry = sums.entry("maxwait_ms").or_default();
                            *entry = entry.max(wait);
                        }
                    }
                    for (column, value) in sums {
                        let entry = max.entry(column).or_default();
                        *entry = entry.max(value);
                    }
                }
                if let Ok(row) = direct
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'fleet' AND pid <> pg_backend_pid()",
                        &[],
                    )
                    .await
                {
                    postgres_max = postgres_max.max(row.get::<_, i64>(0));
                }
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            let pooler = json!({
                "cl_active_max": max.get("cl_active"), "cl_waiting_max": max.get("cl_waiting"),
                "sv_active_max": max.get("sv_active"), "sv_idle_max": max.get("sv_idle"),
                "maxwait_ms_max": max.get("maxwait_ms"),
            });
            Watched { pooler, postgres_max }
        });
        Ok(Self { stop, task })
    }

    async fn stop(self) -> Watched {
        let _ = self.stop.send(());
        self.task.await.expect("sampler")
    }
}

fn number(value: Option<&str>) -> f64 {
    value.and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// The pooler's admin console: simple-query only, and over TLS like every client.
async fn admin_client(url: &str, ca_file: &str) -> Result<tokio_postgres::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca_file).map_err(|e| format!("{ca_file}: {e}"))?;
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(config);
    let (client, connection) = tokio_postgres::connect(url, tls).await.map_err(|e| format!("pooler admin: {e}"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// A tracing layer that counts WARN and ERROR events by message.
mod log_counter {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::SubscriberExt;

    static COUNTS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

    pub fn counts() -> BTreeMap<String, u64> {
        COUNTS.lock().unwrap().clone()
    }

    struct Counter;

    #[derive(Default)]
    struct Message(String);

    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counter {
        fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            if *event.metadata().level() <= tracing::Level::WARN {
                let mut message = Message::default();
                event.record(&mut message);
                *COUNTS.lock().unwrap().entry(message.0).or_default() += 1;
            }
        }
    }

    pub fn install() {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Counter));
    }
}
