//! Runs a search on one connection: resolves value sets, executes the planner's SQL, pages by
//! keyset under a snapshot bound, follows `_include`/`_revinclude`, and opens the bodies.

use std::collections::HashSet;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, params_from_iter};
use ward_store::index::param_key;
use ward_store::search::plan::{self, Bind, PageShape, Sql, Sqlite};
use ward_store::search::{
    Include, KeyValue, PageToken, SearchPage, SearchQuery, TotalMode, valueset,
};
use ward_store::{KeyRing, StoreResult, StoredResource};

use crate::conn::map_err;
use crate::history::{VERSION_COLS, decode};

/// Most resources one page may include through `_include`/`_revinclude`.
const MAX_INCLUDED: usize = 1_000;
/// Most `:iterate` rounds.
const MAX_ITERATIONS: usize = 4;

fn to_sql(b: &Bind) -> rusqlite::types::Value {
    match b {
        Bind::Int(i) => rusqlite::types::Value::Integer(*i),
        Bind::Real(r) => rusqlite::types::Value::Real(*r),
        Bind::Text(t) => rusqlite::types::Value::Text(t.clone()),
    }
}

fn key_of(v: ValueRef<'_>) -> KeyValue {
    match v {
        ValueRef::Integer(i) => KeyValue::Int(i),
        ValueRef::Real(r) => KeyValue::Real(r),
        ValueRef::Text(t) => KeyValue::Text(String::from_utf8_lossy(t).into_owned()),
        _ => KeyValue::Null,
    }
}

/// One ordered match: rid, sort keys, and the query phase it came from.
struct Hit {
    rid: i64,
    keys: Vec<KeyValue>,
    phase: u8,
}

fn hits(c: &Connection, sql: &Sql, phase: u8) -> StoreResult<Vec<Hit>> {
    let mut st = c.prepare_cached(&sql.text).map_err(map_err)?;
    let ncols = st.column_count();
    let mut rows = st
        .query(params_from_iter(sql.binds.iter().map(to_sql)))
        .map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_err)? {
        let rid: i64 = row.get(0).map_err(map_err)?;
        let keys = (1..ncols)
            .map(|i| row.get_ref(i).map(key_of).map_err(map_err))
            .collect::<StoreResult<Vec<_>>>()?;
        out.push(Hit { rid, keys, phase });
    }
    Ok(out)
}

fn rids(c: &Connection, sql: &Sql) -> StoreResult<Vec<i64>> {
    let mut st = c.prepare_cached(&sql.text).map_err(map_err)?;
    let rows = st
        .query_map(params_from_iter(sql.binds.iter().map(to_sql)), |r| r.get(0))
        .map_err(map_err)?;
    rows.collect::<Result<Vec<i64>, _>>().map_err(map_err)
}

/// Opens the current version of `rid`.
fn load(c: &Connection, ring: &KeyRing, rid: i64) -> StoreResult<Option<StoredResource>> {
    let sql = format!(
        "SELECT {VERSION_COLS} FROM resources r JOIN versions v ON v.seq = r.seq WHERE r.rid = ?1"
    );
    let mut st = c.prepare_cached(&sql).map_err(map_err)?;
    let mut rows = st.query([rid]).map_err(map_err)?;
    match rows.next().map_err(map_err)? {
        Some(row) => decode(row, ring).map(Some),
        None => Ok(None),
    }
}

