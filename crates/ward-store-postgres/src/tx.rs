//! Write transactions. Each one holds the store's write lock (a transaction-scoped advisory
//! lock) from `BEGIN` to its end, so writers are serialised across every node exactly as
//! SQLite's single writer serialises them: version checks, conditional creates, row-id order
//! and the audit chain all rely on it (`docs/design/009-postgres.md`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Object, Pool};
use ward_store::search::{SearchPage, SearchQuery};
use ward_store::{
    KeyRing, NewVersion, StoreError, StoreResult, StoreTx, StoredResource, WriteMethod, body_aad,
};

use crate::conn::{get, map_err, timed};
use crate::history::read_current;
use crate::schema::{LOCK_PROJECT, LOCK_WRITE};

/// Rolls back an open transaction on `conn` in the background and returns the connection to
/// the pool; a connection that cannot be rolled back is closed instead (PostgreSQL then
/// aborts the transaction itself).
pub(crate) fn abandon(conn: Object) {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => {
            h.spawn(async move {
                if conn.batch_execute("ROLLBACK").await.is_err() {
                    drop(Object::take(conn));
                }
            });
        }
        Err(_) => drop(Object::take(conn)),
    }
}

/// Starts a write transaction and waits for the write lock (bounded by `statement_timeout`).
pub(crate) fn begin_sql() -> String {
    format!(
        "BEGIN ISOLATION LEVEL READ COMMITTED; \
         SELECT pg_advisory_xact_lock(hashtext(current_schema()), {LOCK_WRITE})"
    )
}

/// Takes the projection lock in a transaction that holds the write lock already (a purge, a
/// reindex): the lock order is always write, then projection.
pub(crate) fn projection_lock_sql() -> String {
    format!("SELECT pg_advisory_xact_lock(hashtext(current_schema()), {LOCK_PROJECT})")
}

/// Starts the projection's transaction: the projection lock only.
fn begin_projection_sql() -> String {
    format!(
        "BEGIN ISOLATION LEVEL READ COMMITTED; \
         SELECT pg_advisory_xact_lock(hashtext(current_schema()), {LOCK_PROJECT})"
    )
}

/// An open write transaction.
pub(crate) struct PgTx {
    conn: Option<Object>,
    ring: Arc<KeyRing>,
    limit: Duration,
    /// Set when a statement failed: PostgreSQL would turn a later COMMIT into a rollback
    /// silently, so commit refuses instead.
    failed: bool,
    /// A projection's transaction ([`PgTx::begin_projection`]): it holds the projection lock
    /// and not the write lock, so it refuses every write but the projection's.
    projection: bool,
}

impl PgTx {
    pub(crate) async fn begin(
        pool: &Pool,
        ring: Arc<KeyRing>,
        limit: Duration,
    ) -> StoreResult<Self> {
        Self::start(pool, ring, limit, false).await
    }

    /// A transaction for the AuditEvent projection only (`Store::begin_projection`).
    pub(crate) async fn begin_projection(
        pool: &Pool,
        ring: Arc<KeyRing>,
        limit: Duration,
    ) -> StoreResult<Self> {
        Self::start(pool, ring, limit, true).await
    }

    async fn start(
        pool: &Pool,
        ring: Arc<KeyRing>,
        limit: Duration,
        projection: bool,
    ) -> StoreResult<Self> {
        let conn = timed(limit, get(pool)).await?;
        let mut tx = Self {
            conn: Some(conn),
            ring,
            limit,
            failed: false,
            projection,
        };
        let sql = if projection {
            begin_projection_sql()
        } else {
            begin_sql()
        };
        let c = tx.conn()?;
        let r = timed(limit, async {
            c.batch_execute(&sql).await.map_err(map_err)
        })
        .await;
        tx.check(r)?;
        Ok(tx)
    }

    fn conn(&self) -> StoreResult<&Object> {
        self.conn
            .as_ref()
            .ok_or_else(|| StoreError::Internal("tx closed".into()))
    }

    /// Refuses a write that needs the write lock in a projection's transaction, which does
    /// not hold it (and fails the transaction).
    fn for_write(&mut self) -> StoreResult<()> {
        if self.projection {
            self.failed = true;
            return Err(StoreError::Internal(
                "write in the projection's transaction".into(),
            ));
        }
        Ok(())
    }

    fn check<T>(&mut self, r: StoreResult<T>) -> StoreResult<T> {
        if r.is_err() {
            self.failed = true;
        }
        r
    }
}

impl PgTx {
    /// Stores a signed checkpoint in this transaction.
    pub(crate) async fn add_audit_checkpoint(&mut self, seq: u64, body: &str) -> StoreResult<()> {
        self.for_write()?;
        let c = self.conn()?;
        let r = timed(self.limit, crate::audit::add_checkpoint(c, seq, body)).await;
        self.check(r)
    }

    /// Removes the chain's prefix through `through` in this transaction, which also takes
    /// the projection lock: the purge deletes AuditEvents' index rows that a projection in
    /// progress could otherwise write beside it.
    pub(crate) async fn purge_audit(&mut self, through: u64) -> StoreResult<u64> {
        self.for_write()?;
        let c = self.conn()?;
        let lock = projection_lock_sql();
        let r = timed(self.limit, async {
            c.batch_execute(&lock).await.map_err(map_err)?;
            crate::audit::purge(c, through).await
        })
        .await;
        self.check(r)
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            abandon(conn);
        }
    }
}

