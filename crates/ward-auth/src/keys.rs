//! The signing-key ring: ES256 keys sealed in the store's metadata, newest first. The newest
//! signs; every retained key verifies, so rotation does not invalidate live tokens.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use ward_crypto::{EcSigningKey, SecretBytes};
use ward_store::Store;

use crate::AuthError;

const META_NAME: &str = "auth/signing-keys";
/// How many keys are kept (current plus previous).
const RETAINED: usize = 2;

#[derive(Serialize, Deserialize)]
struct StoredKey {
    pkcs8: String,
    created: i64,
}

/// The loaded signing keys, newest first (never empty).
#[derive(Debug, Clone)]
pub struct SigningKeys {
    keys: Vec<EcSigningKey>,
}

impl SigningKeys {
    /// Loads the keys, creating the first on a new store. Nodes starting at once on a new
    /// shared database agree on one first key (the store keeps whichever was stored first).
    pub async fn load_or_create(store: &dyn Store, now: i64) -> Result<Self, AuthError> {
        if let Some(keys) = Self::load(store).await? {
            return Ok(keys);
        }
        let first = Self::sealed(store, &[EcSigningKey::generate().map_err(keys_err)?], now)?;
        store
            .create_meta(META_NAME, &first)
            .await
            .map_err(keys_err)?;
        Self::load(store)
            .await?
            .ok_or_else(|| AuthError::Keys("format".into()))
    }

    fn sealed(store: &dyn Store, keys: &[EcSigningKey], now: i64) -> Result<Vec<u8>, AuthError> {
        let stored: Vec<StoredKey> = keys
            .iter()
            .map(|k| StoredKey {
                pkcs8: STANDARD.encode(k.pkcs8().expose()),
                created: now,
            })
            .collect();
        let plain = SecretBytes::new(
            serde_json::to_vec(&stored).map_err(|_| AuthError::Keys("format".into()))?,
        );
        store
            .keyring()
            .seal_secret(META_NAME, &plain)
            .map_err(keys_err)
    }

    async fn load(store: &dyn Store) -> Result<Option<Self>, AuthError> {
        let Some(sealed) = store.get_meta(META_NAME).await.map_err(keys_err)? else {
            return Ok(None);
        };
        let plain = store
            .keyring()
            .open_secret(META_NAME, &sealed)
            .map_err(keys_err)?;
        let stored: Vec<StoredKey> =
            serde_json::from_slice(plain.expose()).map_err(|_| AuthError::Keys("format".into()))?;
        let keys = stored
            .iter()
            .map(|k| {
                let der = STANDARD
                    .decode(&k.pkcs8)
                    .map_err(|_| AuthError::Keys("format".into()))?;
                EcSigningKey::from_pkcs8(SecretBytes::new(der)).map_err(keys_err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self { keys }))
    }

    /// Adds a new current key, keeping the previous one for verification.
    pub async fn rotate(store: &dyn Store, now: i64) -> Result<Self, AuthError> {
        let mut keys = Self::load(store).await?.map(|k| k.keys).unwrap_or_default();
        keys.insert(0, EcSigningKey::generate().map_err(keys_err)?);
        keys.truncate(RETAINED);
        let sealed = Self::sealed(store, &keys, now)?;
        store.put_meta(META_NAME, &sealed).await.map_err(keys_err)?;
        Ok(Self { keys })
    }

    /// The key that signs new tokens.
    pub fn current(&self) -> Option<&EcSigningKey> {
        self.keys.first()
    }

    /// Every key that verifies tokens.
    pub fn all(&self) -> &[EcSigningKey] {
        &self.keys
    }
}

fn keys_err(e: impl std::fmt::Display) -> AuthError {
    AuthError::Keys(e.to_string())
}
