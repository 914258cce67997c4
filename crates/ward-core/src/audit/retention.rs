//! Retention (docs/design/007-audit.md "Retention"): records older than the retention period
//! are written to an encrypted archive, the archive is verified against the stored chain, and
//! only then are they purged — in batches, each batch appending a purge record to the chain in
//! the same transaction and getting a signed checkpoint at once, so `ward audit verify` can
//! tell a recorded purge from a deleted prefix.
//!
//! Archive format (`ward-audit-archive-v1`): one base64 line per AES-256-GCM envelope under a
//! key derived from the master key (`ward/audit-archive/v1`): a header
//! `{"format","from","through","prev_hash","created"}`, then each record
//! `{"seq","prev_hash","hash","event"}` (the exact hashed AuditEvent text), then a trailer
//! `{"end","records"}`. Each envelope's associated data names its position, so lines cannot be
//! edited, swapped, dropped or replayed from another archive position.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use ward_audit::{AuditRecord, GENESIS, PurgeNote, link_hash};
use ward_crypto::{DataKey, KeyId, MasterKey};
use ward_store::{AuditRow, Store};

use crate::{CoreError, CoreResult, FhirService};

const FORMAT: &str = "ward-audit-archive-v1";
const KEY_LABEL: &str = "ward/audit-archive/v1";
/// Chain rows read per store call.
const PAGE: usize = 1000;
/// Records purged per transaction (each batch leaves its own purge record).
const PURGE_BATCH: u64 = 5000;

/// The archive key of a data directory.
pub fn archive_key(master: &MasterKey) -> CoreResult<DataKey> {
    let bytes = master
        .derive(KEY_LABEL)
        .map_err(|_| CoreError::Internal("archive key".into()))?;
    DataKey::new(KeyId(0), &bytes).map_err(|_| CoreError::Internal("archive key".into()))
}

/// What an archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSummary {
    pub from: u64,
    pub through: u64,
    pub records: u64,
    /// SHA-256 of the archive file.
    pub sha256: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    from: u64,
    through: u64,
    prev_hash: String,
    created: String,
}

#[derive(Serialize, Deserialize)]
struct Line {
    seq: u64,
    prev_hash: String,
    hash: String,
    event: String,
}

#[derive(Serialize, Deserialize)]
struct Trailer {
    end: u64,
    records: u64,
}

fn aad(what: &str) -> Vec<u8> {
    format!("{FORMAT}/{what}").into_bytes()
}

fn internal(m: &str) -> CoreError {
    CoreError::Internal(m.into())
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    <[u8; 32]>::try_from(hex::decode(s).ok()?.as_slice()).ok()
}

/// When a stored AuditEvent was recorded (unix seconds).
fn recorded(row: &AuditRow) -> Option<i64> {
    let body = row.body.as_deref()?;
    let ev: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = ev.get("recorded")?.as_str()?;
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// The kept trail's first record, and the last record of its longest prefix recorded before
/// `cutoff` (unix seconds): what a purge at `cutoff` may remove. `None` when nothing is due.
pub async fn due_for_purge(store: &dyn Store, cutoff: i64) -> CoreResult<Option<(u64, u64)>> {
    let mut first = None;
    let mut last = None;
    let mut after = 0;
    'pages: loop {
        let rows = store.audit_rows(after, PAGE).await?;
        let Some(tail) = rows.last() else { break };
        after = tail.seq;
        for r in &rows {
            // a record whose time cannot be read is never purged (nor anything after it)
            match recorded(r) {
                Some(t) if t < cutoff => {
                    first.get_or_insert(r.seq);
                    last = Some(r.seq);
                }
                _ => break 'pages,
            }
        }
    }
    Ok(first.zip(last))
}

/// Writes records `from..=through` of the stored trail to a new archive file at `out` (never
/// overwriting one), synced to disk. `from` must be the kept trail's first record.
pub async fn write_archive(
    store: &dyn Store,
    key: &DataKey,
    out: &Path,
    from: u64,
    through: u64,
    created: &str,
) -> CoreResult<ArchiveSummary> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| CoreError::Internal(format!("archive file: {}", e.kind())))?;
    // A half-written archive is never left behind (the file is ours: it was created above).
    let written = write_lines(store, key, file, out, from, through, created).await;
    if written.is_err() {
        let _ = std::fs::remove_file(out);
    }
    written
}