#[async_trait]
impl StoreTx for PgTx {
    async fn read(&mut self, rtype: &str, id: &str) -> StoreResult<Option<StoredResource>> {
        let (c, ring) = (self.conn()?, self.ring.clone());
        let r = timed(self.limit, read_current(c, &ring, rtype, id)).await;
        self.check(r)
    }

    async fn write(&mut self, versions: Vec<NewVersion>) -> StoreResult<()> {
        let ring = self.ring.clone();
        self.for_write()?;
        let c = self.conn()?;
        let r = timed(self.limit, async {
            for v in &versions {
                write_one(c, &ring, v).await?;
            }
            Ok(())
        })
        .await;
        self.check(r)
    }

    async fn search(&mut self, query: &SearchQuery) -> StoreResult<SearchPage> {
        let (c, ring) = (self.conn()?, self.ring.clone());
        let r = timed(self.limit, crate::search::run(c, &ring, query)).await;
        self.check(r)
    }

    async fn append_audit(&mut self, events: Vec<NewVersion>) -> StoreResult<Vec<(u64, [u8; 32])>> {
        let ring = self.ring.clone();
        self.for_write()?;
        let c = self.conn()?;
        let r = timed(self.limit, crate::audit::append(c, &ring, &events)).await;
        self.check(r)
    }

    async fn index_audit(
        &mut self,
        from: u64,
        through: u64,
        records: Vec<ward_store::AuditIndexed>,
    ) -> StoreResult<bool> {
        let c = self.conn()?;
        let r = timed(self.limit, crate::audit::index(c, from, through, &records)).await;
        self.check(r)
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        if self.failed {
            return Err(StoreError::Internal(
                "commit after a failed statement".into(),
            ));
        }
        let conn = self
            .conn
            .take()
            .ok_or_else(|| StoreError::Internal("tx closed".into()))?;
        let r = timed(self.limit, async {
            conn.batch_execute("COMMIT").await.map_err(map_err)
        })
        .await;
        match r {
            Ok(()) => Ok(()),
            Err(e) => {
                // The outcome is unknown to us; the client is told the write failed.
                drop(Object::take(conn));
                Err(e)
            }
        }
    }
}

/// Appends one version (with its index rows); returns its store position (`versions.seq`).
pub(crate) async fn write_one(c: &Object, ring: &KeyRing, v: &NewVersion) -> StoreResult<i64> {
    let version = i64::try_from(v.version).map_err(|_| StoreError::VersionConflict)?;
    let st = c
        .prepare_cached("SELECT rid, version FROM resources WHERE rtype = $1 AND id = $2")
        .await
        .map_err(map_err)?;
    let existing: Option<(i64, i64)> = c
        .query_opt(&st, &[&v.rtype, &v.id])
        .await
        .map_err(map_err)?
        .map(|r| (r.get(0), r.get(1)));
    let expected = existing.map_or(1, |(_, current)| current + 1);
    if version != expected {
        return Err(StoreError::VersionConflict);
    }
    let sealed = match &v.body {
        Some(body) => Some(ring.seal(&body_aad(&v.rtype, &v.id, v.version), body)?),
        None => None,
    };
    let deleted = v.method == WriteMethod::Delete;
    let (del, method) = (
        i16::from(deleted),
        i16::try_from(v.method.code()).unwrap_or(0),
    );
    let patients = ward_store::join_patients(&v.patients);
    let (rid, seq): (i64, i64) = match existing {
        None => {
            let st = c
                .prepare_cached(
                    "WITH s AS (SELECT nextval('versions_seq') AS seq), \
                     r AS (INSERT INTO resources(rtype, id, version, last_updated, deleted, seq) \
                       SELECT $1, $2, $3, $4, $5, s.seq FROM s RETURNING rid, seq) \
                     INSERT INTO versions(seq, rid, rtype, id, version, last_updated, method, body, \
                       patients) SELECT r.seq, r.rid, $1, $2, $3, $4, $6, $7, $8 FROM r \
                     RETURNING rid, seq",
                )
                .await
                .map_err(map_err)?;
            let args: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
                &v.rtype,
                &v.id,
                &version,
                &v.last_updated.0,
                &del,
                &method,
                &sealed,
                &patients,
            ];
            let row = c.query_one(&st, &args).await.map_err(map_err)?;
            (row.get(0), row.get(1))
        }
        Some((rid, _)) => {
            let st = c
                .prepare_cached(
                    "WITH n AS (INSERT INTO versions(seq, rid, rtype, id, version, last_updated, \
                       method, body, patients) \
                       VALUES (nextval('versions_seq'), $1, $2, $3, $4, $5, $6, $7, $9) \
                       RETURNING seq) \
                     UPDATE resources SET version = $4, last_updated = $5, deleted = $8, \
                       seq = n.seq FROM n WHERE rid = $1 RETURNING resources.seq",
                )
                .await
                .map_err(map_err)?;
            let args: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
                &rid,
                &v.rtype,
                &v.id,
                &version,
                &v.last_updated.0,
                &method,
                &sealed,
                &del,
                &patients,
            ];
            let seq: i64 = c.query_one(&st, &args).await.map_err(map_err)?.get(0);
            crate::index::remove(c, rid).await?;
            (rid, seq)
        }
    };
    if !deleted {
        crate::index::insert(c, rid, &v.index).await?;
    }
    Ok(seq)
}
