//! The PostgreSQL [`Dialect`] of the shared planner, and the executor: resolves value sets,
//! runs the planner's SQL, pages by keyset under a snapshot bound, follows
//! `_include`/`_revinclude`, and opens the bodies. The matching rules are the planner's; only
//! the SQL spelling differs from SQLite.

use std::collections::HashSet;

use deadpool_postgres::ClientWrapper;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};
use ward_store::index::param_key;
use ward_store::search::plan::{self, Bind, Dialect, PageShape, Sql};
use ward_store::search::{
    Include, KeyValue, PageToken, SearchPage, SearchQuery, TotalMode, valueset,
};
use ward_store::{KeyRing, StoreError, StoreResult, StoredResource};

use crate::conn::map_err;
use crate::history::load_many;

/// Most resources one page may include through `_include`/`_revinclude`.
const MAX_INCLUDED: usize = 1_000;
/// Most `:iterate` rounds.
const MAX_ITERATIONS: usize = 4;

/// PostgreSQL's dialect: `$n` placeholders, `strpos`, and no planner hints (PostgreSQL plans
/// by statistics).
#[derive(Debug, Clone, Copy, Default)]
pub struct Postgres;

impl Dialect for Postgres {
    fn placeholder(&self, n: usize) -> String {
        format!("${n}")
    }
    fn contains(&self, haystack: &str, needle: &str) -> String {
        format!("strpos({haystack}, {needle}) > 0")
    }
}

/// Runs the planner's SQL with typed parameters in one round trip (no prepare step: the
/// text varies with the query's shape).
pub(crate) async fn query(c: &ClientWrapper, sql: &Sql) -> StoreResult<Vec<Row>> {
    let texts: Vec<Option<&str>> = sql
        .binds
        .iter()
        .map(|b| match b {
            // PostgreSQL text cannot hold NUL; no stored value contains one, so such a value
            // matches nothing (bound as NULL).
            Bind::Text(t) if t.contains('\0') => None,
            Bind::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    let params: Vec<(&(dyn ToSql + Sync), Type)> = sql
        .binds
        .iter()
        .zip(&texts)
        .map(|(b, t)| match b {
            Bind::Int(i) => (i as &(dyn ToSql + Sync), Type::INT8),
            Bind::Real(r) => (r as &(dyn ToSql + Sync), Type::FLOAT8),
            Bind::Text(_) => (t as &(dyn ToSql + Sync), Type::TEXT),
        })
        .collect();
    c.query_typed(&sql.text, &params).await.map_err(map_err)
}

fn key_of(row: &Row, i: usize) -> StoreResult<KeyValue> {
    let bad = |_| StoreError::Internal("sort key".into());
    let ty = row
        .columns()
        .get(i)
        .map(|c| c.type_().clone())
        .ok_or_else(|| StoreError::Internal("sort key".into()))?;
    Ok(if ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)
            .map_err(bad)?
            .map_or(KeyValue::Null, KeyValue::Int)
    } else if ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i)
            .map_err(bad)?
            .map_or(KeyValue::Null, KeyValue::Real)
    } else {
        row.try_get::<_, Option<String>>(i)
            .map_err(bad)?
            .map_or(KeyValue::Null, KeyValue::Text)
    })
}

/// One ordered match: rid, sort keys, and the query phase it came from.
struct Hit {
    rid: i64,
    keys: Vec<KeyValue>,
    phase: u8,
}

async fn hits(c: &ClientWrapper, sql: &Sql, phase: u8) -> StoreResult<Vec<Hit>> {
    let rows = query(c, sql).await?;
    rows.iter()
        .map(|row| {
            let rid: i64 = row
                .try_get(0)
                .map_err(|_| StoreError::Internal("rid".into()))?;
            let keys = (1..row.len())
                .map(|i| key_of(row, i))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Hit { rid, keys, phase })
        })
        .collect()
}

async fn rids(c: &ClientWrapper, sql: &Sql) -> StoreResult<Vec<i64>> {
    let rows = query(c, sql).await?;
    rows.iter()
        .map(|r| {
            r.try_get::<_, i64>(0)
                .map_err(|_| StoreError::Internal("rid".into()))
        })
        .collect()
}

/// Codes of the stored ValueSet with canonical `url` (empty when there is none).
async fn valueset_codes(
    c: &ClientWrapper,
    ring: &KeyRing,
    url: &str,
) -> StoreResult<Vec<(Option<String>, String)>> {
    let sql = Sql {
        text: "SELECT u.rid FROM idx_uri u WHERE u.pkey = $1 AND u.uri = $2 LIMIT 1".into(),
        binds: vec![
            Bind::Int(param_key("ValueSet", "url")),
            Bind::Text(url.to_owned()),
        ],
    };
    let found = rids(c, &sql).await?;
    let loaded = load_many(c, ring, &found).await?;
    Ok(match loaded.first().and_then(|r| r.body.as_ref()) {
        Some(b) => serde_json::from_slice(b)
            .map(|v| valueset::codes(&v))
            .unwrap_or_default(),
        None => Vec::new(),
    })
}

