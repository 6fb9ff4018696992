//! The common crate every function stands on. Each module is one concern:
//!
//! - `access`: who reaches a patient or an organization, and how far - the one place
//!   an access rule is written, composed into statements by `db::Statement`
//! - `config` / `secrets` / `config_error`: settings, and secrets from Secrets Manager, read once
//!   per cold start; the one configuration error they share
//! - `aws`: how every AWS SDK client is configured (region, endpoint, Amazon's roots)
//! - `crypto`: values encrypted at rest under `DATA_KEY` (AES-256-GCM)
//! - `db`: the pool (TLS per `sslmode`), and `Statement`, the one way handlers reach Postgres
//! - `auth`: access tokens, passwords, refresh tokens, the `Caller` extractor
//! - `envelope` / `error`: the response envelope and `ApiError`, mapped to HTTP in one place
//! - `body` / `validate` / `query`: strict request bodies, field rules, query parameters
//! - `pagination`: keyset cursors for every list
//! - `records`: patients, doctors, mappings - views, columns, input rules
//! - `extract`: the `{id}` path segment and `If-Match`
//! - `fetch`: one bounded outbound GET for JSON (an app's `jwks_uri`)
//! - `audit`: the audit-event writer
//! - `signed` / `s3` / `export`: signed AWS calls without an SDK (SES, S3, Lambda's
//!   invoke); one S3 bucket; bulk export's files, settings and how a job reaches its worker
//! - `http` / `request_id`: the middleware stack shared by Lambda and the local server; the
//!   id of the request a task serves
//! - `lambda`: the entry point a function's `main` calls
//! - `metrics`: CloudWatch Embedded Metric Format in each request's log line
//! - `mail` / `outbox`: sending one email (SES or files); the transactional outbox that
//!   queues each with its token and retries what did not go out

pub mod access;
pub mod audit;
pub mod auth;
pub mod aws;
pub mod body;
pub mod config;
pub mod config_error;
pub mod crypto;
pub mod db;
pub mod envelope;
pub mod error;
pub mod export;
pub mod extract;
pub mod fetch;
pub mod http;
pub mod lambda;
pub mod mail;
pub mod metrics;
pub mod outbox;
pub mod pagination;
pub mod query;
pub mod records;
pub mod request_id;
pub mod s3;
pub mod secrets;
pub mod signed;
pub mod state;
pub mod telemetry;
pub mod validate;

pub use body::JsonObject;
pub use config::Settings;
pub use envelope::Reply;
pub use error::ApiError;
pub use http::RequestMeta;
pub use state::AppState;
