//! The key ring: the master key plus the unwrapped data keys a store seals bodies with.
//!
//! Data keys are stored by the backend only in wrapped form (sealed under the master key's
//! key-encryption key, bound to their id). The active key seals new bodies; any known key opens
//! old ones, so rotation never rewrites history.

use std::collections::HashMap;
use std::sync::RwLock;

use ward_crypto::{DataKey, KeyId, MasterKey, SecretBytes};

use crate::{StoreError, StoreResult};

/// Associated data bound into a resource body's envelope: `type/id/version`.
pub fn body_aad(rtype: &str, id: &str, version: u64) -> Vec<u8> {
    format!("{rtype}/{id}/{version}").into_bytes()
}

/// Master key + data keys.
#[derive(Debug)]
pub struct KeyRing {
    master: MasterKey,
    inner: RwLock<Keys>,
}

#[derive(Debug, Default)]
struct Keys {
    keys: HashMap<KeyId, DataKey>,
    active: Option<KeyId>,
}

impl KeyRing {
    /// An empty ring over `master`.
    pub fn new(master: MasterKey) -> Self {
        Self {
            master,
            inner: RwLock::new(Keys::default()),
        }
    }

    /// The master key (for deriving backend keys such as the SQLCipher page key).
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The wrapping context of a data key: binds the wrapped bytes to their id.
    fn context(id: KeyId) -> Vec<u8> {
        format!("ward-dek/{}", id.0).into_bytes()
    }

    /// Wraps new random key material for `id`; the caller stores the result, then calls
    /// [`KeyRing::install`].
    pub fn new_wrapped_key(&self, id: KeyId) -> StoreResult<Vec<u8>> {
        let material = DataKey::generate_material()?;
        Ok(self.master.wrap(&material, &Self::context(id))?)
    }

    /// Unwraps a stored data key and adds it; `active` makes it the key for new bodies.
    pub fn install(&self, id: KeyId, wrapped: &[u8], active: bool) -> StoreResult<()> {
        let material = self
            .master
            .unwrap(wrapped, &Self::context(id))
            .map_err(|_| StoreError::WrongKey)?;
        let key = DataKey::new(id, &material)?;
        let mut inner = self
            .inner
            .write()
            .map_err(|_| StoreError::Internal("keyring".into()))?;
        inner.keys.insert(id, key);
        if active {
            inner.active = Some(id);
        }
        Ok(())
    }

    /// Seals `plain` with the active key.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> StoreResult<Vec<u8>> {
        let inner = self
            .inner
            .read()
            .map_err(|_| StoreError::Internal("keyring".into()))?;
        let id = inner
            .active
            .ok_or_else(|| StoreError::Internal("no active data key".into()))?;
        let key = inner
            .keys
            .get(&id)
            .ok_or_else(|| StoreError::Internal("active key".into()))?;
        Ok(ward_crypto::seal(key, aad, plain)?)
    }

    /// Opens an envelope with whichever known key sealed it.
    pub fn open(&self, aad: &[u8], envelope: &[u8]) -> StoreResult<Vec<u8>> {
        let id = ward_crypto::envelope_key_id(envelope)?;
        let inner = self
            .inner
            .read()
            .map_err(|_| StoreError::Internal("keyring".into()))?;
        let key = inner.keys.get(&id).ok_or(StoreError::Integrity)?;
        Ok(ward_crypto::open(key, aad, envelope)?)
    }

    /// Seals a small secret (e.g. a signing key) for storage in metadata, bound to `name`.
    pub fn seal_secret(&self, name: &str, secret: &SecretBytes) -> StoreResult<Vec<u8>> {
        self.seal(format!("ward-secret/{name}").as_bytes(), secret.expose())
    }

    /// Opens a secret sealed by [`KeyRing::seal_secret`] under the same `name`.
    pub fn open_secret(&self, name: &str, sealed: &[u8]) -> StoreResult<SecretBytes> {
        self.open(format!("ward-secret/{name}").as_bytes(), sealed)
            .map(SecretBytes::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(MasterKey::generate().unwrap())
    }

    #[test]
    fn seals_with_active_key_and_opens_old_keys_after_rotation() {
        let r = ring();
        let w1 = r.new_wrapped_key(KeyId(1)).unwrap();
        r.install(KeyId(1), &w1, true).unwrap();
        let aad = body_aad("Patient", "a", 1);
        let old = r.seal(&aad, b"v1").unwrap();
        let w2 = r.new_wrapped_key(KeyId(2)).unwrap();
        r.install(KeyId(2), &w2, true).unwrap();
        let new = r.seal(&aad, b"v2").unwrap();
        assert_eq!(ward_crypto::envelope_key_id(&new).unwrap(), KeyId(2));
        assert_eq!(r.open(&aad, &old).unwrap(), b"v1");
        assert_eq!(r.open(&aad, &new).unwrap(), b"v2");
        assert!(matches!(
            r.open(&body_aad("Patient", "a", 2), &old),
            Err(StoreError::Integrity)
        ));
    }

    #[test]
    fn wrapped_keys_do_not_move_between_ids_or_masters() {
        let r = ring();
        let w1 = r.new_wrapped_key(KeyId(1)).unwrap();
        assert!(matches!(
            r.install(KeyId(2), &w1, true),
            Err(StoreError::WrongKey)
        ));
        assert!(matches!(
            ring().install(KeyId(1), &w1, true),
            Err(StoreError::WrongKey)
        ));
    }

    #[test]
    fn sealing_without_a_key_fails_cleanly() {
        assert!(ring().seal(b"x", b"y").is_err());
    }

    #[test]
    fn secrets_are_bound_to_their_name() {
        let r = ring();
        r.install(KeyId(1), &r.new_wrapped_key(KeyId(1)).unwrap(), true)
            .unwrap();
        let s = r
            .seal_secret("signing", &SecretBytes::new(vec![1, 2, 3]))
            .unwrap();
        assert_eq!(r.open_secret("signing", &s).unwrap().expose(), &[1, 2, 3]);
        assert!(r.open_secret("other", &s).is_err());
    }
}
