//! The audit chain on SQLite: appending AuditEvent versions with their chain links inside the
//! caller's transaction, reading the chain back with the exact hashed text, and checkpoints.

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use ward_store::index::IndexRows;
use ward_store::{
    AUDIT_INDEXED_META, AuditRow, KeyRing, NewVersion, StoreError, StoreResult, body_aad,
    decode_audit_indexed, encode_audit_indexed,
};

use crate::conn::map_err;
use crate::tx::write_one;

fn hash32(v: Vec<u8>) -> StoreResult<[u8; 32]> {
    <[u8; 32]>::try_from(v.as_slice()).map_err(|_| StoreError::Integrity)
}

/// The current head of the chain (`0` and the genesis hash when empty).
pub(crate) fn head(c: &Connection) -> StoreResult<(u64, [u8; 32])> {
    let row: Option<(i64, Vec<u8>)> = c
        .prepare_cached("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
        .map_err(map_err)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(map_err)?;
    match row {
        None => Ok((0, ward_audit::GENESIS)),
        Some((seq, hash)) => Ok((
            u64::try_from(seq).map_err(|_| StoreError::Integrity)?,
            hash32(hash)?,
        )),
    }
}

/// Writes each AuditEvent version and links it into the chain. Returns `(seq, hash)` of each.
pub(crate) fn append(
    c: &Connection,
    ring: &KeyRing,
    events: &[NewVersion],
) -> StoreResult<Vec<(u64, [u8; 32])>> {
    let (mut seq, mut prev) = head(c)?;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let body = e
            .body
            .as_deref()
            .ok_or_else(|| StoreError::Internal("audit event without body".into()))?;
        let vseq = write_one(c, ring, e)?;
        seq += 1;
        let hash = ward_audit::link_hash(seq, &prev, body);
        c.prepare_cached(
            "INSERT INTO audit_chain(seq, vseq, prev_hash, hash) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(map_err)?
        .execute(params![
            i64::try_from(seq).map_err(|_| StoreError::Integrity)?,
            vseq,
            prev.as_slice(),
            hash.as_slice()
        ])
        .map_err(map_err)?;
        out.push((seq, hash));
        prev = hash;
    }
    Ok(out)
}

/// The AuditEvent index position (`meta`), as this connection's transaction sees it.
fn indexed(c: &Connection) -> StoreResult<u64> {
    decode_audit_indexed(crate::schema::get_meta(c, AUDIT_INDEXED_META)?.as_deref())
}

/// `(indexed, head)` of the AuditEvent index, from one snapshot.
pub(crate) fn index_state(c: &Connection) -> StoreResult<(u64, u64)> {
    crate::search::in_read_tx(c, |c| Ok((indexed(c)?, head(c)?.0)))
}

/// Writes the deferred index rows of chain positions `rows` and moves the index position from
/// `from` to `through`; `false` (and nothing written) when the position is no longer `from`.
pub(crate) fn index(
    c: &Connection,
    from: u64,
    through: u64,
    rows: &[(u64, IndexRows)],
) -> StoreResult<bool> {
    if indexed(c)? != from {
        return Ok(false);
    }
    for (seq, index) in rows {
        let rid: Option<i64> = c
            .prepare_cached(
                "SELECT v.rid FROM audit_chain c JOIN versions v ON v.seq = c.vseq WHERE c.seq = ?1",
            )
            .map_err(map_err)?
            .query_row([i64::try_from(*seq).map_err(|_| StoreError::Integrity)?], |r| {
                r.get(0)
            })
            .optional()
            .map_err(map_err)?;
        if let Some(rid) = rid {
            // (replacing: a `$reindex` may have indexed it already)
            crate::index::remove(c, rid)?;
            crate::index::insert(c, rid, index)?;
        }
    }
    crate::schema::put_meta(c, AUDIT_INDEXED_META, &encode_audit_indexed(through))?;
    Ok(true)
}

/// Chain rows after `after`, in order, with the AuditEvent text each one hashed.
pub(crate) fn rows(
    c: &Connection,
    ring: &KeyRing,
    after: u64,
    limit: usize,
) -> StoreResult<Vec<AuditRow>> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut st = c
        .prepare_cached(
            "SELECT c.seq, c.prev_hash, c.hash, v.rtype, v.id, v.version, v.body FROM audit_chain c \
             LEFT JOIN versions v ON v.seq = c.vseq WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2",
        )
        .map_err(map_err)?;
    let mut rows = st.query(params![after, limit]).map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(map_err)? {
        let seq: i64 = r.get(0).map_err(map_err)?;
        let rtype: Option<String> = r.get(3).map_err(map_err)?;
        let id: Option<String> = r.get(4).map_err(map_err)?;
        let version: Option<i64> = r.get(5).map_err(map_err)?;
        let sealed: Option<Vec<u8>> = r.get(6).map_err(map_err)?;
        // A body that no longer opens (tampered ciphertext) reads as missing: the verifier
        // reports the record as modified.
        let body = match (rtype, id, version, sealed) {
            (Some(t), Some(i), Some(v), Some(env)) => u64::try_from(v)
                .ok()
                .and_then(|v| ring.open(&body_aad(&t, &i, v), &env).ok())
                .map(Bytes::from),
            _ => None,
        };
        out.push(AuditRow {
            seq: u64::try_from(seq).map_err(|_| StoreError::Integrity)?,
            prev_hash: hash32(r.get(1).map_err(map_err)?)?,
            hash: hash32(r.get(2).map_err(map_err)?)?,
            body,
        });
    }
    Ok(out)
}

