//! Writes and removes a resource's search index rows, in the caller's transaction, with cached
//! prepared statements.

use std::cmp::Ordering;

use rusqlite::{Connection, Statement, params};
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

/// Removes every index row of AuditEvent `rid`, its full-text document and its sort keys.
pub(crate) fn remove_audit(c: &Connection, rid: i64) -> StoreResult<()> {
    remove(c, rid)?;
    for sql in [
        "DELETE FROM ae_fts WHERE rowid = ?1",
        "DELETE FROM ae_keys WHERE rid = ?1",
    ] {
        c.prepare_cached(sql)
            .map_err(map_err)?
            .execute([rid])
            .map_err(map_err)?;
    }
    Ok(())
}

/// Inserts the rows of the AuditEvents in `all` (`(rid, rows)`): strings, tokens and uris as
/// one full-text document and one row of sort keys each (`ward_store::index::fts`), the rest
/// into the index tables, sorted.
pub(crate) fn insert_audit(c: &Connection, all: &[(i64, &IndexRows)]) -> StoreResult<()> {
    let mut doc = c
        .prepare_cached("INSERT INTO ae_fts(rowid, terms) VALUES (?1, ?2)")
        .map_err(map_err)?;
    let mut keys = c
        .prepare_cached("INSERT INTO ae_keys(rid, keys) VALUES (?1, ?2)")
        .map_err(map_err)?;
    for (rid, rows) in all {
        let (terms, sort_keys) = ward_store::index::fts::document(rows);
        if !terms.is_empty() {
            doc.execute(params![rid, terms]).map_err(map_err)?;
        }
        keys.execute(params![rid, sort_keys]).map_err(map_err)?;
    }
    insert_rows(c, all, true)
}

/// Inserts `rows` for resource `rid`.
pub(crate) fn insert(c: &Connection, rid: i64, rows: &IndexRows) -> StoreResult<()> {
    insert_sorted(c, &[(rid, rows)])
}

