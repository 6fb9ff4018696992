//! Integration tests: one binary, one module per area. Each test gets a fresh database
//! (see `api_tests::spawn_app`).

mod access;
mod access_tokens;
mod accounts;
mod admin;
mod audit_partitions;
mod auth;
mod break_glass;
mod care_team;
mod docs_links;
mod doctors;
mod email;
mod faults;
mod fhir;
mod fhir_versions;
mod lambda;
mod mappings;
mod metrics;
mod mfa;
mod module_graph;
mod openapi;
mod orgs;
mod outbox;
mod patients;
mod platform;
mod portal;
mod round_trips;
mod schema;
mod sessions;
mod smart;
mod smart_grants;
mod smart_identity;
mod statements;
mod template;
mod tenancy;
mod transport;
