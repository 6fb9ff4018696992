//! Who is calling and how they prove it: access tokens (jwt.rs), passwords
//! (password.rs, hashed on the threads of hashing.rs), refresh tokens (refresh.rs) and the `Caller` extractor (caller.rs)
//! that turns an `Authorization: Bearer` header into a checked identity, and
//! `Principal` (principal.rs), which says whose records that identity reaches.

mod caller;
mod hashing;
pub mod jwt;
pub mod password;
mod principal;
pub mod refresh;
pub mod scopes;
pub mod totp;

pub use caller::{AppGrant, Caller, Role, bearer_token};
pub use jwt::JwtKeys;
pub use principal::{Admin, Principal, RoleScoped, Scope};

/// Failed logins an email may have within `LOGIN_WINDOW_MINUTES` before it is throttled
/// (the auth function), and the window past which a failure counts for nothing (`ops
/// prune`).
pub const LOGIN_MAX_FAILURES: i32 = 5;
pub const LOGIN_WINDOW_MINUTES: i32 = 15;

/// SHA-256, for values the database must match but never hold in the clear.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().to_vec()
}
