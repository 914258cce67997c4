//! The trail's appender: one thread that owns the appends to the audit trail file and commits
//! everything that queued while the previous batch committed as one transaction (group
//! commit). Requests hand their records over a channel and wait on their own answer, so an
//! audited read costs one hand-over to this thread and one back, and a batch one commit
//! (docs/design/011-audit-file.md "Measured").

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use rusqlite::Connection;
use tokio::sync::oneshot;
use ward_store::{KeyRing, NewVersion, StoreError, StoreResult};

use crate::conn::{map_err, reset};
use crate::trail::{self, Entry};

/// Most records appended in one transaction.
const MAX_BATCH: usize = 512;

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
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Appender {
    /// Starts the thread; it takes the trail's writer connection for each batch.
    pub(crate) fn start(
        writer: Arc<tokio::sync::Mutex<Connection>>,
        ring: Arc<KeyRing>,
    ) -> StoreResult<Self> {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("ward-audit-append".into())
            .spawn(move || run(&rx, &writer, &ring))
            .map_err(|_| StoreError::Internal("audit appender thread".into()))?;
        Ok(Self {
            queue: std::sync::Mutex::new(Some(tx)),
            thread: std::sync::Mutex::new(Some(thread)),
        })
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

fn run(rx: &Receiver<Job>, writer: &tokio::sync::Mutex<Connection>, ring: &KeyRing) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let conn = writer.blocking_lock();
        let result = append_batch(&conn, ring, &batch);
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

/// One transaction for the whole batch.
fn append_batch(c: &Connection, ring: &KeyRing, batch: &[Job]) -> Linked {
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
    Ok(linked)
}
