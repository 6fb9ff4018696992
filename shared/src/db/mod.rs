//! The connection pool, built once per cold start, and `Db::query`, which runs one
//! statement with retries and a timeout. Handlers reach it through `Statement`
//! (statement.rs: named parameters, the composed session guard and audit event).
//!
//! Why it looks like this:
//! - TLS is rustls with the Mozilla roots (plus `DATABASE_CA_FILE` if set), and follows
//!   the URL's `sslmode`: `disable` locally, `require` on Neon (rustls then verifies the
//!   chain and host name, and sends SNI, which Neon routes by).
//! - Recycling only checks that the socket is still open (free); a verifying `SELECT 1`
//!   would add a round trip to every request. The price: a connection the server killed
//!   while we were idle (Neon suspends idle computes; Lambda freezes us between requests)
//!   is found dead only when used. `Db::query` then retries on a fresh connection, so
//!   the request still succeeds, or answers 503 - never 500.
//! - Past `DB_STATEMENT_TIMEOUT_MS` a statement is cancelled on the server and the
//!   answer is 503; the connection is kept once the cancel has settled.
//! - Handlers use `query_typed*`: one round trip, no named prepared statement, so they
//!   work through Neon's transaction-mode pooler.

use std::sync::Arc;
use std::time::Duration;

mod cancel;
mod statement;
mod template;

pub use deadpool_postgres::Object as Connection;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Timeouts};
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::Row;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::ApiError;
use crate::config::{ConfigError, Secret, Settings};
use crate::error::is_connection_lost;
use cancel::CancelTarget;
pub use statement::{Column, Description, Rendered, Sql, SqlType, Statement};

/// Statement parameters with their types: typed parameters are what let a statement
/// go out in one round trip with no prepare step.
pub type Params<'a> = &'a [(&'a (dyn ToSql + Sync), Type)];

/// Tries per statement when connections keep turning out dead (see `Db::query`).
const ATTEMPTS: u32 = 3;
/// How long a timed-out statement's cancel, and its settling, may take.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Db {
    pool: Pool,
    statement_timeout: Duration,
    /// Where cancel requests for overrunning statements go.
    cancel: CancelTarget,
}

/// Connection-level settings, beside the URL.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
}

impl Db {
    /// Builds the pool; connects lazily, so a cold start costs no round trip here.
    pub fn connect_lazy(settings: &Settings) -> Result<Self, ConfigError> {
        let limits = Limits {
            pool_size: settings.db_pool_size,
            connect_timeout: settings.db_connect_timeout,
            statement_timeout: settings.db_statement_timeout,
        };
        Self::connect_url(&settings.database_url, settings.database_ca_file.as_deref(), limits)
    }

