//! Envelope encryption of resource bodies with AES-256-GCM under a data key.
//!
//! Format (version 1): `0x01 | key_id (u32, big-endian) | nonce (12 bytes) | ciphertext | tag`.
//! The caller's associated data (for a resource version: type, id and version) is authenticated
//! but not stored, so a sealed body cannot be swapped to another row without detection. The same
//! format serves every storage backend.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::{CryptoError, SecretBytes, random_bytes};

/// The current envelope format version byte.
pub const ENVELOPE_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;

/// Identifies a data key in the key ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u32);

/// A data-encryption key (AES-256-GCM).
pub struct DataKey {
    id: KeyId,
    key: LessSafeKey,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataKey({}, <redacted>)", self.id.0)
    }
}

impl DataKey {
    /// Builds a data key from 32 secret bytes.
    pub fn new(id: KeyId, bytes: &SecretBytes) -> Result<Self, CryptoError> {
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes.expose()).map_err(|_| CryptoError::BadKey)?;
        Ok(Self {
            id,
            key: LessSafeKey::new(unbound),
        })
    }

    /// Fresh random key material for a new data key (to be wrapped before it is stored).
    pub fn generate_material() -> Result<SecretBytes, CryptoError> {
        let bytes: [u8; 32] = random_bytes()?;
        Ok(SecretBytes::new(bytes.to_vec()))
    }

    /// This key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }
}

/// Seals `plaintext` under `key`, authenticating `aad`.
pub fn seal(key: &DataKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let nonce_bytes: [u8; NONCE_LEN] = random_bytes()?;
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + AES_256_GCM.tag_len());
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&key.id.0.to_be_bytes());
    out.extend_from_slice(&nonce_bytes);
    let mut body = plaintext.to_vec();
    key.key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(aad),
            &mut body,
        )
        .map_err(|_| CryptoError::Encrypt)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// The key id an envelope was sealed under (to look the key up before [`open`]).
pub fn envelope_key_id(envelope: &[u8]) -> Result<KeyId, CryptoError> {
    match envelope {
        [ENVELOPE_VERSION, a, b, c, d, ..] if envelope.len() >= HEADER_LEN => {
            Ok(KeyId(u32::from_be_bytes([*a, *b, *c, *d])))
        }
        _ => Err(CryptoError::BadEnvelope),
    }
}

/// Opens an envelope sealed by [`seal`] with the same `aad`.
pub fn open(key: &DataKey, aad: &[u8], envelope: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if envelope_key_id(envelope)? != key.id {
        return Err(CryptoError::Decrypt);
    }
    let (header, sealed) = envelope.split_at(HEADER_LEN);
    let nonce = Nonce::try_assume_unique_for_key(header.get(5..).ok_or(CryptoError::BadEnvelope)?)
        .map_err(|_| CryptoError::BadEnvelope)?;
    let mut buf = sealed.to_vec();
    let plain = key
        .key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| CryptoError::Decrypt)?;
    let n = plain.len();
    buf.truncate(n);
    Ok(buf)
}

/// Seals with a raw 32-byte key (used for key wrapping): `nonce | ciphertext | tag`.
pub(crate) fn seal_raw(key: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let dk = DataKey::new(KeyId(0), &SecretBytes::new(key.to_vec()))?;
    seal(&dk, aad, plaintext)
}

/// Opens what [`seal_raw`] produced.
pub(crate) fn open_raw(key: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let dk = DataKey::new(KeyId(0), &SecretBytes::new(key.to_vec()))?;
    open(&dk, aad, sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32, byte: u8) -> DataKey {
        DataKey::new(KeyId(id), &SecretBytes::new(vec![byte; 32])).unwrap()
    }

    #[test]
    fn round_trips_and_hides_plaintext() {
        let k = key(3, 1);
        let env = seal(&k, b"Patient/1/1", b"{\"name\":\"Zebulon\"}").unwrap();
        assert!(!env.windows(7).any(|w| w == b"Zebulon"));
        assert_eq!(envelope_key_id(&env).unwrap(), KeyId(3));
        assert_eq!(
            open(&k, b"Patient/1/1", &env).unwrap(),
            b"{\"name\":\"Zebulon\"}"
        );
    }

    #[test]
    fn nonces_are_fresh() {
        let k = key(1, 1);
        assert_ne!(seal(&k, b"", b"x").unwrap(), seal(&k, b"", b"x").unwrap());
    }

    #[test]
    fn rejects_tampering_wrong_aad_wrong_key() {
        let k = key(1, 1);
        let env = seal(&k, b"Patient/1/1", b"data").unwrap();
        assert!(open(&k, b"Patient/1/2", &env).is_err());
        assert!(open(&key(1, 2), b"Patient/1/1", &env).is_err());
        assert!(open(&key(2, 1), b"Patient/1/1", &env).is_err());
        let mut bad = env.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(open(&k, b"Patient/1/1", &bad).is_err());
        assert!(matches!(
            envelope_key_id(&[9, 0, 0]),
            Err(CryptoError::BadEnvelope)
        ));
        assert!(open(&k, b"", &env[..10]).is_err());
    }
}
