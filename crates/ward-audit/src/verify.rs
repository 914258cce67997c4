//! Verification of a stored chain and its checkpoints. The first failure wins and names its
//! `seq`, so an operator knows where the trail stops being trustworthy.

use std::collections::HashMap;

use crate::{Checkpoint, GENESIS, link_hash};

/// One stored chain row, as read back in `seq` order.
#[derive(Debug, Clone)]
pub struct ChainRow {
    pub seq: u64,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    /// The exact bytes that were hashed.
    pub body: Vec<u8>,
}

/// What was wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("record {seq} is missing (a deletion or a gap)")]
    Missing { seq: u64 },
    #[error("record {seq} does not link to its predecessor (inserted, reordered or edited)")]
    BrokenLink { seq: u64 },
    #[error("record {seq} was modified (its hash does not match its content)")]
    Modified { seq: u64 },
    #[error(
        "the trail ends at record {last} but a checkpoint covers record {checkpoint}: it was truncated"
    )]
    Truncated { last: u64, checkpoint: u64 },
    #[error("the checkpoint at record {seq} does not match the chain")]
    CheckpointMismatch { seq: u64 },
    #[error("the checkpoint at record {seq} has an invalid signature or an unknown key")]
    BadSignature { seq: u64 },
    #[error("records up to {through} are missing and no signed purge record accounts for them")]
    UnaccountedPurge { through: u64 },
    #[error(
        "the searchable copy of record {seq} differs from the trail (its AuditEvent was edited, \
         deleted or added in the data file)"
    )]
    Projection { seq: u64 },
    #[error("the trail could not be read: {0}")]
    Read(String),
}

impl VerifyError {
    /// The first bad `seq` this error names.
    pub fn first_bad_seq(&self) -> Option<u64> {
        match self {
            Self::Missing { seq }
            | Self::BrokenLink { seq }
            | Self::Modified { seq }
            | Self::CheckpointMismatch { seq }
            | Self::BadSignature { seq }
            | Self::Projection { seq } => Some(*seq),
            Self::Truncated { last, .. } => Some(last + 1),
            Self::UnaccountedPurge { through } => Some(*through),
            Self::Read(_) => None,
        }
    }
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked (the kept trail).
    pub records: u64,
    pub last_seq: u64,
    pub checkpoints: usize,
    /// The last record removed by a recorded retention purge (0 when none was).
    pub purged_through: u64,
}

/// Incremental verification: feed rows in `seq` order with [`Verifier::push`], then
/// [`Verifier::finish`]. Memory stays constant however long the trail is.
#[derive(Debug)]
pub struct Verifier {
    by_seq: HashMap<u64, String>,
    max_checkpoint: Option<u64>,
    checkpoints: usize,
    expected: u64,
    prev: [u8; 32],
    /// Where the kept trail starts, when an earlier prefix was purged: `(through, hash)`.
    anchor: Option<(u64, [u8; 32])>,
    /// Purge records seen: `(record seq, through, through hash)`.
    purges: Vec<(u64, u64, [u8; 32])>,
}

impl Verifier {
    /// Checks every checkpoint's signature against `keys` (key id → raw Ed25519 public key).
    pub fn new(
        checkpoints: &[Checkpoint],
        keys: &HashMap<String, Vec<u8>>,
    ) -> Result<Self, VerifyError> {
        let mut by_seq = HashMap::new();
        for cp in checkpoints {
            let valid = keys.get(&cp.key_id).is_some_and(|k| cp.signature_valid(k));
            if !valid {
                return Err(VerifyError::BadSignature { seq: cp.seq });
            }
            by_seq.insert(cp.seq, cp.hash.clone());
        }
        Ok(Self {
            by_seq,
            max_checkpoint: checkpoints.iter().map(|c| c.seq).max(),
            checkpoints: checkpoints.len(),
            expected: 1,
            prev: GENESIS,
            anchor: None,
            purges: Vec::new(),
        })
    }

