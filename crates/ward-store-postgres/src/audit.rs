//! The audit chain on PostgreSQL: AuditEvent versions appended with their chain links inside
//! the caller's write transaction, the chain read back with the exact hashed text, and the
//! signed checkpoints. Every append runs under the store's write lock (taken at `BEGIN`), so
//! the head read here cannot race another node's append: the chain stays one sequence.

use bytes::Bytes;
use deadpool_postgres::Object;
use ward_store::{
    AUDIT_INDEXED_META, AuditIndexed, AuditRow, KeyRing, NewVersion, StoreError, StoreResult,
    WriteMethod, body_aad, decode_audit_indexed, encode_audit_indexed,
};

use crate::conn::map_err;
use crate::tx::write_one;

fn hash32(v: &[u8]) -> StoreResult<[u8; 32]> {
    <[u8; 32]>::try_from(v).map_err(|_| StoreError::Integrity)
}

fn int(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Integrity)
}

/// The current head of the chain (`0` and the genesis hash when empty).
async fn head(c: &Object) -> StoreResult<(u64, [u8; 32])> {
    let st = c
        .prepare_cached("SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1")
        .await
        .map_err(map_err)?;
    match c.query_opt(&st, &[]).await.map_err(map_err)? {
        None => Ok((0, ward_audit::GENESIS)),
        Some(row) => {
            let seq: i64 = row.get(0);
            let hash: Vec<u8> = row.get(1);
            Ok((
                u64::try_from(seq).map_err(|_| StoreError::Integrity)?,
                hash32(&hash)?,
            ))
        }
    }
}

/// Writes each AuditEvent version and links it into the chain. Returns `(seq, hash)` of each.
///
/// New AuditEvents (version 1, no index rows: the projection writes those) go in with two
/// statements for the whole batch, whatever its size: the chain's head, and one statement
/// that inserts every resource, version and chain row. A batch holds the write lock until it
/// commits, and the reads whose records it carries wait for that commit, so its round trips
/// bound audited reads (design 009 "Appending a batch"). Anything else (an event with index
/// rows, or of another kind) goes version by version.
pub(crate) async fn append(
    c: &Object,
    ring: &KeyRing,
    events: &[NewVersion],
) -> StoreResult<Vec<(u64, [u8; 32])>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let batchable = events.iter().all(|e| {
        e.version == 1
            && e.method == WriteMethod::Create
            && e.rtype == "AuditEvent"
            && e.body.is_some()
            && e.index.is_empty()
    });
    if batchable {
        append_new(c, ring, events).await
    } else {
        append_each(c, ring, events).await
    }
}

/// [`append`] version by version.
async fn append_each(
    c: &Object,
    ring: &KeyRing,
    events: &[NewVersion],
) -> StoreResult<Vec<(u64, [u8; 32])>> {
    let (mut seq, mut prev) = head(c).await?;
    let st = c
        .prepare_cached(
            "INSERT INTO audit_chain(seq, vseq, prev_hash, hash) VALUES ($1, $2, $3, $4)",
        )
        .await
        .map_err(map_err)?;
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let body = e
            .body
            .as_deref()
            .ok_or_else(|| StoreError::Internal("audit event without body".into()))?;
        let vseq = write_one(c, ring, e).await?;
        seq += 1;
        let hash = ward_audit::link_hash(seq, &prev, body);
        c.execute(
            &st,
            &[&int(seq)?, &vseq, &prev.as_slice(), &hash.as_slice()],
        )
        .await
        .map_err(map_err)?;
        out.push((seq, hash));
        prev = hash;
    }
    Ok(out)
}

