//! The connection pool, built once per cold start, and `Db::run`, the one way handlers
//! reach Postgres.
//!
//! Why it looks like this:
//! - TLS is rustls with the Mozilla roots (plus `DATABASE_CA_FILE` if set), and follows
//!   the URL's `sslmode`: `disable` locally, `require` on Neon (rustls then verifies the
//!   chain and host name, and sends SNI, which Neon routes by).
//! - Recycling only checks that the socket is still open (free); a verifying `SELECT 1`
//!   would add a round trip to every request. The price: a connection the server killed
//!   while we were idle (Neon suspends idle computes; Lambda freezes us between requests)
//!   is found dead only when used. `Db::run` then retries once on a fresh connection, so
//!   the request still succeeds, or answers 503 - never 500.
//! - Handlers use `query_typed*`: one round trip, no named prepared statement, so they
//!   work through Neon's transaction-mode pooler.

use std::sync::Arc;
use std::time::Duration;

pub use deadpool_postgres::Object as Connection;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Timeouts};
use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::Row;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{ToSql, Type};

use crate::ApiError;
use crate::config::{ConfigError, Secret, Settings};
use crate::error::is_connection_lost;

/// Statement parameters with their types: typed parameters are what let a statement
/// go out in one round trip with no prepare step.
pub type Params<'a> = &'a [(&'a (dyn ToSql + Sync), Type)];

#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl Db {
    /// Builds the pool; connects lazily, so a cold start costs no round trip here.
    pub fn connect_lazy(settings: &Settings) -> Result<Self, ConfigError> {
        Self::connect_url(
            &settings.database_url,
            settings.database_ca_file.as_deref(),
            settings.db_pool_size,
            settings.db_connect_timeout,
        )
    }

    /// The same, from the parts alone (for operator tools, which have no JWT settings).
    pub fn connect_url(
        url: &Secret,
        ca_file: Option<&str>,
        pool_size: usize,
        connect_timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let mut pg: tokio_postgres::Config = url
            .expose()
            .parse()
            .map_err(|e| ConfigError(format!("DATABASE_URL is not a valid PostgreSQL URL: {e}")))?;
        pg.connect_timeout(connect_timeout);
        pg.application_name("healthcare-api");
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = if pg.get_ssl_mode() == SslMode::Disable {
            Manager::from_config(pg, tokio_postgres::NoTls, manager_config)
        } else {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(ca_file)?);
            Manager::from_config(pg, tls, manager_config)
        };
        let timeouts =
            Timeouts { wait: Some(connect_timeout), create: Some(connect_timeout), recycle: Some(connect_timeout) };
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .timeouts(timeouts)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| ConfigError(format!("building the database pool: {e}")))?;
        Ok(Self { pool })
    }

    /// A connection of its own, for work that needs a transaction (migrations).
    pub async fn connection(&self) -> Result<Connection, deadpool_postgres::PoolError> {
        self.pool.get().await
    }

    /// Runs one statement and returns its rows. If the connection turns out to be dead,
    /// runs it once more on a new one. That is safe for our statements: a dead connection
    /// fails before the server runs anything (closed socket, or the server's termination
    /// notice read in place of a result), and every handler's work is one statement.
    pub async fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, ApiError> {
        let client = self.pool.get().await?;
        match client.query_typed(sql, params).await {
            Err(e) if is_connection_lost(&e) => Ok(self.replace(client).await?.query_typed(sql, params).await?),
            result => Ok(result?),
        }
    }

    /// Like `query`, for statements whose result is a row count.
    pub async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, ApiError> {
        let client = self.pool.get().await?;
        match client.execute_typed(sql, params).await {
            Err(e) if is_connection_lost(&e) => Ok(self.replace(client).await?.execute_typed(sql, params).await?),
            result => Ok(result?),
        }
    }

    /// At most one row.
    pub async fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, ApiError> {
        let mut rows = self.query(sql, params).await?;
        if rows.len() > 1 {
            return Err(ApiError::internal(format!("expected at most one row, got {}", rows.len())));
        }
        Ok(rows.pop())
    }

    /// Exactly one row.
    pub async fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, ApiError> {
        self.query_opt(sql, params).await?.ok_or_else(|| ApiError::internal("expected one row, got none"))
    }

    /// Drops a dead connection (detached, so the pool does not recycle it) and gets another.
    async fn replace(&self, dead: Object) -> Result<Object, ApiError> {
        tracing::info!("database connection was lost; retrying once on a new one");
        drop(Object::take(dead));
        Ok(self.pool.get().await?)
    }

    /// Opens a connection if there is none and checks it answers: the health route and
    /// the Lambda warmup.
    pub async fn ping(&self) -> Result<(), ApiError> {
        self.query("SELECT 1", &[]).await.map(drop)
    }
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
