//! Online backups of the embedded store (docs/design/010-backup.md): a consistent copy taken
//! with SQLite's backup API while the server runs, encrypted with the same page key, and the
//! checks a copy must pass before it is trusted (SQLite and SQLCipher integrity checks).

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use ward_store::{StoreError, StoreResult};

use crate::conn::{PAGE_KEY_LABEL, TRAIL_PAGE_KEY_LABEL, map_err, open_keyed};
use crate::{SqliteStore, trail};

/// The first 16 bytes of every unencrypted SQLite database file.
pub const PLAINTEXT_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// How many times a backup step that found the source busy is retried, and how long apart.
const BUSY_RETRIES: u32 = 50;
const BUSY_PAUSE: Duration = Duration::from_millis(100);

/// What a finished backup copy holds, read back from the copy itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// Size of the copy of the database file in bytes.
    pub bytes: u64,
    /// Size of the copy of the audit trail file (`crate::trail_path` of the copy) in bytes.
    pub trail_bytes: u64,
    /// Resources in the copy: current, not deleted, AuditEvents apart.
    pub resources: u64,
    /// The first audit chain record in the copy (`0` when the trail is empty; more than `1`
    /// when older records were purged under retention).
    pub audit_first: u64,
    /// The last audit chain record in the copy (`0` when the trail is empty).
    pub audit_seq: u64,
    /// Its hash (the genesis hash when the trail is empty).
    pub audit_hash: [u8; 32],
}

/// True when the file at `path` starts like an unencrypted SQLite database.
pub fn is_plaintext_sqlite(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(path)?;
    let mut got = 0;
    while got < head.len() {
        let Some(rest) = head.get_mut(got..) else {
            break;
        };
        match f.read(rest)? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got == head.len() && &head == PLAINTEXT_HEADER)
}

impl SqliteStore {
    /// Writes a consistent copy of the database to `dest`, which must not exist: the file is
    /// created with mode 0600 and encrypted with this store's page key (SQLCipher re-encrypts
    /// every page it copies). The copy is one read snapshot, so writers are not blocked. It is
    /// synced to disk before this returns. A copy that comes out unencrypted is removed and
    /// refused.
    pub async fn backup_to(&self, dest: &Path) -> StoreResult<BackupInfo> {
        let dest: PathBuf = dest.to_path_buf();
        let trail_dest = crate::trail_path(&dest);
        for f in [&dest, &trail_dest] {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(f)
                .map_err(|e| StoreError::Internal(format!("backup file: {}", e.kind())))?;
        }
        // The data file first, then the trail: the copy's trail then holds every record the
        // copy's projection holds (docs/design/011-audit-file.md "Backup and restore").
        let main_key = self.inner.ring.master().derive(PAGE_KEY_LABEL)?;
        let target = dest.clone();
        let copied = self
            .inner
            .pool
            .read(move |src| {
                let mut dst = open_copy(&target, &main_key)?;
                copy_all(src, &mut dst)?;
                let resources = count_resources(&dst)?;
                dst.close().map_err(|(_, e)| map_err(e))?;
                Ok(resources)
            })
            .await;
        let trail_key = self.inner.ring.master().derive(TRAIL_PAGE_KEY_LABEL)?;
        let target = trail_dest.clone();
        let copied = match copied {
            Ok(resources) => {
                self.inner
                    .trail
                    .read(move |src| {
                        let mut dst = open_copy(&target, &trail_key)?;
                        copy_all(src, &mut dst)?;
                        let head = trail::head(&dst)?;
                        let first = trail::first(&dst)?;
                        dst.close().map_err(|(_, e)| map_err(e))?;
                        Ok((resources, head, first))
                    })
                    .await
            }
            Err(e) => Err(e),
        };
        let finish = copied.and_then(|(resources, (audit_seq, audit_hash), audit_first)| {
            let io = |e: std::io::Error| StoreError::Internal(format!("backup file: {}", e.kind()));
            let mut sizes = [0u64; 2];
            for (i, f) in [&dest, &trail_dest].into_iter().enumerate() {
                let file = std::fs::File::open(f).map_err(io)?;
                file.sync_all().map_err(io)?;
                if is_plaintext_sqlite(f).map_err(io)? {
                    return Err(StoreError::Internal(
                        "the backup copy came out unencrypted".into(),
                    ));
                }
                if let Some(size) = sizes.get_mut(i) {
                    *size = file.metadata().map_err(io)?.len();
                }
            }
            Ok(BackupInfo {
                bytes: sizes[0],
                trail_bytes: sizes[1],
                resources,
                audit_first,
                audit_seq,
                audit_hash,
            })
        });
        if finish.is_err() {
            remove_quietly(&dest);
            remove_quietly(&trail_dest);
        }
        finish
    }

