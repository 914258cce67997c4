//! Reads: the current version, a specific version, history pages, and bodies by row id.

use bytes::Bytes;
use deadpool_postgres::ClientWrapper;
use tokio_postgres::Row;
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
pub(crate) fn decode(row: &Row, ring: &KeyRing) -> StoreResult<StoredResource> {
    let bad = |_| StoreError::Integrity;
    let seq: i64 = row.try_get(0).map_err(bad)?;
    let rtype: String = row.try_get(1).map_err(bad)?;
    let id: String = row.try_get(2).map_err(bad)?;
    let version: i64 = row.try_get(3).map_err(bad)?;
    let last_updated: i64 = row.try_get(4).map_err(bad)?;
    let method: i16 = row.try_get(5).map_err(bad)?;
    let sealed: Option<Vec<u8>> = row.try_get(6).map_err(bad)?;
    let patients: Option<String> = row.try_get(7).map_err(bad)?;
    let version = u64::try_from(version).map_err(|_| StoreError::Integrity)?;
    let method = WriteMethod::from_code(i64::from(method)).ok_or(StoreError::Integrity)?;
    let body = match sealed {
        Some(env) => Some(Bytes::from(
            ring.open(&body_aad(&rtype, &id, version), &env)?,
        )),
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

async fn one(
    c: &ClientWrapper,
    ring: &KeyRing,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<Option<StoredResource>> {
    let st = c.prepare_cached(sql).await.map_err(map_err)?;
    match c.query_opt(&st, params).await.map_err(map_err)? {
        Some(row) => decode(&row, ring).map(Some),
        None => Ok(None),
    }
}

pub(crate) async fn read_current(
    c: &ClientWrapper,
    ring: &KeyRing,
    rtype: &str,
    id: &str,
) -> StoreResult<Option<StoredResource>> {
    let sql = format!(
        "SELECT {VERSION_COLS} FROM resources r JOIN versions v ON v.seq = r.seq \
         WHERE r.rtype = $1 AND r.id = $2"
    );
    one(c, ring, &sql, &[&rtype, &id]).await
}

pub(crate) async fn read_version(
    c: &ClientWrapper,
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
         WHERE r.rtype = $1 AND r.id = $2 AND v.version = $3"
    );
    one(c, ring, &sql, &[&rtype, &id, &version]).await
}

/// The current versions of `rids`, in the order given (missing rows are skipped).
pub(crate) async fn load_many(
    c: &ClientWrapper,
    ring: &KeyRing,
    rids: &[i64],
) -> StoreResult<Vec<StoredResource>> {
    if rids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {VERSION_COLS}, r.rid FROM resources r JOIN versions v ON v.seq = r.seq \
         WHERE r.rid = ANY($1)"
    );
    let st = c.prepare_cached(&sql).await.map_err(map_err)?;
    let rows = c.query(&st, &[&rids]).await.map_err(map_err)?;
    let mut by_rid = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let rid: i64 = row
            .try_get(VERSION_COL_COUNT)
            .map_err(|_| StoreError::Integrity)?;
        by_rid.insert(rid, decode(row, ring)?);
    }
    Ok(rids.iter().filter_map(|r| by_rid.remove(r)).collect())
}

pub(crate) async fn history(
    c: &ClientWrapper,
    ring: &KeyRing,
    q: &HistoryQuery,
) -> StoreResult<HistoryPage> {
    let before = q.before_seq.unwrap_or(i64::MAX);
    let since = q.since.map_or(i64::MIN, |t| t.0);
    let limit = i64::try_from(q.count).unwrap_or(i64::MAX).saturating_add(1);
    let (filter, a, b): (&str, Option<&str>, Option<&str>) = match &q.scope {
        HistoryScope::System => ("$1::text IS NULL AND $2::text IS NULL", None, None),
        HistoryScope::Type(t) => ("v.rtype = $1 AND $2::text IS NULL", Some(t.as_str()), None),
        HistoryScope::Instance(t, i) => (
            "v.rid = (SELECT rid FROM resources WHERE rtype = $1 AND id = $2)",
            Some(t.as_str()),
            Some(i.as_str()),
        ),
    };
    let sql = format!(
        "SELECT {VERSION_COLS} FROM versions v WHERE {filter} \
         AND v.seq < $3 AND v.last_updated >= $4 ORDER BY v.seq DESC LIMIT $5"
    );
    let st = c.prepare_cached(&sql).await.map_err(map_err)?;
    let rows = c
        .query(&st, &[&a, &b, &before, &since, &limit])
        .await
        .map_err(map_err)?;
    let mut entries = rows
        .iter()
        .map(|r| decode(r, ring))
        .collect::<StoreResult<Vec<_>>>()?;
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