/// Removes chain rows `seq <= through` and their AuditEvent resources (retention).
pub(crate) fn purge(c: &Connection, through: u64) -> StoreResult<u64> {
    let through = i64::try_from(through).map_err(|_| StoreError::Integrity)?;
    let rids: Vec<i64> = {
        let mut st = c
            .prepare(
                "SELECT DISTINCT v.rid FROM audit_chain c JOIN versions v ON v.seq = c.vseq \
                 WHERE c.seq <= ?1",
            )
            .map_err(map_err)?;
        let rows = st
            .query_map([through], |r| r.get::<_, i64>(0))
            .map_err(map_err)?;
        rows.collect::<Result<_, _>>().map_err(map_err)?
    };
    for rid in &rids {
        crate::index::remove(c, *rid)?;
        c.prepare_cached("DELETE FROM versions WHERE rid = ?1")
            .map_err(map_err)?
            .execute([rid])
            .map_err(map_err)?;
        c.prepare_cached("DELETE FROM resources WHERE rid = ?1 AND rtype = 'AuditEvent'")
            .map_err(map_err)?
            .execute([rid])
            .map_err(map_err)?;
    }
    let n = c
        .execute("DELETE FROM audit_chain WHERE seq <= ?1", [through])
        .map_err(map_err)?;
    u64::try_from(n).map_err(|_| StoreError::Integrity)
}

/// Stores a checkpoint (JSON) for `seq`.
pub(crate) fn add_checkpoint(c: &Connection, seq: u64, body: &str) -> StoreResult<()> {
    c.prepare_cached("INSERT OR REPLACE INTO audit_checkpoints(seq, body) VALUES (?1, ?2)")
        .map_err(map_err)?
        .execute(params![
            i64::try_from(seq).map_err(|_| StoreError::Integrity)?,
            body
        ])
        .map_err(map_err)?;
    Ok(())
}

/// Every checkpoint, oldest first.
pub(crate) fn checkpoints(c: &Connection) -> StoreResult<Vec<String>> {
    let mut st = c
        .prepare_cached("SELECT body FROM audit_checkpoints ORDER BY seq")
        .map_err(map_err)?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(map_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
}
