//! Ward's cryptography: secrets, the master key, key derivation, envelope encryption of
//! resource bodies, data-key wrapping, signing keys and keyed MACs.
//!
//! Every primitive comes from `aws-lc-rs`; nothing here is hand-rolled. Nonces and keys are drawn
//! from the system CSPRNG inside this crate on purpose: nonce uniqueness is a security property
//! that callers must not be able to break by injecting a deterministic source.

mod envelope;
mod error;
mod master;
mod secret;
mod signing;

pub use envelope::{DataKey, ENVELOPE_VERSION, KeyId, envelope_key_id, open, seal};
pub use error::CryptoError;
pub use master::{MasterKey, MasterKeySource};
pub use secret::SecretBytes;
pub use signing::{EcSigningKey, PublicJwk, ec_public_point_valid};

use aws_lc_rs::{digest, hmac, rand::SecureRandom};

/// Fills a fresh buffer of `N` random bytes from the system CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| CryptoError::Random)?;
    Ok(buf)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// SHA-256 over data fed in pieces (e.g. a file read in chunks).
pub struct Sha256(digest::Context);

impl Sha256 {
    /// An empty hash.
    pub fn new() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything added.
    pub fn finish(self) -> [u8; 32] {
        let d = self.0.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }
}

/// Size and SHA-256 of everything `r` yields, read in 1 MiB chunks (a file of any size in
/// constant memory).
pub fn sha256_reader(mut r: impl std::io::Read) -> std::io::Result<(u64, [u8; 32])> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok((total, h.finish()));
        }
        h.update(buf.get(..n).unwrap_or_default());
        total += n as u64;
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

/// A keyed MAC (HMAC-SHA-256) for authenticating opaque tokens such as paging cursors.
pub struct Mac(hmac::Key);

impl Mac {
    /// Creates a MAC key from 32 secret bytes (usually derived from the master key).
    pub fn new(key: &SecretBytes) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, key.expose()))
    }

    /// The tag of `data`.
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.0, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Checks `tag` over `data` in constant time.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.0, data, tag).is_ok()
    }
}

impl std::fmt::Debug for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mac(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_verifies_only_its_own_tags() {
        let mac = Mac::new(&SecretBytes::new(vec![7u8; 32]));
        let other = Mac::new(&SecretBytes::new(vec![8u8; 32]));
        let tag = mac.sign(b"cursor");
        assert!(mac.verify(b"cursor", &tag));
        assert!(!mac.verify(b"cursos", &tag));
        assert!(!other.verify(b"cursor", &tag));
        assert!(!mac.verify(b"cursor", &tag[..31]));
    }

    #[test]
    fn random_bytes_differ() {
        let a: [u8; 32] = random_bytes().unwrap();
        let b: [u8; 32] = random_bytes().unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn sha256_in_pieces_matches_one_shot() {
        let mut h = Sha256::new();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish(), sha256(b"abc"));
    }

    #[test]
    fn sha256_of_a_reader_spans_chunks() {
        let data: Vec<u8> = (0..(3 << 20) + 7).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            sha256_reader(data.as_slice()).unwrap(),
            (data.len() as u64, sha256(&data))
        );
        assert_eq!(sha256_reader(&b""[..]).unwrap(), (0, sha256(b"")));
    }

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
