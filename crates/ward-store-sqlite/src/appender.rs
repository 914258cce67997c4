//! The trail's appender: one thread that owns the appends to the audit trail file and commits
//! everything that queued while the previous batch committed as one transaction (group
//! commit). Requests hand their records over a channel and wait on their own answer, so an
//! audited read costs one hand-over to this thread and one back, and a batch one commit
//! (docs/design/011-audit-file.md "Measured"). Reads announce their record when they start;
//! while announced records are on their way, the thread waits for them (at most [`LINGER`])
//! before it commits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::oneshot;
use ward_store::{Announced, Coming, KeyRing, NewVersion, StoreError, StoreResult};

use crate::conn::{map_err, reset};
use crate::trail::{self, Entry};

/// Most records appended in one transaction.
const MAX_BATCH: usize = 512;
/// Longest wait for records that requests in progress announced, before a commit
/// (docs/design/011-audit-file.md "A group commit that knows what is coming").
const LINGER: Duration = Duration::from_millis(1);
/// Most envelopes kept for the projection ([`Sealed`]): ~300 bytes each, so at most ~15 MB.
/// Beyond it (a projection far behind) records are packed and sealed again when projected.
const SEALED_MAX: usize = 50_000;

/// The sealed texts of records this thread committed, by chain position, until the
/// projection stores them. The trail's body and the projected version are sealed under the
/// same associated data (`AuditEvent/<id>/1`, `crate::trail::aad`) with the same key ring, so
/// the projection stores the trail's envelope as it is instead of packing and sealing the
/// same text again.
#[derive(Debug, Default)]
pub(crate) struct Sealed(std::sync::Mutex<BTreeMap<u64, (String, Vec<u8>)>>);

impl Sealed {
    fn keep(&self, seq: u64, id: String, sealed: Vec<u8>) {
        if let Ok(mut m) = self.0.lock()
            && m.len() < SEALED_MAX
        {
            m.insert(seq, (id, sealed));
        }
    }

    /// The envelope committed at `seq`, if it is that of AuditEvent `id`.
    pub(crate) fn take(&self, seq: u64, id: &str) -> Option<Vec<u8>> {
        let (kept, sealed) = self.0.lock().ok()?.remove(&seq)?;
        (kept == id).then_some(sealed)
    }

    /// Drops the envelopes of positions up to `through` (projected).
    pub(crate) fn forget_through(&self, through: u64) {
        if let Ok(mut m) = self.0.lock() {
            *m = m.split_off(&through.saturating_add(1));
        }
    }
}

type Linked = StoreResult<Vec<(u64, [u8; 32])>>;

struct Job {
    events: Vec<NewVersion>,
    done: oneshot::Sender<Linked>,
}