    /// SQLite's `PRAGMA integrity_check` and SQLCipher's `PRAGMA cipher_integrity_check` (the
    /// HMAC of every page). Returns the problems found; empty means both passed.
    pub async fn integrity_check(&self) -> StoreResult<Vec<String>> {
        let mut problems = self.inner.pool.read(|c| check_file(c, "")).await?;
        problems.extend(
            self.inner
                .trail
                .read(|c| check_file(c, "audit trail "))
                .await?,
        );
        Ok(problems)
    }

    /// The head of the audit chain: the last `seq` and its hash (`0` and the genesis hash when
    /// the trail is empty).
    pub async fn audit_head(&self) -> StoreResult<(u64, [u8; 32])> {
        self.inner.trail.read(trail::head).await
    }

    /// How many resources the store holds: current, not deleted, AuditEvents apart.
    pub async fn resource_count(&self) -> StoreResult<u64> {
        self.inner.pool.read(count_resources).await
    }

    /// Closes the store and waits until its background thread has closed its connection, so
    /// the files can be moved. Returns false (and closes nothing) while other handles exist.
    pub async fn close(self) -> bool {
        tokio::task::spawn_blocking(move || self.close_now())
            .await
            .unwrap_or(false)
    }

    /// [`SqliteStore::close`] for a blocking context (it waits for the checkpointer thread).
    pub fn close_now(self) -> bool {
        match std::sync::Arc::try_unwrap(self.inner) {
            Ok(inner) => {
                // Joins the appender, then each pool's checkpointer (`Drop for Pool`).
                drop(inner);
                true
            }
            Err(_) => false,
        }
    }
}

/// Both integrity checks of one file; each problem is prefixed with `which`.
fn check_file(c: &Connection, which: &str) -> StoreResult<Vec<String>> {
    let mut problems = Vec::new();
    let mut st = c.prepare("PRAGMA integrity_check").map_err(map_err)?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(map_err)?;
    for r in rows {
        let r = r.map_err(map_err)?;
        if r != "ok" {
            problems.push(format!("{which}integrity_check: {r}"));
        }
    }
    let mut st = c
        .prepare("PRAGMA cipher_integrity_check")
        .map_err(map_err)?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(map_err)?;
    for r in rows {
        problems.push(format!(
            "{which}cipher_integrity_check: {}",
            r.map_err(map_err)?
        ));
    }
    Ok(problems)
}

fn open_copy(path: &Path, page_key: &ward_crypto::SecretBytes) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    open_keyed(path, flags, page_key)
}

fn count_resources(c: &Connection) -> StoreResult<u64> {
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM resources WHERE deleted = 0 AND rtype <> 'AuditEvent'",
            [],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    u64::try_from(n).map_err(|_| StoreError::Integrity)
}

/// Copies every page of `src` into `dst` in one step (one read snapshot of the source),
/// retrying while the source is locked.
fn copy_all(src: &Connection, dst: &mut Connection) -> StoreResult<()> {
    let backup = Backup::new(src, dst).map_err(map_err)?;
    for _ in 0..BUSY_RETRIES {
        match backup.step(-1).map_err(map_err)? {
            StepResult::Done => return Ok(()),
            // Busy, Locked (or More, which a one-step copy does not return): try again.
            _ => std::thread::sleep(BUSY_PAUSE),
        }
    }
    Err(StoreError::Unavailable)
}

fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e.kind(), "could not remove an unfinished backup file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteOptions;
    use ward_crypto::MasterKey;
    use ward_store::KeyRing;

    async fn store(path: &Path, key: &str) -> SqliteStore {
        let master = MasterKey::from_hex(key.as_bytes()).unwrap();
        SqliteStore::open(SqliteOptions::new(path), KeyRing::new(master))
            .await
            .unwrap()
    }

    const KEY: &str = "0101010101010101010101010101010101010101010101010101010101010101";
    const OTHER: &str = "0202020202020202020202020202020202020202020202020202020202020202";

    #[tokio::test]
    async fn backup_is_encrypted_with_the_same_key_and_complete() {
        use ward_store::Store;
        let tmp = tempfile::tempdir().unwrap();
        let live = store(&tmp.path().join("live.db"), KEY).await;
        live.put_meta("m", b"v").await.unwrap();
        let dest = tmp.path().join("copy.db");
        let info = live.backup_to(&dest).await.unwrap();
        assert_eq!(
            (info.audit_first, info.audit_seq, info.resources),
            (0, 0, 0)
        );
        assert_eq!(info.bytes, std::fs::metadata(&dest).unwrap().len());
        assert!(!is_plaintext_sqlite(&dest).unwrap());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // An existing file is never overwritten.
        assert!(live.backup_to(&dest).await.is_err());
        let copy = store(&dest, KEY).await;
        assert_eq!(
            copy.get_meta("m").await.unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert!(copy.integrity_check().await.unwrap().is_empty());
        assert!(copy.close().await);
        let master = MasterKey::from_hex(OTHER.as_bytes()).unwrap();
        let wrong = SqliteStore::open(SqliteOptions::new(&dest), KeyRing::new(master)).await;
        assert!(matches!(wrong, Err(StoreError::WrongKey)));
    }
}
