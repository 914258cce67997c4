//! Connections: opening with the page key, pragmas, the writer lock and the reader pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::sync::{OwnedMutexGuard, Semaphore};
use ward_crypto::SecretBytes;
use ward_store::{KeyRing, StoreError, StoreResult};

use crate::SqliteOptions;
use crate::schema;

pub(crate) const PAGE_KEY_LABEL: &str = "ward/sqlcipher-page-key/v1";
/// The page key of the audit trail file (`ward-audit.db`).
pub const TRAIL_PAGE_KEY_LABEL: &str = "ward/sqlcipher-audit-page-key/v1";

/// Maps a SQLite error to a storage error, logging the detail once (no data values: SQLite's
/// messages name tables and columns, never bound parameters).
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::NotADatabase => return StoreError::WrongKey,
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => return StoreError::Unavailable,
            ErrorCode::ConstraintViolation => return StoreError::VersionConflict,
            _ => {}
        }
    }
    tracing::error!(error = %e, "sqlite error");
    StoreError::Internal(kind(&e))
}

/// The error's kind for `StoreError::Internal` (never shown to clients): SQLite's result code,
/// or rusqlite's error variant — no message text, so no SQL and no values.
fn kind(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            format!("sqlite {:?} (code {})", f.code, f.extended_code)
        }
        rusqlite::Error::QueryReturnedNoRows => "sqlite: no rows".into(),
        rusqlite::Error::InvalidColumnType(..) | rusqlite::Error::FromSqlConversionFailure(..) => {
            "sqlite: column type".into()
        }
        rusqlite::Error::InvalidParameterCount(..) | rusqlite::Error::InvalidParameterName(_) => {
            "sqlite: parameters".into()
        }
        _ => "sqlite".into(),
    }
}

/// The writer connection (one, behind an async mutex) and the reader connections.
#[derive(Debug)]
pub(crate) struct Pool {
    writer: Arc<tokio::sync::Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
    /// Set when the pool is dropped: the checkpointer thread ends.
    closed: Arc<AtomicBool>,
    /// The checkpointer thread, joined when the pool is dropped.
    checkpointer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Dropping the pool waits for the checkpointer thread to close its connection. A connection
/// closing on a thread nobody waits for races the process's exit: SQLCipher's `atexit`
/// handler frees its global state while `sqlite3_close` still uses it, and the process dies
/// of SIGSEGV after its work is done (the `cli_auth` CI failure, docs/design/004-storage.md
/// "Concurrency").
impl Drop for Pool {
    fn drop(&mut self) {
        // Stop the checkpointer (waking it from its wait) and wait until its connection is
        // closed; the other connections close right after, with the pool's fields.
        self.closed.store(true, Ordering::Release);
        let thread = self.checkpointer.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            t.thread().unpark();
            if t.join().is_err() {
                tracing::error!("the WAL checkpointer thread panicked");
            }
        }
    }
}

/// How often the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// The writer checkpoints by itself only when the WAL grows past this many pages (~64 MiB),
/// i.e. when the checkpointer cannot keep up; normally the checkpointer does it first.
const WRITER_AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// Which database a pool serves: what its writer sets up when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `ward.db`: the data, its schema and the data keys.
    Main,
    /// `ward-audit.db`: the trail of record (docs/design/011-audit-file.md).
    Trail,
}

impl Pool {
    pub(crate) async fn open(
        options: &SqliteOptions,
        ring: &Arc<KeyRing>,
        kind: Kind,
    ) -> StoreResult<Self> {
        let (path, label, readers) = match kind {
            Kind::Main => (options.path.clone(), PAGE_KEY_LABEL, options.readers),
            Kind::Trail => (options.trail_path(), TRAIL_PAGE_KEY_LABEL, 2),
        };
        let page_key = ring.master().derive(label)?;
        let busy = options.busy_timeout_ms;
        let ring = ring.clone();
        let (writer, readers, checkpointer) = tokio::task::spawn_blocking(move || {
            let mut writer = open_conn(&path, busy, &page_key)?;
            // The one writer is the store's bottleneck: a larger page cache, and WAL
            // checkpoints moved to their own thread (below) instead of every ~1,000 pages of
            // commits on the writer's critical path.
            writer
                .execute_batch(&format!(
                    "PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES};"
                ))
                .map_err(map_err)?;
            match kind {
                Kind::Main => {
                    schema::migrate(&mut writer)?;
                    schema::load_keys(&mut writer, &ring)?;
                }
                Kind::Trail => crate::trail::migrate(&mut writer)?,
            }
            let readers = (0..readers.max(1))
                .map(|_| open_conn(&path, busy, &page_key))
                .collect::<StoreResult<Vec<_>>>()?;
            let checkpointer = open_conn(&path, busy, &page_key)?;
            Ok::<_, StoreError>((writer, readers, checkpointer))
        })
        .await
        .map_err(|_| StoreError::Internal("open task".into()))??;
        let closed = Arc::new(AtomicBool::new(false));
        let thread = spawn_checkpointer(checkpointer, closed.clone())?;
        let n = readers.len();
        Ok(Self {
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            readers: Arc::new(Mutex::new(readers)),
            permits: Arc::new(Semaphore::new(n)),
            closed,
            checkpointer: Mutex::new(Some(thread)),
        })
    }

