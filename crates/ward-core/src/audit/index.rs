//! The projection of the audit trail (docs/design/007-audit.md "Deferred index",
//! 011-audit-file.md): every chain record becomes readable and searchable as an `AuditEvent`
//! resource with its search index rows, after the record, in bulk.
//!
//! An audit record is durable and chained the moment its append commits. [`AuditIndex`]
//! projects the chain in order: a background task in the server, and — before any read,
//! history or search that can match or follow an AuditEvent — the request itself, which first
//! brings the projection up to the chain head it sees ([`AuditIndex::catch_up`]). So such a
//! request never misses a record that was appended before it started.
//!
//! Records this process appended are handed over in memory ([`AuditIndex::offer`]) with their
//! index rows, computed when the record was built; anything else (records of other processes,
//! records the memory did not keep) is read back from the chain and indexed by FHIRPath.
//!
//! Several projectors (the task, requests, other processes, other nodes) may race: each
//! prepares a chunk outside the write lock, and the chunk is stored only if the projection's
//! position is still the one it started from (`StoreTx::index_audit`), so a chunk is never
//! projected twice.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{Mutex, Notify};
use ward_audit::AuditRecord;
use ward_store::index::{IndexRows, Indexer};
use ward_store::{AuditIndexed, AuditProjection, AuditRow, NewVersion, Store, StoreResult};

use crate::{CoreError, CoreResult};

/// Records projected per transaction. Each commit of the projection rewrites the pages every
/// index touched (one per distinct value, plus the right edges), so fewer, larger commits
/// write less: 5,000 instead of 1,000 cut the bytes written per audited read by a third and
/// its CPU by ~9% (docs/design/011-audit-file.md "Measured", 2026-12-06). A request that must
/// catch the projection up first (an AuditEvent search) projects at most about this many.
const CHUNK: usize = 5000;
/// After a kick, the background task waits this long so that one chunk takes many records.
const SETTLE: Duration = Duration::from_secs(1);
/// The background task also looks for records appended by other processes this often.
const POLL: Duration = Duration::from_secs(1);
/// Most records kept in memory for the projection (a record is ~1–3 KB with its index rows);
/// beyond it, records are read back from the trail and indexed by FHIRPath.
const MEMORY: usize = 20_000;

/// The AuditEvent projector of one FHIR service.
pub(crate) struct AuditIndex {
    store: Arc<dyn Store>,
    indexer: Arc<Indexer>,
    /// One projector at a time in this process (others are handled by the position check).
    running: Mutex<()>,
    /// Records appended by this process, by chain position, with their index rows.
    memory: std::sync::Mutex<BTreeMap<u64, AuditIndexed>>,
    kick: Arc<Notify>,
    started: std::sync::Once,
}

impl AuditIndex {
    pub(crate) fn new(store: Arc<dyn Store>, indexer: Arc<Indexer>) -> Self {
        Self {
            store,
            indexer,
            running: Mutex::new(()),
            memory: std::sync::Mutex::new(BTreeMap::new()),
            kick: Arc::new(Notify::new()),
            started: std::sync::Once::new(),
        }
    }

    /// The search index rows of a record's AuditEvent, for the projection: computed from the
    /// typed record ([`super::rows`]) while the only custom AuditEvent parameter is Ward's
    /// `purpose`, by FHIRPath over its JSON otherwise (an AuditEvent's `id` and `meta` hold
    /// nothing indexed).
    pub(crate) fn rows_of(&self, rec: &AuditRecord) -> IndexRows {
        let custom = self.indexer.custom_params("AuditEvent");
        let only_purpose = matches!(custom.as_slice(), [p] if p.url == super::PURPOSE_URL);
        if only_purpose && let Some(rows) = super::rows::typed_rows(rec) {
            return rows;
        }
        self.indexer.index("AuditEvent", &rec.to_audit_event())
    }

    /// What the projection will need of `events` once they are chained: their AuditEvents,
    /// with the index rows taken out of them (`None` for an event without rows, which is read
    /// back instead).
    pub(crate) fn take(events: &mut [NewVersion]) -> Vec<Option<AuditProjection>> {
        events
            .iter_mut()
            .map(|e| {
                let body = e.body.clone()?;
                if e.index.is_empty() {
                    return None;
                }
                Some(AuditProjection {
                    id: e.id.clone(),
                    recorded: e.last_updated,
                    body,
                    patients: e.patients.clone(),
                    index: std::mem::take(&mut e.index),
                })
            })
            .collect()
    }

