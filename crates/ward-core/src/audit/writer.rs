//! The audit writer: one task that appends queued records in batches (one transaction, one
//! durable commit for everything that arrived meanwhile) and signs checkpoints over the chain
//! head — every N records (on request) or every T seconds while the chain moves.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use ward_store::{NewVersion, Store, StoreResult};

use super::{AuditKeys, AuditSettings, Head};
use crate::Clock;

/// Most records appended in one transaction.
const MAX_BATCH: usize = 512;
/// The longest a batch waits for the records it expects (see `run`).
const GATHER: Duration = Duration::from_millis(2);

/// Chain positions `(seq, hash)` of appended records, or why they could not be appended.
type Linked = StoreResult<Vec<(u64, [u8; 32])>>;

/// Work for the writer.
pub(crate) enum Job {
    Append {
        events: Vec<NewVersion>,
        done: oneshot::Sender<Linked>,
    },
    Checkpoint,
}

/// Starts the writer (and its checkpoint timer); returns its queue.
pub(crate) fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: AuditSettings,
    head: Arc<Mutex<Head>>,
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
    tokio::spawn(run(store, clock, settings, head, rx));
    tx
}

async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: AuditSettings,
    head: Arc<Mutex<Head>>,
    mut rx: mpsc::Receiver<Job>,
) {
    let mut keys: Option<AuditKeys> = None;
    let mut last_batch = 0usize;
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
        // Group commit under concurrency: the requests of the last batch send their next records
        // a moment after it committed. Waiting (at most GATHER) until as many are queued makes
        // one commit where there would be two or three smaller ones, and a commit's cost is
        // mostly fixed (the right-edge page of every index the trail touches, encrypted and
        // written to the WAL each time). A lone request never waits.
        let want = last_batch.min(MAX_BATCH);
        if appends.len() > 1 && appends.len() < want {
            let deadline = tokio::time::Instant::now() + GATHER;
            while appends.len() < want {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(Job::Append { events, done })) => appends.push((events, done)),
                    Ok(Some(Job::Checkpoint)) => checkpoint = true,
                    Ok(None) | Err(_) => break,
                }
            }
        }
        // (a smaller batch lowers the expectation one step at a time, so that one short batch
        // does not collapse it)
        last_batch = appends.len().max(last_batch.saturating_sub(1));
        if !appends.is_empty() {
            append_batch(store.as_ref(), appends, &head).await;
        }
        if checkpoint
            && let Err(e) =
                sign_checkpoint(store.as_ref(), clock.as_ref(), &settings, &head, &mut keys).await
        {
            tracing::error!(error = %e, "audit checkpoint failed");
        }
    }
}

type Batch = Vec<(Vec<NewVersion>, oneshot::Sender<Linked>)>;

async fn append_batch(store: &dyn Store, batch: Batch, head: &Mutex<Head>) {
    let (events, waiters): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let sizes: Vec<usize> = events.iter().map(Vec::len).collect();
    let all: Vec<NewVersion> = events.into_iter().flatten().collect();
    let result = store.append_audit_committed(all).await;
    match result {
        Ok(linked) => {
            if let (Some((seq, hash)), Ok(mut h)) = (linked.last(), head.lock())
                && *seq > h.seq
            {
                h.seq = *seq;
                h.hash = *hash;
            }
            let mut rest = linked.as_slice();
            for (n, w) in sizes.into_iter().zip(waiters) {
                let (mine, tail) = rest.split_at(n.min(rest.len()));
                rest = tail;
                let _ = w.send(Ok(mine.to_vec()));
            }
        }
        Err(e) => {
            tracing::error!(
                code = e.code(),
                "audit append failed; the requests waiting on it fail"
            );
            for w in waiters {
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
    let mut tx = store.begin().await?;
    tx.add_audit_checkpoint(h.seq, body.clone()).await?;
    tx.commit().await?;
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
