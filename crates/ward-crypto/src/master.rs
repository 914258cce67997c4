//! The master key: where it comes from, how it is stored on disk, and the keys derived from it.
//!
//! The master key never encrypts data directly. It derives purpose-bound keys with HKDF-SHA-256
//! (the SQLCipher page key, the key-encryption key that wraps data keys, MAC keys), each under
//! its own label, so compromise of one derived key says nothing about the others.

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::hkdf;

use crate::{CryptoError, SecretBytes, random_bytes};

const KEY_LEN: usize = 32;
const HKDF_SALT: &[u8] = b"ward-hkdf-salt-v1";
const KEK_LABEL: &str = "ward/kek/v1";

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// A key file (64 hex characters). Created with mode 0600 when `create` is true and absent.
    File { path: PathBuf, create: bool },
    /// Key material given directly (e.g. from `WARD_MASTER_KEY`), 64 hex characters.
    Inline(SecretBytes),
}

/// Ward's 256-bit master key.
pub struct MasterKey {
    key: SecretBytes,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        KEY_LEN
    }
}

impl MasterKey {
    /// Loads (or, for a file source with `create`, generates) the master key.
    /// Returns the key and whether it was newly created.
    pub fn load(source: &MasterKeySource) -> Result<(Self, bool), CryptoError> {
        match source {
            MasterKeySource::Inline(text) => Ok((Self::from_hex(text.expose())?, false)),
            MasterKeySource::File { path, create } => {
                if !path.exists() && *create {
                    let key = Self::generate()?;
                    write_key_file(path, &key)?;
                    return Ok((key, true));
                }
                Ok((read_key_file(path)?, false))
            }
        }
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        let bytes: [u8; KEY_LEN] = random_bytes()?;
        Ok(Self {
            key: SecretBytes::new(bytes.to_vec()),
        })
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &[u8]) -> Result<Self, CryptoError> {
        let trimmed = std::str::from_utf8(text)
            .map_err(|_| CryptoError::BadKey)?
            .trim();
        let bytes = hex::decode(trimmed).map_err(|_| CryptoError::BadKey)?;
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::BadKey);
        }
        Ok(Self {
            key: SecretBytes::new(bytes),
        })
    }

    /// Derives a 32-byte key for `label` (HKDF-SHA-256). Different labels give independent keys.
    pub fn derive(&self, label: &str) -> Result<SecretBytes, CryptoError> {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT);
        let prk = salt.extract(self.key.expose());
        let info = [label.as_bytes()];
        let okm = prk.expand(&info, Len32).map_err(|_| CryptoError::BadKey)?;
        let mut out = vec![0u8; KEY_LEN];
        okm.fill(&mut out).map_err(|_| CryptoError::BadKey)?;
        Ok(SecretBytes::new(out))
    }

    /// Wraps (encrypts) a data key's bytes under the key-encryption key, bound to `context`
    /// (for example the key id) so a wrapped key cannot be moved to another slot.
    pub fn wrap(&self, plain_key: &SecretBytes, context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let kek = self.derive(KEK_LABEL)?;
        crate::envelope::seal_raw(kek.expose(), context, plain_key.expose())
    }

    /// Unwraps a data key sealed by [`MasterKey::wrap`] with the same `context`.
    pub fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<SecretBytes, CryptoError> {
        let kek = self.derive(KEK_LABEL)?;
        crate::envelope::open_raw(kek.expose(), context, wrapped).map(SecretBytes::new)
    }

    /// The key as hex, for writing it to a key file the operator controls.
    fn to_hex(&self) -> SecretBytes {
        SecretBytes::new(hex::encode(self.key.expose()).into_bytes())
    }
}

fn read_key_file(path: &Path) -> Result<MasterKey, CryptoError> {
    let shown = path.display().to_string();
    check_private(path)?;
    let text = std::fs::read(path).map_err(|e| CryptoError::Unreadable {
        path: shown.clone(),
        reason: e.kind().to_string(),
    })?;
    let text = SecretBytes::new(text);
    MasterKey::from_hex(text.expose()).map_err(|_| CryptoError::Unreadable {
        path: shown,
        reason: "not 64 hex characters".into(),
    })
}

/// Refuses key files that group or others can read or write.
pub(crate) fn check_private(path: &Path) -> Result<(), CryptoError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| CryptoError::Unreadable {
        path: path.display().to_string(),
        reason: e.kind().to_string(),
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CryptoError::LoosePermissions {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

fn write_key_file(path: &Path, key: &MasterKey) -> Result<(), CryptoError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| CryptoError::Unwritable {
        path: path.display().to_string(),
        reason: e.kind().to_string(),
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    let hex = key.to_hex();
    file.write_all(hex.expose()).map_err(fail)?;
    file.write_all(b"\n").map_err(fail)?;
    file.sync_all().map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_a_private_key_file_and_reloads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let src = MasterKeySource::File {
            path: path.clone(),
            create: true,
        };
        let (k1, created) = MasterKey::load(&src).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (k2, created) = MasterKey::load(&src).unwrap();
        assert!(!created);
        assert_eq!(k1.derive("x").unwrap(), k2.derive("x").unwrap());
    }

    #[test]
    fn refuses_a_key_file_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, "00".repeat(32)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let src = MasterKeySource::File {
            path,
            create: false,
        };
        let err = MasterKey::load(&src).unwrap_err();
        assert_eq!(err.code(), "WARD-CRYPTO-PERMS");
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn refuses_a_missing_key_when_not_creating() {
        let dir = tempfile::tempdir().unwrap();
        let src = MasterKeySource::File {
            path: dir.path().join("nope.key"),
            create: false,
        };
        assert_eq!(
            MasterKey::load(&src).unwrap_err().code(),
            "WARD-CRYPTO-UNREADABLE"
        );
    }

    #[test]
    fn refuses_malformed_key_text() {
        assert!(MasterKey::from_hex(b"abcd").is_err());
        assert!(MasterKey::from_hex("zz".repeat(32).as_bytes()).is_err());
        assert!(MasterKey::from_hex(format!(" {}\n", "ab".repeat(32)).as_bytes()).is_ok());
    }

    #[test]
    fn derived_keys_depend_on_label_and_master() {
        let a = MasterKey::from_hex("11".repeat(32).as_bytes()).unwrap();
        let b = MasterKey::from_hex("22".repeat(32).as_bytes()).unwrap();
        assert_ne!(a.derive("page").unwrap(), a.derive("mac").unwrap());
        assert_ne!(a.derive("page").unwrap(), b.derive("page").unwrap());
        assert_eq!(a.derive("page").unwrap().len(), 32);
    }

    #[test]
    fn wrap_binds_the_context() {
        let m = MasterKey::generate().unwrap();
        let dek = SecretBytes::new(vec![9u8; 32]);
        let wrapped = m.wrap(&dek, b"key-1").unwrap();
        assert_eq!(m.unwrap(&wrapped, b"key-1").unwrap(), dek);
        assert!(m.unwrap(&wrapped, b"key-2").is_err());
        let other = MasterKey::generate().unwrap();
        assert!(other.unwrap(&wrapped, b"key-1").is_err());
    }
}
