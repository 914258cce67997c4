//! A store that delegates to another and can be told to misbehave: one wrapper for the tests
//! and benchmarks that need the write path without index rows, or an audit trail that fails.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ward_store::search::{SearchPage, SearchQuery};
use ward_store::{
    Announced, AuditIndexed, AuditRow, HistoryPage, HistoryQuery, KeyRing, NewVersion, ReindexFn,
    Store, StoreError, StoreResult, StoreTx, StoredResource,
};

/// How the wrapper misbehaves.
#[derive(Clone, Copy, Default)]
pub struct Hooks {
    /// While this flag is set, every audit append fails with `Unavailable`.
    pub broken: Option<&'static AtomicBool>,
    /// Data writes lose their index rows (the write path without index storage).
    pub no_index: bool,
    /// While this flag is set, appends of committed records and the chaining of pending ones
    /// fail (`Unavailable`); a write's records still commit with it (as pending, on the
    /// embedded store).
    pub appends_broken: Option<&'static AtomicBool>,
    /// Takes the announcements of records ([`Store::announce_audit`]) instead of the store.
    pub announce: Option<fn() -> Option<Announced>>,
}

fn set(flag: Option<&'static AtomicBool>) -> bool {
    flag.is_some_and(|b| b.load(Ordering::SeqCst))
}

impl Hooks {
    fn check(&self) -> StoreResult<()> {
        if set(self.broken) {
            return Err(StoreError::Unavailable);
        }
        Ok(())
    }

    fn check_append(&self) -> StoreResult<()> {
        self.check()?;
        if set(self.appends_broken) {
            return Err(StoreError::Unavailable);
        }
        Ok(())
    }
}

pub struct Wrap(pub Arc<dyn Store>, pub Hooks);
struct WrapTx(Box<dyn StoreTx>, Hooks);

#[async_trait::async_trait]
impl StoreTx for WrapTx {
    async fn read(&mut self, t: &str, id: &str) -> StoreResult<Option<StoredResource>> {
        self.0.read(t, id).await
    }
    async fn write(&mut self, mut versions: Vec<NewVersion>) -> StoreResult<()> {
        if self.1.no_index {
            for v in &mut versions {
                v.index = Default::default();
            }
        }
        self.0.write(versions).await
    }
    async fn search(&mut self, q: &SearchQuery) -> StoreResult<SearchPage> {
        self.0.search(q).await
    }
    async fn append_audit(&mut self, e: Vec<NewVersion>) -> StoreResult<Vec<(u64, [u8; 32])>> {
        self.1.check()?;
        self.0.append_audit(e).await
    }
    async fn index_audit(
        &mut self,
        from: u64,
        through: u64,
        records: Vec<AuditIndexed>,
    ) -> StoreResult<bool> {
        self.0.index_audit(from, through, records).await
    }
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.0.commit().await
    }
}

#[async_trait::async_trait]
impl Store for Wrap {
    async fn read(&self, t: &str, id: &str) -> StoreResult<Option<StoredResource>> {
        self.0.read(t, id).await
    }
    async fn vread(&self, t: &str, id: &str, v: u64) -> StoreResult<Option<StoredResource>> {
        self.0.vread(t, id, v).await
    }
    async fn history(&self, q: &HistoryQuery) -> StoreResult<HistoryPage> {
        self.0.history(q).await
    }
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
        Ok(Box::new(WrapTx(self.0.begin().await?, self.1)))
    }
    async fn get_meta(&self, n: &str) -> StoreResult<Option<Vec<u8>>> {
        self.0.get_meta(n).await
    }
    async fn put_meta(&self, n: &str, v: &[u8]) -> StoreResult<()> {
        self.0.put_meta(n, v).await
    }
    async fn create_meta(&self, n: &str, v: &[u8]) -> StoreResult<Vec<u8>> {
        self.0.create_meta(n, v).await
    }
    fn keyring(&self) -> &KeyRing {
        self.0.keyring()
    }
    async fn search(&self, q: &SearchQuery) -> StoreResult<SearchPage> {
        self.0.search(q).await
    }
    async fn reindex(&self, t: Option<&str>, f: Arc<ReindexFn>) -> StoreResult<u64> {
        self.0.reindex(t, f).await
    }
    async fn audit_rows(&self, a: u64, l: usize) -> StoreResult<Vec<AuditRow>> {
        self.0.audit_rows(a, l).await
    }
    async fn audit_checkpoints(&self) -> StoreResult<Vec<String>> {
        self.0.audit_checkpoints().await
    }
    async fn audit_checkpointed(&self) -> StoreResult<Option<u64>> {
        self.0.audit_checkpointed().await
    }
    async fn add_audit_checkpoint(&self, seq: u64, body: String) -> StoreResult<()> {
        self.0.add_audit_checkpoint(seq, body).await
    }
    async fn audit_index_state(&self) -> StoreResult<(u64, u64)> {
        self.0.audit_index_state().await
    }
    async fn append_audit_committed(
        &self,
        events: Vec<NewVersion>,
    ) -> StoreResult<Vec<(u64, [u8; 32])>> {
        self.1.check_append()?;
        self.0.append_audit_committed(events).await
    }
    fn batches_audit_appends(&self) -> bool {
        self.0.batches_audit_appends()
    }
    fn announce_audit(&self) -> Option<Announced> {
        match self.1.announce {
            Some(f) => f(),
            None => self.0.announce_audit(),
        }
    }
    async fn chain_pending_audit(&self) -> StoreResult<Vec<(u64, [u8; 32])>> {
        self.1.check_append()?;
        self.0.chain_pending_audit().await
    }
    async fn purge_audit(
        &self,
        through: u64,
        record: NewVersion,
    ) -> StoreResult<(u64, (u64, [u8; 32]))> {
        self.1.check()?;
        self.0.purge_audit(through, record).await
    }
}
