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
            if let Some(note) = ward_audit::PurgeNote::from_event(&row.body) {
                v.note_purge(row.seq, note.through, note.through_hash);
            }
        }
    }
    Ok(v.finish())
}
