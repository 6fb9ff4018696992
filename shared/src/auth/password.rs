//! Password hashing: argon2id at the crate defaults, which are OWASP's minimum
//! (m = 19 MiB, t = 2, p = 1), stored as PHC strings. Hashes run on the threads of
//! `hashing`, each with memory of its own that it keeps; so argon2 is called with that
//! memory (`hash_password_into_with_memory`) and the PHC string is read and written here.

use argon2::password_hash::Error as PhcError;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Params, Version};

use super::hashing::{on_hashing_thread, with_memory};
use crate::ApiError;

/// A well-formed argon2id hash, at the current parameters, that no known password matches. Verifying
/// an unknown email's login against it costs the same as a wrong password for a real
/// user, so response time does not reveal which emails are registered. A test checks its
/// parameters match `Argon2::default()`.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$ra5+yX7nKwP0SVYr5Ppgmw$t8GZCWXu4pB+m3pGQ0uqSGTU4oeqb9bu2uy9sNiUwvQ";

pub async fn hash(password: String) -> Result<String, ApiError> {
    on_hashing_thread(move || hash_now(password.as_bytes()))
        .await?
        .map_err(|e| ApiError::internal(format!("hashing a password: {e}")))
}

/// True when `password` matches `phc`. A stored hash that does not parse counts as no
/// match (and is logged): it cannot be verified, and must not turn into a 500 at login.
pub async fn verify(password: String, phc: String) -> Result<bool, ApiError> {
    on_hashing_thread(move || match verify_now(password.as_bytes(), &phc) {
        Ok(matched) => matched,
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash could not be verified");
            false
        }
    })
    .await
}

/// A new argon2id hash at the default parameters, as a PHC string.
fn hash_now(password: &[u8]) -> Result<String, PhcError> {
    let params = Params::default();
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| PhcError::RngFailure)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_memory(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, &salt, &mut out, memory)
    })?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(Salt::new(&salt)?),
        hash: Some(Output::new(&out)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string, compared in constant time (`Output`'s
/// equality). A hash asking for more memory than the default is refused rather than
/// allocated: stored hashes are ours, at the defaults, and memory stays bounded.
fn verify_now(password: &[u8], phc: &str) -> Result<bool, PhcError> {
    let stored = PasswordHash::new(phc)?;
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else { return Err(PhcError::EncodingInvalid) };
    let params = Params::try_from(&stored)?;
    if params.block_count() > Params::default().block_count() {
        return Err(PhcError::ParamsInvalid);
    }
    let algorithm = Algorithm::try_from(stored.algorithm.as_str())?;
    let version = stored.version.map(Version::try_from).transpose()?.unwrap_or_default();
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    with_memory(params.block_count(), |memory| {
        argon2.hash_password_into_with_memory(password, salt.as_ref(), &mut out, memory)
    })?;
    Ok(Output::new(&out)? == *expected)
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
    async fn hashes_agree_with_the_argon2_crates_own_hasher_and_verifier_both_ways() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let ours = hash("correct horse".into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"wrong horse", &parsed).is_err());
        let theirs = Argon2::default().hash_password(b"battery staple").unwrap().to_string();
        assert!(verify("battery staple".into(), theirs.clone()).await.unwrap());
        assert!(!verify("battery stapler".into(), theirs).await.unwrap());
    }

    #[tokio::test]
    async fn a_stored_hash_asking_for_more_memory_is_refused_not_allocated() {
        use argon2::PasswordHasher;
        let bigger = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(65536, 2, 1, None).unwrap());
        let phc = bigger.hash_password(b"correct horse").unwrap().to_string();
        assert!(!verify("correct horse".into(), phc).await.unwrap(), "64 MiB is past the bound");
    }

    #[tokio::test]
    async fn unparseable_stored_hash_is_no_match_not_an_error() {
        assert!(!verify("x".into(), "not-a-phc-string".into()).await.unwrap());
    }
}
