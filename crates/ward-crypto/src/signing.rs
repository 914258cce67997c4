//! ES256 (ECDSA P-256, SHA-256) signing keys for access tokens, with RFC 7638 thumbprint key ids.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{CryptoError, SecretBytes, sha256};

/// The public half of a P-256 key, as JWK coordinates (base64url, no padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    /// Key id: the RFC 7638 JWK thumbprint.
    pub kid: String,
    /// The x coordinate.
    pub x: String,
    /// The y coordinate.
    pub y: String,
}

/// An ES256 signing key held as PKCS#8 DER.
#[derive(Clone)]
pub struct EcSigningKey {
    pkcs8: SecretBytes,
    public: PublicJwk,
}

impl std::fmt::Debug for EcSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EcSigningKey(kid={}, <redacted>)", self.public.kid)
    }
}

impl EcSigningKey {
    /// Generates a new key from the system CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| CryptoError::Random)?;
        Self::from_pkcs8(SecretBytes::new(doc.as_ref().to_vec()))
    }

    /// Loads a key from PKCS#8 DER.
    pub fn from_pkcs8(pkcs8: SecretBytes) -> Result<Self, CryptoError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.expose())
            .map_err(|_| CryptoError::BadKey)?;
        let point = pair.public_key().as_ref();
        let (x, y) = match point {
            [0x04, rest @ ..] if rest.len() == 64 => rest.split_at(32),
            _ => return Err(CryptoError::BadKey),
        };
        let x = URL_SAFE_NO_PAD.encode(x);
        let y = URL_SAFE_NO_PAD.encode(y);
        let kid = thumbprint(&x, &y);
        Ok(Self {
            pkcs8,
            public: PublicJwk { kid, x, y },
        })
    }

    /// PKCS#8 DER of the private key (to seal into the key ring or hand to a JWT encoder).
    pub fn pkcs8(&self) -> &SecretBytes {
        &self.pkcs8
    }

    /// The public key.
    pub fn public(&self) -> &PublicJwk {
        &self.public
    }
}

/// RFC 7638 thumbprint of a P-256 public key.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(sha256(canonical.as_bytes()))
}

/// True if `(x, y)` is a valid public point on the named curve (`P-256` or `P-384`), as a
/// client's JWKS must hold before Ward registers it.
pub fn ec_public_point_valid(curve: &str, x: &[u8], y: &[u8]) -> bool {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ParsedPublicKey};
    let (alg, len) = match curve {
        "P-256" => (&ECDSA_P256_SHA256_FIXED, 32),
        "P-384" => (&ECDSA_P384_SHA384_FIXED, 48),
        _ => return false,
    };
    if x.len() != len || y.len() != len {
        return false;
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    ParsedPublicKey::new(alg, &point).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_pkcs8() {
        let k = EcSigningKey::generate().unwrap();
        let again = EcSigningKey::from_pkcs8(k.pkcs8().clone()).unwrap();
        assert_eq!(k.public(), again.public());
        assert_eq!(k.public().kid.len(), 43);
        assert_ne!(
            EcSigningKey::generate().unwrap().public().kid,
            k.public().kid
        );
        assert!(!format!("{k:?}").contains(&k.public().x));
    }

    #[test]
    fn rejects_garbage() {
        assert!(EcSigningKey::from_pkcs8(SecretBytes::new(vec![1, 2, 3])).is_err());
    }
}