    /// Notes that record `seq` (already pushed) is a purge record that removed records up to
    /// `through`, whose hash was `through_hash` (see [`crate::PurgeNote`]).
    pub fn note_purge(&mut self, seq: u64, through: u64, through_hash: [u8; 32]) {
        self.purges.push((seq, through, through_hash));
    }

    /// Checks the next row.
    pub fn push(&mut self, row: &ChainRow) -> Result<(), VerifyError> {
        if self.expected == 1 && self.anchor.is_none() && row.seq > 1 {
            // The trail starts after a purge; `finish` insists that a signed purge record
            // accounts for exactly this start.
            self.anchor = Some((row.seq - 1, row.prev_hash));
            self.expected = row.seq;
            self.prev = row.prev_hash;
        }
        if row.seq > self.expected {
            return Err(VerifyError::Missing { seq: self.expected });
        }
        if row.seq < self.expected || row.prev_hash != self.prev {
            return Err(VerifyError::BrokenLink { seq: row.seq });
        }
        if link_hash(row.seq, &row.prev_hash, &row.body) != row.hash {
            return Err(VerifyError::Modified { seq: row.seq });
        }
        if let Some(h) = self.by_seq.get(&row.seq)
            && *h != hex::encode(row.hash)
        {
            return Err(VerifyError::CheckpointMismatch { seq: row.seq });
        }
        self.prev = row.hash;
        self.expected += 1;
        Ok(())
    }

    /// Ends the walk: a checkpoint beyond the last row means the tail was truncated.
    pub fn finish(self) -> Result<VerifyReport, VerifyError> {
        let last = self.expected - 1;
        if let Some(max) = self.max_checkpoint
            && max > last
        {
            return Err(VerifyError::Truncated {
                last,
                checkpoint: max,
            });
        }
        let purged_through = match self.anchor {
            None => 0,
            Some((through, hash)) => {
                let signed = self.max_checkpoint.unwrap_or(0);
                let accounted = self
                    .purges
                    .iter()
                    .any(|&(seq, t, h)| t == through && h == hash && seq <= signed);
                if !accounted {
                    return Err(VerifyError::UnaccountedPurge { through });
                }
                through
            }
        };
        Ok(VerifyReport {
            records: last - purged_through,
            last_seq: last,
            checkpoints: self.checkpoints,
            purged_through,
        })
    }
}