/// [`append`] for new AuditEvents, the whole batch at once. An id that exists already fails
/// the batch on `resources`' unique key, as [`write_one`] fails it with a version conflict.
async fn append_new(
    c: &Object,
    ring: &KeyRing,
    events: &[NewVersion],
) -> StoreResult<Vec<(u64, [u8; 32])>> {
    let (head_seq, mut prev) = head(c).await?;
    let n = i64::try_from(events.len()).map_err(|_| StoreError::Integrity)?;
    let mut ids = Vec::with_capacity(events.len());
    let mut updated = Vec::with_capacity(events.len());
    let mut bodies = Vec::with_capacity(events.len());
    let mut patients = Vec::with_capacity(events.len());
    let mut seqs = Vec::with_capacity(events.len());
    let mut prevs = Vec::with_capacity(events.len());
    let mut hashes = Vec::with_capacity(events.len());
    let mut out = Vec::with_capacity(events.len());
    let mut seq = head_seq;
    for e in events {
        let body = e
            .body
            .as_deref()
            .ok_or_else(|| StoreError::Internal("audit event without body".into()))?;
        seq += 1;
        let hash = ward_audit::link_hash(seq, &prev, body);
        ids.push(e.id.as_str());
        updated.push(e.last_updated.0);
        bodies.push(ring.seal(&body_aad(&e.rtype, &e.id, 1), body)?);
        patients.push(ward_store::join_patients(&e.patients));
        seqs.push(int(seq)?);
        prevs.push(prev.to_vec());
        hashes.push(hash.to_vec());
        out.push((seq, hash));
        prev = hash;
    }
    let method = i16::try_from(WriteMethod::Create.code()).unwrap_or(0);
    let st = c
        .prepare_cached(
            // (`t` is read three times and materialized once: each version position is
            // drawn once, in the events' order)
            "WITH t AS MATERIALIZED (SELECT u.*, nextval('versions_seq') AS vseq \
               FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::text[], $5::bigint[], \
               $6::bytea[], $7::bytea[]) WITH ORDINALITY \
               AS u(id, updated, body, patients, seq, prev_hash, hash, ord)), \
             r AS (INSERT INTO resources(rtype, id, version, last_updated, deleted, seq) \
               SELECT 'AuditEvent', id, 1, updated, 0, vseq FROM t ORDER BY ord \
               RETURNING rid, seq), \
             v AS (INSERT INTO versions(seq, rid, rtype, id, version, last_updated, method, \
               body, patients) SELECT t.vseq, r.rid, 'AuditEvent', t.id, 1, t.updated, \
               $8::smallint, t.body, t.patients FROM t JOIN r ON r.seq = t.vseq RETURNING seq) \
             INSERT INTO audit_chain(seq, vseq, prev_hash, hash) \
               SELECT t.seq, t.vseq, t.prev_hash, t.hash FROM t \
               WHERE (SELECT count(*) FROM v) = $9",
        )
        .await
        .map_err(map_err)?;
    let written = c
        .execute(
            &st,
            &[
                &ids, &updated, &bodies, &patients, &seqs, &prevs, &hashes, &method, &n,
            ],
        )
        .await
        .map_err(map_err)?;
    if usize::try_from(written).ok() != Some(events.len()) {
        return Err(StoreError::Internal("audit batch".into()));
    }
    Ok(out)
}

/// `(indexed, head)` of the AuditEvent index, from one statement's snapshot.
pub(crate) async fn index_state(c: &Object) -> StoreResult<(u64, u64)> {
    let row = c
        .query_one(
            "SELECT (SELECT value FROM meta WHERE name = $1), \
             (SELECT max(seq) FROM audit_chain)",
            &[&AUDIT_INDEXED_META],
        )
        .await
        .map_err(map_err)?;
    let indexed: Option<Vec<u8>> = row.get(0);
    let head: Option<i64> = row.get(1);
    Ok((
        decode_audit_indexed(indexed.as_deref())?,
        head.map_or(Ok(0), |h| {
            u64::try_from(h).map_err(|_| StoreError::Integrity)
        })?,
    ))
}

/// Writes the deferred index rows of chain positions `rows` and moves the index position from
/// `from` to `through`; `false` (and nothing written) when the position is no longer `from`.
/// Runs under the store's write lock, like every writer, so the position check cannot race.
pub(crate) async fn index(
    c: &Object,
    from: u64,
    through: u64,
    records: &[AuditIndexed],
) -> StoreResult<bool> {
    let current = crate::schema::get_meta(c, AUDIT_INDEXED_META).await?;
    if decode_audit_indexed(current.as_deref())? != from {
        return Ok(false);
    }
    // (the AuditEvent resource and version were written with the chain row: only the index
    // rows are projected here, for the whole chunk at once)
    let seqs = records
        .iter()
        .filter(|r| r.event.is_some())
        .map(|r| int(r.seq))
        .collect::<StoreResult<Vec<i64>>>()?;
    let st = c
        .prepare_cached(
            "SELECT c.seq, v.rid FROM audit_chain c JOIN versions v ON v.seq = c.vseq \
             WHERE c.seq = ANY($1)",
        )
        .await
        .map_err(map_err)?;
    let rids: std::collections::HashMap<i64, i64> = c
        .query(&st, &[&seqs])
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut all = Vec::with_capacity(rids.len());
    for r in records {
        if let (Some(event), Some(rid)) = (&r.event, rids.get(&int(r.seq)?)) {
            all.push((*rid, &event.index));
        }
    }
    // (replacing: a `$reindex` may have indexed some of them already)
    let held: Vec<i64> = all.iter().map(|(rid, _)| *rid).collect();
    crate::index::remove_many(c, &held).await?;
    crate::index::insert_many(c, &all).await?;
    crate::schema::put_meta(c, AUDIT_INDEXED_META, &encode_audit_indexed(through)).await?;
    Ok(true)
}

