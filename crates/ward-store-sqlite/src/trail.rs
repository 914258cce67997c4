//! The audit trail of record in its own file, `ward-audit.db` (docs/design/011-audit-file.md):
//! the chain `trail(seq, id, recorded, prev_hash, hash, body, patients)` and its signed
//! checkpoints. Only the audit writer appends here; a commit here leaves the page caches of
//! the data file's readers alone. Bodies are sealed with the data key ring under the
//! associated data of the AuditEvent's version (`AuditEvent/<id>/1`), as a projected version is.

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use ward_store::{
    AuditRow, KeyRing, NewVersion, StoreError, StoreResult, Timestamp, body_aad, join_patients,
    split_patients,
};

use crate::conn::map_err;

/// Each entry migrates the trail file from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[r"
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- One row per record, in chain order. `id` is the AuditEvent's id (a UUIDv7: its index grows
-- at the right edge), `recorded` its meta.lastUpdated (microseconds).
CREATE TABLE trail (
    seq       INTEGER PRIMARY KEY,
    id        TEXT NOT NULL UNIQUE,
    recorded  INTEGER NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL,
    body      BLOB NOT NULL,
    patients  TEXT
);

CREATE TABLE checkpoints (
    seq  INTEGER PRIMARY KEY,
    body TEXT NOT NULL
);
"];

/// `meta` name of the pairing value shared with the data file.
pub(crate) const PAIR_META: &str = "audit-pair";

/// Applies pending migrations of the trail file atomically.
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    crate::schema::apply(conn, MIGRATIONS)
}

/// A stored 32-byte hash.
pub(crate) fn hash32(v: &[u8]) -> StoreResult<[u8; 32]> {
    <[u8; 32]>::try_from(v).map_err(|_| StoreError::Integrity)
}

/// A chain position as SQLite stores it.
pub(crate) fn int(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| StoreError::Integrity)
}

/// A chain position as SQLite stored it.
pub(crate) fn uint(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| StoreError::Integrity)
}

/// The associated data of a record's sealed body: that of version 1 of its AuditEvent, so the
/// same envelope serves the trail, the pending row and the projected version.
pub(crate) fn aad(id: &str) -> Vec<u8> {
    body_aad("AuditEvent", id, 1)
}

/// The AuditEvent text of AuditEvent `id` sealed (packed) as `sealed`.
pub(crate) fn open_text(ring: &KeyRing, id: &str, sealed: &[u8]) -> StoreResult<Vec<u8>> {
    crate::compress::unpack(ring.open(&aad(id), sealed)?)
}

/// The head of the trail (`0` and the genesis hash when empty).
pub(crate) fn head(c: &Connection) -> StoreResult<(u64, [u8; 32])> {
    let row: Option<(i64, Vec<u8>)> = c
        .prepare_cached("SELECT seq, hash FROM trail ORDER BY seq DESC LIMIT 1")
        .map_err(map_err)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(map_err)?;
    match row {
        None => Ok((0, ward_audit::GENESIS)),
        Some((seq, hash)) => Ok((uint(seq)?, hash32(&hash)?)),
    }
}

/// The first record kept (`0` when the trail is empty; above 1 after a retention purge).
pub(crate) fn first(c: &Connection) -> StoreResult<u64> {
    let n: Option<i64> = c
        .query_row("SELECT min(seq) FROM trail", [], |r| r.get(0))
        .map_err(map_err)?;
    uint(n.unwrap_or(0))
}

/// One record to append: the exact text to hash and its sealed envelope (of the packed text,
/// `crate::compress`).
pub(crate) struct Entry {
    pub id: String,
    pub recorded: i64,
    pub text: Bytes,
    pub sealed: Vec<u8>,
    pub patients: Option<String>,
}

impl Entry {
    /// Seals a new AuditEvent version for the trail.
    pub(crate) fn seal(ring: &KeyRing, e: &NewVersion) -> StoreResult<Self> {
        let text = e
            .body
            .clone()
            .ok_or_else(|| StoreError::Internal("audit event without body".into()))?;
        Ok(Self {
            sealed: ring.seal(&aad(&e.id), &crate::compress::pack(&text))?,
            id: e.id.clone(),
            recorded: e.last_updated.0,
            text,
            patients: join_patients(&e.patients),
        })
    }
}

/// Links each entry into the chain after the head, in order, inside the caller's
/// transaction. An entry whose id the trail already holds is not appended again; its stored
/// position is returned for it.
pub(crate) fn append(c: &Connection, entries: &[Entry]) -> StoreResult<Vec<(u64, [u8; 32])>> {
    let (mut seq, mut prev) = head(c)?;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        seq += 1;
        let hash = ward_audit::link_hash(seq, &prev, &e.text);
        let added = c
            .prepare_cached(
                "INSERT INTO trail(seq, id, recorded, prev_hash, hash, body, patients) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO NOTHING",
            )
            .map_err(map_err)?
            .execute(params![
                int(seq)?,
                e.id,
                e.recorded,
                prev.as_slice(),
                hash.as_slice(),
                e.sealed,
                e.patients
            ])
            .map_err(map_err)?;
        if added == 1 {
            out.push((seq, hash));
            prev = hash;
        } else {
            seq -= 1;
            out.push(position_of(c, &e.id)?.ok_or(StoreError::Integrity)?);
        }
    }
    Ok(out)
}

