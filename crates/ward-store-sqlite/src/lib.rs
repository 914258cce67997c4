//! The embedded store: SQLite through SQLCipher, one writer connection and a pool of readers.
//!
//! Pages, indexes, the WAL and temporary data are encrypted by SQLCipher with a page key derived
//! from the master key (HKDF label `ward/sqlcipher-page-key/v1`). Resource bodies are sealed
//! again with AES-256-GCM envelopes from the key ring, in the same format the PostgreSQL backend
//! uses. Durability settings are explained in `docs/design/004-storage.md`.
//!
//! The audit trail of record lives in a second SQLCipher file beside the database
//! (`ward-audit.db`, its own page key and writer), and the data file holds its projection
//! (docs/design/011-audit-file.md).

mod appender;
mod audit;
mod auth;
mod backup;
mod compress;
mod conn;
mod history;
mod index;
mod schema;
mod search;
mod trail;
mod tx;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use ward_store::search::{SearchPage, SearchQuery};
use ward_store::{
    AuditRow, HistoryPage, HistoryQuery, KeyRing, NewVersion, ReindexFn, Store, StoreError,
    StoreResult, StoreTx, StoredResource,
};

pub use crate::backup::{BackupInfo, PLAINTEXT_HEADER, is_plaintext_sqlite};
pub use crate::compress::unpack as unpack_audit_text;
pub use crate::conn::TRAIL_PAGE_KEY_LABEL;
use crate::conn::{Kind, Pool, map_err};
use crate::trail::Entry;

/// Options for opening the embedded store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file (created if absent).
    pub path: PathBuf,
    /// Number of reader connections.
    pub readers: usize,
    /// How long to wait for a lock held by another process, in milliseconds.
    pub busy_timeout_ms: u64,
    /// Chain the records of writes still pending in the data file when the store opens (the
    /// recovery after a crash between a write's commit and its record's append). `false`
    /// leaves the trail as found: `ward audit verify` opens so, because records appended on
    /// opening would take the positions of a truncated tail and hide where it was cut.
    pub chain_pending: bool,
}

impl SqliteOptions {
    /// Defaults for a database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            readers: 4,
            busy_timeout_ms: 5_000,
            chain_pending: true,
        }
    }

    /// The audit trail file beside the database ([`trail_path`]).
    pub fn trail_path(&self) -> PathBuf {
        trail_path(&self.path)
    }
}

/// The audit trail file of the database at `db`: `ward.db` → `ward-audit.db` (a name
/// without the `.db` extension gets `-audit` appended). Docs/design/011-audit-file.md.
pub fn trail_path(db: &Path) -> PathBuf {
    let name = db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let trail = match name.strip_suffix(".db") {
        Some(stem) => format!("{stem}-audit.db"),
        None => format!("{name}-audit"),
    };
    db.with_file_name(trail)
}