    /// The same, from the parts alone (for operator tools, which have no JWT settings).
    pub fn connect_url(url: &Secret, ca_file: Option<&str>, limits: Limits) -> Result<Self, ConfigError> {
        let mut pg: tokio_postgres::Config = url
            .expose()
            .parse()
            .map_err(|e| ConfigError(format!("DATABASE_URL is not a valid PostgreSQL URL: {e}")))?;
        // No TCP-level connect_timeout: the pool's `create` timeout bounds the whole
        // connection (TCP, TLS, SCRAM), and `open_first` gives init a longer one. A
        // separate 3 s bound on TCP alone failed cold starts in a storm, whose SYNs
        // waited in the pooler's listen backlog (docs/SCALE.md).
        pg.application_name("healthcare-api");
        let host = match pg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => return Err(ConfigError("DATABASE_URL must name a TCP host".into())),
        };
        let port = pg.get_ports().first().copied().unwrap_or(5432);
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let (manager, tls) = if pg.get_ssl_mode() == SslMode::Disable {
            (Manager::from_config(pg, tokio_postgres::NoTls, manager_config), None)
        } else {
            let tls = MakeRustlsConnect::new(tls_config(ca_file)?);
            (Manager::from_config(pg, tls.clone(), manager_config), Some(tls))
        };
        let wait = limits.connect_timeout;
        let timeouts = Timeouts { wait: Some(wait), create: Some(wait), recycle: Some(wait) };
        let pool = Pool::builder(manager)
            .max_size(limits.pool_size)
            .timeouts(timeouts)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| ConfigError(format!("building the database pool: {e}")))?;
        Ok(Self { pool, statement_timeout: limits.statement_timeout, cancel: CancelTarget { host, port, tls } })
    }

    /// A connection of its own, for work that needs a transaction (migrations).
    pub async fn connection(&self) -> Result<Connection, deadpool_postgres::PoolError> {
        self.pool.get().await
    }

    /// Runs one statement and returns its rows.
    ///
    /// - If the connection turns out to be dead, runs it again on a new one, up to
    ///   `ATTEMPTS` times in all. That is safe for our statements: a dead connection fails
    ///   before the server runs anything (closed socket, or the server's termination notice
    ///   read in place of a result), and every handler's work is one statement, which
    ///   commits whole or not at all. More than one retry is for poolers: after a restart,
    ///   PgBouncer hands out each dead server connection once before it notices.
    /// - Past the statement timeout, asks the server to cancel it, discards the
    ///   connection and answers 503. (A server-side `statement_timeout` would be session
    ///   state, which a transaction-mode pooler does not keep.)
    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, ApiError> {
        let started = std::time::Instant::now();
        let result = self.query_with_retries(sql, params).await;
        crate::metrics::add_database_time(started.elapsed());
        result
    }

    async fn query_with_retries(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, ApiError> {
        let mut client = self.pool.get().await?;
        for attempt in 1..=ATTEMPTS {
            match tokio::time::timeout(self.statement_timeout, client.query_typed(sql, params)).await {
                Err(_) => return Err(self.abandon(client).await),
                Ok(Err(e)) if is_connection_lost(&e) && attempt < ATTEMPTS => {
                    tracing::info!(attempt, "database connection was lost; retrying on a new one");
                    drop(Object::take(client));
                    tokio::time::sleep(backoff(attempt)).await;
                    client = self.pool.get().await?;
                }
                Ok(result) => return Ok(result?),
            }
        }
        Err(ApiError::Unavailable)
    }

    /// A statement overran: ask the server to cancel it, then wait (briefly) on the
    /// same connection for the cancelled statement to end - a `SELECT 1` queued behind it
    /// answers once it has. Then the connection is clean and goes back to the pool; if it
    /// does not answer in time, it is discarded. Everything is awaited: a Lambda is frozen
    /// once it answers. Disconnecting while the cancel is in flight is also what crashes
    /// PgBouncer 1.18 (`disconnect_client(): bad client state`), so we never do.
    async fn abandon(&self, client: Connection) -> ApiError {
        tracing::warn!(timeout_ms = self.statement_timeout.as_millis() as u64, "statement timed out; cancelling it");
        let token = client.cancel_token();
        let cancelled = match tokio::time::timeout(CANCEL_GRACE, self.cancel.cancel(&token)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "sending the cancel request failed");
                false
            }
            Err(_) => false,
        };
        let settled = cancelled
            && matches!(tokio::time::timeout(CANCEL_GRACE, client.query_typed("SELECT 1", &[])).await, Ok(Ok(_)));
        if !settled {
            tracing::warn!(cancelled, "a timed-out statement did not settle; discarding its connection");
            drop(Object::take(client));
        }
        ApiError::Unavailable
    }

    /// Opens the pool's first connection now (TCP, TLS, authentication), without a
    /// statement, so the first request finds it open. `timeout` replaces the pool's own
    /// (see `Settings::db_init_connect_timeout`).
    /// The error is the pool's own, whose text says what failed (for the init log).
    pub async fn open_first(&self, timeout: Duration) -> Result<(), deadpool_postgres::PoolError> {
        let timeouts = Timeouts { wait: Some(timeout), create: Some(timeout), recycle: Some(timeout) };
        self.pool.timeout_get(&timeouts).await.map(drop)
    }

    /// Opens a connection if there is none and checks it answers: the health route and
    /// the Lambda warmup.
    pub async fn ping(&self) -> Result<(), ApiError> {
        self.query("SELECT 1", &[]).await.map(drop)
    }
}

/// 10-30 ms times the attempt. The spread matters after a mass disconnect (a pooler or
/// compute restart): every instance finds its connection dead at once, and without it
/// they would all reconnect in the same millisecond. Sub-second clock noise is random
/// enough to spread them; it needs no generator.
fn backoff(attempt: u32) -> Duration {
    let spread =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    Duration::from_millis((10 + u64::from(spread % 21)) * u64::from(attempt))
}

fn tls_config(ca_file: Option<&str>) -> Result<ClientConfig, ConfigError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| ConfigError(format!("DATABASE_CA_FILE {path}: {e}")))?;
        for cert in certs {
            roots.add(cert).map_err(|e| ConfigError(format!("DATABASE_CA_FILE {path}: {e}")))?;
        }
    }
    // An explicit provider: with two compiled in, the implicit builder panics.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