    /// Appends `events` to the chain in their own durable transaction
    /// ([`Store::append_audit_committed`]) and hands them to the projection; returns their
    /// chain positions.
    pub(crate) async fn append_committed(
        &self,
        store: &dyn Store,
        mut events: Vec<NewVersion>,
    ) -> StoreResult<Vec<(u64, [u8; 32])>> {
        let taken = Self::take(&mut events);
        let linked = store.append_audit_committed(events).await?;
        self.offer(taken, &linked);
        Ok(linked)
    }

    /// Hands records now at chain positions `linked` (one per event of [`AuditIndex::take`])
    /// to the projection.
    pub(crate) fn offer(&self, taken: Vec<Option<AuditProjection>>, linked: &[(u64, [u8; 32])]) {
        if taken.len() != linked.len() {
            return;
        }
        let Ok(mut memory) = self.memory.lock() else {
            return;
        };
        for (event, (seq, hash)) in taken.into_iter().zip(linked) {
            if memory.len() >= MEMORY {
                break;
            }
            if let Some(event) = event {
                memory.insert(
                    *seq,
                    AuditIndexed {
                        seq: *seq,
                        hash: *hash,
                        event: Some(event),
                    },
                );
            }
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

    /// Projects every record the chain holds now (the barrier).
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
                self.forget(from);
                return Ok(());
            }
            let mut records = self.remembered(from);
            if records.is_empty() {
                let rows = self.store.audit_rows(from, CHUNK).await?;
                let indexer = self.indexer.clone();
                records = tokio::task::spawn_blocking(move || index_rows(&indexer, rows))
                    .await
                    .map_err(|_| CoreError::Internal("audit index task".into()))?;
            }
            let Some(through) = records.last().map(|r| r.seq) else {
                return Ok(());
            };
            let mut tx = self.store.begin_projection().await?;
            if tx.index_audit(from, through, records).await? {
                tx.commit().await?;
            }
            // (else another projector stored this chunk first; the loop reads where it is now)
        }
    }

    /// The records memory holds right after position `from`, in order, without a gap.
    fn remembered(&self, from: u64) -> Vec<AuditIndexed> {
        let Ok(mut memory) = self.memory.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut next = from + 1;
        while out.len() < CHUNK {
            match memory.remove(&next) {
                Some(r) => out.push(r),
                None => break,
            }
            next += 1;
        }
        // records below the position are projected already
        *memory = memory.split_off(&next);
        out
    }

    /// Drops remembered records at or below the projection's position.
    fn forget(&self, position: u64) {
        if let Ok(mut memory) = self.memory.lock() {
            *memory = memory.split_off(&(position + 1));
        }
    }
}

/// Each record with its index rows, computed by FHIRPath from its stored text. A record
/// whose text is missing or does not parse is passed without an AuditEvent (the verifier
/// reports it; the projection cannot hold anything true about it, and moves past it).
fn index_rows(indexer: &Indexer, rows: Vec<AuditRow>) -> Vec<AuditIndexed> {
    rows.into_iter()
        .map(|r| {
            let event = match (r.body, r.id, r.recorded) {
                (Some(body), Some(id), Some(recorded)) => {
                    serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .map(|ev| AuditProjection {
                            id,
                            recorded,
                            index: indexer.index("AuditEvent", &ev),
                            body,
                            patients: r.patients,
                        })
                }
                _ => None,
            };
            AuditIndexed {
                seq: r.seq,
                hash: r.hash,
                event,
            }
        })
        .collect()
}

async fn background(me: Weak<AuditIndex>, kick: Arc<Notify>) {
    let mut behind = false;
    loop {
        // Under a steady stream of records the projection keeps up: while it is behind it goes
        // on at once; only once it has caught up does it wait for the next records to gather.
        if !behind && tokio::time::timeout(POLL, kick.notified()).await.is_ok() {
            tokio::time::sleep(SETTLE).await;
        }
        let Some(index) = me.upgrade() else {
            return;
        };
        // A write's record reaches the chain through the writer right after its commit; one
        // that did not (the append failed) is durable as pending and is chained here.
        if let Err(e) = index.store.chain_pending_audit().await {
            tracing::warn!(error = %e, "chaining pending audit records failed; retrying");
        }
        behind = match index.catch_up().await {
            Ok(()) => index
                .store
                .audit_index_state()
                .await
                .is_ok_and(|(indexed, head)| head.saturating_sub(indexed) >= CHUNK as u64),
            Err(e) => {
                tracing::warn!(error = %e, "audit projection update failed; retrying");
                false
            }
        };
    }
}
