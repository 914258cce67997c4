//! The PostgreSQL store: the same schema, versioning rules, body envelopes and search
//! semantics as the embedded store, for several stateless Ward nodes sharing one database.
//!
//! Writers are serialised by a transaction-scoped advisory lock; reads, searches and the
//! security state run concurrently on a connection pool, optionally reading from a replica
//! that has caught up with the primary. See `docs/design/009-postgres.md`.

mod audit;
mod auth;
mod conn;
mod history;
mod index;
mod schema;
mod search;
mod tx;

#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use ward_store::search::{SearchPage, SearchQuery};
use ward_store::{
    AuditRow, HistoryPage, HistoryQuery, KeyRing, NewVersion, ReindexFn, Store, StoreError,
    StoreResult, StoreTx, StoredResource,
};

pub use conn::PgOptions;
pub use schema::{SCHEMA_VERSION, SchemaStatus};
pub use search::Postgres;

use crate::conn::{get, map_err, timed};
use crate::tx::abandon;

/// Checks the options without connecting: URL syntax, `sslmode`, the CA file.
pub fn check_options(o: &PgOptions) -> StoreResult<()> {
    conn::pool(&o.url, o)?;
    if let Some(r) = &o.read_url {
        conn::pool(r, o)?;
    }
    Ok(())
}

/// The PostgreSQL-backed store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    primary: Pool,
    replica: Option<Pool>,
    ring: Arc<KeyRing>,
    limit: Duration,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("replica", &self.replica.is_some())
            .finish_non_exhaustive()
    }
}

/// A connection whose open read transaction is rolled back if the caller goes away early.
struct Held(Option<Object>);

impl Held {
    fn conn(&self) -> StoreResult<&Object> {
        self.0
            .as_ref()
            .ok_or_else(|| StoreError::Internal("connection".into()))
    }
    /// Returns the (idle) connection to the pool.
    fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            abandon(c);
        }
    }
}

impl PostgresStore {
    /// Connects, migrates the schema (under the migration lock) and loads the data keys,
    /// creating the first on a new database.
    pub async fn open(options: PgOptions, ring: KeyRing) -> StoreResult<Self> {
        let ring = Arc::new(ring);
        let primary = conn::pool(&options.url, &options)?;
        let replica = match &options.read_url {
            Some(u) => Some(conn::pool(u, &options)?),
            None => None,
        };
        let limit = options.statement_timeout + Duration::from_secs(1);
        {
            let c = timed(options.connect_timeout, get(&primary)).await?;
            schema::migrate(&c, Some(&ring)).await?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                primary,
                replica,
                ring,
                limit,
            }),
        })
    }

    /// The schema state of the database (for `ward db status`); changes nothing.
    pub async fn status(options: &PgOptions) -> StoreResult<SchemaStatus> {
        let pool = conn::pool(&options.url, options)?;
        let c = timed(options.connect_timeout, get(&pool)).await?;
        schema::status(&c).await
    }

    /// Applies pending migrations only (for `ward db migrate`); returns the versions applied.
    pub async fn migrate(options: &PgOptions) -> StoreResult<Vec<i64>> {
        let pool = conn::pool(&options.url, options)?;
        let c = timed(options.connect_timeout, get(&pool)).await?;
        schema::migrate(&c, None).await
    }

    /// PostgreSQL's `EXPLAIN` of the first-page query of `query`, one line per plan node.
    pub async fn explain(&self, query: &SearchQuery) -> StoreResult<Vec<String>> {
        let c = get(&self.inner.primary).await?;
        search::explain(&c, query).await
    }

    /// A connection to read from: the replica when one is configured and has replayed
    /// everything the primary had written when this read began (so a client always sees its
    /// own acknowledged writes), else the primary.
    async fn reader(&self) -> StoreResult<Object> {
        let Some(replica) = &self.inner.replica else {
            return get(&self.inner.primary).await;
        };
        let lsn: String = {
            let p = get(&self.inner.primary).await?;
            p.query_one("SELECT pg_current_wal_lsn()::text", &[])
                .await
                .map_err(map_err)?
                .get(0)
        };
        if let Ok(r) = get(replica).await {
            let caught_up = r
                .query_one(
                    "SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    &[&lsn],
                )
                .await
                .map(|row| row.get::<_, Option<bool>>(0).unwrap_or(false));
            if let Ok(true) = caught_up {
                return Ok(r);
            }
        }
        get(&self.inner.primary).await
    }
}

impl PostgresStore {
    async fn write_tx(&self) -> StoreResult<tx::PgTx> {
        tx::PgTx::begin(
            &self.inner.primary,
            self.inner.ring.clone(),
            self.inner.limit,
        )
        .await
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn read(&self, rtype: &str, id: &str) -> StoreResult<Option<StoredResource>> {
        timed(self.inner.limit, async {
            let c = self.reader().await?;
            history::read_current(&c, &self.inner.ring, rtype, id).await
        })
        .await
    }

    async fn vread(
        &self,
        rtype: &str,
        id: &str,
        version: u64,
    ) -> StoreResult<Option<StoredResource>> {
        timed(self.inner.limit, async {
            let c = self.reader().await?;
            history::read_version(&c, &self.inner.ring, rtype, id, version).await
        })
        .await
    }

    async fn history(&self, query: &HistoryQuery) -> StoreResult<HistoryPage> {
        timed(self.inner.limit, async {
            let c = self.reader().await?;
            history::history(&c, &self.inner.ring, query).await
        })
        .await
    }

    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
        Ok(Box::new(self.write_tx().await?))
    }

    async fn begin_projection(&self) -> StoreResult<Box<dyn StoreTx>> {
        Ok(Box::new(
            tx::PgTx::begin_projection(
                &self.inner.primary,
                self.inner.ring.clone(),
                self.inner.limit,
            )
            .await?,
        ))
    }