/// How many of `ids` the trail does not hold.
pub(crate) fn count_missing(c: &Connection, ids: &[String]) -> StoreResult<u64> {
    let mut missing = 0;
    for id in ids {
        if position_of(c, id)?.is_none() {
            missing += 1;
        }
    }
    Ok(missing)
}

/// The position of the record of AuditEvent `id`, if the trail holds it.
fn position_of(c: &Connection, id: &str) -> StoreResult<Option<(u64, [u8; 32])>> {
    let row: Option<(i64, Vec<u8>)> = c
        .prepare_cached("SELECT seq, hash FROM trail WHERE id = ?1")
        .map_err(map_err)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(map_err)?;
    row.map(|(s, h)| Ok((uint(s)?, hash32(&h)?))).transpose()
}

/// Records after `after`, in order, with the text each one hashed (`None` when its envelope
/// does not open or its text does not unpack: the verifier reports the record as modified).
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
            "SELECT seq, prev_hash, hash, id, recorded, body, patients FROM trail \
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )
        .map_err(map_err)?;
    let mut rows = st.query(params![after, limit]).map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(map_err)? {
        let id: String = r.get(3).map_err(map_err)?;
        let sealed: Vec<u8> = r.get(5).map_err(map_err)?;
        let patients: Option<String> = r.get(6).map_err(map_err)?;
        out.push(AuditRow {
            seq: uint(r.get(0).map_err(map_err)?)?,
            prev_hash: hash32(&r.get::<_, Vec<u8>>(1).map_err(map_err)?)?,
            hash: hash32(&r.get::<_, Vec<u8>>(2).map_err(map_err)?)?,
            body: open_text(ring, &id, &sealed).ok().map(Bytes::from),
            recorded: Some(Timestamp(r.get(4).map_err(map_err)?)),
            patients: split_patients(patients.as_deref()),
            id: Some(id),
        });
    }
    Ok(out)
}

/// Removes the records `seq <= through` (retention); returns how many went.
pub(crate) fn purge(c: &Connection, through: u64) -> StoreResult<u64> {
    let n = c
        .execute("DELETE FROM trail WHERE seq <= ?1", [int(through)?])
        .map_err(map_err)?;
    u64::try_from(n).map_err(|_| StoreError::Integrity)
}

/// Stores a checkpoint (JSON) for `seq`.
pub(crate) fn add_checkpoint(c: &Connection, seq: u64, body: &str) -> StoreResult<()> {
    c.prepare_cached("INSERT OR REPLACE INTO checkpoints(seq, body) VALUES (?1, ?2)")
        .map_err(map_err)?
        .execute(params![int(seq)?, body])
        .map_err(map_err)?;
    Ok(())
}

/// The highest position a checkpoint signs.
pub(crate) fn checkpointed(c: &Connection) -> StoreResult<Option<u64>> {
    let seq: Option<i64> = c
        .query_row("SELECT max(seq) FROM checkpoints", [], |r| r.get(0))
        .map_err(map_err)?;
    seq.map(uint).transpose()
}

/// Every checkpoint, oldest first.
pub(crate) fn checkpoints(c: &Connection) -> StoreResult<Vec<String>> {
    let mut st = c
        .prepare_cached("SELECT body FROM checkpoints ORDER BY seq")
        .map_err(map_err)?;
    let rows = st
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(map_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
}

/// The trail's pairing value, if it has one.
pub(crate) fn pair(c: &Connection) -> StoreResult<Option<Vec<u8>>> {
    crate::schema::get_meta(c, PAIR_META)
}

/// A record of the data file's legacy chain, moved here when a database of schema 5 is first
/// opened (docs/design/011-audit-file.md "Upgrade").
pub(crate) struct Legacy {
    pub seq: u64,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    pub id: Option<String>,
    pub recorded: Option<i64>,
    pub sealed: Option<Vec<u8>>,
    pub patients: Option<String>,
}

/// Stores moved legacy records exactly as they were (links and sealed bodies unchanged: the
/// legacy body's associated data is already that of version 1 of its AuditEvent). A record
/// whose AuditEvent version was missing keeps its links with an empty body, so that the
/// verifier still reports it.
pub(crate) fn store_legacy(c: &Connection, rows: &[Legacy]) -> StoreResult<()> {
    let mut st = c
        .prepare_cached(
            "INSERT INTO trail(seq, id, recorded, prev_hash, hash, body, patients) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(map_err)?;
    for r in rows {
        let id =
            r.id.clone()
                .unwrap_or_else(|| format!("missing-version-{}", r.seq));
        st.execute(params![
            int(r.seq)?,
            id,
            r.recorded.unwrap_or(0),
            r.prev_hash,
            r.hash,
            r.sealed.clone().unwrap_or_default(),
            r.patients
        ])
        .map_err(map_err)?;
    }
    Ok(())
}
