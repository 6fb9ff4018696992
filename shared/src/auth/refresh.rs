//! Refresh tokens: 256 random bits, base64url, handed to the client once. The database
//! keeps only their SHA-256, so a leaked table cannot be replayed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::ApiError;

pub struct NewRefreshToken {
    /// What the client gets.
    pub token: String,
    /// What the database keeps.
    pub hash: Vec<u8>,
}

pub fn generate() -> Result<NewRefreshToken, ApiError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ApiError::internal("the system random source failed"))?;
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    Ok(NewRefreshToken { token, hash })
}

pub fn hash(token: &str) -> Vec<u8> {
    super::sha256(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_hash_stably() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.token.len(), 43); // 32 bytes in unpadded base64
        assert_ne!(a.token, b.token);
        assert_eq!(a.hash, hash(&a.token));
        assert_eq!(a.hash.len(), 32);
    }
}
