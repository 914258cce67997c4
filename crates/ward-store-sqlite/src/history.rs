//! Reads: current version, a specific version, and history pages.

use bytes::Bytes;
use rusqlite::{Connection, Row, params};
use ward_store::{
    HistoryPage, HistoryQuery, HistoryScope, KeyRing, StoreError, StoreResult, StoredResource,
    Timestamp, VersionMeta, WriteMethod, body_aad,
};

use crate::conn::map_err;

/// Columns every version query selects, in this order.
pub(crate) const VERSION_COLS: &str =
    "v.seq, v.rtype, v.id, v.version, v.last_updated, v.method, v.body, v.patients";

/// How many columns [`VERSION_COLS`] selects (extra columns follow at this index).
pub(crate) const VERSION_COL_COUNT: usize = 8;

/// Decodes a row of [`VERSION_COLS`] and opens its body.
pub(crate) fn decode(row: &Row<'_>, ring: &KeyRing) -> StoreResult<StoredResource> {
    let get = |e: rusqlite::Error| map_err(e);
    let seq: i64 = row.get(0).map_err(get)?;
    let rtype: String = row.get(1).map_err(get)?;
    let id: String = row.get(2).map_err(get)?;
    let version: i64 = row.get(3).map_err(get)?;
    let last_updated: i64 = row.get(4).map_err(get)?;
    let method: i64 = row.get(5).map_err(get)?;
    let sealed: Option<Vec<u8>> = row.get(6).map_err(get)?;
    let patients: Option<String> = row.get(7).map_err(get)?;
    let version = u64::try_from(version).map_err(|_| StoreError::Integrity)?;
    let method = WriteMethod::from_code(method).ok_or(StoreError::Integrity)?;
    let body = match sealed {
        // (an AuditEvent's text is stored packed: `crate::compress`)
        Some(env) => Some(Bytes::from(crate::compress::unpack(
            ring.open(&body_aad(&rtype, &id, version), &env)?,
        )?)),
        None => None,
    };
    let meta = VersionMeta {
        rtype,
        id,
        version,
        last_updated: Timestamp(last_updated),
        method,
        seq,
        patients: ward_store::split_patients(patients.as_deref()),
    };
    Ok(StoredResource { meta, body })
}

fn one(
    conn: &Connection,
    ring: &KeyRing,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Option<StoredResource>> {
    let mut st = conn.prepare_cached(sql).map_err(map_err)?;
    let mut rows = st.query(params).map_err(map_err)?;
    match rows.next().map_err(map_err)? {
        Some(row) => decode(row, ring).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn read_current(
    conn: &Connection,
    ring: &KeyRing,
    rtype: &str,
    id: &str,
) -> StoreResult<Option<StoredResource>> {
    let sql = format!(
        "SELECT {VERSION_COLS} FROM resources r JOIN versions v ON v.seq = r.seq \
         WHERE r.rtype = ?1 AND r.id = ?2"
    );
    one(conn, ring, &sql, params![rtype, id])
}

pub(crate) fn read_version(
    conn: &Connection,
    ring: &KeyRing,
    rtype: &str,
    id: &str,
    version: u64,
) -> StoreResult<Option<StoredResource>> {
    let Ok(version) = i64::try_from(version) else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {VERSION_COLS} FROM resources r JOIN versions v ON v.rid = r.rid \
         WHERE r.rtype = ?1 AND r.id = ?2 AND v.version = ?3"
    );
    one(conn, ring, &sql, params![rtype, id, version])
}

pub(crate) fn history(
    conn: &Connection,
    ring: &KeyRing,
    q: &HistoryQuery,
) -> StoreResult<HistoryPage> {
    let before = q.before_seq.unwrap_or(i64::MAX);
    let since = q.since.map_or(i64::MIN, |t| t.0);
    let limit = i64::try_from(q.count).unwrap_or(i64::MAX).saturating_add(1);
    let (filter, a, b) = match &q.scope {
        HistoryScope::System => ("1 = 1 AND ?1 IS NULL AND ?2 IS NULL", None, None),
        HistoryScope::Type(t) => ("v.rtype = ?1 AND ?2 IS NULL", Some(t.as_str()), None),
        HistoryScope::Instance(t, i) => (
            "v.rid = (SELECT rid FROM resources WHERE rtype = ?1 AND id = ?2)",
            Some(t.as_str()),
            Some(i.as_str()),
        ),
    };
    let sql = format!(
        "SELECT {VERSION_COLS} FROM versions v WHERE {filter} \
         AND v.seq < ?3 AND v.last_updated >= ?4 ORDER BY v.seq DESC LIMIT ?5"
    );
    let mut st = conn.prepare_cached(&sql).map_err(map_err)?;
    let mut rows = st
        .query(params![a, b, before, since, limit])
        .map_err(map_err)?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next().map_err(map_err)? {
        entries.push(decode(row, ring)?);
    }
    let next_before_seq = if entries.len() > q.count {
        entries.truncate(q.count);
        entries.last().map(|e| e.meta.seq)
    } else {
        None
    };
    Ok(HistoryPage {
        entries,
        next_before_seq,
    })
}
