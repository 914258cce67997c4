//! The embedded store: SQLite through SQLCipher, one writer connection and a pool of readers.
//!
//! Pages, indexes, the WAL and temporary data are encrypted by SQLCipher with a page key derived
//! from the master key (HKDF label `ward/sqlcipher-page-key/v1`). Resource bodies are sealed
//! again with AES-256-GCM envelopes from the key ring, in the same format the PostgreSQL backend
//! uses. Durability settings are explained in `docs/design/004-storage.md`.

mod audit;
mod auth;
mod backup;
mod conn;
mod history;
mod index;
mod schema;
mod search;
mod tx;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use ward_store::search::{SearchPage, SearchQuery};
use ward_store::{
    AuditRow, HistoryPage, HistoryQuery, KeyRing, NewVersion, ReindexFn, Store, StoreResult,
    StoreTx, StoredResource,
};

pub use crate::backup::{BackupInfo, PLAINTEXT_HEADER, is_plaintext_sqlite};
use crate::conn::{Pool, map_err};

/// Options for opening the embedded store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file (created if absent).
    pub path: PathBuf,
    /// Number of reader connections.
    pub readers: usize,
    /// How long to wait for a lock held by another process, in milliseconds.
    pub busy_timeout_ms: u64,
}

impl SqliteOptions {
    /// Defaults for a database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            readers: 4,
            busy_timeout_ms: 5_000,
        }
    }
}

/// The SQLCipher-backed store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    ring: Arc<KeyRing>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database, checks the key, migrates the schema and loads
    /// the data keys.
    pub async fn open(options: SqliteOptions, ring: KeyRing) -> StoreResult<Self> {
        let ring = Arc::new(ring);
        let pool = Pool::open(&options, &ring).await?;
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                ring,
                path: options.path,
            }),
        };
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
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
        let tx = tx::SqliteTx::begin(&self.inner.pool, self.inner.ring.clone()).await?;
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
            .pool
            .read(move |c| audit::rows(c, &ring, after_seq, limit))
            .await
    }

    async fn audit_checkpoints(&self) -> StoreResult<Vec<String>> {
        self.inner.pool.read(audit::checkpoints).await
    }

    async fn audit_index_state(&self) -> StoreResult<(u64, u64)> {
        self.inner.pool.read(audit::index_state).await
    }

    async fn append_audit_committed(
        &self,
        events: Vec<NewVersion>,
    ) -> StoreResult<Vec<(u64, [u8; 32])>> {
        let ring = self.inner.ring.clone();
        self.inner
            .pool
            .write(move |c| audit::append(c, &ring, &events))
            .await
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
