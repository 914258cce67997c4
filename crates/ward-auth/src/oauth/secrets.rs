//! Secret material of the authorization server: random opaque tokens and their stored hashes,
//! Argon2id password hashing, PKCE S256 and constant-time comparison. Every primitive comes
//! from a library (aws-lc-rs through ward-crypto, argon2, subtle).

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use crate::AuthError;

/// A fresh opaque token: 32 random bytes, base64url.
pub fn random_token() -> Result<String, AuthError> {
    let bytes: [u8; 32] =
        ward_crypto::random_bytes().map_err(|_| AuthError::Keys("random".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of an opaque token: SHA-256, hex. Tokens are random 256-bit values, so a
/// fast hash is enough (no dictionary to attack).
pub fn token_hash(token: &str) -> String {
    hex::encode(ward_crypto::sha256(token.as_bytes()))
}

/// Constant-time equality of two strings.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Argon2id (library defaults: 19 MiB, 2 passes) PHC string of `password`.
pub fn hash_password(password: &[u8]) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|_| AuthError::Keys("password hash".into()))
}

/// Checks `password` against a PHC string (constant time inside the library).
pub fn verify_password(phc: &str, password: &[u8]) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password, &h).is_ok())
}

/// A hash to verify against when no user matched, so that unknown and known usernames cost
/// the same time.
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(b"ward-dummy-password").unwrap_or_default())
}

/// RFC 7636 §4.1: 43–128 unreserved characters.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6 (S256): `BASE64URL(SHA256(verifier)) == challenge`.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    valid_verifier(verifier)
        && ct_eq(
            &URL_SAFE_NO_PAD.encode(ward_crypto::sha256(verifier.as_bytes())),
            challenge,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_known_answer_computed_with_openssl() {
        let verifier = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r-wW1gFWFOEjXk";
        assert!(pkce_matches(
            verifier,
            "6Y3vkOgSwz2skbRkaUT_UFe6JaIeTED0E2ZNnarAPDM"
        ));
        assert!(!pkce_matches(verifier, verifier), "plain is refused");
        assert!(!pkce_matches("short", "x"));
    }

    #[test]
    fn passwords() {
        let h = hash_password(b"correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, b"correct horse"));
        assert!(!verify_password(&h, b"wrong"));
        assert!(!verify_password("garbage", b"x"));
        assert!(!verify_password(dummy_password_hash(), b""));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = random_token().unwrap();
        assert_ne!(a, random_token().unwrap());
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert!(ct_eq("abc", "abc") && !ct_eq("abc", "abd") && !ct_eq("a", "ab"));
    }
}
