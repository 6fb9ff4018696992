//! TOTP (RFC 6238): HMAC-SHA1, 6 digits, 30-second steps, a code accepted for the step
//! before and after the current one (clock drift). Also the base32 the authenticator
//! apps read (RFC 4648, no padding) and the recovery codes.

use aws_lc_rs::hmac;

pub const STEP_SECONDS: u64 = 30;
/// 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;
pub const RECOVERY_CODES: usize = 10;

/// The time step of a Unix time.
pub fn step_at(unix_seconds: u64) -> i64 {
    (unix_seconds / STEP_SECONDS) as i64
}

pub fn now_step() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    step_at(now)
}

/// The 6-digit code for one step.
pub fn code(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &(step as u64).to_be_bytes());
    let mac = mac.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let value = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    format!("{:06}", value % 1_000_000)
}

/// The step a code is for, if it is right for `now` or a step either side.
pub fn matching_step(secret: &[u8], candidate: &str, now: i64) -> Option<i64> {
    let candidate = candidate.trim();
    if candidate.len() != 6 || !candidate.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Every window is checked, so the time taken does not tell which one matched.
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        if constant_time_eq(code(secret, step).as_bytes(), candidate.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | byte as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A recovery code: 10 characters of an unambiguous alphabet in two groups of five
/// (`k7m2q-x9cdt`), about 50 bits; compared case-insensitively, dash optional.
pub fn recovery_code(random: &[u8; 10]) -> String {
    // Crockford's base32 alphabet: no i, l, o or u to misread.
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let chars: String = random.iter().map(|b| ALPHABET[(*b & 31) as usize] as char).collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A recovery code as typed, in the form that is hashed and stored.
pub fn normalise_recovery_code(typed: &str) -> String {
    typed.trim().to_ascii_lowercase().replace([' ', '-'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, Appendix B: the SHA-1 vectors (8 digits there; the last 6 here).
    #[test]
    fn matches_the_rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight_digits) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code(secret, step_at(time)), eight_digits[2..], "t = {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let secret = b"12345678901234567890";
        let now = step_at(1_234_567_890);
        for step in [now - 1, now, now + 1] {
            assert_eq!(matching_step(secret, &code(secret, step), now), Some(step));
        }
        assert_eq!(matching_step(secret, &code(secret, now - 2), now), None);
        assert_eq!(matching_step(secret, &code(secret, now + 2), now), None);
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(&[0u8; SECRET_BYTES]).len(), 32);
    }

    #[test]
    fn recovery_codes_read_well_and_normalise() {
        let code = recovery_code(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(code.len(), 11);
        assert_eq!(normalise_recovery_code(&format!(" {} ", code.to_uppercase())), code.replace('-', ""));
    }
}