/// Verifies `rows` (in `seq` order, starting at 1) against `checkpoints` signed by any of
/// `keys` (key id → raw Ed25519 public key).
pub fn verify(
    rows: impl IntoIterator<Item = Result<ChainRow, String>>,
    checkpoints: &[Checkpoint],
    keys: &HashMap<String, Vec<u8>>,
) -> Result<VerifyReport, VerifyError> {
    let mut v = Verifier::new(checkpoints, keys)?;
    for row in rows {
        v.push(&row.map_err(VerifyError::Read)?)?;
    }
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuditSigningKey;

    fn chain(n: u64) -> Vec<ChainRow> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|seq| {
                let body = format!("event {seq}").into_bytes();
                let hash = link_hash(seq, &prev, &body);
                let row = ChainRow {
                    seq,
                    prev_hash: prev,
                    hash,
                    body,
                };
                prev = hash;
                row
            })
            .collect()
    }

    fn run(
        rows: &[ChainRow],
        cps: &[Checkpoint],
        key: &AuditSigningKey,
    ) -> Result<VerifyReport, VerifyError> {
        let keys = HashMap::from([(key.key_id(), key.public_key())]);
        verify(rows.iter().cloned().map(Ok), cps, &keys)
    }

    #[test]
    fn detects_every_kind_of_tampering() {
        let key = AuditSigningKey::generate().unwrap();
        let rows = chain(10);
        let cps = vec![key.sign(5, &rows[4].hash, 1), key.sign(8, &rows[7].hash, 2)];
        assert_eq!(run(&rows, &cps, &key).unwrap().records, 10);

        let mut edited = rows.clone();
        edited[3].body = b"event 4 (edited)".to_vec();
        assert_eq!(
            run(&edited, &cps, &key).unwrap_err().first_bad_seq(),
            Some(4)
        );

        let mut deleted = rows.clone();
        deleted.remove(6);
        assert_eq!(
            run(&deleted, &cps, &key).unwrap_err(),
            VerifyError::Missing { seq: 7 }
        );

        // reordering: records 3 and 4 trade places (content and hashes; seq is the position)
        let mut swapped = rows.clone();
        let (a, b) = (swapped[2].clone(), swapped[3].clone());
        swapped[2] = ChainRow { seq: 3, ..b };
        swapped[3] = ChainRow { seq: 4, ..a };
        assert_eq!(
            run(&swapped, &cps, &key).unwrap_err().first_bad_seq(),
            Some(3)
        );

        // an inserted record with recomputed hashes after it is caught by the checkpoint
        let mut inserted = rows[..4].to_vec();
        let mut prev = inserted[3].hash;
        for seq in 5..=11u64 {
            let body = if seq == 5 {
                b"forged".to_vec()
            } else {
                format!("event {}", seq - 1).into_bytes()
            };
            let hash = link_hash(seq, &prev, &body);
            inserted.push(ChainRow {
                seq,
                prev_hash: prev,
                hash,
                body,
            });
            prev = hash;
        }
        assert_eq!(
            run(&inserted, &cps, &key).unwrap_err(),
            VerifyError::CheckpointMismatch { seq: 5 }
        );

        let truncated = rows[..6].to_vec();
        assert_eq!(
            run(&truncated, &cps, &key).unwrap_err(),
            VerifyError::Truncated {
                last: 6,
                checkpoint: 8
            }
        );

        let mut bad_sig = cps.clone();
        bad_sig[0].signed_at += 1;
        assert_eq!(
            run(&rows, &bad_sig, &key).unwrap_err(),
            VerifyError::BadSignature { seq: 5 }
        );
        let stranger = AuditSigningKey::generate().unwrap();
        assert_eq!(
            run(&rows, &[stranger.sign(5, &rows[4].hash, 1)], &key).unwrap_err(),
            VerifyError::BadSignature { seq: 5 }
        );
    }

    #[test]
    fn a_purged_prefix_is_accepted_only_when_a_signed_purge_record_accounts_for_it() {
        let key = AuditSigningKey::generate().unwrap();
        let keys = HashMap::from([(key.key_id(), key.public_key())]);
        let rows = chain(12);
        // records 1..=5 purged; record 9 is the purge record naming (5, hash 5)
        let kept = &rows[5..];
        let walk = |cps: &[Checkpoint], note: Option<(u64, u64, [u8; 32])>| {
            let mut v = Verifier::new(cps, &keys)?;
            for r in kept {
                v.push(r)?;
                if let Some((seq, through, hash)) = note
                    && r.seq == seq
                {
                    v.note_purge(seq, through, hash);
                }
            }
            v.finish()
        };
        let signed = vec![key.sign(10, &rows[9].hash, 1)];
        let report = walk(&signed, Some((9, 5, rows[4].hash))).unwrap();
        assert_eq!(
            (report.records, report.purged_through, report.last_seq),
            (7, 5, 12)
        );
        // no purge record: a deleted prefix
        assert_eq!(
            walk(&signed, None).unwrap_err(),
            VerifyError::UnaccountedPurge { through: 5 }
        );
        // a purge record naming another position or hash
        assert_eq!(
            walk(&signed, Some((9, 4, rows[4].hash))).unwrap_err(),
            VerifyError::UnaccountedPurge { through: 5 }
        );
        assert_eq!(
            walk(&signed, Some((9, 5, rows[3].hash)))
                .unwrap_err()
                .first_bad_seq(),
            Some(5)
        );
        // a purge record no signed checkpoint covers (a forged tail)
        let early = vec![key.sign(8, &rows[7].hash, 1)];
        assert_eq!(
            walk(&early, Some((9, 5, rows[4].hash))).unwrap_err(),
            VerifyError::UnaccountedPurge { through: 5 }
        );
        // an untouched trail needs no purge record
        assert_eq!(run(&rows, &signed, &key).unwrap().purged_through, 0);
    }
}
