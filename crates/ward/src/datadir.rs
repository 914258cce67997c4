//! The data directory: created private (0700) on first run; refused when others can read it.
//! Opening it yields the master key, the store and the signing keys.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ward_auth::SigningKeys;
use ward_auth::oauth::KeyRingSource;
use ward_crypto::{MasterKey, MasterKeySource, SecretBytes};
use ward_store::{AuthStore, KeyRing, Store, StoreError};
use ward_store_postgres::PostgresStore;
use ward_store_sqlite::{SqliteOptions, SqliteStore};

use crate::config::StorageConfig;

/// A startup failure with a message that tells the operator what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Message(String),
}

fn msg(m: impl Into<String>) -> StartupError {
    StartupError::Message(m.into())
}

/// Metadata key of the public URL the server last ran under (used by `ward token issue`).
pub const PUBLIC_URL_META: &str = "server/public-url";

/// Creates `dir` (and parents) with mode 0700 if absent; refuses it if group/other have access.
pub fn ensure_private_dir(dir: &Path) -> Result<(), StartupError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| msg(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mode = std::fs::metadata(dir)
        .map_err(|e| msg(format!("cannot read {}: {e}", dir.display())))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(msg(format!(
            "{} is accessible to group or others (mode {mode:o}); run: chmod 700 {}",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Where the master key comes from: `WARD_MASTER_KEY` (read by `main`), or the key file
/// (created only when `create` is set, i.e. by `serve` on first run).
pub fn master_key(
    inline: Option<SecretBytes>,
    file: &Path,
    create: bool,
) -> Result<MasterKey, StartupError> {
    let source = match inline {
        Some(k) => MasterKeySource::Inline(k),
        None => {
            if let Some(parent) = file.parent()
                && create
            {
                ensure_private_dir(parent)?;
            }
            if !create && !file.exists() {
                return Err(msg(format!(
                    "no master key at {}: restore it from your backup or set WARD_MASTER_KEY (a new data directory is initialised by `ward serve`)",
                    file.display()
                )));
            }
            MasterKeySource::File {
                path: file.to_path_buf(),
                create,
            }
        }
    };
    let (key, created) = MasterKey::load(&source).map_err(|e| msg(e.to_string()))?;
    if created {
        tracing::info!(path = %file.display(), "created a new master key; back it up: without it the data cannot be read");
    }
    Ok(key)
}

/// The database file in the data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ward.db")
}

/// The lock file of an embedded-store data directory: `ward serve` holds a shared `flock` on it
/// while it runs, `ward backup restore` an exclusive one (docs/design/010-backup.md).
pub const LOCK_FILE: &str = "ward.lock";

/// A held lock on [`LOCK_FILE`]; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: std::fs::File,
}

/// Takes the data directory's lock without waiting: shared (servers) or exclusive (restore).
/// `Ok(None)` when another process holds it in a conflicting mode.
pub fn try_lock(data_dir: &Path, exclusive: bool) -> Result<Option<DirLock>, StartupError> {
    use rustix::fs::FlockOperation;
    let path = data_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| msg(format!("cannot open {}: {e}", path.display())))?;
    let op = if exclusive {
        FlockOperation::NonBlockingLockExclusive
    } else {
        FlockOperation::NonBlockingLockShared
    };
    match rustix::fs::flock(&file, op) {
        Ok(()) => Ok(Some(DirLock { _file: file })),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(None),
        Err(e) => Err(msg(format!("cannot lock {}: {e}", path.display()))),
    }
}

/// The embedded store at `path`, with a wrong key translated into a clear refusal.
pub async fn open_sqlite(path: &Path, key: MasterKey) -> Result<SqliteStore, StartupError> {
    open_sqlite_with(SqliteOptions::new(path), key).await
}

/// [`open_sqlite`] with the options given.
async fn open_sqlite_with(
    options: SqliteOptions,
    key: MasterKey,
) -> Result<SqliteStore, StartupError> {
    let path = options.path.clone();
    SqliteStore::open(options, KeyRing::new(key))
        .await
        .map_err(|e| match e {
            StoreError::WrongKey => msg(format!(
                "the master key does not open {}: wrong key, or not a Ward database",
                path.display()
            )),
            StoreError::AuditTrail(why) => msg(format!(
                "refusing to open {}: its audit trail file {} {why} (restore the two files \
                 together from one backup; Ward never starts a new trail beside existing data, \
                 nor new data beside an existing trail)",
                path.display(),
                ward_store_sqlite::trail_path(&path).display()
            )),
            other => msg(format!("cannot open {}: {other}", path.display())),
        })
}

/// An opened store, seen through each interface the services need.
#[derive(Clone)]
pub struct Backend {
    pub store: Arc<dyn Store>,
    pub auth: Arc<dyn AuthStore>,
    pub ring: Arc<dyn KeyRingSource>,
}

fn backend<T: Store + AuthStore>(s: Arc<T>) -> Backend {
    Backend {
        store: s.clone(),
        auth: s.clone(),
        ring: s,
    }
}

/// True when the configured store already holds a Ward installation (its master key must then
/// exist; a new key is only created for a new installation).
pub async fn store_exists(data_dir: &Path, storage: &StorageConfig) -> Result<bool, StartupError> {
    match storage {
        StorageConfig::Sqlite => Ok(db_path(data_dir).exists()),
        StorageConfig::Postgres(o) => PostgresStore::status(o)
            .await
            .map(|s| s.initialised)
            .map_err(|e| msg(format!("cannot reach the PostgreSQL database: {e}"))),
    }
}

/// Why a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// By `ward serve`: a new installation is created.
    Serve,
    /// By a console command: the installation must exist.
    Command,
    /// By `ward audit verify`: the installation must exist, and its audit trail is left as
    /// found (records of writes still pending are not chained on opening, so that a truncated
    /// tail shows where it was cut; the embedded store's `SqliteOptions::chain_pending`).
    Verify,
}