    /// Runs `f` on a reader connection in the blocking pool.
    pub(crate) async fn read<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable)?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let conn = readers
                .lock()
                .map_err(|_| StoreError::Internal("reader pool".into()))?
                .pop()
                .ok_or_else(|| StoreError::Internal("reader pool empty".into()))?;
            let result = f(&conn);
            if let Ok(mut pool) = readers.lock() {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|_| StoreError::Internal("read task".into()))?
    }

    /// The flag that tells the checkpointer to end (for tests).
    #[cfg(test)]
    pub(crate) fn closed_flag(&self) -> Arc<AtomicBool> {
        self.closed.clone()
    }

    /// The writer connection's lock (for a thread of its own).
    pub(crate) fn writer_lock(&self) -> Arc<tokio::sync::Mutex<Connection>> {
        self.writer.clone()
    }

    /// Takes the writer connection exclusively.
    pub(crate) async fn writer(&self) -> OwnedMutexGuard<Connection> {
        self.writer.clone().lock_owned().await
    }

    /// Runs `f` on the writer connection inside its own transaction, committed before it
    /// returns, in one hop to the blocking pool. The transaction is `IMMEDIATE` (the write
    /// lock taken at its start, as `SqliteTx` does), so that a writer in another process (a
    /// `ward` command beside the server) makes it wait, never fail half-way on the upgrade.
    pub(crate) async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let mut guard = self.writer().await;
        tokio::task::spawn_blocking(move || {
            reset(&guard);
            let tx = guard
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let r = f(&tx)?;
            tx.commit().map_err(map_err)?;
            Ok(r)
        })
        .await
        .map_err(|_| StoreError::Internal("write task".into()))?
    }
}

/// Starts the thread that checkpoints the WAL in the background. `PASSIVE` never blocks the
/// writer or the readers: it copies the frames every reader is done with, and the writer wraps
/// the WAL around once everything is copied. Durability does not depend on it (a commit is
/// durable in the WAL, `synchronous = FULL`); it only bounds the WAL's size and the readers'
/// lookups in it.
fn spawn_checkpointer(
    conn: Connection,
    closed: Arc<AtomicBool>,
) -> StoreResult<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ward-sqlite-checkpoint".into())
        .spawn(move || {
            loop {
                // Woken early when the pool is dropped (or spuriously: one checkpoint more).
                std::thread::park_timeout(CHECKPOINT_EVERY);
                if closed.load(Ordering::Acquire) {
                    break;
                }
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "background WAL checkpoint failed");
                }
            }
        })
        .map_err(|_| StoreError::Internal("checkpoint thread".into()))
}

/// Rolls back a transaction left open by a cancelled or failed task.
pub(crate) fn reset(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "rollback of an abandoned transaction failed");
    }
}

fn open_conn(
    path: &std::path::Path,
    busy_timeout_ms: u64,
    page_key: &SecretBytes,
) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = open_keyed(path, flags, page_key)?;
    conn.busy_timeout(std::time::Duration::from_millis(busy_timeout_ms))
        .map_err(map_err)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA secure_delete = ON;
         PRAGMA cache_size = -16384;",
    )
    .map_err(map_err)?;
    // The query planner stability guarantee: a statement's plan never depends on the values
    // bound to it. Without it, SQLite (with STAT4 and its bound-value optimizations) marks
    // statements such as the current-version read for re-preparation on every new binding,
    // so the statement cache saved nothing: every read re-parsed its SQL (profiled: ~10% of
    // an audited read workload). Ward's plans are pinned by the `plans` tests anyway.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// Waits, once per process, until SQLCipher is initialized. SQLite marks itself initialized
