//! Write transactions on the single writer connection.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::OwnedMutexGuard;
use ward_store::search::{SearchPage, SearchQuery};
use ward_store::{
    KeyRing, NewVersion, StoreError, StoreResult, StoreTx, StoredResource, WriteMethod, body_aad,
};

use crate::conn::{Pool, map_err, reset};
use crate::history::read_current;

/// A transaction holding the writer connection (`BEGIN IMMEDIATE`).
pub(crate) struct SqliteTx {
    conn: Option<OwnedMutexGuard<Connection>>,
    ring: Arc<KeyRing>,
    sealed: Arc<crate::appender::Sealed>,
}

impl SqliteTx {
    pub(crate) async fn begin(
        pool: &Pool,
        ring: Arc<KeyRing>,
        sealed: Arc<crate::appender::Sealed>,
    ) -> StoreResult<Self> {
        let guard = pool.writer().await;
        let mut tx = Self {
            conn: Some(guard),
            ring,
            sealed,
        };
        tx.run(|c, _| {
            reset(c);
            c.execute_batch("BEGIN IMMEDIATE").map_err(map_err)
        })
        .await?;
        Ok(tx)
    }

    /// Runs `f` on the connection in the blocking pool, then takes the connection back.
    async fn run<R, F>(&mut self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection, &KeyRing) -> StoreResult<R> + Send + 'static,
    {
        let guard = self
            .conn
            .take()
            .ok_or_else(|| StoreError::Internal("tx closed".into()))?;
        let ring = self.ring.clone();
        let (guard, result) = tokio::task::spawn_blocking(move || {
            let r = f(&guard, &ring);
            (guard, r)
        })
        .await
        .map_err(|_| StoreError::Internal("tx task".into()))?;
        self.conn = Some(guard);
        result
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(conn) = &self.conn {
            reset(conn);
        }
    }
}

#[async_trait]
impl StoreTx for SqliteTx {
    async fn read(&mut self, rtype: &str, id: &str) -> StoreResult<Option<StoredResource>> {
        let (rtype, id) = (rtype.to_owned(), id.to_owned());
        self.run(move |c, ring| read_current(c, ring, &rtype, &id))
            .await
    }

    async fn write(&mut self, versions: Vec<NewVersion>) -> StoreResult<()> {
        self.run(move |c, ring| {
            for v in &versions {
                write_one(c, ring, v)?;
            }
            Ok(())
        })
        .await
    }

    async fn search(&mut self, query: &SearchQuery) -> StoreResult<SearchPage> {
        let query = query.clone();
        self.run(move |c, ring| crate::search::run(c, ring, &query))
            .await
    }

    async fn append_audit(&mut self, events: Vec<NewVersion>) -> StoreResult<Vec<(u64, [u8; 32])>> {
        // Pending in this transaction; chained into the trail file after the commit
        // (docs/design/011-audit-file.md).
        self.run(move |c, ring| crate::audit::add_pending(c, ring, &events))
            .await?;
        Ok(Vec::new())
    }

    async fn index_audit(
        &mut self,
        from: u64,
        through: u64,
        records: Vec<ward_store::AuditIndexed>,
    ) -> StoreResult<bool> {
        let sealed = self.sealed.clone();
        self.run(move |c, ring| crate::audit::project(c, ring, &sealed, from, through, &records))
            .await
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        self.run(|c, _| c.execute_batch("COMMIT").map_err(map_err))
            .await
    }
}

/// Appends one version (with its index rows); returns its store position (`versions.seq`).
pub(crate) fn write_one(c: &Connection, ring: &KeyRing, v: &NewVersion) -> StoreResult<i64> {
    let version = i64::try_from(v.version).map_err(|_| StoreError::VersionConflict)?;
    let existing: Option<(i64, i64)> = c
        .prepare_cached("SELECT rid, version FROM resources WHERE rtype = ?1 AND id = ?2")
        .map_err(map_err)?
        .query_row(params![v.rtype, v.id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(map_err)?;
    let expected = existing.map_or(1, |(_, current)| current + 1);
    if version != expected {
        return Err(StoreError::VersionConflict);
    }
    let sealed = match &v.body {
        Some(body) => Some(ring.seal(&body_aad(&v.rtype, &v.id, v.version), body)?),
        None => None,
    };
    let deleted = v.method == WriteMethod::Delete;
    let rid = match existing {
        Some((rid, _)) => rid,
        None => c
            .prepare_cached(
                "INSERT INTO resources(rtype, id, version, last_updated, deleted, seq) \
                 VALUES (?1, ?2, 0, 0, 0, 0) RETURNING rid",
            )
            .map_err(map_err)?
            .query_row(params![v.rtype, v.id], |r| r.get(0))
            .map_err(map_err)?,
    };
    c.prepare_cached(
        "INSERT INTO versions(rid, rtype, id, version, last_updated, method, body, patients) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .map_err(map_err)?
    .execute(params![
        rid,
        v.rtype,
        v.id,
        version,
        v.last_updated.0,
        v.method.code(),
        sealed,
        ward_store::join_patients(&v.patients)
    ])
    .map_err(map_err)?;
    let seq = c.last_insert_rowid();
    c.prepare_cached(
        "UPDATE resources SET version = ?2, last_updated = ?3, deleted = ?4, seq = ?5 WHERE rid = ?1",
    )
    .map_err(map_err)?
    .execute(params![rid, version, v.last_updated.0, deleted, seq])
    .map_err(map_err)?;
    if existing.is_some() {
        crate::index::remove(c, rid)?;
    }
    if !deleted {
        crate::index::insert(c, rid, &v.index)?;
    }
    Ok(seq)
}
