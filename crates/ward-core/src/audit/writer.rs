//! The audit writer: one task that appends queued records in batches (one transaction, one
//! durable commit for everything that queued while the previous batch committed) and signs
//! checkpoints over the chain head — every N records (on request) or every T seconds while
//! the chain moves.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use ward_store::{NewVersion, Store, StoreResult};

use super::index::AuditIndex;
use super::{AuditKeys, AuditSettings, Head};
use crate::Clock;

/// Most records appended in one transaction.
const MAX_BATCH: usize = 512;

/// Chain positions `(seq, hash)` of appended records, or why they could not be appended.
type Linked = StoreResult<Vec<(u64, [u8; 32])>>;

/// Work for the writer.
pub(crate) enum Job {
    /// Append records and answer `done` once they are durable (`None`: records of a write,
    /// durable already as pending; nobody waits).
    Append {
        events: Vec<NewVersion>,
        done: Option<oneshot::Sender<Linked>>,
    },
    Checkpoint,
}

/// Starts the writer (and its checkpoint timer); returns its queue.
pub(crate) fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: AuditSettings,
    head: Arc<Mutex<Head>>,
    index: Arc<AuditIndex>,
) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(4096);
    let ticker = tx.clone();
    let period = Duration::from_secs(settings.checkpoint_secs.max(1));
    tokio::spawn(async move {
        let mut every = tokio::time::interval(period);
        every.tick().await;
        loop {
            every.tick().await;
            if ticker.send(Job::Checkpoint).await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(run(store, clock, settings, head, index, rx));
    tx
}

async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: AuditSettings,
    head: Arc<Mutex<Head>>,
    index: Arc<AuditIndex>,
    mut rx: mpsc::Receiver<Job>,
) {
    let mut keys: Option<AuditKeys> = None;
    while let Some(first) = rx.recv().await {
        let mut appends = Vec::new();
        let mut checkpoint = false;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Append { events, done } => appends.push((events, done)),
                Job::Checkpoint => checkpoint = true,
            }
            if appends.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        // Group commit: everything that queued while the previous batch committed goes in one
        // transaction. (Waiting a moment for more, as an earlier version did, raised the
        // writer's rate in-process but cost every audited request that wait end to end:
        // docs/design/011-audit-file.md "Measured".)
        if !appends.is_empty() {
            append_batch(store.as_ref(), appends, &head, &index).await;
            if !settings.sync_checkpoints {
                index.kick();
            }
            // (records chained here for writes are counted towards a checkpoint too)
            checkpoint |= head.lock().is_ok_and(|h| h.due(settings.checkpoint_every));
        }
        if checkpoint
            && let Err(e) =
                sign_checkpoint(store.as_ref(), clock.as_ref(), &settings, &head, &mut keys).await
        {
            tracing::error!(error = %e, "audit checkpoint failed");
        }
    }
}

type Batch = Vec<(Vec<NewVersion>, Option<oneshot::Sender<Linked>>)>;

async fn append_batch(
    store: &dyn Store,
    batch: Batch,
    head: &Mutex<Head>,
    index: &Arc<AuditIndex>,
) {
    let (events, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let sizes: Vec<usize> = events.iter().map(Vec::len).collect();
    let all: Vec<NewVersion> = events.into_iter().flatten().collect();
    match index.append_committed(store, all).await {
        Ok(linked) => {
            if let (Some((seq, hash)), Ok(mut h)) = (linked.iter().max(), head.lock()) {
                h.note(*seq, *hash);
            }
            let mut rest = linked.as_slice();
            for (n, w) in sizes.into_iter().zip(waiters) {
                let (mine, tail) = rest.split_at(n.min(rest.len()));
                rest = tail;
                if let Some(w) = w {
                    let _ = w.send(Ok(mine.to_vec()));
                }
            }
        }
        Err(e) => {
            tracing::error!(
                code = e.code(),
                "audit append failed; the requests waiting on it fail"
            );
            for w in waiters.into_iter().flatten() {
                let _ = w.send(Err(ward_store::StoreError::Unavailable));
            }
        }
    }
}

pub(super) async fn sign_checkpoint(
    store: &dyn Store,
    clock: &dyn Clock,
    settings: &AuditSettings,
    head: &Mutex<Head>,
    keys: &mut Option<AuditKeys>,
) -> crate::CoreResult<()> {
    let h = head
        .lock()
        .map(|h| *h)
        .map_err(|_| crate::CoreError::Internal("audit head".into()))?;
    if h.seq == 0 || h.seq <= h.checkpointed {
        return Ok(());
    }
    let now = clock.now().unix_seconds();
    if keys.is_none() {
        *keys = Some(AuditKeys::load_or_create(store, now).await?);
    }
    let key = keys
        .as_ref()
        .and_then(AuditKeys::current)
        .ok_or_else(|| crate::CoreError::Internal("no audit key".into()))?;
    let cp = key.sign(h.seq, &h.hash, now);
    let body =
        serde_json::to_string(&cp).map_err(|_| crate::CoreError::Internal("checkpoint".into()))?;
    store.add_audit_checkpoint(h.seq, body.clone()).await?;
    if let Ok(mut g) = head.lock() {
        g.checkpointed = g.checkpointed.max(h.seq);
    }
    if let Some(path) = &settings.checkpoint_file {
        append_line(path, &body)
            .map_err(|e| crate::CoreError::Internal(format!("checkpoint file: {}", e.kind())))?;
    }
    Ok(())
}

/// Appends one line and syncs it (the external append-only checkpoint log).
fn append_line(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(line.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_data()
}