/// before it runs SQLCipher's own initialization (`SQLITE_EXTRA_INIT`, outside its mutexes),
/// so a thread whose first open overlapped another thread's got SQLITE_ERROR from
/// `PRAGMA key` ("sqlcipher not initialized"). Every other caller waits here until one thread
/// has keyed an in-memory database, which succeeds only once that initialization is done.
fn sqlcipher_ready() {
    static READY: std::sync::Once = std::sync::Once::new();
    READY.call_once(|| {
        for _ in 0..1_000 {
            let keyed = Connection::open_in_memory()
                .and_then(|c| c.execute_batch("PRAGMA key = \"x'00'\";"));
            if keyed.is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // Not ready after a second: the opens below report SQLCipher's error themselves.
        tracing::error!("SQLCipher did not finish initializing");
    });
}

/// Opens `path` with the SQLCipher page key and checks the key with a first read
/// (`StoreError::WrongKey` when it does not open the file).
pub(crate) fn open_keyed(
    path: &std::path::Path,
    flags: OpenFlags,
    page_key: &SecretBytes,
) -> StoreResult<Connection> {
    sqlcipher_ready();
    let conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
    let pragma = SecretBytes::new(
        format!("PRAGMA key = \"x'{}'\";", hex::encode(page_key.expose())).into_bytes(),
    );
    let text = std::str::from_utf8(pragma.expose())
        .map_err(|_| StoreError::Internal("page key".into()))?;
    conn.execute_batch(text).map_err(map_err)?;
    // The first read fails with SQLITE_NOTADB when the key is wrong.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(map_err)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_name_the_sqlite_code_and_nothing_else() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full: 'Patient' 'Smith'".into()),
        );
        match map_err(full) {
            StoreError::Internal(k) => {
                assert_eq!(k, "sqlite DiskFull (code 13)");
            }
            other => panic!("unexpected {other:?}"),
        }
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(matches!(map_err(busy), StoreError::Unavailable));
    }
}

#[cfg(test)]
mod first_open_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{Arc, Barrier};

    use rusqlite::OpenFlags;
    use ward_crypto::SecretBytes;

    use super::open_keyed;

    /// Set in the child processes this test starts.
    const CHILD: &str = "WARD_TEST_FIRST_OPEN_CHILD";
    const NAME: &str = "conn::first_open_tests::concurrent_first_opens_all_take_their_key";

    /// SQLCipher's own initialization runs after SQLite marks itself initialized, so a thread
    /// that opens a database while another thread's first open is still in it used to get
    /// SQLITE_ERROR from `PRAGMA key` (seen as a rare CI failure of a test that opened its store
    /// beside others). Only the first opens of a process race, so the test starts fresh
    /// processes of itself, eight at a time, each with 64 threads opening at once. Without
    /// `sqlcipher_ready` it failed in 9 of 16 runs (of half as many processes) on the 2-core
    /// CI machine kind; with it, in none of 12 (~1,150 processes).
    #[test]
    fn concurrent_first_opens_all_take_their_key() {
        if std::env::var_os(CHILD).is_some() {
            return first_opens_at_once();
        }
        let exe = std::env::current_exe().unwrap();
        // Processes side by side: the race needs the initializing thread to lose its core.
        for _ in 0..12 {
            let children: Vec<_> = (0..8)
                .map(|_| {
                    std::process::Command::new(&exe)
                        .args(["--exact", NAME, "--test-threads=1"])
                        .env(CHILD, "1")
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect();
            for child in children {
                let out = child.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "a first open failed:\n{}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
        }
    }

    fn first_opens_at_once() {
        const THREADS: usize = 64;
        let dir = tempfile::tempdir().unwrap();
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let path = dir.path().join(format!("{i}.db"));
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let key = SecretBytes::new(vec![7; 32]);
                    barrier.wait();
                    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
                    open_keyed(&path, flags, &key).map(|_| ())
                })
            })
            .collect();
        for h in handles {
            let r = h.join().unwrap();
            assert!(r.is_ok(), "{r:?}");
        }
    }
}