/// Runs `q` on `c` (the caller provides the transaction).
pub(crate) async fn run(
    c: &ClientWrapper,
    ring: &KeyRing,
    q: &SearchQuery,
) -> StoreResult<SearchPage> {
    let mut q = q.clone();
    let urls = q.valueset_urls();
    if !urls.is_empty() {
        let mut resolved = std::collections::HashMap::new();
        for url in urls {
            let codes = valueset_codes(c, ring, &url).await?;
            resolved.insert(url, codes);
        }
        q.bind_valuesets(&|url| resolved.get(url).cloned().unwrap_or_default());
    }
    let snapshot = match &q.page {
        Some(p) => p.snapshot,
        None => c
            .query_one("SELECT coalesce(max(rid), 0)::bigint FROM resources", &[])
            .await
            .map_err(map_err)?
            .get(0),
    };
    let mut found = if q.count == 0 {
        Vec::new()
    } else {
        page_hits(c, &q, snapshot).await?
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
            let rows = query(c, &plan::count_sql(&q, snapshot, &Postgres)).await?;
            let n: i64 = rows
                .first()
                .and_then(|r| r.try_get(0).ok())
                .unwrap_or_default();
            Some(u64::try_from(n).unwrap_or(0))
        }
        TotalMode::Default if q.page.is_none() && next.is_none() && q.count > 0 => {
            Some(found.len() as u64)
        }
        _ => None,
    };
    let match_rids: Vec<i64> = found.iter().map(|h| h.rid).collect();
    let matches = load_many(c, ring, &match_rids).await?;
    let included = includes(c, ring, &q, &match_rids, &matches).await?;
    Ok(SearchPage {
        matches,
        included,
        total,
        next,
    })
}

async fn page_hits(c: &ClientWrapper, q: &SearchQuery, snapshot: i64) -> StoreResult<Vec<Hit>> {
    let limit = q.count.saturating_add(1);
    let shape = plan::shape(q);
    let PageShape::DateSort { phase } = shape else {
        return hits(c, &plan::page_sql(q, snapshot, shape, limit, &Postgres), 0).await;
    };
    let mut found = Vec::new();
    if phase == 0 {
        let sql = plan::page_sql(q, snapshot, shape, limit, &Postgres);
        found = hits(c, &sql, 0).await?;
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
            &Postgres,
        );
        found.extend(hits(c, &sql, 1).await?);
    }
    Ok(found)
}

async fn includes(
    c: &ClientWrapper,
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
            new_rids.extend(rids(c, &plan::include_sql(&rids_now, inc, &Postgres)).await?);
        }
        for inc in q.revincludes.iter().filter(active) {
            new_rids.extend(revinclude(c, &level, inc).await?);
        }
        let mut fresh = Vec::new();
        for rid in new_rids {
            if out.len() + fresh.len() >= MAX_INCLUDED || !seen.insert(rid) {
                continue;
            }
            fresh.push(rid);
        }
        let loaded = load_many(c, ring, &fresh).await?;
        let mut next_level = Vec::new();
        for (rid, r) in fresh.iter().zip(loaded) {
            if r.body.is_some() {
                next_level.push((*rid, r.meta.rtype.clone(), r.meta.id.clone()));
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

async fn revinclude(
    c: &ClientWrapper,
    level: &[(i64, String, String)],
    inc: &Include,
) -> StoreResult<Vec<i64>> {
    let ids: Vec<String> = level.iter().map(|(_, _, id)| id.clone()).collect();
    let wanted: HashSet<(&str, &str)> = level
        .iter()
        .map(|(_, t, id)| (t.as_str(), id.as_str()))
        .collect();
    let rows = query(c, &plan::revinclude_sql(&ids, inc, &Postgres)).await?;
    let mut out = Vec::new();
    for row in rows {
        let bad = |_| StoreError::Internal("revinclude".into());
        let rid: i64 = row.try_get(0).map_err(bad)?;
        let ttype: Option<String> = row.try_get(1).map_err(bad)?;
        let tid: String = row.try_get(2).map_err(bad)?;
        if ttype.is_some_and(|t| wanted.contains(&(t.as_str(), tid.as_str()))) {
            out.push(rid);
        }
    }
    Ok(out)
}

/// `EXPLAIN` of the first-page query of `q` (one line per plan node, no bound values).
pub(crate) async fn explain(c: &ClientWrapper, q: &SearchQuery) -> StoreResult<Vec<String>> {
    let mut sql = plan::page_sql(
        q,
        i64::MAX,
        plan::shape(q),
        q.count.saturating_add(1),
        &Postgres,
    );
    sql.text = format!("EXPLAIN {}", sql.text);
    let rows = query(c, &sql).await?;
    rows.iter()
        .map(|r| {
            r.try_get::<_, String>(0)
                .map_err(|_| StoreError::Internal("explain".into()))
        })
        .collect()
}
