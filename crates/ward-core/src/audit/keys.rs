//! The Ed25519 audit signing keys: sealed in the store's metadata, newest first. The newest
//! signs checkpoints; every older key is kept (public part) so old checkpoints still verify
//! after a rotation.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use ward_audit::AuditSigningKey;
use ward_crypto::SecretBytes;
use ward_store::Store;

use crate::{CoreError, CoreResult};

const META: &str = "audit/signing-keys";

#[derive(Serialize, Deserialize)]
struct StoredKey {
    pkcs8: String,
    created: i64,
}

fn err(what: &str) -> CoreError {
    CoreError::Internal(format!("audit keys: {what}"))
}

/// The audit key ring.
#[derive(Debug)]
pub struct AuditKeys {
    keys: Vec<AuditSigningKey>,
}

impl AuditKeys {
    async fn load(store: &dyn Store) -> CoreResult<Vec<(AuditSigningKey, i64)>> {
        match store.get_meta(META).await? {
            Some(sealed) => Self::open(store, &sealed),
            None => Ok(Vec::new()),
        }
    }

    fn open(store: &dyn Store, sealed: &[u8]) -> CoreResult<Vec<(AuditSigningKey, i64)>> {
        let plain = store.keyring().open_secret(META, sealed)?;
        let stored: Vec<StoredKey> =
            serde_json::from_slice(plain.expose()).map_err(|_| err("format"))?;
        stored
            .into_iter()
            .map(|k| {
                let der = STANDARD.decode(&k.pkcs8).map_err(|_| err("format"))?;
                let key =
                    AuditSigningKey::from_pkcs8(SecretBytes::new(der)).map_err(|_| err("key"))?;
                Ok((key, k.created))
            })
            .collect()
    }

    fn seal(store: &dyn Store, keys: &[(AuditSigningKey, i64)]) -> CoreResult<Vec<u8>> {
        let stored: Vec<StoredKey> = keys
            .iter()
            .map(|(k, created)| StoredKey {
                pkcs8: STANDARD.encode(k.pkcs8().expose()),
                created: *created,
            })
            .collect();
        let plain = SecretBytes::new(serde_json::to_vec(&stored).map_err(|_| err("format"))?);
        Ok(store.keyring().seal_secret(META, &plain)?)
    }

    /// Loads the keys, creating the first one on a new store. Creation is insert-if-absent, so
    /// nodes that start together on one database agree on a single first key.
    pub async fn load_or_create(store: &dyn Store, now: i64) -> CoreResult<Self> {
        let mut keys = Self::load(store).await?;
        if keys.is_empty() {
            let first = vec![(
                AuditSigningKey::generate().map_err(|_| err("generate"))?,
                now,
            )];
            let winner = store.create_meta(META, &Self::seal(store, &first)?).await?;
            keys = Self::open(store, &winner)?;
        }
        Ok(Self {
            keys: keys.into_iter().map(|(k, _)| k).collect(),
        })
    }

    /// Adds a new signing key; all older keys stay for verification.
    pub async fn rotate(store: &dyn Store, now: i64) -> CoreResult<Self> {
        let mut keys = Self::load(store).await?;
        keys.insert(
            0,
            (
                AuditSigningKey::generate().map_err(|_| err("generate"))?,
                now,
            ),
        );
        store.put_meta(META, &Self::seal(store, &keys)?).await?;
        Ok(Self {
            keys: keys.into_iter().map(|(k, _)| k).collect(),
        })
    }

    /// The key that signs new checkpoints.
    pub fn current(&self) -> Option<&AuditSigningKey> {
        self.keys.first()
    }

    /// Key id → raw public key, for verification.
    pub fn public_keys(&self) -> HashMap<String, Vec<u8>> {
        self.keys
            .iter()
            .map(|k| (k.key_id(), k.public_key()))
            .collect()
    }
}
