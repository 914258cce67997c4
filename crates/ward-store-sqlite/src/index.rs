//! Writes and removes a resource's search index rows, in the caller's transaction, with cached
//! prepared statements.

use rusqlite::{Connection, params};
use ward_store::StoreResult;
use ward_store::index::IndexRows;

use crate::conn::map_err;

const TABLES: [&str; 8] = [
    "idx_string",
    "idx_token",
    "idx_ref",
    "idx_date",
    "idx_number",
    "idx_quantity",
    "idx_uri",
    "idx_sort_date",
];

/// Removes every index row of resource `rid`.
pub(crate) fn remove(c: &Connection, rid: i64) -> StoreResult<()> {
    for t in TABLES {
        c.prepare_cached(&format!("DELETE FROM {t} WHERE rid = ?1"))
            .map_err(map_err)?
            .execute([rid])
            .map_err(map_err)?;
    }
    Ok(())
}

/// Inserts `rows` for resource `rid`.
pub(crate) fn insert(c: &Connection, rid: i64, rows: &IndexRows) -> StoreResult<()> {
    insert_sorted(c, &[(rid, rows)])
}

/// The rows of one kind of every resource in `all`, each with its resource, sorted by `key`
/// (the order of the table's value index: a batch then visits each index page once).
fn gather<'a, T, K: Ord>(
    all: &[(i64, &'a IndexRows)],
    kind: impl Fn(&'a IndexRows) -> &'a [T],
    key: impl Fn(i64, &'a T) -> K,
) -> Vec<(i64, &'a T)> {
    let mut out: Vec<(i64, &'a T)> = all
        .iter()
        .flat_map(|(rid, rows)| kind(rows).iter().map(move |r| (*rid, r)))
        .collect();
    out.sort_by_cached_key(|(rid, r)| key(*rid, r));
    out
}

/// Inserts the rows of every resource in `all` (`(rid, rows)`), table by table, sorted.
pub(crate) fn insert_sorted(c: &Connection, all: &[(i64, &IndexRows)]) -> StoreResult<()> {
    let strings = gather(all, |r| &r.strings, |rid, r| (r.pkey, r.norm.clone(), rid));
    if !strings.is_empty() {
        let mut st = c
            .prepare_cached(
                "INSERT INTO idx_string(pkey, norm, exact, rid, grp) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(map_err)?;
        for (rid, r) in strings {
            st.execute(params![r.pkey, r.norm, r.exact, rid, r.grp])
                .map_err(map_err)?;
        }
    }
    let tokens = gather(
        all,
        |r| &r.tokens,
        |rid, r| (r.pkey, r.code.clone(), r.system.clone(), rid),
    );
    if !tokens.is_empty() {
        let mut st = c
            .prepare_cached(
                "INSERT INTO idx_token(pkey, code, system, rid, grp) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(map_err)?;
        for (rid, r) in tokens {
            st.execute(params![r.pkey, r.code, r.system, rid, r.grp])
                .map_err(map_err)?;
        }
    }
    let refs = gather(
        all,
        |r| &r.refs,
        |rid, r| (r.pkey, r.tid.clone(), r.ttype.clone(), rid),
    );
    if !refs.is_empty() {
        let mut st = c
            .prepare_cached("INSERT INTO idx_ref(pkey, tid, ttype, ver, rid, grp) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(map_err)?;
        for (rid, r) in refs {
            st.execute(params![r.pkey, r.tid, r.ttype, r.ver, rid, r.grp])
                .map_err(map_err)?;
        }
    }
    insert_ranges(c, all)
}

fn insert_ranges(c: &Connection, all: &[(i64, &IndexRows)]) -> StoreResult<()> {
    let dates = gather(all, |r| &r.dates, |rid, r| (r.pkey, r.lo, r.hi, rid));
    if !dates.is_empty() {
        let mut st = c
            .prepare_cached(
                "INSERT INTO idx_date(pkey, lo, hi, rid, grp) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(map_err)?;
        for (rid, r) in dates {
            st.execute(params![r.pkey, r.lo, r.hi, rid, r.grp])
                .map_err(map_err)?;
        }
    }
    let numbers = gather(
        all,
        |r| &r.numbers,
        |rid, r| (r.pkey, r.value.to_bits(), rid),
    );
    if !numbers.is_empty() {
        let mut st = c
            .prepare_cached("INSERT INTO idx_number(pkey, value, lo, hi, rid, grp) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .map_err(map_err)?;
        for (rid, r) in numbers {
            st.execute(params![r.pkey, r.value, r.lo, r.hi, rid, r.grp])
                .map_err(map_err)?;
        }
    }
    let quantities = gather(
        all,
        |r| &r.quantities,
        |rid, r| (r.pkey, r.value.to_bits(), rid),
    );
    if !quantities.is_empty() {
        let mut st = c
            .prepare_cached(
                "INSERT INTO idx_quantity(pkey, value, lo, hi, system, code, unit, rid, grp) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(map_err)?;
        for (rid, r) in quantities {
            st.execute(params![
                r.pkey, r.value, r.lo, r.hi, r.system, r.code, r.unit, rid, r.grp
            ])
            .map_err(map_err)?;
        }
    }
    let uris = gather(all, |r| &r.uris, |rid, r| (r.pkey, r.uri.clone(), rid));
    if !uris.is_empty() {
        let mut st = c
            .prepare_cached("INSERT INTO idx_uri(pkey, uri, rid, grp) VALUES (?1, ?2, ?3, ?4)")
            .map_err(map_err)?;
        for (rid, r) in uris {
            st.execute(params![r.pkey, r.uri, rid, r.grp])
                .map_err(map_err)?;
        }
    }
    let sort_dates = gather(all, |r| &r.sort_dates, |rid, r| (rid, r.pkey));
    if !sort_dates.is_empty() {
        let mut st = c
            .prepare_cached(
                "INSERT OR REPLACE INTO idx_sort_date(rid, pkey, lo, hi) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(map_err)?;
        for (rid, r) in sort_dates {
            st.execute(params![rid, r.pkey, r.lo, r.hi])
                .map_err(map_err)?;
        }
    }
    Ok(())
}

/// Recomputes the rows of up to `limit` current resources after `after` (by rid); returns how
/// many were done and the last rid seen.
pub(crate) fn reindex_batch(
    c: &Connection,
    ring: &ward_store::KeyRing,
    rtype: Option<&str>,
    after: i64,
    index: &ward_store::ReindexFn,
) -> StoreResult<(u64, Option<i64>)> {
    let sql = format!(
        "SELECT {}, r.rid FROM resources r JOIN versions v ON v.seq = r.seq \
         WHERE r.rid > ?1 AND r.deleted = 0 AND (?2 IS NULL OR r.rtype = ?2) \
         ORDER BY r.rid LIMIT 200",
        crate::history::VERSION_COLS
    );
    let mut todo = Vec::new();
    {
        let mut st = c.prepare_cached(&sql).map_err(map_err)?;
        let mut rows = st.query(params![after, rtype]).map_err(map_err)?;
        while let Some(row) = rows.next().map_err(map_err)? {
            let stored = crate::history::decode(row, ring)?;
            let rid: i64 = row
                .get(crate::history::VERSION_COL_COUNT)
                .map_err(map_err)?;
            todo.push((rid, stored));
        }
    }
    let mut last = None;
    let mut done = 0;
    for (rid, stored) in todo {
        last = Some(rid);
        if let Some(body) = &stored.body {
            remove(c, rid)?;
            insert(c, rid, &index(&stored.meta.rtype, body))?;
            done += 1;
        }
    }
    Ok((done, last))
}
