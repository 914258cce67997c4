//! Verification of the stored trail (`ward audit verify`): every chain row with its stored
//! AuditEvent text, the stored checkpoints and, when given, the external checkpoint log (which
//! still catches a tail truncation whose checkpoints were deleted from the database too).

use std::collections::BTreeMap;
use std::path::Path;

use ward_audit::{ChainRow, Checkpoint, Verifier, VerifyError, VerifyReport};
use ward_store::Store;

use super::AuditKeys;
use crate::{CoreError, CoreResult};

/// What `verify_trail` found.
pub type VerifyOutcome = Result<VerifyReport, VerifyError>;

fn parse_checkpoints(lines: impl IntoIterator<Item = String>) -> CoreResult<Vec<Checkpoint>> {
    lines
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(&l)
                .map_err(|_| CoreError::Internal("a checkpoint is not valid JSON".into()))
        })
        .collect()
}

/// Recomputes the whole chain. The outer error is an operational failure (cannot read); the
/// inner one is a verification finding.
pub async fn verify_trail(
    store: &dyn Store,
    external: Option<&Path>,
    now: i64,
) -> CoreResult<VerifyOutcome> {
    let mut cps: BTreeMap<u64, Checkpoint> = BTreeMap::new();
    for cp in parse_checkpoints(store.audit_checkpoints().await?)? {
        cps.insert(cp.seq, cp);
    }
    if let Some(path) = external {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CoreError::Internal(format!("checkpoint log: {}", e.kind())))?;
        for cp in parse_checkpoints(text.lines().map(str::to_owned))? {
            match cps.get(&cp.seq) {
                Some(mine) if *mine != cp => {
                    return Ok(Err(VerifyError::CheckpointMismatch { seq: cp.seq }));
                }
                _ => {
                    cps.insert(cp.seq, cp);
                }
            }
        }
    }
    let keys = if cps.is_empty() {
        Default::default()
    } else {
        AuditKeys::load_or_create(store, now).await?.public_keys()
    };
    let cps: Vec<Checkpoint> = cps.into_values().collect();
    let mut v = match Verifier::new(&cps, &keys) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let position = store.audit_index_state().await?.0;
    let mut projection = Projection::new(store, position).await?;
    let mut after = 0u64;
    loop {
        let rows = store.audit_rows(after, 1000).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for r in rows {
            let row = ChainRow {
                seq: r.seq,
                prev_hash: r.prev_hash,
                hash: r.hash,
                body: r.body.map(|b| b.to_vec()).unwrap_or_default(),
            };
            if let Err(e) = v.push(&row) {
                return Ok(Err(e));
            }
            if let Err(e) = projection.check(store, &row).await? {
                return Ok(Err(e));
            }
            if let Some(note) = ward_audit::PurgeNote::from_event(&row.body) {
                v.note_purge(row.seq, note.through, note.through_hash);
            }
        }
    }
    let report = match v.finish() {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    if let Err(e) = projection.finish(store).await? {
        return Ok(Err(e));
    }
    Ok(Ok(report))
}

/// The projection of the trail (the searchable AuditEvents), where a backend keeps it apart
/// from the trail of record: walked beside the trail, every record through the projection's
/// position must be there with the same hash and the same text, and nothing else may be.
struct Projection {
    /// `None` when the backend's AuditEvents are the trail itself.
    rows: Option<std::collections::VecDeque<ward_store::AuditRow>>,
    /// The last position fetched, and whether the projection is read to its end.
    after: u64,
    done: bool,
    /// The projection's position: records after it are not projected yet.
    position: u64,
}

impl Projection {
    async fn new(store: &dyn Store, position: u64) -> CoreResult<Self> {
        let rows = store
            .audit_projection(0, 0)
            .await?
            .map(|_| std::collections::VecDeque::new());
        Ok(Self {
            rows,
            after: 0,
            done: false,
            position,
        })
    }

    /// The next projected row's position, fetching a page when needed.
    async fn peek(&mut self, store: &dyn Store) -> CoreResult<Option<u64>> {
        let Some(rows) = self.rows.as_mut() else {
            return Ok(None);
        };
        if rows.is_empty() && !self.done {
            let page = store
                .audit_projection(self.after, 1000)
                .await?
                .unwrap_or_default();
            match page.last() {
                Some(last) => self.after = last.seq,
                None => self.done = true,
            }
            rows.extend(page);
        }
        Ok(rows.front().map(|r| r.seq))
    }

    /// Checks the projection at the trail's record `row`.
    async fn check(
        &mut self,
        store: &dyn Store,
        row: &ChainRow,
    ) -> CoreResult<Result<(), VerifyError>> {
        let next = self.peek(store).await?;
        if let Some(seq) = next.filter(|s| *s < row.seq) {
            // projected, but not in the trail
            return Ok(Err(VerifyError::Projection { seq }));
        }
        if row.seq > self.position {
            // not projected yet: nothing may be
            return Ok(match next {
                Some(seq) if seq == row.seq => Err(VerifyError::Projection { seq }),
                _ => Ok(()),
            });
        }
        let projected = self
            .rows
            .as_mut()
            .and_then(std::collections::VecDeque::pop_front);
        Ok(match projected {
            None if self.rows.is_none() => Ok(()),
            Some(p)
                if p.seq == row.seq
                    && p.hash == row.hash
                    && p.body.as_deref() == Some(row.body.as_slice()) =>
            {
                Ok(())
            }
            _ => Err(VerifyError::Projection { seq: row.seq }),
        })
    }

    /// After the trail: no projected row may remain.
    async fn finish(mut self, store: &dyn Store) -> CoreResult<Result<(), VerifyError>> {
        Ok(match self.peek(store).await? {
            Some(seq) => Err(VerifyError::Projection { seq }),
            None => Ok(()),
        })
    }
}
