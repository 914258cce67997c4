//! Audit controls in the core (docs/design/007-audit.md): every interaction and security event
//! becomes an IHE BALP AuditEvent, stored as an `AuditEvent` resource and linked into the
//! tamper-evident chain. Writes append their record inside their own transaction; reads and
//! security events go through the [`writer`] (group commit) and are durable before the caller
//! continues. Signed checkpoints cover the chain head every N records or T seconds.

mod build;
mod export;
mod index;
mod keys;
mod retention;
mod rows;
mod verify;
mod writer;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{OnceCell, mpsc};
use ward_audit::AuditRecord;
use ward_store::{NewVersion, Store, StoreTx, WriteMethod};

pub(crate) use build::{Outcomes, interaction_record};

pub use export::{export_position, run_exporter};
pub use keys::AuditKeys;
pub use retention::{ArchiveSummary, archive_key, due_for_purge, verify_archive, write_archive};
pub use verify::{VerifyOutcome, verify_trail};

use crate::{Clock, CoreError, CoreResult, IdSource};

/// The canonical url of Ward's `AuditEvent?purpose=` parameter.
pub(crate) const PURPOSE_URL: &str = "urn:ward:search-parameter:AuditEvent-purpose";

/// Ward's `AuditEvent?purpose=` parameter: the purpose of the event or of any agent's use.
pub(crate) fn purpose_search_parameter() -> serde_json::Value {
    serde_json::json!({
        "resourceType": "SearchParameter",
        "url": PURPOSE_URL,
        "name": "purpose",
        "status": "active",
        "code": "purpose",
        "base": ["AuditEvent"],
        "type": "token",
        "expression": "AuditEvent.purposeOfEvent | AuditEvent.agent.purposeOfUse"
    })
}

/// Audit settings.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// `false` only for benchmarks (the server warns loudly); records are then not written.
    pub enabled: bool,
    /// Sign a checkpoint at least every this many records.
    pub checkpoint_every: u64,
    /// … and at least every this many seconds when the chain moved.
    pub checkpoint_secs: u64,
    /// Also append each checkpoint (JSON line) to this append-only file.
    pub checkpoint_file: Option<PathBuf>,
    /// Sign a due checkpoint before the record's caller goes on, instead of in the background:
    /// for short-lived command-line processes, which would otherwise exit mid-signature.
    pub sync_checkpoints: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            checkpoint_every: 1000,
            checkpoint_secs: 60,
            checkpoint_file: None,
            sync_checkpoints: false,
        }
    }
}

/// The audit service of one FHIR service.
pub(crate) struct Auditor {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    settings: AuditSettings,
    writer: OnceCell<mpsc::Sender<writer::Job>>,
    /// The projection (deferred AuditEvent resources and search index).
    index: Arc<index::AuditIndex>,
    /// Highest `(seq, hash)` this process has seen committed, and the last checkpointed seq.
    head: Arc<Mutex<Head>>,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Head {
    pub seq: u64,
    pub hash: [u8; 32],
    pub checkpointed: u64,
}

impl Head {
    /// Notes a committed chain position; the head only moves forward.
    pub(crate) fn note(&mut self, seq: u64, hash: [u8; 32]) {
        if seq > self.seq {
            self.seq = seq;
            self.hash = hash;
        }
    }