/// The SQLCipher-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The thread that appends reads' and security events' records to the trail. First, so
    /// it is dropped (and joined) first: it holds the trail's writer connection.
    appender: appender::Appender,
    /// Envelopes the appender committed, until the projection stores them.
    sealed: Arc<appender::Sealed>,
    pool: Pool,
    /// The audit trail file.
    trail: Pool,
    ring: Arc<KeyRing>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database and its audit trail file, checks the key,
    /// migrates both schemas, loads the data keys, checks that the trail file belongs to the
    /// database (moving a schema-5 trail into it on the first open), and chains any record a
    /// write left pending.
    pub async fn open(options: SqliteOptions, ring: KeyRing) -> StoreResult<Self> {
        let ring = Arc::new(ring);
        let trail_existed = options.trail_path().exists();
        if trail_existed && !options.path.exists() {
            // Ward creates the data file first, so this trail's data file was deleted or
            // moved: refused before anything is created, never a new empty data file beside
            // the old trail.
            return Err(StoreError::AuditTrail(
                "belongs to a data file that is missing",
            ));
        }
        let pool = Pool::open(&options, &ring, Kind::Main).await?;
        let main_pair = pool.read(|c| schema::get_meta(c, trail::PAIR_META)).await?;
        if main_pair.is_some() && !trail_existed {
            return Err(StoreError::AuditTrail("is missing"));
        }
        let trail = Pool::open(&options, &ring, Kind::Trail).await?;
        let chain_pending = options.chain_pending;
        let sealed = Arc::new(appender::Sealed::default());
        let appender =
            appender::Appender::start(trail.writer_lock(), ring.clone(), sealed.clone())?;
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                trail,
                appender,
                sealed,
                ring,
                path: options.path,
            }),
        };
        store.pair(main_pair).await?;
        if chain_pending {
            store.chain_pending_audit().await?;
        }
        store.reconcile_projection().await?;
        Ok(store)
    }

    /// Checks (or, on a new or schema-5 database, makes) the pairing of the data file and the
    /// trail file (docs/design/011-audit-file.md "Pairing", "Upgrade").
    async fn pair(&self, main_pair: Option<Vec<u8>>) -> StoreResult<()> {
        let trail_pair = self.inner.trail.read(trail::pair).await?;
        match (main_pair, trail_pair) {
            (Some(a), Some(b)) if a == b => return Ok(()),
            (Some(_), _) => return Err(StoreError::AuditTrail("belongs to another database")),
            (None, Some(b)) => {
                // The first open stopped after the trail's side of the pairing committed.
                return self.inner.pool.write(move |c| finish_pairing(c, &b)).await;
            }
            (None, None) => {}
        }
        let value = ward_crypto::random_bytes::<16>()
            .map_err(|_| StoreError::Internal("pairing value".into()))?
            .to_vec();
        let (legacy, checkpoints) = self.inner.pool.read(audit::legacy).await?;
        let v = value.clone();
        self.inner
            .trail
            .write(move |c| {
                if trail::head(c)?.0 != 0 {
                    // records in an unpaired trail: not one this database started
                    return Err(StoreError::AuditTrail("belongs to another database"));
                }
                trail::store_legacy(c, &legacy)?;
                for (seq, body) in &checkpoints {
                    trail::add_checkpoint(c, *seq, body)?;
                }
                schema::put_meta(c, trail::PAIR_META, &v)
            })
            .await?;
        self.inner
            .pool
            .write(move |c| finish_pairing(c, &value))
            .await
    }

    /// Removes the projection of records the trail no longer holds (a retention purge that
    /// stopped between the trail's transaction and the data file's).
    async fn reconcile_projection(&self) -> StoreResult<()> {
        let first = self.inner.trail.read(trail::first).await?;
        let range = self.inner.pool.read(audit::projected_range).await?;
        if let Some((lo, _)) = range
            && first > 0
            && lo < first
        {
            self.inner
                .pool
                .write(move |c| audit::purge(c, first - 1).map(|_| ()))
                .await?;
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Takes the audit trail file's write lock and holds it until the guard is dropped: audit
    /// appends of other handles on the same files (and of other processes) wait, and fail
    /// after their busy timeout; appends through this handle wait for the guard. For
    /// fault-injection tests and maintenance.
    pub async fn hold_trail_lock(&self) -> StoreResult<TrailLock> {
        let conn = self.inner.trail.writer().await;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err)?;
        Ok(TrailLock { conn })
    }

    /// SQLite's `EXPLAIN QUERY PLAN` of the first-page query of `query` (one line per plan
    /// step), for tests and operators. Contains no bound values.
    pub async fn explain(&self, query: &SearchQuery) -> StoreResult<Vec<String>> {
        let query = query.clone();
        self.inner
            .pool
            .read(move |c| search::explain(c, &query))
            .await
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn read(&self, rtype: &str, id: &str) -> StoreResult<Option<StoredResource>> {
        let (rtype, id) = (rtype.to_owned(), id.to_owned());
        let ring = self.inner.ring.clone();
        self.inner
            .pool
            .read(move |c| history::read_current(c, &ring, &rtype, &id))
            .await
    }

    async fn vread(
        &self,
        rtype: &str,
        id: &str,
        version: u64,
    ) -> StoreResult<Option<StoredResource>> {
        let (rtype, id) = (rtype.to_owned(), id.to_owned());
        let ring = self.inner.ring.clone();
        self.inner
            .pool
            .read(move |c| history::read_version(c, &ring, &rtype, &id, version))
            .await
    }

    async fn history(&self, query: &HistoryQuery) -> StoreResult<HistoryPage> {
        let query = query.clone();
        let ring = self.inner.ring.clone();
        self.inner
            .pool
            .read(move |c| history::history(c, &ring, &query))
            .await
    }

    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
        let tx = tx::SqliteTx::begin(
            &self.inner.pool,
            self.inner.ring.clone(),
            self.inner.sealed.clone(),
        )
        .await?;
        Ok(Box::new(tx))
    }

    async fn get_meta(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        let name = name.to_owned();
        self.inner
            .pool
            .read(move |c| schema::get_meta(c, &name))
            .await
    }

    async fn put_meta(&self, name: &str, value: &[u8]) -> StoreResult<()> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.inner
            .pool
            .write(move |c| schema::put_meta(c, &name, &value))
            .await
    }

    async fn create_meta(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
        let (name, value) = (name.to_owned(), value.to_vec());
        self.inner
            .pool
            .write(move |c| {
                c.execute(
                    "INSERT INTO meta(name, value) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                    rusqlite::params![name, value],
                )
                .map_err(map_err)?;
                c.query_row("SELECT value FROM meta WHERE name = ?1", [&name], |r| {
                    r.get::<_, Vec<u8>>(0)
                })
                .map_err(map_err)
            })
            .await
    }

    async fn audit_rows(&self, after_seq: u64, limit: usize) -> StoreResult<Vec<AuditRow>> {
        let ring = self.inner.ring.clone();
        self.inner
            .trail
            .read(move |c| trail::rows(c, &ring, after_seq, limit))
            .await
    }

    async fn audit_checkpoints(&self) -> StoreResult<Vec<String>> {
        self.inner.trail.read(trail::checkpoints).await
    }

    async fn audit_checkpointed(&self) -> StoreResult<Option<u64>> {
        self.inner.trail.read(trail::checkpointed).await
    }

    async fn audit_projection(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Option<Vec<AuditRow>>> {
        let ring = self.inner.ring.clone();
        self.inner
            .pool
            .read(move |c| audit::projected(c, &ring, after_seq, limit))
            .await
            .map(Some)
    }

    async fn add_audit_checkpoint(&self, seq: u64, body: String) -> StoreResult<()> {
        self.inner
            .trail
            .write(move |c| trail::add_checkpoint(c, seq, &body))
            .await
    }

    async fn audit_index_state(&self) -> StoreResult<(u64, u64)> {
        let indexed = self.inner.pool.read(audit::indexed).await?;
        let head = self.inner.trail.read(trail::head).await?.0;
        Ok((indexed, head))
    }

    async fn append_audit_committed(
        &self,
        events: Vec<NewVersion>,
    ) -> StoreResult<Vec<(u64, [u8; 32])>> {
        self.inner.appender.append(events).await
    }

    fn batches_audit_appends(&self) -> bool {
        true
    }

    fn announce_audit(&self) -> Option<ward_store::Announced> {
        Some(self.inner.appender.announce())
    }

    async fn chain_pending_audit(&self) -> StoreResult<Vec<(u64, [u8; 32])>> {
        let ring = self.inner.ring.clone();
        let pending = self
            .inner
            .pool
            .read(move |c| audit::pending(c, &ring))
            .await?;
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        self.inner
            .trail
            .write(move |c| trail::append(c, &pending))
            .await
    }

    async fn unchained_audit(&self) -> StoreResult<u64> {
        let ids = self.inner.pool.read(audit::pending_ids).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.inner
            .trail
            .read(move |c| trail::count_missing(c, &ids))
            .await
    }

    async fn purge_audit(
        &self,
        through: u64,
        record: NewVersion,
    ) -> StoreResult<(u64, (u64, [u8; 32]))> {
        let ring = self.inner.ring.clone();
        let (n, head) = self
            .inner
            .trail
            .write(move |c| {
                let n = trail::purge(c, through)?;
                let entry = Entry::seal(&ring, &record)?;
                let linked = trail::append(c, &[entry])?;
                let head = linked
                    .first()
                    .copied()
                    .ok_or_else(|| StoreError::Internal("purge record not linked".into()))?;
                Ok((n, head))
            })
            .await?;
        // The projection of what the trail no longer holds goes too (again when the store next
        // opens, should this stop half-way).
        self.inner
            .pool
            .write(move |c| audit::purge(c, through).map(|_| ()))
            .await?;
        Ok((n, head))
    }

    fn keyring(&self) -> &KeyRing {
        &self.inner.ring
    }

    async fn reindex(&self, rtype: Option<&str>, index: Arc<ReindexFn>) -> StoreResult<u64> {
        let rtype = rtype.map(str::to_owned);
        let mut after = 0;
        let mut total = 0;
        loop {
            let (ring, rt, f) = (self.inner.ring.clone(), rtype.clone(), index.clone());
            let (n, last) = self
                .inner
                .pool
                .write(move |c| index::reindex_batch(c, &ring, rt.as_deref(), after, &*f))
                .await?;
            total += n;
            match last {
                Some(l) => after = l,
                None => return Ok(total),
            }
        }
    }

    async fn search(&self, query: &SearchQuery) -> StoreResult<SearchPage> {
        let query = query.clone();
        let ring = self.inner.ring.clone();
        self.inner
            .pool
            .read(move |c| search::in_read_tx(c, |c| search::run(c, &ring, &query)))
            .await
    }
}

