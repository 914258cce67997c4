//! Writes and removes a resource's search index rows in the caller's transaction: one
//! statement removes the old rows of every table, and one multi-row `unnest` insert per table
//! adds the new ones (the statements are pipelined on the connection).

use deadpool_postgres::ClientWrapper;
use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;
use ward_store::StoreResult;
use ward_store::index::IndexRows;

use crate::conn::map_err;

/// Removes every index row of resource `rid`.
pub(crate) async fn remove(c: &ClientWrapper, rid: i64) -> StoreResult<()> {
    const SQL: &str = "WITH a AS (DELETE FROM idx_string WHERE rid = $1), \
        b AS (DELETE FROM idx_token WHERE rid = $1), c AS (DELETE FROM idx_ref WHERE rid = $1), \
        d AS (DELETE FROM idx_date WHERE rid = $1), e AS (DELETE FROM idx_number WHERE rid = $1), \
        f AS (DELETE FROM idx_quantity WHERE rid = $1), g AS (DELETE FROM idx_uri WHERE rid = $1) \
        DELETE FROM idx_sort_date WHERE rid = $1";
    let st = c.prepare_cached(SQL).await.map_err(map_err)?;
    c.execute(&st, &[&rid]).await.map_err(map_err)?;
    Ok(())
}

/// One pending insert: its SQL and the column arrays.
struct Insert {
    sql: &'static str,
    args: Vec<Box<dyn ToSql + Sync + Send>>,
}

fn col<T: ToSql + Sync + Send + 'static>(v: T) -> Box<dyn ToSql + Sync + Send> {
    Box::new(v)
}

fn inserts(rid: i64, rows: &IndexRows) -> Vec<Insert> {
    let mut out = Vec::new();
    if !rows.strings.is_empty() {
        let r = &rows.strings;
        out.push(Insert {
            sql: "INSERT INTO idx_string(pkey, norm, exact, grp, rid) SELECT *, $5::bigint \
                  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])",
            args: vec![
                col(r.iter().map(|x| x.pkey).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.norm.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.exact.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.grp).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
    if !rows.tokens.is_empty() {
        let r = &rows.tokens;
        out.push(Insert {
            sql: "INSERT INTO idx_token(pkey, code, system, grp, rid) SELECT *, $5::bigint \
                  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])",
            args: vec![
                col(r.iter().map(|x| x.pkey).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.code.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.system.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.grp).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
    if !rows.refs.is_empty() {
        let r = &rows.refs;
        out.push(Insert {
            sql: "INSERT INTO idx_ref(pkey, tid, ttype, ver, grp, rid) SELECT *, $6::bigint \
                  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[])",
            args: vec![
                col(r.iter().map(|x| x.pkey).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.tid.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.ttype.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.ver.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.grp).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
    range_inserts(rid, rows, &mut out);
    out
}

fn range_inserts(rid: i64, rows: &IndexRows, out: &mut Vec<Insert>) {
    if !rows.dates.is_empty() {
        let r = &rows.dates;
        out.push(Insert {
            sql: "INSERT INTO idx_date(pkey, lo, hi, grp, rid) SELECT *, $5::bigint \
                  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])",
            args: vec![
                col(r.iter().map(|x| x.pkey).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.lo).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.hi).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.grp).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
    if !rows.numbers.is_empty() {
        let r = &rows.numbers;
        out.push(Insert {
            sql: "INSERT INTO idx_number(pkey, value, lo, hi, grp, rid) SELECT *, $6::bigint \
                  FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::float8[], $5::bigint[])",
            args: vec![
                col(r.iter().map(|x| x.pkey).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.value).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.lo).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.hi).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.grp).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
    if !rows.quantities.is_empty() {
        let r = &rows.quantities;
        out.push(Insert {
            sql: "INSERT INTO idx_quantity(pkey, value, lo, hi, system, code, unit, grp, rid) \
                  SELECT *, $9::bigint FROM unnest($1::bigint[], $2::float8[], $3::float8[], \
                  $4::float8[], $5::text[], $6::text[], $7::text[], $8::bigint[])",
            args: vec![
                col(r.iter().map(|x| x.pkey).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.value).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.lo).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.hi).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.system.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.code.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.unit.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.grp).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
    if !rows.uris.is_empty() {
        let r = &rows.uris;
        out.push(Insert {
            sql: "INSERT INTO idx_uri(pkey, uri, grp, rid) SELECT *, $4::bigint \
                  FROM unnest($1::bigint[], $2::text[], $3::bigint[])",
            args: vec![
                col(r.iter().map(|x| x.pkey).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.uri.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.grp).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
    if !rows.sort_dates.is_empty() {
        // One row per (rid, pkey): the last value wins, as SQLite's INSERT OR REPLACE.
        let mut last: Vec<(i64, i64, i64)> = Vec::new();
        for r in &rows.sort_dates {
            last.retain(|(k, _, _)| *k != r.pkey);
            last.push((r.pkey, r.lo, r.hi));
        }
        out.push(Insert {
            sql: "INSERT INTO idx_sort_date(pkey, lo, hi, rid) SELECT *, $4::bigint \
                  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) \
                  ON CONFLICT (rid, pkey) DO UPDATE SET lo = excluded.lo, hi = excluded.hi",
            args: vec![
                col(last.iter().map(|x| x.0).collect::<Vec<_>>()),
                col(last.iter().map(|x| x.1).collect::<Vec<_>>()),
                col(last.iter().map(|x| x.2).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
}

/// Inserts `rows` for resource `rid`.
pub(crate) async fn insert(c: &ClientWrapper, rid: i64, rows: &IndexRows) -> StoreResult<()> {
    let pending = inserts(rid, rows);
    let mut statements = Vec::with_capacity(pending.len());
    for p in &pending {
        statements.push(c.prepare_cached(p.sql).await.map_err(map_err)?);
    }
    try_join_all(pending.iter().zip(&statements).map(|(p, st)| {
        let args: Vec<&(dyn ToSql + Sync)> = p
            .args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        async move { c.execute(st, &args).await }
    }))
    .await
    .map_err(map_err)?;
    Ok(())
}