async fn write_lines(
    store: &dyn Store,
    key: &DataKey,
    file: std::fs::File,
    out: &Path,
    from: u64,
    through: u64,
    created: &str,
) -> CoreResult<ArchiveSummary> {
    let mut w = std::io::BufWriter::new(file);
    let mut put = |what: &str, json: &[u8]| -> CoreResult<()> {
        let env = ward_crypto::seal(key, &aad(what), json).map_err(|_| internal("seal"))?;
        w.write_all(STANDARD.encode(env).as_bytes())
            .and_then(|()| w.write_all(b"\n"))
            .map_err(|e| CoreError::Internal(format!("archive file: {}", e.kind())))
    };
    let mut rows = store.audit_rows(from.saturating_sub(1), PAGE).await?;
    let prev = rows
        .first()
        .filter(|r| r.seq == from)
        .map(|r| r.prev_hash)
        .ok_or_else(|| internal("the trail does not hold the first record to archive"))?;
    let header = Header {
        format: FORMAT.into(),
        from,
        through,
        prev_hash: hex::encode(prev),
        created: created.into(),
    };
    put(
        "header",
        &serde_json::to_vec(&header).map_err(|_| internal("json"))?,
    )?;
    let mut expected = from;
    'pages: while !rows.is_empty() {
        for r in &rows {
            if r.seq > through {
                break 'pages;
            }
            if r.seq != expected {
                return Err(internal("the trail has a gap; run `ward audit verify`"));
            }
            let event = r
                .body
                .as_deref()
                .and_then(|b| std::str::from_utf8(b).ok())
                .ok_or_else(|| {
                    internal("a record's body cannot be read; run `ward audit verify`")
                })?;
            let line = Line {
                seq: r.seq,
                prev_hash: hex::encode(r.prev_hash),
                hash: hex::encode(r.hash),
                event: event.to_owned(),
            };
            put(
                &r.seq.to_string(),
                &serde_json::to_vec(&line).map_err(|_| internal("json"))?,
            )?;
            expected += 1;
        }
        rows = store.audit_rows(expected - 1, PAGE).await?;
    }
    if expected != through + 1 {
        return Err(internal("the trail ends before the archive's last record"));
    }
    let records = through + 1 - from;
    let trailer = Trailer {
        end: through,
        records,
    };
    put(
        "trailer",
        &serde_json::to_vec(&trailer).map_err(|_| internal("json"))?,
    )?;
    let file = w
        .into_inner()
        .map_err(|e| CoreError::Internal(format!("archive file: {}", e.error().kind())))?;
    file.sync_all()
        .map_err(|e| CoreError::Internal(format!("archive file: {}", e.kind())))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(ArchiveSummary {
        from,
        through,
        records,
        sha256: file_sha256(out)?,
    })
}

fn file_sha256(path: &Path) -> CoreResult<[u8; 32]> {
    std::fs::File::open(path)
        .and_then(ward_crypto::sha256_reader)
        .map(|(_, sha)| sha)
        .map_err(|e| CoreError::Internal(format!("archive file: {}", e.kind())))
}

