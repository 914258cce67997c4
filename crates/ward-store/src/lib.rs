//! The storage contract: the [`Store`] trait every backend implements, the value types that
//! cross it, the key ring that seals resource bodies, and storage errors.
//!
//! Backends (SQLite, PostgreSQL) differ only in SQL. Everything else that concerns data layout
//! (versioning rules, body sealing, the associated data bound into each envelope) lives here so
//! both backends behave the same.

pub mod auth;
mod coming;
mod error;
pub mod index;
mod keyring;
pub mod search;
mod types;

#[cfg(feature = "contract")]
pub mod contract;
#[cfg(feature = "contract")]
pub mod contract_auth;

pub use auth::AuthStore;
pub use coming::{Announced, Coming};

/// Metadata name of the AuditEvent index position ([`StoreTx::index_audit`]): decimal text.
pub const AUDIT_INDEXED_META: &str = "audit-indexed-through";

/// Encodes an AuditEvent index position for [`AUDIT_INDEXED_META`].
pub fn encode_audit_indexed(position: u64) -> Vec<u8> {
    position.to_string().into_bytes()
}

/// Decodes the stored AuditEvent index position (absent: nothing indexed yet).
pub fn decode_audit_indexed(value: Option<&[u8]>) -> StoreResult<u64> {
    match value {
        None => Ok(0),
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(StoreError::Integrity),
    }
}
pub use error::{StoreError, StoreResult};
pub use keyring::{KeyRing, body_aad};
pub use types::{
    AuditIndexed, AuditProjection, AuditRow, HistoryPage, HistoryQuery, HistoryScope, NewVersion,
    StoredResource, Timestamp, VersionMeta, WriteMethod, join_patients, split_patients,
};

use std::sync::Arc;

use async_trait::async_trait;
use search::{SearchPage, SearchQuery};