    async fn get_meta(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
        timed(self.inner.limit, async {
            let c = get(&self.inner.primary).await?;
            schema::get_meta(&c, name).await
        })
        .await
    }

    async fn put_meta(&self, name: &str, value: &[u8]) -> StoreResult<()> {
        timed(self.inner.limit, async {
            let c = get(&self.inner.primary).await?;
            schema::put_meta(&c, name, value).await
        })
        .await
    }

    async fn create_meta(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
        timed(self.inner.limit, async {
            let c = get(&self.inner.primary).await?;
            // The insert waits on a concurrent inserter's row; the select then sees its value.
            c.execute(
                "INSERT INTO meta(name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &value],
            )
            .await
            .map_err(map_err)?;
            let row = c
                .query_one("SELECT value FROM meta WHERE name = $1", &[&name])
                .await
                .map_err(map_err)?;
            Ok(row.get(0))
        })
        .await
    }

    fn keyring(&self) -> &KeyRing {
        &self.inner.ring
    }

    async fn search(&self, query: &SearchQuery) -> StoreResult<SearchPage> {
        timed(self.inner.limit, async {
            let held = Held(Some(self.reader().await?));
            let c = held.conn()?;
            c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await
                .map_err(map_err)?;
            let page = search::run(c, &self.inner.ring, query).await?;
            c.batch_execute("COMMIT").await.map_err(map_err)?;
            held.release();
            Ok(page)
        })
        .await
    }

    async fn audit_rows(&self, after_seq: u64, limit: usize) -> StoreResult<Vec<AuditRow>> {
        timed(self.inner.limit, async {
            let c = get(&self.inner.primary).await?;
            audit::rows(&c, &self.inner.ring, after_seq, limit).await
        })
        .await
    }

    async fn audit_index_state(&self) -> StoreResult<(u64, u64)> {
        timed(self.inner.limit, async {
            let c = get(&self.inner.primary).await?;
            audit::index_state(&c).await
        })
        .await
    }

    async fn audit_checkpoints(&self) -> StoreResult<Vec<String>> {
        timed(self.inner.limit, async {
            let c = get(&self.inner.primary).await?;
            audit::checkpoints(&c).await
        })
        .await
    }

    async fn audit_checkpointed(&self) -> StoreResult<Option<u64>> {
        timed(self.inner.limit, async {
            let c = get(&self.inner.primary).await?;
            audit::checkpointed(&c).await
        })
        .await
    }

    async fn add_audit_checkpoint(&self, seq: u64, body: String) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        tx.add_audit_checkpoint(seq, &body).await?;
        Box::new(tx).commit().await
    }

    async fn append_audit_committed(
        &self,
        events: Vec<NewVersion>,
    ) -> StoreResult<Vec<(u64, [u8; 32])>> {
        let mut tx = self.write_tx().await?;
        let linked = tx.append_audit(events).await?;
        Box::new(tx).commit().await?;
        Ok(linked)
    }

    async fn purge_audit(
        &self,
        through: u64,
        record: NewVersion,
    ) -> StoreResult<(u64, (u64, [u8; 32]))> {
        let mut tx = self.write_tx().await?;
        let n = tx.purge_audit(through).await?;
        let linked = tx.append_audit(vec![record]).await?;
        let head = linked
            .first()
            .copied()
            .ok_or_else(|| StoreError::Internal("purge record not linked".into()))?;
        Box::new(tx).commit().await?;
        Ok((n, head))
    }

    async fn reindex(&self, rtype: Option<&str>, index: Arc<ReindexFn>) -> StoreResult<u64> {
        let mut after = 0;
        let mut total = 0;
        loop {
            let held = Held(Some(get(&self.inner.primary).await?));
            let c = held.conn()?;
            let (n, last) = timed(self.inner.limit, async {
                c.batch_execute(&tx::begin_sql()).await.map_err(map_err)?;
                // (it rewrites AuditEvents' index rows too: not beside a projection)
                c.batch_execute(&tx::projection_lock_sql())
                    .await
                    .map_err(map_err)?;
                let r = reindex_batch(c, &self.inner.ring, rtype, after, &*index).await?;
                c.batch_execute("COMMIT").await.map_err(map_err)?;
                Ok(r)
            })
            .await?;
            held.release();
            total += n;
            match last {
                Some(l) => after = l,
                None => return Ok(total),
            }
        }
    }
}

/// Recomputes the rows of up to 200 current resources after `after` (by rid); returns how
/// many were done and the last rid seen.
async fn reindex_batch(
    c: &Object,
    ring: &KeyRing,
    rtype: Option<&str>,
    after: i64,
    index: &ReindexFn,
) -> StoreResult<(u64, Option<i64>)> {
    let sql = format!(
        "SELECT {}, r.rid FROM resources r JOIN versions v ON v.seq = r.seq \
         WHERE r.rid > $1 AND r.deleted = 0 AND ($2::text IS NULL OR r.rtype = $2) \
         ORDER BY r.rid LIMIT 200",
        history::VERSION_COLS
    );
    let rows = c.query(&sql, &[&after, &rtype]).await.map_err(map_err)?;
    let mut last = None;
    let mut done = 0;
    for row in &rows {
        let stored = history::decode(row, ring)?;
        let rid: i64 = row
            .try_get(history::VERSION_COL_COUNT)
            .map_err(|_| StoreError::Integrity)?;
        last = Some(rid);
        if let Some(body) = &stored.body {
            index::remove(c, rid).await?;
            index::insert(c, rid, &index(&stored.meta.rtype, body)).await?;
            done += 1;
        }
    }
    Ok((done, last))
}