/// Checks an archive on its own (every envelope opens, records are contiguous and chained,
/// the trailer matches) and against the stored trail: each archived record still in the store
/// must carry the same hash, and the archive must start at or before the kept trail's first
/// record. Returns the summary, or why the archive cannot be trusted.
pub async fn verify_archive(
    store: &dyn Store,
    key: &DataKey,
    path: &Path,
) -> CoreResult<Result<ArchiveSummary, String>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err("there is no such file".into()));
        }
        Err(e) => return Ok(Err(format!("it cannot be opened ({})", e.kind()))),
    };
    let mut lines = BufReader::new(file).lines();
    let mut open = |what: &str| -> Result<Vec<u8>, String> {
        let label = if what.bytes().all(|b| b.is_ascii_digit()) {
            format!("record {what}")
        } else {
            format!("the {what}")
        };
        let line = lines
            .next()
            .ok_or_else(|| format!("the archive ends early (before {label})"))?
            .map_err(|e| format!("the archive cannot be read: {}", e.kind()))?;
        let env = STANDARD
            .decode(line.trim())
            .map_err(|_| format!("{label} is not an archive envelope"))?;
        ward_crypto::open(key, &aad(what), &env).map_err(|_| {
            format!("{label} does not open: edited, moved, or another data directory's archive")
        })
    };
    let header: Header = match open("header").and_then(|b| {
        serde_json::from_slice(&b).map_err(|_| "the archive header is not valid".to_owned())
    }) {
        Ok(h) => h,
        Err(e) => return Ok(Err(e)),
    };
    if header.format != FORMAT || header.from == 0 || header.through < header.from {
        return Ok(Err("the archive header is not a Ward audit archive".into()));
    }
    let Some(mut prev) = hex32(&header.prev_hash) else {
        return Ok(Err("the archive header is not valid".into()));
    };
    if header.from == 1 && prev != GENESIS {
        return Ok(Err(
            "the archive's first record does not start the chain".into()
        ));
    }
    let mut stored = store.audit_rows(0, 1).await?;
    let kept_first = stored.first().map_or(u64::MAX, |r| r.seq);
    if header.from > kept_first {
        return Ok(Err(format!(
            "the archive starts at record {} but the kept trail starts at {kept_first}: \
             records in between are not archived",
            header.from
        )));
    }
    stored = store
        .audit_rows(header.from.saturating_sub(1), PAGE)
        .await?;
    let mut stored_at = 0usize;
    for seq in header.from..=header.through {
        let line: Line = match open(&seq.to_string()).and_then(|b| {
            serde_json::from_slice(&b).map_err(|_| format!("record {seq} is not valid"))
        }) {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
        let (Some(p), Some(h)) = (hex32(&line.prev_hash), hex32(&line.hash)) else {
            return Ok(Err(format!("record {seq} is not valid")));
        };
        if line.seq != seq || p != prev || link_hash(seq, &p, line.event.as_bytes()) != h {
            return Ok(Err(format!("record {seq} does not chain")));
        }
        if seq >= kept_first {
            if stored_at >= stored.len() {
                stored = store.audit_rows(seq - 1, PAGE).await?;
                stored_at = 0;
            }
            match stored.get(stored_at) {
                Some(s) if s.seq == seq && s.hash == h => stored_at += 1,
                Some(s) if s.seq == seq => {
                    return Ok(Err(format!("record {seq} differs from the stored trail")));
                }
                _ => return Ok(Err(format!("record {seq} is not in the stored trail"))),
            }
        }
        prev = h;
    }
    let trailer: Trailer = match open("trailer").and_then(|b| {
        serde_json::from_slice(&b).map_err(|_| "the archive trailer is not valid".to_owned())
    }) {
        Ok(t) => t,
        Err(e) => return Ok(Err(e)),
    };
    let records = header.through + 1 - header.from;
    if trailer.end != header.through || trailer.records != records {
        return Ok(Err("the archive trailer does not match its header".into()));
    }
    if lines.next().is_some() {
        return Ok(Err("the archive has lines after its trailer".into()));
    }
    Ok(Ok(ArchiveSummary {
        from: header.from,
        through: header.through,
        records,
        sha256: file_sha256(path)?,
    }))
}

impl FhirService {
    /// Purges records `from..=through` (the kept trail's first record onwards), which a
    /// verified archive with digest `archive_sha256` holds. Each batch commits its deletion
    /// together with a purge record (a copy of `template` whose `outcomeDesc` is the batch's
    /// [`PurgeNote`]) and is covered by a signed checkpoint before the next batch starts.
    /// Returns the number of records purged.
    pub async fn purge_audit(
        &self,
        template: &AuditRecord,
        from: u64,
        through: u64,
        archive_sha256: [u8; 32],
    ) -> CoreResult<u64> {
        if !self.auditor.enabled() {
            return Err(internal(
                "the audit trail is switched off: nothing may be purged",
            ));
        }
        let mut start = from;
        let mut purged = 0;
        while start <= through {
            let end = through.min(start + PURGE_BATCH - 1);
            let end_hash = self
                .store
                .audit_rows(end - 1, 1)
                .await?
                .first()
                .filter(|r| r.seq == end)
                .map(|r| r.hash)
                .ok_or_else(|| internal("the trail changed during the purge"))?;
            let mut rec = template.clone();
            rec.outcome_desc = Some(
                PurgeNote {
                    from: start,
                    through: end,
                    through_hash: end_hash,
                    archive_sha256,
                }
                .to_desc(),
            );
            rec.recorded = self.now_instant();
            let (n, (seq, hash)) = self.auditor.purge(end, &rec).await?;
            if n != end + 1 - start {
                return Err(internal("the trail changed during the purge"));
            }
            self.auditor.advanced(seq, hash).await;
            self.auditor.checkpoint_now().await?;
            purged += n;
            start = end + 1;
        }
        Ok(purged)
    }
}