/// The handle requests append through; the thread ends when the handle is dropped, and
/// dropping it waits for that (see `Drop for Pool`: no SQLCipher connection may be closed by a
/// thread the process does not wait for).
#[derive(Debug)]
pub(crate) struct Appender {
    queue: std::sync::Mutex<Option<Sender<Job>>>,
    /// Records that requests in progress announced and have not handed over yet.
    coming: Arc<Coming>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Appender {
    /// Starts the thread; it takes the trail's writer connection for each batch.
    pub(crate) fn start(
        writer: Arc<tokio::sync::Mutex<Connection>>,
        ring: Arc<KeyRing>,
        sealed: Arc<Sealed>,
    ) -> StoreResult<Self> {
        let (tx, rx) = channel();
        let coming = Arc::new(Coming::default());
        let expected = coming.clone();
        let thread = std::thread::Builder::new()
            .name("ward-audit-append".into())
            .spawn(move || run(&rx, &expected, &writer, &ring, &sealed))
            .map_err(|_| StoreError::Internal("audit appender thread".into()))?;
        Ok(Self {
            queue: std::sync::Mutex::new(Some(tx)),
            coming,
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// Announces a record that will be appended ([`ward_store::Store::announce_audit`]).
    pub(crate) fn announce(&self) -> Announced {
        self.coming.announce()
    }

    /// Appends `events` in the next batch and waits until it committed durably.
    pub(crate) async fn append(&self, events: Vec<NewVersion>) -> Linked {
        let (done, wait) = oneshot::channel();
        self.queue
            .lock()
            .map_err(|_| StoreError::Unavailable)?
            .as_ref()
            .ok_or(StoreError::Unavailable)?
            .send(Job { events, done })
            .map_err(|_| StoreError::Unavailable)?;
        wait.await.map_err(|_| StoreError::Unavailable)?
    }
}

/// Stops taking records and waits until the thread finished the batches it had and let go
/// of the trail's connection.
impl Drop for Appender {
    fn drop(&mut self) {
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread
            && t.join().is_err()
        {
            tracing::error!("the audit appender thread panicked");
        }
    }
}

fn run(
    rx: &Receiver<Job>,
    coming: &Coming,
    writer: &tokio::sync::Mutex<Connection>,
    ring: &KeyRing,
    sealed: &Sealed,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        take_queued(rx, &mut batch);
        gather(rx, coming, &mut batch, LINGER, MAX_BATCH);
        let conn = writer.blocking_lock();
        let result = append_batch(&conn, ring, sealed, &batch);
        drop(conn);
        match result {
            Ok(linked) => {
                let mut rest = linked.as_slice();
                for job in batch {
                    let (mine, tail) = rest.split_at(job.events.len().min(rest.len()));
                    rest = tail;
                    let _ = job.done.send(Ok(mine.to_vec()));
                }
            }
            Err(e) => {
                tracing::error!(
                    code = e.code(),
                    "audit append failed; the requests waiting on it fail"
                );
                for job in batch {
                    let _ = job.done.send(Err(StoreError::Unavailable));
                }
            }
        }
    }
}

/// Adds what queued already, up to [`MAX_BATCH`].
fn take_queued(rx: &Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// Waits, at most `linger`, for records that requests in progress announced, while the batch
/// holds fewer than `max`: a commit for more records at once, without waiting for records
/// nobody is about to send.
fn gather(rx: &Receiver<Job>, coming: &Coming, batch: &mut Vec<Job>, linger: Duration, max: usize) {
    let deadline = Instant::now() + linger;
    let max = max.min(MAX_BATCH);
    while batch.len() < max && coming.count() > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match rx.recv_timeout(left) {
            Ok(job) => {
                batch.push(job);
                take_queued(rx, batch);
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// One transaction for the whole batch; once it committed, the envelopes are kept for the
/// projection.
fn append_batch(c: &Connection, ring: &KeyRing, sealed: &Sealed, batch: &[Job]) -> Linked {
    reset(c);
    let entries = batch
        .iter()
        .flat_map(|j| j.events.iter())
        .map(|e| Entry::seal(ring, e))
        .collect::<StoreResult<Vec<_>>>()?;
    c.execute_batch("BEGIN IMMEDIATE").map_err(map_err)?;
    let linked = match trail::append(c, &entries) {
        Ok(l) => l,
        Err(e) => {
            reset(c);
            return Err(e);
        }
    };
    if let Err(e) = c.execute_batch("COMMIT").map_err(map_err) {
        reset(c);
        return Err(e);
    }
    for (e, (seq, _)) in entries.into_iter().zip(&linked) {
        sealed.keep(*seq, e.id, e.sealed);
    }
    Ok(linked)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use bytes::Bytes;
    use ward_store::{AuditIndexed, AuditProjection, NewVersion, Store, Timestamp, WriteMethod};

    use super::*;

    fn job() -> Job {
        Job {
            events: Vec::new(),
            done: oneshot::channel().0,
        }
    }

    const LONG: Duration = Duration::from_secs(30);

    #[test]
    fn nothing_announced_commits_at_once() {
        let (tx, rx) = channel();
        let coming = Coming::default();
        let mut batch = vec![job()];
        tx.send(job()).unwrap();
        take_queued(&rx, &mut batch);
        let t = Instant::now();
        gather(&rx, &coming, &mut batch, LONG, MAX_BATCH);
        assert!(
            t.elapsed() < LONG / 2,
            "no wait without an announced record"
        );
        assert_eq!(batch.len(), 2, "what queued is in the batch");
    }

    #[test]
    fn an_announced_record_is_waited_for_and_ends_the_wait() {
        let (tx, rx) = channel();
        let coming = Arc::new(Coming::default());
        let announced = coming.announce();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(announced);
            tx.send(job()).unwrap();
            tx // kept open: the wait ends on the count, not on a closed channel
        });
        let mut batch = vec![job()];
        let t = Instant::now();
        gather(&rx, &coming, &mut batch, LONG, MAX_BATCH);
        assert_eq!(batch.len(), 2, "the announced record joined the batch");
        assert!(t.elapsed() < LONG / 2, "nothing more was coming: no linger");
        drop(sender.join().unwrap());
    }

    #[test]
    fn a_record_that_never_comes_is_waited_for_only_so_long() {
        let (tx, rx) = channel::<Job>();
        let coming = Arc::new(Coming::default());
        let _announced = coming.announce();
        let mut batch = vec![job()];
        let linger = Duration::from_millis(30);
        let t = Instant::now();
        gather(&rx, &coming, &mut batch, linger, MAX_BATCH);
        assert!(t.elapsed() >= linger, "waited for the announced record");
        assert!(t.elapsed() < LONG / 2);
        assert_eq!(batch.len(), 1);
        drop(tx);
    }

    #[test]
    fn a_full_batch_does_not_wait() {
        let (tx, rx) = channel::<Job>();
        let coming = Arc::new(Coming::default());
        let _announced = coming.announce();
        let mut batch = vec![job(), job()];
        let t = Instant::now();
        gather(&rx, &coming, &mut batch, LONG, 2);
        assert!(t.elapsed() < LONG / 2, "the batch was full");
        drop(tx);
    }

    #[test]
    fn an_envelope_is_taken_once_and_only_for_its_own_record() {
        let s = Sealed::default();
        s.keep(7, "a".into(), vec![1]);
        s.keep(8, "b".into(), vec![2]);
        s.keep(9, "c".into(), vec![3]);
        assert_eq!(
            s.take(7, "other"),
            None,
            "another record's envelope is never used"
        );
        assert_eq!(s.take(7, "a"), None, "a refused envelope is gone");
        assert_eq!(s.take(8, "b"), Some(vec![2]));
        assert_eq!(s.take(8, "b"), None, "taken once");
        s.forget_through(9);
        assert_eq!(s.take(9, "c"), None, "projected positions are forgotten");
        for seq in 0..(SEALED_MAX as u64 + 10) {
            s.keep(seq, "x".into(), Vec::new());
        }
        assert_eq!(s.0.lock().unwrap().len(), SEALED_MAX, "bounded");
    }

    /// The projected version of a record this process appended holds the trail's envelope
    /// byte for byte (not a second seal of the same text), and it opens to the record's text.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_projection_stores_the_trails_envelope() {
        let dir = tempfile::tempdir().unwrap();
        let ring =
            KeyRing::new(ward_crypto::MasterKey::from_hex("07".repeat(32).as_bytes()).unwrap());
        let store =
            crate::SqliteStore::open(crate::SqliteOptions::new(dir.path().join("ward.db")), ring)
                .await
                .unwrap();
        let text = |i: u32| {
            Bytes::from(format!(
                r#"{{"resourceType":"AuditEvent","id":"e-{i}","action":"R"}}"#
            ))
        };
        let events: Vec<NewVersion> = (1..=3)
            .map(|i| NewVersion {
                rtype: "AuditEvent".into(),
                id: format!("e-{i}"),
                version: 1,
                last_updated: Timestamp(1_000),
                method: WriteMethod::Create,
                body: Some(text(i)),
                index: Default::default(),
                patients: Vec::new(),
            })
            .collect();
        let linked = store.append_audit_committed(events.clone()).await.unwrap();
        let records: Vec<AuditIndexed> = events
            .into_iter()
            .zip(&linked)
            .map(|(e, (seq, hash))| AuditIndexed {
                seq: *seq,
                hash: *hash,
                event: Some(AuditProjection {
                    id: e.id,
                    recorded: e.last_updated,
                    body: e.body.unwrap(),
                    patients: e.patients,
                    index: Default::default(),
                }),
            })
            .collect();
        let mut tx = store.begin().await.unwrap();
        assert!(tx.index_audit(0, 3, records).await.unwrap());
        tx.commit().await.unwrap();

        let body = |sql: &'static str| {
            move |c: &Connection| {
                c.query_row(sql, [], |r| r.get::<_, Vec<u8>>(0))
                    .map_err(crate::conn::map_err)
            }
        };
        let trail = store
            .inner
            .trail
            .read(body("SELECT body FROM trail WHERE id = 'e-2'"))
            .await
            .unwrap();
        let projected = store
            .inner
            .pool
            .read(body(
                "SELECT body FROM versions WHERE rtype = 'AuditEvent' AND id = 'e-2'",
            ))
            .await
            .unwrap();
        assert_eq!(projected, trail);
        let ring = store.inner.ring.clone();
        assert_eq!(
            crate::trail::open_text(&ring, "e-2", &projected).unwrap(),
            text(2).to_vec()
        );
        assert!(store.inner.sealed.0.lock().unwrap().is_empty(), "all taken");
        assert!(store.close().await);
    }
}
