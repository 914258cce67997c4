//! The deferred AuditEvent search index (docs/design/007-audit.md "Deferred index").
//!
//! An audit record is durable, chained and readable by id the moment its append commits; its
//! search index rows are written afterwards, in bulk, by [`AuditIndex`]: a background task
//! in the server, and — before any search that can match or follow an AuditEvent — the
//! searching request itself, which first brings the index up to the chain head it sees
//! ([`AuditIndex::catch_up`]). So a search never misses a record that was appended before
//! it started, and the append path writes only right-edge rows (resource, version, chain).
//!
//! Several indexers (the task, searching requests, other processes, other nodes) may race:
//! each computes a chunk's rows outside the write lock, and the chunk is stored only if the
//! index position is still the one it started from (`StoreTx::index_audit`), so a chunk is
//! never indexed twice.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{Mutex, Notify};
use ward_store::index::{IndexRows, Indexer};
use ward_store::{AuditRow, Store};

use crate::{CoreError, CoreResult};

/// Records indexed per transaction.
const CHUNK: usize = 1000;
/// After a kick, the background task waits this long so that one chunk takes many records.
const SETTLE: Duration = Duration::from_millis(250);
/// The background task also looks for records appended by other processes this often.
const POLL: Duration = Duration::from_secs(1);

/// The AuditEvent indexer of one FHIR service.
pub(crate) struct AuditIndex {
    store: Arc<dyn Store>,
    indexer: Arc<Indexer>,
    /// One indexer at a time in this process (others are handled by the position check).
    running: Mutex<()>,
    kick: Arc<Notify>,
    started: std::sync::Once,
}

impl AuditIndex {
    pub(crate) fn new(store: Arc<dyn Store>, indexer: Arc<Indexer>) -> Self {
        Self {
            store,
            indexer,
            running: Mutex::new(()),
            kick: Arc::new(Notify::new()),
            started: std::sync::Once::new(),
        }
    }

    /// Tells the background task that records were appended (starting it the first time).
    /// It holds only a weak reference: it ends within [`POLL`] after the service is dropped.
    pub(crate) fn kick(self: &Arc<Self>) {
        self.started.call_once(|| {
            let me = Arc::downgrade(self);
            tokio::spawn(background(me, self.kick.clone()));
        });
        self.kick.notify_one();
    }

    /// Indexes every record the chain holds now (the search barrier).
    pub(crate) async fn catch_up(&self) -> CoreResult<()> {
        let (indexed, head) = self.store.audit_index_state().await?;
        if indexed >= head {
            crate::metrics::set_audit_index_lag(0);
            return Ok(());
        }
        let _one = self.running.lock().await;
        loop {
            let (from, now) = self.store.audit_index_state().await?;
            crate::metrics::set_audit_index_lag(now.saturating_sub(from));
            if from >= head.min(now) {
                return Ok(());
            }
            let rows = self.store.audit_rows(from, CHUNK).await?;
            let Some(through) = rows.last().map(|r| r.seq) else {
                return Ok(());
            };
            let indexer = self.indexer.clone();
            let index = tokio::task::spawn_blocking(move || index_rows(&indexer, rows))
                .await
                .map_err(|_| CoreError::Internal("audit index task".into()))?;
            let mut tx = self.store.begin().await?;
            if tx.index_audit(from, through, index).await? {
                tx.commit().await?;
            }
            // (else another indexer stored this chunk first; the loop reads where it is now)
        }
    }
}

/// The index rows of each record (none for a body that is missing or does not parse: the
/// verifier reports such a record; the index cannot hold anything true about it).
fn index_rows(indexer: &Indexer, rows: Vec<AuditRow>) -> Vec<(u64, IndexRows)> {
    rows.into_iter()
        .map(|r| {
            let index = r
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .map(|ev| indexer.index("AuditEvent", &ev))
                .unwrap_or_default();
            (r.seq, index)
        })
        .collect()
}

async fn background(me: Weak<AuditIndex>, kick: Arc<Notify>) {
    loop {
        if tokio::time::timeout(POLL, kick.notified()).await.is_ok() {
            tokio::time::sleep(SETTLE).await;
        }
        let Some(index) = me.upgrade() else {
            return;
        };
        if let Err(e) = index.catch_up().await {
            tracing::warn!(error = %e, "audit search index update failed; retrying");
        }
    }
}