    /// Whether `every` records or more passed since the last checkpoint.
    pub(crate) fn due(&self, every: u64) -> bool {
        self.seq >= self.checkpointed.saturating_add(every)
    }
}

/// What [`Auditor::append_in`] did inside a write's transaction, to be handed to
/// [`Auditor::committed`] once that transaction committed.
#[derive(Default)]
#[must_use]
pub(crate) struct Appended {
    /// The chain head the records produced (backends that chain in the write's transaction).
    head: Option<(u64, [u8; 32])>,
    /// Records stored as pending, to be chained after the commit (the embedded store).
    pending: Vec<NewVersion>,
}

impl Auditor {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdSource>,
        indexer: Arc<ward_store::index::Indexer>,
        settings: AuditSettings,
    ) -> Self {
        Self {
            index: Arc::new(index::AuditIndex::new(store.clone(), indexer)),
            store,
            clock,
            ids,
            settings,
            writer: OnceCell::new(),
            head: Arc::default(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// Brings the AuditEvent projection (resources and search index) up to the chain's head:
    /// every read, history and search that can match or follow an AuditEvent calls this first.
    pub(crate) async fn index_caught_up(&self) -> CoreResult<()> {
        if let Some((seq, hash)) = self.store.chain_pending_audit().await?.last() {
            self.advanced(*seq, *hash).await;
        }
        self.index.catch_up().await
    }

    /// The AuditEvent version of a record, with its search index rows when they can be
    /// computed from the record itself (the projection then needs no FHIRPath for it).
    fn event(&self, rec: &AuditRecord) -> CoreResult<NewVersion> {
        let id = self.ids.new_audit_id();
        let now = self.clock.now();
        let index = self.index.rows_of(rec);
        let body = bytes::Bytes::from(rec.to_json(&id, &now.to_fhir_instant()));
        Ok(NewVersion {
            rtype: "AuditEvent".into(),
            id,
            version: 1,
            last_updated: now,
            method: WriteMethod::Create,
            body: Some(body),
            patients: rec.patients.clone(),
            index,
        })
    }

    /// Records `recs` inside the caller's transaction (they commit or roll back with it). The
    /// result goes to [`Auditor::committed`] once the transaction committed, so that a
    /// checkpoint never covers a record that was rolled back.
    pub(crate) async fn append_in(
        &self,
        tx: &mut dyn StoreTx,
        recs: &[AuditRecord],
    ) -> CoreResult<Appended> {
        if !self.enabled() || recs.is_empty() {
            return Ok(Appended::default());
        }
        let events = recs
            .iter()
            .map(|r| self.event(r))
            .collect::<CoreResult<Vec<_>>>()?;
        crate::metrics::audit_appended(events.len());
        let mut appended = events.clone();
        let taken = index::AuditIndex::take(&mut appended);
        let linked = tx.append_audit(appended).await?;
        if linked.is_empty() {
            // (pending: chained after the commit, with their index rows)
            return Ok(Appended {
                head: None,
                pending: events,
            });
        }
        self.index.offer(taken, &linked);
        Ok(Appended {
            head: linked.last().copied(),
            pending: Vec::new(),
        })
    }

    /// Follows up records appended by [`Auditor::append_in`] after their transaction
    /// committed: notes the head, or hands pending records to the writer to be chained (they
    /// are durable already; the writer does not make the caller wait).
    pub(crate) async fn committed(&self, appended: Appended) {
        if let Some((seq, hash)) = appended.head {
            self.advanced(seq, hash).await;
        }
        if !appended.pending.is_empty() {
            let job = writer::Job::Append {
                events: appended.pending,
                done: None,
            };
            if self.writer().await.send(job).await.is_err() {
                tracing::warn!(
                    "the audit writer is gone; pending records wait for the next chaining"
                );
            }
        }
    }

    /// Announces the record of a request that has started, so that the backend's group
    /// commit may wait for it ([`ward_store::Store::announce_audit`]); hand the guard to
    /// [`Auditor::record`] with the record.
    pub(crate) fn announce(&self) -> Option<ward_store::Announced> {
        if !self.enabled() {
            return None;
        }
        self.store.announce_audit()
    }

    /// Makes `rec` durable (group commit) before returning. Any failure is 503: no audit, no
    /// answer. `announced` (from [`Auditor::announce`]) is let go right before the record is
    /// handed over.
    pub(crate) async fn record(
        &self,
        rec: AuditRecord,
        announced: Option<ward_store::Announced>,
    ) -> CoreResult<()> {
        if !self.enabled() {
            return Ok(());
        }
        let event = self.event(&rec)?;
        if self.store.batches_audit_appends() {
            // the backend's own group commit: one hand-over, no writer task in between
            drop(announced);
            let linked = self
                .index
                .append_committed(self.store.as_ref(), vec![event])
                .await
                .map_err(|_| unavailable())?;
            if let Some((seq, hash)) = linked.last() {
                self.advanced(*seq, *hash).await;
            }
            return Ok(());
        }
        let sender = self.writer().await;
        let (done, wait) = tokio::sync::oneshot::channel();
        sender
            .send(writer::Job::Append {
                events: vec![event],
                done: Some(done),
            })
            .await
            .map_err(|_| unavailable())?;
        let linked = wait
            .await
            .map_err(|_| unavailable())?
            .map_err(|_| unavailable())?;
        if let Some((seq, hash)) = linked.last() {
            self.advanced(*seq, *hash).await;
        }
        Ok(())
    }

    /// Retention: purges the chain's prefix through `through` and appends the purge record
    /// `rec` in one transaction of the trail. Returns how many records went and the purge
    /// record's position.
    pub(crate) async fn purge(
        &self,
        through: u64,
        rec: &AuditRecord,
    ) -> CoreResult<(u64, (u64, [u8; 32]))> {
        let event = self.event(rec)?;
        Ok(self.store.purge_audit(through, event).await?)
    }

    /// At the start of a server: signs a checkpoint over the trail's head as found, unless a
    /// checkpoint signs it already ([`crate::FhirService::open_audit`]). A stop that was not
    /// clean (a crash, `kill -9`) leaves the records after the last checkpoint covered by no
    /// signature; from here on a cut of them fails verification, instead of only once a timed
    /// checkpoint of this process covers them. A head signed already (a clean stop, a console
    /// command) is not signed again: a second checkpoint at the same position differs from the
    /// first in its time, and the external checkpoint file would then hold two that disagree.
    pub(crate) async fn open(&self) -> CoreResult<()> {
        if !self.enabled() {
            return Ok(());
        }
        let (_, head) = self.store.audit_index_state().await?;
        let signed = self.store.audit_checkpointed().await?.unwrap_or(0);
        if let Ok(mut h) = self.head.lock() {
            h.checkpointed = h.checkpointed.max(signed);
        }
        if head <= signed {
            return Ok(());
        }
        let Some(last) = head.checked_sub(1) else {
            return Ok(());
        };
        let Some(row) = self
            .store
            .audit_rows(last, 1)
            .await?
            .into_iter()
            .find(|r| r.seq == head)
        else {
            return Ok(());
        };
        if let Ok(mut h) = self.head.lock() {
            h.note(row.seq, row.hash);
        }
        self.checkpoint_now().await
    }

    /// At a clean stop: chains pending records, then signs a checkpoint over the head
    /// ([`crate::FhirService::close_audit`]).
    pub(crate) async fn close(&self) -> CoreResult<()> {
        if !self.enabled() {
            return Ok(());
        }
        if let Some((seq, hash)) = self.store.chain_pending_audit().await?.last()
            && let Ok(mut h) = self.head.lock()
        {
            h.note(*seq, *hash);
        }
        self.checkpoint_now().await
    }

    /// Signs a checkpoint over the chain head this process last committed, now.
    pub(crate) async fn checkpoint_now(&self) -> CoreResult<()> {
        writer::sign_checkpoint(
            self.store.as_ref(),
            self.clock.as_ref(),
            &self.settings,
            &self.head,
            &mut None,
        )
        .await
    }

    async fn writer(&self) -> &mpsc::Sender<writer::Job> {
        self.writer
            .get_or_init(|| async {
                writer::spawn(
                    self.store.clone(),
                    self.clock.clone(),
                    self.settings.clone(),
                    self.head.clone(),
                    self.index.clone(),
                )
            })
            .await
    }

    /// Notes a committed chain head; asks for a checkpoint when enough records passed, and
    /// (in a server) for the projection to follow.
    pub(crate) async fn advanced(&self, seq: u64, hash: [u8; 32]) {
        if !self.settings.sync_checkpoints {
            self.index.kick();
        }
        let due = match self.head.lock() {
            Ok(mut h) => {
                h.note(seq, hash);
                h.due(self.settings.checkpoint_every)
            }
            Err(_) => false,
        };
        if due {
            if self.settings.sync_checkpoints {
                if let Err(e) = self.checkpoint_now().await {
                    tracing::error!(error = %e, "audit checkpoint failed");
                }
            } else {
                let _ = self.writer().await.try_send(writer::Job::Checkpoint);
            }
        }
    }
}

fn unavailable() -> CoreError {
    CoreError::AuditUnavailable
}
