//! The data file's side of the audit trail (docs/design/011-audit-file.md): the pending
//! records of writes, committed with the write and chained into the trail file after it, and
//! the projection of the trail — each record as an `AuditEvent` resource and version, its row
//! in the position map `audit_chain(seq, vseq, prev_hash, hash)` and its search index rows.

use rusqlite::{Connection, OptionalExtension, params};
use ward_store::{
    AUDIT_INDEXED_META, AuditIndexed, KeyRing, NewVersion, StoreError, StoreResult,
    decode_audit_indexed, encode_audit_indexed, join_patients,
};

use crate::conn::map_err;
use crate::trail::{Entry, Legacy, hash32, int, open_text, uint};

/// Stores a write's AuditEvents as pending, inside the write's transaction.
pub(crate) fn add_pending(
    c: &Connection,
    ring: &KeyRing,
    events: &[NewVersion],
) -> StoreResult<()> {
    let mut st = c
        .prepare_cached(
            "INSERT INTO audit_pending(id, recorded, body, patients) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(map_err)?;
    for e in events {
        let entry = Entry::seal(ring, e)?;
        st.execute(params![
            entry.id,
            entry.recorded,
            entry.sealed,
            entry.patients
        ])
        .map_err(map_err)?;
    }
    Ok(())
}

/// Every pending record, oldest first, opened for chaining. A pending body that does not
/// open is an integrity failure: it cannot be chained, and it must not be dropped.
pub(crate) fn pending(c: &Connection, ring: &KeyRing) -> StoreResult<Vec<Entry>> {
    let mut st = c
        .prepare_cached(
            "SELECT id, recorded, body, patients FROM audit_pending ORDER BY recorded, id",
        )
        .map_err(map_err)?;
    let mut rows = st.query([]).map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(map_err)? {
        let id: String = r.get(0).map_err(map_err)?;
        let sealed: Vec<u8> = r.get(2).map_err(map_err)?;
        let text = open_text(ring, &id, &sealed)?;
        out.push(Entry {
            recorded: r.get(1).map_err(map_err)?,
            text: text.into(),
            sealed,
            patients: r.get(3).map_err(map_err)?,
            id,
        });
    }
    Ok(out)
}

/// The ids of the records writes left pending (chained or not yet).
pub(crate) fn pending_ids(c: &Connection) -> StoreResult<Vec<String>> {
    let mut st = c
        .prepare_cached("SELECT id FROM audit_pending")
        .map_err(map_err)?;
    let ids = st
        .query_map([], |r| r.get(0))
        .map_err(map_err)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(map_err)?;
    Ok(ids)
}

/// The projection's position (`meta`), as this connection's transaction sees it.
pub(crate) fn indexed(c: &Connection) -> StoreResult<u64> {
    decode_audit_indexed(crate::schema::get_meta(c, AUDIT_INDEXED_META)?.as_deref())
}

/// The lowest and highest chain positions the projection holds (`None` when it holds none).
pub(crate) fn projected_range(c: &Connection) -> StoreResult<Option<(u64, u64)>> {
    let (lo, hi): (Option<i64>, Option<i64>) = c
        .query_row("SELECT min(seq), max(seq) FROM audit_chain", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(map_err)?;
    match (lo, hi) {
        (Some(lo), Some(hi)) => Ok(Some((uint(lo)?, uint(hi)?))),
        _ => Ok(None),
    }
}

/// Projects `records` and moves the position from `from` to `through`; `false` (and nothing
/// written) when the position is no longer `from`. A record the projection already holds (a
/// database upgraded from schema 5, whose AuditEvents were stored with their chain rows, or a
/// `$reindex`) only has its index rows replaced.
///
/// Per chunk, not per record: the highest position the map holds tells which records may be
/// held already, one query tells whether any write's record is pending, and the index rows
/// of the whole chunk go in sorted by table and value, so each index page is visited once.
pub(crate) fn project(
    c: &Connection,
    ring: &KeyRing,
    sealed: &crate::appender::Sealed,
    from: u64,
    through: u64,
    records: &[AuditIndexed],
) -> StoreResult<bool> {
    if indexed(c)? != from {
        return Ok(false);
    }
    // Positions of the new rows, assigned here (the writer is held): no UPDATE of the
    // resource row after its version is inserted.
    let (mut rid, mut vseq, mapped, pending): (i64, i64, i64, bool) = c
        .query_row(
            "SELECT coalesce((SELECT max(rid) FROM resources), 0), \
             coalesce((SELECT max(seq) FROM versions), 0), \
             coalesce((SELECT max(seq) FROM audit_chain), 0), \
             EXISTS (SELECT 1 FROM audit_pending)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(map_err)?;
    let mut prev: Option<(u64, [u8; 32])> = None;
    let mut rows: Vec<(i64, &ward_store::index::IndexRows)> = Vec::with_capacity(records.len());
    // The statements of the loop, taken from the cache once a chunk, not once a record.
    let mut add_resource = c
        .prepare_cached(
            "INSERT INTO resources(rid, rtype, id, version, last_updated, deleted, seq) \
             VALUES (?1, 'AuditEvent', ?2, 1, ?3, 0, ?4)",
        )
        .map_err(map_err)?;
    let mut add_version = c
        .prepare_cached(
            "INSERT INTO versions(seq, rid, rtype, id, version, last_updated, method, body, \
             patients) VALUES (?1, ?2, 'AuditEvent', ?3, 1, ?4, ?5, ?6, ?7)",
        )
        .map_err(map_err)?;
    let mut add_link = c
        .prepare_cached(
            "INSERT INTO audit_chain(seq, vseq, prev_hash, hash) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(map_err)?;
    let mut drop_pending = c
        .prepare_cached("DELETE FROM audit_pending WHERE id = ?1")
        .map_err(map_err)?;
    for r in records {
        let prev_hash = match prev {
            Some((s, h)) if s + 1 == r.seq => h,
            _ => previous_hash(c, r.seq)?,
        };
        prev = Some((r.seq, r.hash));
        let Some(e) = &r.event else { continue };
        let held: Option<i64> = if int(r.seq)? <= mapped {
            c.prepare_cached(
                "SELECT v.rid FROM audit_chain c JOIN versions v ON v.seq = c.vseq WHERE c.seq = ?1",
            )
            .map_err(map_err)?
            .query_row([int(r.seq)?], |row| row.get(0))
            .optional()
            .map_err(map_err)?
        } else {
            None
        };
        if let Some(existing) = held {
            crate::index::remove_audit(c, existing)?;
            rows.push((existing, &e.index));
        } else {
            rid += 1;
            vseq += 1;
            // The envelope the trail holds for this record when this process appended it;
            // otherwise the text packed and sealed here, under the same associated data.
            let envelope = match sealed.take(r.seq, &e.id) {
                Some(env) => env,
                None => ring.seal(&crate::trail::aad(&e.id), &crate::compress::pack(&e.body))?,
            };
            add_resource
                .execute(params![rid, e.id, e.recorded.0, vseq])
                .map_err(map_err)?;
            add_version
                .execute(params![
                    vseq,
                    rid,
                    e.id,
                    e.recorded.0,
                    ward_store::WriteMethod::Create.code(),
                    envelope,
                    join_patients(&e.patients)
                ])
                .map_err(map_err)?;
            add_link
                .execute(params![
                    int(r.seq)?,
                    vseq,
                    prev_hash.as_slice(),
                    r.hash.as_slice()
                ])
                .map_err(map_err)?;
            rows.push((rid, &e.index));
        }
        if pending {
            drop_pending.execute([&e.id]).map_err(map_err)?;
        }
    }
    crate::index::insert_audit(c, &rows)?;
    crate::schema::put_meta(c, AUDIT_INDEXED_META, &encode_audit_indexed(through))?;
    sealed.forget_through(through);
    Ok(true)
}

/// The hash of the record before `seq`, as the projection holds it (the genesis hash for the
/// first record; zeros when the projection does not hold it: purged).
fn previous_hash(c: &Connection, seq: u64) -> StoreResult<[u8; 32]> {
    if seq <= 1 {
        return Ok(ward_audit::GENESIS);
    }
    let h: Option<Vec<u8>> = c
        .prepare_cached("SELECT hash FROM audit_chain WHERE seq = ?1")
        .map_err(map_err)?
        .query_row([int(seq - 1)?], |r| r.get(0))
        .optional()
        .map_err(map_err)?;
    h.map_or(Ok([0; 32]), |h| hash32(&h))
}

/// Removes the projection of chain positions `seq <= through` (after the trail's prefix was
/// purged): the AuditEvent resources with every version and index row, and their map rows.
/// Returns how many map rows went.
pub(crate) fn purge(c: &Connection, through: u64) -> StoreResult<u64> {
    let through = int(through)?;
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
        crate::index::remove_audit(c, *rid)?;
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

/// Signed checkpoints as stored: `(seq, JSON)`.
pub(crate) type Checkpoints = Vec<(u64, String)>;

/// The legacy chain of a database of schema 5 (its rows with their AuditEvent versions, as
/// stored) and its checkpoints, for the move into the trail file.
pub(crate) fn legacy(c: &Connection) -> StoreResult<(Vec<Legacy>, Checkpoints)> {
    let mut st = c
        .prepare(
            "SELECT c.seq, c.prev_hash, c.hash, v.id, v.last_updated, v.body, v.patients \
             FROM audit_chain c LEFT JOIN versions v ON v.seq = c.vseq ORDER BY c.seq",
        )
        .map_err(map_err)?;
    let mut rows = st.query([]).map_err(map_err)?;
    let mut chain = Vec::new();
    while let Some(r) = rows.next().map_err(map_err)? {
        chain.push(Legacy {
            seq: uint(r.get(0).map_err(map_err)?)?,
            prev_hash: r.get(1).map_err(map_err)?,
            hash: r.get(2).map_err(map_err)?,
            id: r.get(3).map_err(map_err)?,
            recorded: r.get(4).map_err(map_err)?,
            sealed: r.get(5).map_err(map_err)?,
            patients: r.get(6).map_err(map_err)?,
        });
    }
    let mut st = c
        .prepare("SELECT seq, body FROM audit_checkpoints ORDER BY seq")
        .map_err(map_err)?;
    let cps = st
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .map_err(map_err)?
        .map(|r| {
            let (s, b) = r.map_err(map_err)?;
            Ok((uint(s)?, b))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((chain, cps))
}

/// The projection's rows after `after`, in order: position, hash, and the text of the
/// AuditEvent version it maps to (`None` when that version is missing or does not open).
pub(crate) fn projected(
    c: &Connection,
    ring: &KeyRing,
    after: u64,
    limit: usize,
) -> StoreResult<Vec<ward_store::AuditRow>> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut st = c
        .prepare_cached(
            "SELECT c.seq, c.prev_hash, c.hash, v.id, v.body FROM audit_chain c \
             LEFT JOIN versions v ON v.seq = c.vseq AND v.rtype = 'AuditEvent' \
             WHERE c.seq > ?1 ORDER BY c.seq LIMIT ?2",
        )
        .map_err(map_err)?;
    let mut rows = st.query(params![after, limit]).map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(map_err)? {
        let id: Option<String> = r.get(3).map_err(map_err)?;
        let sealed: Option<Vec<u8>> = r.get(4).map_err(map_err)?;
        let body = match (&id, sealed) {
            (Some(id), Some(env)) => open_text(ring, id, &env).ok().map(bytes::Bytes::from),
            _ => None,
        };
        out.push(ward_store::AuditRow {
            seq: uint(r.get(0).map_err(map_err)?)?,
            prev_hash: hash32(&r.get::<_, Vec<u8>>(1).map_err(map_err)?)?,
            hash: hash32(&r.get::<_, Vec<u8>>(2).map_err(map_err)?)?,
            body,
            id,
            recorded: None,
            patients: Vec::new(),
        });
    }
    Ok(out)
}
