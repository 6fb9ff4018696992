//! Integration tests: one binary, one module per area. Each test gets a fresh database
//! (see `api_tests::spawn_app`).

mod access_tokens;
mod auth;
mod platform;
mod schema;
mod transport;
