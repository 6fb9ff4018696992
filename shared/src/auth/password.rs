//! Password hashing: argon2id at the crate defaults, which are OWASP's minimum
//! (m = 19 MiB, t = 2, p = 1), stored as PHC strings. Both hashing and verifying run on
//! the blocking pool: ~25 ms of CPU would otherwise stall every request on the executor.
//! At most one hash per core runs at a time; more only thrash caches and memory (19 MiB
//! each), so a burst of logins queues instead of slowing every one of them down.

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::ApiError;

static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())));

/// A well-formed argon2id hash, at the current parameters, that no known password matches. Verifying
/// an unknown email's login against it costs the same as a wrong password for a real
/// user, so response time does not reveal which emails are registered. A test checks its
/// parameters match `Argon2::default()`.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$ra5+yX7nKwP0SVYr5Ppgmw$t8GZCWXu4pB+m3pGQ0uqSGTU4oeqb9bu2uy9sNiUwvQ";

pub async fn hash(password: String) -> Result<String, ApiError> {
    let _turn = HASHING.acquire().await.map_err(|e| ApiError::internal_from("waiting to hash a password", e))?;
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ApiError::internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| ApiError::internal_from("hashing a password", e))?
}

/// True when `password` matches `phc`. A stored hash that does not parse counts as no
/// match (and is logged): it cannot be verified, and must not turn into a 500 at login.
pub async fn verify(password: String, phc: String) -> Result<bool, ApiError> {
    let _turn = HASHING.acquire().await.map_err(|e| ApiError::internal_from("waiting to verify a password", e))?;
    tokio::task::spawn_blocking(move || match Argon2::default().verify_password(password.as_bytes(), phc.as_str()) {
        Ok(()) => true,
        Err(argon2::password_hash::Error::PasswordInvalid) => false,
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash could not be verified");
            false
        }
    })
    .await
    .map_err(|e| ApiError::internal_from("verifying a password", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::phc::PasswordHash;

    #[tokio::test]
    async fn hash_then_verify_round_trips() {
        let phc = hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("correct horse".into(), phc.clone()).await.unwrap());
        assert!(!verify("wrong horse".into(), phc).await.unwrap());
    }

    #[tokio::test]
    async fn dummy_hash_has_the_parameters_real_hashes_get() {
        let real = hash("anything".into()).await.unwrap();
        let real = PasswordHash::new(&real).unwrap();
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert!(!verify("anything".into(), DUMMY_HASH.into()).await.unwrap());
    }

    #[tokio::test]
    async fn unparseable_stored_hash_is_no_match_not_an_error() {
        assert!(!verify("x".into(), "not-a-phc-string".into()).await.unwrap());
    }
}
