//! Data encrypted at rest (the TOTP secrets): AES-256-GCM under `DATA_KEY` (32 bytes,
//! base64; from the environment or Secrets Manager), with aws-lc-rs.
//!
//! A sealed value is `1 || key id (8) || nonce (12) || ciphertext || tag (16)`. The key id
//! is the first 8 bytes of the key's SHA-256, so a value names the key it needs:
//! rotating means setting the new key as `DATA_KEY` and the old one as
//! `DATA_KEY_PREVIOUS`; values sealed under either still open, new ones use the new.
//! The nonce is random (96 bits): safe for far more values than this ever seals.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;

use crate::ApiError;
use crate::config_error::ConfigError;

const FORMAT: u8 = 1;
const ID_LEN: usize = 8;

pub struct DataKey {
    id: [u8; ID_LEN],
    key: LessSafeKey,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({:02x?})", self.id)
    }
}

impl DataKey {
    /// From its base64 text (standard or URL-safe alphabet), which must hold 32 bytes.
    pub fn parse(name: &str, text: &str) -> Result<Self, ConfigError> {
        let text = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| ConfigError(format!("{name} must be base64")))?;
        if bytes.len() != 32 {
            return Err(ConfigError(format!(
                "{name} must be 32 bytes (base64 of 32 random bytes), got {}",
                bytes.len()
            )));
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest.as_ref()[..ID_LEN]);
        let key =
            UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| ConfigError(format!("{name} is not a usable key")))?;
        Ok(Self { id, key: LessSafeKey::new(key) })
    }
}

/// The current key, and the previous one while values sealed under it remain.
#[derive(Debug, Default)]
pub struct DataKeys {
    pub current: Option<DataKey>,
    pub previous: Option<DataKey>,
}

impl DataKeys {
    /// `DATA_KEY` and `DATA_KEY_PREVIOUS` from any key lookup; both may be absent.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let key = |name: &str| get(name).filter(|v| !v.is_empty()).map(|v| DataKey::parse(name, &v)).transpose();
        Ok(Self { current: key("DATA_KEY")?, previous: key("DATA_KEY_PREVIOUS")? })
    }

    /// Whether values can be sealed (a current key is set).
    pub fn configured(&self) -> bool {
        self.current.is_some()
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, ApiError> {
        let key = self.current.as_ref().ok_or_else(not_configured)?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| ApiError::internal("the system random source failed"))?;
        let mut sealed = Vec::with_capacity(1 + ID_LEN + NONCE_LEN + plaintext.len() + 16);
        sealed.push(FORMAT);
        sealed.extend_from_slice(&key.id);
        sealed.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        key.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&sealed[..1 + ID_LEN]), &mut body)
            .map_err(|_| ApiError::internal("encrypting a value"))?;
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, ApiError> {
        if sealed.len() < 1 + ID_LEN + NONCE_LEN + 16 || sealed[0] != FORMAT {
            return Err(ApiError::internal("a sealed value is malformed"));
        }
        if !self.configured() && self.previous.is_none() {
            return Err(not_configured());
        }
        let (header, rest) = sealed.split_at(1 + ID_LEN);
        let key = [&self.current, &self.previous].into_iter().flatten().find(|k| k.id[..] == header[1..]).ok_or_else(
            || ApiError::internal("a sealed value names a key that is not configured (DATA_KEY, DATA_KEY_PREVIOUS)"),
        )?;
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| ApiError::internal("a sealed value's nonce"))?;
        let mut body = body.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(header), &mut body)
            .map_err(|_| ApiError::internal("a sealed value does not authenticate"))?;
        Ok(plain.to_vec())
    }
}

/// No data key: an operator's setting, not a fault of the request or the database (503).
fn not_configured() -> ApiError {
    ApiError::NotConfigured("No data key (DATA_KEY) is configured on this server.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> DataKey {
        DataKey::parse("DATA_KEY", &base64::engine::general_purpose::STANDARD.encode([byte; 32])).unwrap()
    }

    #[test]
    fn sealed_values_open_with_the_current_or_previous_key_only() {
        let old = DataKeys { current: Some(key(1)), previous: None };
        let sealed = old.seal(b"JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(old.open(&sealed).unwrap(), b"JBSWY3DPEHPK3PXP");
        assert_ne!(old.seal(b"JBSWY3DPEHPK3PXP").unwrap(), sealed, "a fresh nonce each time");

        let rotated = DataKeys { current: Some(key(2)), previous: Some(key(1)) };
        assert_eq!(rotated.open(&sealed).unwrap(), b"JBSWY3DPEHPK3PXP");
        let forgotten = DataKeys { current: Some(key(2)), previous: None };
        assert!(forgotten.open(&sealed).is_err());
    }

    #[test]
    fn a_tampered_value_does_not_open() {
        let keys = DataKeys { current: Some(key(1)), previous: None };
        let mut sealed = keys.seal(b"secret").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(keys.open(&sealed).is_err());
        assert!(keys.open(b"short").is_err());
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(DataKey::parse("K", "not base64!").is_err());
        assert!(DataKey::parse("K", &base64::engine::general_purpose::STANDARD.encode([0u8; 16])).is_err());
        let key = DataKey::parse("K", &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap();
        assert!(!format!("{key:?}").contains("07, 07, 07, 07, 07, 07, 07, 07, 07"), "Debug shows the id only");
    }
}