/// A FHIR resource store. Implementations are shared behind `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The current version of `rtype/id` (possibly a deletion marker), or `None` if it never
    /// existed.
    async fn read(&self, rtype: &str, id: &str) -> StoreResult<Option<StoredResource>>;

    /// One specific version.
    async fn vread(
        &self,
        rtype: &str,
        id: &str,
        version: u64,
    ) -> StoreResult<Option<StoredResource>>;

    /// History, newest first, paged by a position cursor.
    async fn history(&self, query: &HistoryQuery) -> StoreResult<HistoryPage>;

    /// Starts a write transaction. Only one runs at a time per store on SQLite.
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>>;

    /// Starts a transaction for the AuditEvent projection only
    /// ([`StoreTx::index_audit`]; nothing else may be called on it). A backend may let it run
    /// beside writes and audit appends when the projection takes nothing they need
    /// (PostgreSQL: its own lock instead of the write lock, so that a chunk of thousands of
    /// records does not hold up every audited request). Default: [`Store::begin`].
    async fn begin_projection(&self) -> StoreResult<Box<dyn StoreTx>> {
        self.begin().await
    }

    /// A small named value in the store's metadata (sealed by the caller if secret).
    async fn get_meta(&self, name: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Sets a metadata value (durably).
    async fn put_meta(&self, name: &str, value: &[u8]) -> StoreResult<()>;

    /// Sets a metadata value only if `name` has none, atomically, and returns the value that
    /// is stored afterwards (the caller's, or the one a concurrent caller stored first). Used
    /// when several nodes may create the same first value at once (signing keys).
    async fn create_meta(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>>;

    /// The key ring that seals bodies and caller secrets for this store.
    fn keyring(&self) -> &KeyRing;

    /// One page of a search (matches, includes, total, next position), read from one
    /// consistent snapshot.
    async fn search(&self, query: &SearchQuery) -> StoreResult<SearchPage>;

    /// Recomputes the index rows of every current resource (of `rtype`, or of all types) with
    /// `index(type, body)`, in batches, each its own transaction. Returns how many resources
    /// were reindexed. Versions are not touched.
    async fn reindex(&self, rtype: Option<&str>, index: Arc<ReindexFn>) -> StoreResult<u64>;

    /// Audit chain rows after `after_seq` (in order, at most `limit`), each with the exact
    /// AuditEvent text that was hashed: the trail of record.
    async fn audit_rows(&self, after_seq: u64, limit: usize) -> StoreResult<Vec<AuditRow>>;

    /// The projection of the trail (the searchable AuditEvents) where it is kept apart from the
    /// trail of record: after `after_seq`, in order, at most `limit`, each with the text its
    /// AuditEvent version holds (`None` when that version is missing or does not open).
    /// `None` for a backend whose AuditEvents are the trail itself (nothing to compare).
    async fn audit_projection(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> StoreResult<Option<Vec<AuditRow>>> {
        let _ = (after_seq, limit);
        Ok(None)
    }

    /// Every stored audit checkpoint (JSON), oldest first.
    async fn audit_checkpoints(&self) -> StoreResult<Vec<String>>;

    /// The highest chain position a stored checkpoint signs (`None` when there is none).
    async fn audit_checkpointed(&self) -> StoreResult<Option<u64>>;

    /// Stores a signed checkpoint (JSON) over chain position `seq`, durably.
    async fn add_audit_checkpoint(&self, seq: u64, body: String) -> StoreResult<()>;

    /// The AuditEvent projection's position: `(indexed, head)`, the chain position through
    /// which AuditEvents are readable and searchable ([`StoreTx::index_audit`]) and the
    /// chain's head (docs/design/007-audit.md "Deferred index", 011-audit-file.md).
    async fn audit_index_state(&self) -> StoreResult<(u64, u64)>;

    /// Appends AuditEvent versions and links them into the chain in a transaction of their
    /// own, committed durably before it returns (the audit writer's group commit). Returns
    /// each event's `(seq, hash)`, in order. An event whose id the chain already holds (a
    /// write's record that [`Store::chain_pending_audit`] chained first) is not appended
    /// again: its existing position is returned.
    async fn append_audit_committed(
        &self,
        events: Vec<NewVersion>,
    ) -> StoreResult<Vec<(u64, [u8; 32])>>;

    /// True when [`Store::append_audit_committed`] gathers concurrent calls into one commit
    /// itself (group commit inside the backend): callers then append each record directly.
    /// Otherwise the caller batches (the core's audit writer).
    fn batches_audit_appends(&self) -> bool {
        false
    }

    /// Announces a record that a request in progress will append with
    /// [`Store::append_audit_committed`] when it finishes: a backend that batches appends may
    /// wait for it before committing. Drop the guard right before appending the record. `None`
    /// when the backend does not use it.
    fn announce_audit(&self) -> Option<Announced> {
        None
    }

    /// Chains the records that writes left pending ([`StoreTx::append_audit`] returned no
    /// positions) and are not in the chain yet; returns their positions. Backends that chain
    /// a write's record in its own transaction have none.
    async fn chain_pending_audit(&self) -> StoreResult<Vec<(u64, [u8; 32])>> {
        Ok(Vec::new())
    }

    /// How many records writes left pending are not in the chain yet (what the next
    /// [`Store::chain_pending_audit`] would append): `ward audit verify` reports them, since it
    /// verifies the trail as found.
    async fn unchained_audit(&self) -> StoreResult<u64> {
        Ok(0)
    }

    /// Retention: removes the chain rows `seq <= through` with their AuditEvents (every
    /// version and index row) and appends `record` (the purge record) to the chain, in one
    /// transaction of the trail. Returns how many chain rows went and the purge record's
    /// position. Only the retention purge calls this, after a verified archive
    /// (docs/design/007-audit.md "Retention").
    async fn purge_audit(
        &self,
        through: u64,
        record: NewVersion,
    ) -> StoreResult<(u64, (u64, [u8; 32]))>;
}

/// Computes the index rows of a stored body (`$reindex`).
pub type ReindexFn = dyn Fn(&str, &[u8]) -> index::IndexRows + Send + Sync;

/// An open write transaction. Dropping it without [`StoreTx::commit`] rolls it back.
#[async_trait]
pub trait StoreTx: Send {
    /// The current version of `rtype/id` as this transaction sees it.
    async fn read(&mut self, rtype: &str, id: &str) -> StoreResult<Option<StoredResource>>;

    /// Appends new versions. Each must be exactly one more than the current version (or 1 for
    /// a resource that does not exist); otherwise the whole transaction fails with
    /// [`StoreError::VersionConflict`].
    async fn write(&mut self, versions: Vec<NewVersion>) -> StoreResult<()>;

    /// A search as this transaction sees it (for conditional operations inside transactions).
    async fn search(&mut self, query: &SearchQuery) -> StoreResult<SearchPage>;

    /// Records AuditEvent versions (version 1 each) atomically with the rest of the
    /// transaction. A backend that keeps the chain in the same database links each into the
    /// chain here (serialised with every other writer, so the chain stays one sequence) and
    /// returns each event's `(seq, hash)`. A backend that keeps the trail in a file of its own
    /// (the embedded store, docs/design/011-audit-file.md) stores them as *pending* and
    /// returns nothing: they are chained after the commit, by [`Store::append_audit_committed`]
    /// or [`Store::chain_pending_audit`].
    async fn append_audit(&mut self, events: Vec<NewVersion>) -> StoreResult<Vec<(u64, [u8; 32])>>;

    /// Projects the chain records `records` (positions after `from`, through `through`): makes
    /// each readable and searchable as an AuditEvent with its index rows (replacing any it
    /// has), and moves the projection's position to `through` — only if that position is
    /// still `from` in this transaction; otherwise (another projector, in this or another
    /// process or node, got there first) writes nothing and returns `false`. Records no longer
    /// in the chain (purged) are skipped.
    async fn index_audit(
        &mut self,
        from: u64,
        through: u64,
        records: Vec<AuditIndexed>,
    ) -> StoreResult<bool>;

    /// Makes every write durable atomically.
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