/// Codes of the stored ValueSet with canonical `url` (empty when there is none).
fn valueset_codes(c: &Connection, ring: &KeyRing, url: &str) -> Vec<(Option<String>, String)> {
    let sql = Sql {
        text: "SELECT u.rid FROM idx_uri u WHERE u.pkey = ?1 AND u.uri = ?2 LIMIT 1".into(),
        binds: vec![
            Bind::Int(param_key("ValueSet", "url")),
            Bind::Text(url.to_owned()),
        ],
    };
    let Ok(found) = rids(c, &sql) else {
        return Vec::new();
    };
    let Some(rid) = found.first() else {
        return Vec::new();
    };
    match load(c, ring, *rid) {
        Ok(Some(StoredResource { body: Some(b), .. })) => serde_json::from_slice(&b)
            .map(|v| valueset::codes(&v))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Runs `q` on `c` (the caller provides the transaction).
pub(crate) fn run(c: &Connection, ring: &KeyRing, q: &SearchQuery) -> StoreResult<SearchPage> {
    let mut q = q.clone();
    if !q.valueset_urls().is_empty() {
        q.bind_valuesets(&|url| valueset_codes(c, ring, url));
    }
    let snapshot = match &q.page {
        Some(p) => p.snapshot,
        None => c
            .query_row("SELECT coalesce(max(rid), 0) FROM resources", [], |r| {
                r.get(0)
            })
            .map_err(map_err)?,
    };
    let mut found = if q.count == 0 {
        Vec::new()
    } else {
        page_hits(c, &q, snapshot)?
    };
    let mut next = None;
    if found.len() > q.count {
        found.truncate(q.count);
        next = found.last().map(|h| PageToken {
            snapshot,
            rid: h.rid,
            keys: h.keys.clone(),
            phase: h.phase,
        });
    }
    let total = match q.total {
        TotalMode::Accurate | TotalMode::Estimate => {
            let sql = plan::count_sql(&q, snapshot, &Sqlite);
            let mut st = c.prepare_cached(&sql.text).map_err(map_err)?;
            let n: i64 = st
                .query_row(params_from_iter(sql.binds.iter().map(to_sql)), |r| r.get(0))
                .map_err(map_err)?;
            Some(u64::try_from(n).unwrap_or(0))
        }
        TotalMode::Default if q.page.is_none() && next.is_none() && q.count > 0 => {
            Some(found.len() as u64)
        }
        _ => None,
    };
    let mut matches = Vec::with_capacity(found.len());
    for h in &found {
        if let Some(r) = load(c, ring, h.rid)? {
            matches.push(r);
        }
    }
    let match_rids: Vec<i64> = found.iter().map(|h| h.rid).collect();
    let included = includes(c, ring, &q, &match_rids, &matches)?;
    Ok(SearchPage {
        matches,
        included,
        total,
        next,
    })
}

fn page_hits(c: &Connection, q: &SearchQuery, snapshot: i64) -> StoreResult<Vec<Hit>> {
    let limit = q.count.saturating_add(1);
    let shape = plan::shape(q);
    let PageShape::DateSort { phase } = shape else {
        return hits(c, &plan::page_sql(q, snapshot, shape, limit, &Sqlite), 0);
    };
    let mut found = Vec::new();
    if phase == 0 {
        let sql = plan::page_sql(q, snapshot, shape, limit, &Sqlite);
        found = hits(c, &sql, 0)?;
    }
    if found.len() < limit {
        let mut rest = q.clone();
        if phase == 0 {
            rest.page = Some(PageToken {
                snapshot,
                rid: 0,
                keys: Vec::new(),
                phase: 1,
            });
        }
        let sql = plan::page_sql(
            &rest,
            snapshot,
            PageShape::DateSort { phase: 1 },
            limit - found.len(),
            &Sqlite,
        );
        found.extend(hits(c, &sql, 1)?);
    }
    Ok(found)
}

fn includes(
    c: &Connection,
    ring: &KeyRing,
    q: &SearchQuery,
    match_rids: &[i64],
    matches: &[StoredResource],
) -> StoreResult<Vec<StoredResource>> {
    if (q.includes.is_empty() && q.revincludes.is_empty()) || matches.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen: HashSet<i64> = match_rids.iter().copied().collect();
    let mut out: Vec<StoredResource> = Vec::new();
    let mut level: Vec<(i64, String, String)> = match_rids
        .iter()
        .zip(matches)
        .map(|(rid, m)| (*rid, m.meta.rtype.clone(), m.meta.id.clone()))
        .collect();
    for round in 0..=MAX_ITERATIONS {
        let active = |i: &&Include| round == 0 || i.iterate;
        let mut new_rids = Vec::new();
        let rids_now: Vec<i64> = level.iter().map(|(r, _, _)| *r).collect();
        for inc in q.includes.iter().filter(active) {
            new_rids.extend(rids(c, &plan::include_sql(&rids_now, inc, &Sqlite))?);
        }
        for inc in q.revincludes.iter().filter(active) {
            new_rids.extend(revinclude(c, &level, inc)?);
        }
        let mut next_level = Vec::new();
        for rid in new_rids {
            if out.len() >= MAX_INCLUDED || !seen.insert(rid) {
                continue;
            }
            if let Some(r) = load(c, ring, rid)?.filter(|r| r.body.is_some()) {
                next_level.push((rid, r.meta.rtype.clone(), r.meta.id.clone()));
                out.push(r);
            }
        }
        if next_level.is_empty() {
            break;
        }
        level = next_level;
    }
    Ok(out)
}

fn revinclude(
    c: &Connection,
    level: &[(i64, String, String)],
    inc: &Include,
) -> StoreResult<Vec<i64>> {
    let ids: Vec<String> = level.iter().map(|(_, _, id)| id.clone()).collect();
    let wanted: HashSet<(&str, &str)> = level
        .iter()
        .map(|(_, t, id)| (t.as_str(), id.as_str()))
        .collect();
    let sql = plan::revinclude_sql(&ids, inc, &Sqlite);
    let mut st = c.prepare_cached(&sql.text).map_err(map_err)?;
    let mut rows = st
        .query(params_from_iter(sql.binds.iter().map(to_sql)))
        .map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(map_err)? {
        let rid: i64 = row.get(0).map_err(map_err)?;
        let ttype: Option<String> = row.get(1).map_err(map_err)?;
        let tid: String = row.get(2).map_err(map_err)?;
        if ttype.is_some_and(|t| wanted.contains(&(t.as_str(), tid.as_str()))) {
            out.push(rid);
        }
    }
    Ok(out)
}

/// Runs `f` in a read transaction, always closing it.
pub(crate) fn in_read_tx<R>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<R>,
) -> StoreResult<R> {
    c.execute_batch("BEGIN").map_err(map_err)?;
    let result = f(c);
    if c.execute_batch("COMMIT").is_err() {
        crate::conn::reset(c);
    }
    result
}

/// `EXPLAIN QUERY PLAN` of the page query (first page), one line per step.
pub(crate) fn explain(c: &Connection, q: &SearchQuery) -> StoreResult<Vec<String>> {
    let sql = plan::page_sql(
        q,
        i64::MAX,
        plan::shape(q),
        q.count.saturating_add(1),
        &Sqlite,
    );
    let mut st = c
        .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))
        .map_err(map_err)?;
    let rows = st
        .query_map(params_from_iter(sql.binds.iter().map(to_sql)), |r| {
            r.get::<_, String>(3)
        })
        .map_err(map_err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(map_err)
}