/// The audit trail file's write lock ([`SqliteStore::hold_trail_lock`]), released on drop.
#[derive(Debug)]
pub struct TrailLock {
    conn: tokio::sync::OwnedMutexGuard<rusqlite::Connection>,
}

impl Drop for TrailLock {
    fn drop(&mut self) {
        conn::reset(&self.conn);
    }
}

/// Records the pairing value in the data file; the legacy checkpoints now live in the trail.
fn finish_pairing(c: &rusqlite::Connection, value: &[u8]) -> StoreResult<()> {
    c.execute("DELETE FROM audit_checkpoints", [])
        .map_err(map_err)?;
    schema::put_meta(c, trail::PAIR_META, value)
}

#[cfg(test)]
mod upgrade_tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use rusqlite::{OpenFlags, params};
    use ward_crypto::MasterKey;
    use ward_store::{KeyRing, NewVersion, Store, Timestamp, WriteMethod, body_aad};

    use super::{SqliteOptions, SqliteStore};

    fn ring() -> KeyRing {
        KeyRing::new(MasterKey::from_hex("3c".repeat(32).as_bytes()).unwrap())
    }

    /// A database as Ward wrote it at schema 5: the chain in the data file, with its AuditEvent
    /// versions and a checkpoint.
    fn schema_5(path: &std::path::Path) -> Vec<[u8; 32]> {
        let ring = ring();
        let key = ring.master().derive(crate::conn::PAGE_KEY_LABEL).unwrap();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let mut c = crate::conn::open_keyed(path, flags, &key).unwrap();
        let tx = c.transaction().unwrap();
        for sql in &crate::schema::MIGRATIONS[..5] {
            tx.execute_batch(sql).unwrap();
        }
        tx.execute_batch("PRAGMA user_version = 5").unwrap();
        tx.commit().unwrap();
        crate::schema::load_keys(&mut c, &ring).unwrap();
        let mut prev = ward_audit::GENESIS;
        let mut hashes = Vec::new();
        for seq in 1..=3u64 {
            let id = format!("old-{seq}");
            let text = format!(r#"{{"resourceType":"AuditEvent","id":"{id}","action":"E"}}"#);
            let sealed = ring
                .seal(&body_aad("AuditEvent", &id, 1), text.as_bytes())
                .unwrap();
            c.execute(
                "INSERT INTO resources(rtype, id, version, last_updated, deleted, seq) \
                 VALUES ('AuditEvent', ?1, 1, 7, 0, 0)",
                [&id],
            )
            .unwrap();
            let rid = c.last_insert_rowid();
            c.execute(
                "INSERT INTO versions(rid, rtype, id, version, last_updated, method, body, patients) \
                 VALUES (?1, 'AuditEvent', ?2, 1, 7, 1, ?3, 'p9')",
                params![rid, id, sealed],
            )
            .unwrap();
            let vseq = c.last_insert_rowid();
            c.execute("UPDATE resources SET seq = ?1 WHERE rid = ?2", [vseq, rid])
                .unwrap();
            let hash = ward_audit::link_hash(seq, &prev, text.as_bytes());
            c.execute(
                "INSERT INTO audit_chain(seq, vseq, prev_hash, hash) VALUES (?1, ?2, ?3, ?4)",
                params![
                    i64::try_from(seq).unwrap(),
                    vseq,
                    prev.as_slice(),
                    hash.as_slice()
                ],
            )
            .unwrap();
            prev = hash;
            hashes.push(hash);
        }
        c.execute(
            "INSERT INTO audit_checkpoints(seq, body) VALUES (3, '{\"seq\":3}')",
            [],
        )
        .unwrap();
        hashes
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_schema_5_database_moves_its_trail_into_the_trail_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ward.db");
        let hashes = schema_5(&path);
        let store = SqliteStore::open(SqliteOptions::new(&path), ring())
            .await
            .unwrap();
        let rows = store.audit_rows(0, 10).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.hash).collect::<Vec<_>>(),
            hashes,
            "every record moved with its links"
        );
        assert_eq!(rows[1].id.as_deref(), Some("old-2"));
        assert_eq!(rows[1].patients, vec!["p9".to_owned()]);
        assert!(
            rows[2].body.as_ref().is_some_and(
                |b| b.starts_with(b"{\"resourceType\":\"AuditEvent\",\"id\":\"old-3\"")
            )
        );
        assert_eq!(
            store.audit_checkpoints().await.unwrap(),
            vec!["{\"seq\":3}".to_owned()]
        );
        // the old rows stay as the projection: readable; records a schema-5 server had not
        // indexed yet (here all three) get only their index rows when projected
        assert_eq!(store.audit_index_state().await.unwrap(), (0, 3));
        assert!(store.read("AuditEvent", "old-1").await.unwrap().is_some());
        let chunk = ward_store::contract::projected(&rows, |_| Default::default());
        let mut tx = store.begin().await.unwrap();
        assert!(tx.index_audit(0, 3, chunk).await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(store.audit_index_state().await.unwrap(), (3, 3));
        let versions = store
            .vread("AuditEvent", "old-2", 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(versions.meta.seq, 2, "the old version, not a second copy");
        // the chain goes on where it was
        let linked = store
            .append_audit_committed(vec![NewVersion {
                rtype: "AuditEvent".into(),
                id: "new-4".into(),
                version: 1,
                last_updated: Timestamp(9),
                method: WriteMethod::Create,
                body: Some(br#"{"resourceType":"AuditEvent","id":"new-4"}"#.to_vec().into()),
                index: Default::default(),
                patients: Vec::new(),
            }])
            .await
            .unwrap();
        assert_eq!(linked[0].0, 4);
        assert_eq!(
            store.audit_rows(3, 1).await.unwrap()[0].prev_hash,
            hashes[2]
        );
        // a second open finds the pairing made and moves nothing again
        assert!(store.close().await);
        let again = SqliteStore::open(SqliteOptions::new(&path), ring())
            .await
            .unwrap();
        assert_eq!(again.audit_rows(0, 10).await.unwrap().len(), 4);
    }
}

#[cfg(test)]
mod drop_tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use ward_crypto::MasterKey;
    use ward_store::{KeyRing, NewVersion, Store, Timestamp, WriteMethod};

    use super::{SqliteOptions, SqliteStore};

    /// Dropping the last handle ends the store's threads and closes every connection before
    /// the drop returns, so no SQLCipher connection is closed while the process exits (the
    /// `atexit` race behind a SIGSEGV in `ward user add`, `Drop for Pool`).
    #[tokio::test(flavor = "multi_thread")]
    async fn dropping_the_store_joins_its_threads_and_closes_its_connections() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::new(MasterKey::from_hex("5a".repeat(32).as_bytes()).unwrap());
        let store = SqliteStore::open(SqliteOptions::new(dir.path().join("ward.db")), ring)
            .await
            .unwrap();
        store
            .append_audit_committed(vec![NewVersion {
                rtype: "AuditEvent".into(),
                id: "a1".into(),
                version: 1,
                last_updated: Timestamp(1),
                method: WriteMethod::Create,
                body: Some(br#"{"resourceType":"AuditEvent","id":"a1"}"#.to_vec().into()),
                index: Default::default(),
                patients: Vec::new(),
            }])
            .await
            .unwrap();
        // What the threads hold: each checkpointer its pool's flag, the appender the trail's
        // writer connection.
        let flags = [
            store.inner.pool.closed_flag(),
            store.inner.trail.closed_flag(),
        ];
        let trail_writer = Arc::downgrade(&store.inner.trail.writer_lock());
        tokio::task::spawn_blocking(move || drop(store))
            .await
            .unwrap();
        for flag in &flags {
            assert!(flag.load(std::sync::atomic::Ordering::Acquire));
            assert_eq!(
                Arc::strong_count(flag),
                1,
                "a checkpointer thread still runs"
            );
        }
        assert!(
            trail_writer.upgrade().is_none(),
            "the trail's writer connection outlived the drop"
        );
    }
}