/// Opens the configured store (SQLCipher in the data directory, or PostgreSQL), translating
/// a wrong key into a clear refusal.
pub async fn open_store(
    data_dir: &Path,
    storage: &StorageConfig,
    key: MasterKey,
    opening: Opening,
) -> Result<Backend, StartupError> {
    let wrong_key = |what: String| {
        move |e: StoreError| match e {
            StoreError::WrongKey => msg(format!(
                "the master key does not open {what}: wrong key, or not a Ward database"
            )),
            other => msg(format!("cannot open {what}: {other}")),
        }
    };
    match storage {
        StorageConfig::Sqlite => {
            let path = db_path(data_dir);
            if opening != Opening::Serve && !path.exists() {
                return Err(msg(format!(
                    "no database at {}: start `ward serve` once first",
                    path.display()
                )));
            }
            let mut options = SqliteOptions::new(&path);
            options.chain_pending = opening != Opening::Verify;
            Ok(backend(Arc::new(open_sqlite_with(options, key).await?)))
        }
        StorageConfig::Postgres(o) => {
            let store = PostgresStore::open((**o).clone(), KeyRing::new(key))
                .await
                .map_err(wrong_key("the PostgreSQL database".into()))?;
            Ok(backend(Arc::new(store)))
        }
    }
}

/// Loads (or on first run creates) the token signing keys.
pub async fn signing_keys(store: &dyn Store, now: i64) -> Result<SigningKeys, StartupError> {
    SigningKeys::load_or_create(store, now)
        .await
        .map_err(|e| msg(format!("signing keys: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_share_the_lock_and_a_restore_excludes_them() {
        let tmp = tempfile::tempdir().unwrap();
        let a = try_lock(tmp.path(), false).unwrap().expect("first server");
        let b = try_lock(tmp.path(), false).unwrap().expect("second server");
        assert!(try_lock(tmp.path(), true).unwrap().is_none(), "servers run");
        drop((a, b));
        let r = try_lock(tmp.path(), true).unwrap().expect("no server");
        assert!(try_lock(tmp.path(), false).unwrap().is_none(), "restoring");
        drop(r);
        assert!(try_lock(tmp.path(), false).unwrap().is_some());
    }

    #[test]
    fn creates_private_dirs_and_refuses_open_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("a/b");
        ensure_private_dir(&d).unwrap();
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            ensure_private_dir(&d)
                .unwrap_err()
                .to_string()
                .contains("chmod 700")
        );
    }
}