/// The rows of one kind of every resource in `all`, each with its resource, sorted by `order`
/// (the order of the table's value index: a batch then visits each index page once). The
/// comparison borrows the rows' values; nothing is cloned to sort.
fn gather<'a, T>(
    all: &[(i64, &'a IndexRows)],
    kind: impl Fn(&'a IndexRows) -> &'a [T],
    keep: impl Fn(&T) -> bool,
    order: impl Fn(&(i64, &'a T), &(i64, &'a T)) -> Ordering,
) -> Vec<(i64, &'a T)> {
    let mut out: Vec<(i64, &'a T)> = all
        .iter()
        .flat_map(|(rid, rows)| kind(rows).iter().map(move |r| (*rid, r)))
        .filter(|(_, r)| keep(r))
        .collect();
    out.sort_by(|a, b| order(a, b));
    out
}

/// Rows bound per statement by [`insert_many`]: one statement executes for this many rows
/// instead of one per row, which saves the per-statement cost (binding checks, step, reset)
/// where rows come by the thousand: the AuditEvent projection's chunks
/// (bench/README.md "2026-12-07").
const ROWS_PER_STATEMENT: usize = 32;

/// Inserts `rows` with `head` (`INSERT … INTO table(columns)`) and `columns` placeholders a
/// row, [`ROWS_PER_STATEMENT`] rows a statement, in order. `bind` binds one row's values from
/// the given 1-based parameter index on.
fn insert_many<T>(
    c: &Connection,
    head: &str,
    columns: usize,
    rows: &[(i64, &T)],
    bind: impl Fn(&mut Statement<'_>, usize, i64, &T) -> rusqlite::Result<()>,
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let tuple = format!("({})", vec!["?"; columns].join(", "));
    let sql = |n: usize| format!("{head} VALUES {}", vec![tuple.as_str(); n].join(", "));
    let mut groups = rows.chunks_exact(ROWS_PER_STATEMENT);
    if groups.len() > 0 {
        let mut st = c
            .prepare_cached(&sql(ROWS_PER_STATEMENT))
            .map_err(map_err)?;
        for group in groups.by_ref() {
            for (i, (rid, row)) in group.iter().enumerate() {
                bind(&mut st, i * columns + 1, *rid, row).map_err(map_err)?;
            }
            st.raw_execute().map_err(map_err)?;
        }
    }
    // The rest row by row: two statements a table in the connection's cache, not one for
    // every length of a remainder.
    let rest = groups.remainder();
    if !rest.is_empty() {
        let mut st = c.prepare_cached(&sql(1)).map_err(map_err)?;
        for (rid, row) in rest {
            bind(&mut st, 1, *rid, row).map_err(map_err)?;
            st.raw_execute().map_err(map_err)?;
        }
    }
    Ok(())
}

/// Inserts the rows of every resource in `all` (`(rid, rows)`), table by table, sorted.
pub(crate) fn insert_sorted(c: &Connection, all: &[(i64, &IndexRows)]) -> StoreResult<()> {
    insert_rows(c, all, false)
}

/// [`insert_sorted`]; for AuditEvents (`audit`), without the rows their full-text document
/// holds ([`ward_store::index::fts::moved`]).
fn insert_rows(c: &Connection, all: &[(i64, &IndexRows)], audit: bool) -> StoreResult<()> {
    let kept = |grp: Option<i64>| !audit || !ward_store::index::fts::moved(grp);
    let strings = gather(
        all,
        |r| &r.strings,
        |r| kept(r.grp),
        |(ra, a), (rb, b)| (a.pkey, &a.norm, ra).cmp(&(b.pkey, &b.norm, rb)),
    );
    insert_many(
        c,
        "INSERT INTO idx_string(pkey, norm, exact, rid, grp)",
        5,
        &strings,
        |st, i, rid, r| {
            st.raw_bind_parameter(i, r.pkey)?;
            st.raw_bind_parameter(i + 1, &r.norm)?;
            st.raw_bind_parameter(i + 2, &r.exact)?;
            st.raw_bind_parameter(i + 3, rid)?;
            st.raw_bind_parameter(i + 4, r.grp)
        },
    )?;
    let tokens = gather(
        all,
        |r| &r.tokens,
        |r| kept(r.grp),
        |(ra, a), (rb, b)| (a.pkey, &a.code, &a.system, ra).cmp(&(b.pkey, &b.code, &b.system, rb)),
    );
    insert_many(
        c,
        "INSERT INTO idx_token(pkey, code, system, rid, grp)",
        5,
        &tokens,
        |st, i, rid, r| {
            st.raw_bind_parameter(i, r.pkey)?;
            st.raw_bind_parameter(i + 1, &r.code)?;
            st.raw_bind_parameter(i + 2, &r.system)?;
            st.raw_bind_parameter(i + 3, rid)?;
            st.raw_bind_parameter(i + 4, r.grp)
        },
    )?;
    let refs = gather(
        all,
        |r| &r.refs,
        |_| true,
        |(ra, a), (rb, b)| (a.pkey, &a.tid, &a.ttype, ra).cmp(&(b.pkey, &b.tid, &b.ttype, rb)),
    );
    insert_many(
        c,
        "INSERT INTO idx_ref(pkey, tid, ttype, ver, rid, grp)",
        6,
        &refs,
        |st, i, rid, r| {
            st.raw_bind_parameter(i, r.pkey)?;
            st.raw_bind_parameter(i + 1, &r.tid)?;
            st.raw_bind_parameter(i + 2, &r.ttype)?;
            st.raw_bind_parameter(i + 3, &r.ver)?;
            st.raw_bind_parameter(i + 4, rid)?;
            st.raw_bind_parameter(i + 5, r.grp)
        },
    )?;
    insert_ranges(c, all, &kept)
}

fn insert_ranges(
    c: &Connection,
    all: &[(i64, &IndexRows)],
    kept: &dyn Fn(Option<i64>) -> bool,
) -> StoreResult<()> {
    let dates = gather(
        all,
        |r| &r.dates,
        |_| true,
        |(ra, a), (rb, b)| (a.pkey, a.lo, a.hi, ra).cmp(&(b.pkey, b.lo, b.hi, rb)),
    );
    insert_many(
        c,
        "INSERT INTO idx_date(pkey, lo, hi, rid, grp)",
        5,
        &dates,
        |st, i, rid, r| {
            st.raw_bind_parameter(i, r.pkey)?;
            st.raw_bind_parameter(i + 1, r.lo)?;
            st.raw_bind_parameter(i + 2, r.hi)?;
            st.raw_bind_parameter(i + 3, rid)?;
            st.raw_bind_parameter(i + 4, r.grp)
        },
    )?;
    let numbers = gather(
        all,
        |r| &r.numbers,
        |_| true,
        |(ra, a), (rb, b)| (a.pkey, a.value.to_bits(), ra).cmp(&(b.pkey, b.value.to_bits(), rb)),
    );
    insert_many(
        c,
        "INSERT INTO idx_number(pkey, value, lo, hi, rid, grp)",
        6,
        &numbers,
        |st, i, rid, r| {
            st.raw_bind_parameter(i, r.pkey)?;
            st.raw_bind_parameter(i + 1, r.value)?;
            st.raw_bind_parameter(i + 2, r.lo)?;
            st.raw_bind_parameter(i + 3, r.hi)?;
            st.raw_bind_parameter(i + 4, rid)?;
            st.raw_bind_parameter(i + 5, r.grp)
        },
    )?;
    let quantities = gather(
        all,
        |r| &r.quantities,
        |_| true,
        |(ra, a), (rb, b)| (a.pkey, a.value.to_bits(), ra).cmp(&(b.pkey, b.value.to_bits(), rb)),
    );
    insert_many(
        c,
        "INSERT INTO idx_quantity(pkey, value, lo, hi, system, code, unit, rid, grp)",
        9,
        &quantities,
        |st, i, rid, r| {
            st.raw_bind_parameter(i, r.pkey)?;
            st.raw_bind_parameter(i + 1, r.value)?;
            st.raw_bind_parameter(i + 2, r.lo)?;
            st.raw_bind_parameter(i + 3, r.hi)?;
            st.raw_bind_parameter(i + 4, &r.system)?;
            st.raw_bind_parameter(i + 5, &r.code)?;
            st.raw_bind_parameter(i + 6, &r.unit)?;
            st.raw_bind_parameter(i + 7, rid)?;
            st.raw_bind_parameter(i + 8, r.grp)
        },
    )?;
    let uris = gather(
        all,
        |r| &r.uris,
        |r| kept(r.grp),
        |(ra, a), (rb, b)| (a.pkey, &a.uri, ra).cmp(&(b.pkey, &b.uri, rb)),
    );
    insert_many(
        c,
        "INSERT INTO idx_uri(pkey, uri, rid, grp)",
        4,
        &uris,
        |st, i, rid, r| {
            st.raw_bind_parameter(i, r.pkey)?;
            st.raw_bind_parameter(i + 1, &r.uri)?;
            st.raw_bind_parameter(i + 2, rid)?;
            st.raw_bind_parameter(i + 3, r.grp)
        },
    )?;
    // One sort row per (resource, parameter): a later row replaces an earlier one, as before.
    let sort_dates = gather(
        all,
        |r| &r.sort_dates,
        |_| true,
        |(ra, a), (rb, b)| (ra, a.pkey).cmp(&(rb, b.pkey)),
    );
    insert_many(
        c,
        "INSERT OR REPLACE INTO idx_sort_date(rid, pkey, lo, hi)",
        4,
        &sort_dates,
        |st, i, rid, r| {
            st.raw_bind_parameter(i, rid)?;
            st.raw_bind_parameter(i + 1, r.pkey)?;
            st.raw_bind_parameter(i + 2, r.lo)?;
            st.raw_bind_parameter(i + 3, r.hi)
        },
    )
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
            let rows = index(&stored.meta.rtype, body);
            if stored.meta.rtype == ward_store::index::fts::AUDIT_TYPE {
                remove_audit(c, rid)?;
                insert_audit(c, &[(rid, &rows)])?;
            } else {
                remove(c, rid)?;
                insert(c, rid, &rows)?;
            }
            done += 1;
        }
    }
    Ok((done, last))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::cast_precision_loss
    )]

    use rusqlite::types::ValueRef;
    use ward_store::index::{
        DateRow, NumberRow, QuantityRow, RefRow, SortDateRow, StringRow, TokenRow, UriRow,
    };

    use super::*;

    /// Rows of resource `n`: 45 of each kind but the sort dates (more than one statement's
    /// worth when several resources go together, and a remainder), and a sort date given twice
    /// for the same parameter, of which the later one must stay.
    fn rows(n: i64) -> IndexRows {
        let s = |i: i64| format!("v{n}-{i:02}");
        let mut r = IndexRows::default();
        for i in 0..45 {
            let grp = (i % 3 == 0).then_some(i);
            let opt = (i % 2 == 0).then(|| s(i));
            r.strings.push(StringRow {
                pkey: i % 4,
                grp,
                norm: s(i),
                exact: s(i).to_uppercase(),
            });
            r.tokens.push(TokenRow {
                pkey: i % 4,
                grp,
                system: opt.clone(),
                code: s(i),
            });
            r.refs.push(RefRow {
                pkey: i % 4,
                grp,
                ttype: opt.clone(),
                tid: s(i),
                ver: opt.clone(),
            });
            r.dates.push(DateRow {
                pkey: i % 4,
                grp,
                lo: n * 100 + i,
                hi: n * 100 + i + 1,
            });
            let v = (n * 100 + i) as f64 / 8.0;
            r.numbers.push(NumberRow {
                pkey: i % 4,
                grp,
                value: v,
                lo: v - 0.5,
                hi: v + 0.5,
            });
            r.quantities.push(QuantityRow {
                pkey: i % 4,
                grp,
                value: v,
                lo: v - 0.5,
                hi: v + 0.5,
                system: opt.clone(),
                code: opt.clone(),
                unit: opt,
            });
            r.uris.push(UriRow {
                pkey: i % 4,
                grp,
                uri: s(i),
            });
        }
        r.sort_dates.push(SortDateRow {
            pkey: 1,
            lo: 1,
            hi: 2,
        });
        r.sort_dates.push(SortDateRow {
            pkey: 2,
            lo: 3,
            hi: 4,
        });
        r.sort_dates.push(SortDateRow {
            pkey: 1,
            lo: n,
            hi: n + 1,
        });
        r
    }

    /// A stored value with its type, e.g. `Text("a")`, `Integer(1)`, `Null`.
    fn show(v: ValueRef<'_>) -> String {
        match v {
            ValueRef::Null => "Null".into(),
            ValueRef::Integer(i) => format!("Integer({i})"),
            ValueRef::Real(f) => format!("Real({f:?})"),
            ValueRef::Text(t) => format!("Text({:?})", String::from_utf8_lossy(t)),
            ValueRef::Blob(b) => format!("Blob({b:?})"),
        }
    }

    /// Every row of a table as text, sorted, for comparing contents.
    fn dump(c: &Connection, table: &str) -> Vec<String> {
        let mut st = c.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = st.column_count();
        let mut out: Vec<String> = st
            .query_map([], |row| {
                Ok((0..n)
                    .map(|i| show(row.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out.sort();
        out
    }

    #[test]
    fn batched_index_rows_are_stored_whole_with_their_nulls_and_replacements() {
        let mut batched = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut batched).unwrap();
        let mut single = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut single).unwrap();
        let all: Vec<(i64, IndexRows)> = (1..=3).map(|n| (n, rows(n))).collect();
        let refs: Vec<(i64, &IndexRows)> = all.iter().map(|(rid, r)| (*rid, r)).collect();
        // 135 rows of each kind in one batch: four full statements and a remainder of 7
        insert_sorted(&batched, &refs).unwrap();
        for (rid, r) in &refs {
            insert(&single, *rid, r).unwrap();
        }
        for t in TABLES {
            let b = dump(&batched, t);
            assert_eq!(b, dump(&single, t), "{t}");
            let expected = if t == "idx_sort_date" { 6 } else { 135 };
            assert_eq!(b.len(), expected, "{t}");
        }
        // one row of each kind, value by value (i = 42: grouped, optional values present)
        let one = |sql: &str| -> String {
            batched
                .query_row(sql, [], |r| {
                    Ok((0..r.as_ref().column_count())
                        .map(|i| show(r.get_ref(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap()
        };
        assert_eq!(
            one("SELECT pkey, exact, grp FROM idx_string WHERE rid = 3 AND norm = 'v3-42'"),
            "Integer(2)|Text(\"V3-42\")|Integer(42)"
        );
        assert_eq!(
            one("SELECT system, grp FROM idx_token WHERE rid = 3 AND code = 'v3-42'"),
            "Text(\"v3-42\")|Integer(42)"
        );
        assert_eq!(
            one("SELECT ttype, ver FROM idx_ref WHERE rid = 3 AND tid = 'v3-43'"),
            "Null|Null"
        );
        assert_eq!(
            one("SELECT lo, hi, grp FROM idx_date WHERE rid = 3 AND lo = 342"),
            "Integer(342)|Integer(343)|Integer(42)"
        );
        assert_eq!(
            one("SELECT value, unit, grp FROM idx_quantity WHERE rid = 3 AND value = 42.75"),
            "Real(42.75)|Text(\"v3-42\")|Integer(42)"
        );
        assert_eq!(
            one("SELECT lo, hi FROM idx_number WHERE rid = 1 AND value = 12.5"),
            "Real(12.0)|Real(13.0)"
        );
        assert_eq!(
            one("SELECT pkey FROM idx_uri WHERE rid = 2 AND uri = 'v2-07'"),
            "Integer(3)"
        );
        // the later sort date of a parameter replaced the earlier one
        let lo: i64 = batched
            .query_row(
                "SELECT lo FROM idx_sort_date WHERE rid = 2 AND pkey = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(lo, 2);
        // NULLs stay NULL (not empty text), and nothing was lost on the way
        let nulls: i64 = batched
            .query_row(
                "SELECT count(*) FROM idx_token WHERE system IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(nulls, 3 * 22);
        remove(&batched, 2).unwrap();
        for t in TABLES {
            let left: i64 = batched
                .query_row(
                    &format!("SELECT count(*) FROM {t} WHERE rid = 2"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(left, 0, "{t}");
        }
    }
}
