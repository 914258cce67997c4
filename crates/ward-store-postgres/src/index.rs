//! Writes and removes search index rows in the caller's transaction, for one resource or for
//! many at once (the AuditEvent projection's chunks): one statement removes the old rows of
//! every table, and one multi-row `unnest` insert per table adds the new ones (the statements
//! are pipelined on the connection).

use deadpool_postgres::ClientWrapper;
use futures_util::future::try_join_all;
use tokio_postgres::types::ToSql;
use ward_store::StoreResult;
use ward_store::index::IndexRows;

use crate::conn::map_err;

/// Removes every index row of resource `rid`.
pub(crate) async fn remove(c: &ClientWrapper, rid: i64) -> StoreResult<()> {
    remove_many(c, &[rid]).await
}

/// Removes every index row of the resources `rids`.
pub(crate) async fn remove_many(c: &ClientWrapper, rids: &[i64]) -> StoreResult<()> {
    const SQL: &str = "WITH a AS (DELETE FROM idx_string WHERE rid = ANY($1)), \
        b AS (DELETE FROM idx_token WHERE rid = ANY($1)), \
        c AS (DELETE FROM idx_ref WHERE rid = ANY($1)), \
        d AS (DELETE FROM idx_date WHERE rid = ANY($1)), \
        e AS (DELETE FROM idx_number WHERE rid = ANY($1)), \
        f AS (DELETE FROM idx_quantity WHERE rid = ANY($1)), \
        g AS (DELETE FROM idx_uri WHERE rid = ANY($1)) \
        DELETE FROM idx_sort_date WHERE rid = ANY($1)";
    if rids.is_empty() {
        return Ok(());
    }
    let st = c.prepare_cached(SQL).await.map_err(map_err)?;
    c.execute(&st, &[&rids]).await.map_err(map_err)?;
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

/// The rows of kind `kind` of every resource in `all`, each with its resource.
fn rows_of<'a, T>(
    all: &[(i64, &'a IndexRows)],
    kind: impl Fn(&'a IndexRows) -> &'a [T],
) -> (Vec<&'a T>, Vec<i64>) {
    all.iter()
        .flat_map(|(rid, rows)| kind(rows).iter().map(move |r| (r, *rid)))
        .unzip()
}

fn inserts(all: &[(i64, &IndexRows)]) -> Vec<Insert> {
    let mut out = Vec::new();
    let (r, rid) = rows_of(all, |x| &x.strings);
    if !r.is_empty() {
        out.push(Insert {
            sql: "INSERT INTO idx_string(pkey, norm, exact, grp, rid) SELECT * \
                  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])",
            args: vec![
                col(r.iter().map(|x| x.pkey).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.norm.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.exact.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.grp).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
    let (r, rid) = rows_of(all, |x| &x.tokens);
    if !r.is_empty() {
        out.push(Insert {
            sql: "INSERT INTO idx_token(pkey, code, system, grp, rid) SELECT * \
                  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])",
            args: vec![
                col(r.iter().map(|x| x.pkey).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.code.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.system.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.grp).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
    let (r, rid) = rows_of(all, |x| &x.refs);
    if !r.is_empty() {
        out.push(Insert {
            sql: "INSERT INTO idx_ref(pkey, tid, ttype, ver, grp, rid) SELECT * \
                  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])",
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
    range_inserts(all, &mut out);
    out
}

fn range_inserts(all: &[(i64, &IndexRows)], out: &mut Vec<Insert>) {
    let (r, rid) = rows_of(all, |x| &x.dates);
    if !r.is_empty() {
        out.push(Insert {
            sql: "INSERT INTO idx_date(pkey, lo, hi, grp, rid) SELECT * \
                  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])",
            args: vec![
                col(r.iter().map(|x| x.pkey).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.lo).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.hi).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.grp).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
    let (r, rid) = rows_of(all, |x| &x.numbers);
    if !r.is_empty() {
        out.push(Insert {
            sql: "INSERT INTO idx_number(pkey, value, lo, hi, grp, rid) SELECT * \
                  FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::float8[], $5::bigint[], $6::bigint[])",
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
    let (r, rid) = rows_of(all, |x| &x.quantities);
    if !r.is_empty() {
        out.push(Insert {
            sql: "INSERT INTO idx_quantity(pkey, value, lo, hi, system, code, unit, grp, rid) \
                  SELECT * FROM unnest($1::bigint[], $2::float8[], $3::float8[], \
                  $4::float8[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[])",
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
    let (r, rid) = rows_of(all, |x| &x.uris);
    if !r.is_empty() {
        out.push(Insert {
            sql: "INSERT INTO idx_uri(pkey, uri, grp, rid) SELECT * \
                  FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])",
            args: vec![
                col(r.iter().map(|x| x.pkey).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.uri.clone()).collect::<Vec<_>>()),
                col(r.iter().map(|x| x.grp).collect::<Vec<_>>()),
                col(rid),
            ],
        });
    }
    // One row per (rid, pkey): the last value wins, as SQLite's INSERT OR REPLACE.
    let mut last: Vec<(i64, i64, i64, i64)> = Vec::new();
    for (rid, rows) in all {
        let first = last.len();
        for r in &rows.sort_dates {
            if let Some(i) = last
                .iter()
                .skip(first)
                .position(|(k, _, _, _)| *k == r.pkey)
            {
                last.remove(first + i);
            }
            last.push((r.pkey, r.lo, r.hi, *rid));
        }
    }
    if !last.is_empty() {
        out.push(Insert {
            sql: "INSERT INTO idx_sort_date(pkey, lo, hi, rid) SELECT * \
                  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) \
                  ON CONFLICT (rid, pkey) DO UPDATE SET lo = excluded.lo, hi = excluded.hi",
            args: vec![
                col(last.iter().map(|x| x.0).collect::<Vec<_>>()),
                col(last.iter().map(|x| x.1).collect::<Vec<_>>()),
                col(last.iter().map(|x| x.2).collect::<Vec<_>>()),
                col(last.iter().map(|x| x.3).collect::<Vec<_>>()),
            ],
        });
    }
}

/// Inserts `rows` for resource `rid`.
pub(crate) async fn insert(c: &ClientWrapper, rid: i64, rows: &IndexRows) -> StoreResult<()> {
    insert_many(c, &[(rid, rows)]).await
}

/// Inserts the rows of every resource in `all`: one statement per table for all of them.
pub(crate) async fn insert_many(c: &ClientWrapper, all: &[(i64, &IndexRows)]) -> StoreResult<()> {
    let pending = inserts(all);
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
