//! Signed checkpoints: every N records or T seconds the head of the chain (`seq`, `hash`) is
//! signed with a dedicated Ed25519 audit key — not a data key — so a later truncation or rewrite
//! of the tail is detectable even by someone who could recompute the hashes.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use ward_crypto::SecretBytes;

const DOMAIN: &[u8] = b"ward-audit-checkpoint-v1";

/// A checkpoint over the chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    /// Hex of the record hash at `seq`.
    pub hash: String,
    /// Seconds since the epoch when it was signed.
    pub signed_at: i64,
    /// Id of the signing key (hex of the first 8 bytes of SHA-256 of the public key).
    pub key_id: String,
    /// Hex Ed25519 signature.
    pub signature: String,
}

/// A key problem.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointKeyError {
    #[error("the audit signing key is malformed")]
    BadKey,
    #[error("the random number generator failed")]
    Random,
}

fn statement(seq: u64, hash: &[u8; 32], signed_at: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 48);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(&signed_at.to_be_bytes());
    m
}

/// The Ed25519 key that signs checkpoints.
pub struct AuditSigningKey {
    pair: Ed25519KeyPair,
    pkcs8: SecretBytes,
}

impl std::fmt::Debug for AuditSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditSigningKey({}, <redacted>)", self.key_id())
    }
}

impl AuditSigningKey {
    /// A new key.
    pub fn generate() -> Result<Self, CheckpointKeyError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| CheckpointKeyError::Random)?;
        Self::from_pkcs8(SecretBytes::new(doc.as_ref().to_vec()))
    }

    /// Loads a key from PKCS#8.
    pub fn from_pkcs8(pkcs8: SecretBytes) -> Result<Self, CheckpointKeyError> {
        let pair =
            Ed25519KeyPair::from_pkcs8(pkcs8.expose()).map_err(|_| CheckpointKeyError::BadKey)?;
        Ok(Self { pair, pkcs8 })
    }

    /// PKCS#8 bytes, to seal for storage.
    pub fn pkcs8(&self) -> &SecretBytes {
        &self.pkcs8
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// This key's id.
    pub fn key_id(&self) -> String {
        key_id(&self.public_key())
    }

    /// Signs the chain head.
    pub fn sign(&self, seq: u64, hash: &[u8; 32], signed_at: i64) -> Checkpoint {
        let sig = self.pair.sign(&statement(seq, hash, signed_at));
        Checkpoint {
            seq,
            hash: hex::encode(hash),
            signed_at,
            key_id: self.key_id(),
            signature: hex::encode(sig.as_ref()),
        }
    }
}

/// The id of a raw public key.
pub fn key_id(public: &[u8]) -> String {
    hex::encode(ward_crypto::sha256(public).get(..8).unwrap_or_default())
}

impl Checkpoint {
    /// Verifies the signature with `public` (raw Ed25519 public key).
    pub fn signature_valid(&self, public: &[u8]) -> bool {
        let (Ok(hash), Ok(sig)) = (hex::decode(&self.hash), hex::decode(&self.signature)) else {
            return false;
        };
        let Ok(hash) = <[u8; 32]>::try_from(hash.as_slice()) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, public)
            .verify(&statement(self.seq, &hash, self.signed_at), &sig)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let k = AuditSigningKey::generate().unwrap();
        let cp = k.sign(7, &[9; 32], 1000);
        assert!(cp.signature_valid(&k.public_key()));
        let mut forged = cp.clone();
        forged.seq = 8;
        assert!(!forged.signature_valid(&k.public_key()));
        let other = AuditSigningKey::generate().unwrap();
        assert!(!cp.signature_valid(&other.public_key()));
        let again = AuditSigningKey::from_pkcs8(k.pkcs8().clone()).unwrap();
        assert_eq!(again.key_id(), k.key_id());
        assert_eq!(k.key_id().len(), 16);
    }
}