/// Chain rows after `after`, in order, with the AuditEvent text each one hashed.
pub(crate) async fn rows(
    c: &Object,
    ring: &KeyRing,
    after: u64,
    limit: usize,
) -> StoreResult<Vec<AuditRow>> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let st = c
        .prepare_cached(
            "SELECT c.seq, c.prev_hash, c.hash, v.rtype, v.id, v.version, v.body, v.last_updated, \
             v.patients FROM audit_chain c LEFT JOIN versions v ON v.seq = c.vseq \
             WHERE c.seq > $1 ORDER BY c.seq LIMIT $2",
        )
        .await
        .map_err(map_err)?;
    let rows = c.query(&st, &[&after, &limit]).await.map_err(map_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let seq: i64 = r.get(0);
        let prev: Vec<u8> = r.get(1);
        let hash: Vec<u8> = r.get(2);
        let rtype: Option<String> = r.get(3);
        let id: Option<String> = r.get(4);
        let version: Option<i64> = r.get(5);
        let sealed: Option<Vec<u8>> = r.get(6);
        let recorded: Option<i64> = r.get(7);
        let patients: Option<String> = r.get(8);
        // A body that no longer opens (tampered ciphertext) reads as missing: the verifier
        // reports the record as modified.
        let body = match (&rtype, &id, version, sealed) {
            (Some(t), Some(i), Some(v), Some(env)) => u64::try_from(v)
                .ok()
                .and_then(|v| ring.open(&body_aad(t, i, v), &env).ok())
                .map(Bytes::from),
            _ => None,
        };
        out.push(AuditRow {
            seq: u64::try_from(seq).map_err(|_| StoreError::Integrity)?,
            prev_hash: hash32(&prev)?,
            hash: hash32(&hash)?,
            body,
            id,
            recorded: recorded.map(ward_store::Timestamp),
            patients: ward_store::split_patients(patients.as_deref()),
        });
    }
    Ok(out)
}

/// Removes chain rows `seq <= through` and their AuditEvent resources (retention).
pub(crate) async fn purge(c: &Object, through: u64) -> StoreResult<u64> {
    let through = int(through)?;
    let rids: Vec<i64> = c
        .query(
            "SELECT DISTINCT v.rid FROM audit_chain c JOIN versions v ON v.seq = c.vseq \
             WHERE c.seq <= $1",
            &[&through],
        )
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for table in [
        "idx_string",
        "idx_token",
        "idx_ref",
        "idx_date",
        "idx_number",
        "idx_quantity",
        "idx_uri",
        "idx_sort_date",
        "versions",
    ] {
        c.execute(
            &format!("DELETE FROM {table} WHERE rid = ANY($1)"),
            &[&rids],
        )
        .await
        .map_err(map_err)?;
    }
    c.execute(
        "DELETE FROM resources WHERE rid = ANY($1) AND rtype = 'AuditEvent'",
        &[&rids],
    )
    .await
    .map_err(map_err)?;
    c.execute("DELETE FROM audit_chain WHERE seq <= $1", &[&through])
        .await
        .map_err(map_err)
}

/// Stores a checkpoint (JSON) for `seq`.
pub(crate) async fn add_checkpoint(c: &Object, seq: u64, body: &str) -> StoreResult<()> {
    c.execute(
        "INSERT INTO audit_checkpoints(seq, body) VALUES ($1, $2) \
         ON CONFLICT (seq) DO UPDATE SET body = excluded.body",
        &[&int(seq)?, &body],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

/// The highest position a checkpoint signs.
pub(crate) async fn checkpointed(c: &Object) -> StoreResult<Option<u64>> {
    let row = c
        .query_one("SELECT max(seq) FROM audit_checkpoints", &[])
        .await
        .map_err(map_err)?;
    row.get::<_, Option<i64>>(0)
        .map(|s| u64::try_from(s).map_err(|_| StoreError::Integrity))
        .transpose()
}

/// Every checkpoint, oldest first.
pub(crate) async fn checkpoints(c: &Object) -> StoreResult<Vec<String>> {
    let rows = c
        .query("SELECT body FROM audit_checkpoints ORDER BY seq", &[])
        .await
        .map_err(map_err)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
