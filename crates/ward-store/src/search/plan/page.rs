//! Page queries of sorted searches (the date-sort index walk, generic sort keys with keyset
//! continuation) and the include / revinclude lookups.

use ward_spec::SearchParamType as K;

use super::cond::sort_row_bounds;
use super::{B, Dialect, Sql, or, where_clause};
use crate::search::model::{
    Filter, Include, KeyValue, Modifier, PageToken, SearchQuery, SortKey, Value,
};

pub(super) fn date_sort(
    b: &mut B<'_>,
    q: &SearchQuery,
    snapshot: i64,
    phase: u8,
    lim: i64,
) -> String {
    let Some(k) = q.sort.first() else {
        return String::new();
    };
    // Phase 0 walks candidates in date order until the page is full (full-text conditions
    // then read their sets by windows, `fts::member`) and reads resources by rid; phase 1
    // reads what has no date by rid, driven by a full-text set when it has one (else it
    // reads every resource of the types).
    let full_text = super::full_text_filters(b, q);
    b.walk = (phase == 0).then_some((lim, k.descending));
    b.hide_type = phase == 0 || !full_text.is_empty();
    let w = where_clause(b, q, snapshot, false);
    b.walk = None;
    b.hide_type = false;
    let keys = b.ints(&k.pkeys);
    if phase == 1 {
        let after = q
            .page
            .as_ref()
            .filter(|p| p.phase == 1)
            .map_or(0, |p| p.rid);
        let a = b.int(after);
        let l = b.int(lim);
        return format!(
            "SELECT r.rid FROM resources r WHERE {w} AND NOT EXISTS (SELECT 1 FROM idx_sort_date s \
             WHERE s.rid = r.rid AND s.pkey IN ({keys})) AND r.rid > {a} ORDER BY r.rid LIMIT {l}"
        );
    }
    let (col, dir, cmp) = if k.descending {
        ("hi", "DESC", "<")
    } else {
        ("lo", "ASC", ">")
    };
    let after = match &q.page {
        Some(PageToken {
            phase: 0,
            rid,
            keys,
            ..
        }) => match keys.first() {
            Some(KeyValue::Int(v)) => {
                let (v, r) = (b.int(*v), b.int(*rid));
                format!(" AND (s.{col}, s.rid) {cmp} ({v}, {r})")
            }
            _ => String::new(),
        },
        _ => String::new(),
    };
    let (lo_lt, hi_gt) = walk_bounds(q, k);
    let mut bounds = String::new();
    if let Some(x) = lo_lt {
        bounds.push_str(&format!(" AND s.lo < {}", b.int(x)));
    }
    if let Some(x) = hi_gt {
        bounds.push_str(&format!(" AND s.hi > {}", b.int(x)));
    }
    let l = b.int(lim);
    let order = format!("ORDER BY s.{col} {dir}, s.rid {dir}");
    let walk = |limit: &str| {
        format!(
            "SELECT r.rid, s.{col} FROM idx_sort_date s JOIN resources r ON r.rid = s.rid \
             WHERE s.pkey IN ({keys}){after}{bounds} AND {w} {order} LIMIT {limit}"
        )
    };
    // the full-text query of each condition that may drive the page instead
    let drivers: Vec<String> = full_text
        .iter()
        .filter_map(|p| super::fts::single(b, p))
        .collect();
    if drivers.is_empty() {
        return walk(&l);
    }
    // A full-text value that does not fill the page within the walk's first window would
    // make the walk visit every AuditEvent until its matches; unless it has very many
    // matches, such a value drives instead (its matches, sorted). Each branch runs only when
    // its `LIMIT` is not 0, which SQLite tests before the branch's loop.
    let first = super::fts::first_window(lim, k.descending);
    let rare: Vec<String> = drivers
        .iter()
        .map(|m| {
            format!(
                "((SELECT count(*) FROM (SELECT 1 FROM ae_fts WHERE ae_fts MATCH {m} AND rowid \
                 {first} LIMIT {l})) < {l} AND (SELECT count(*) FROM (SELECT 1 FROM ae_fts \
                 WHERE ae_fts MATCH {m} LIMIT {RARE})) < {RARE})"
            )
        })
        .collect();
    let mut branches = vec![walk(&format!(
        "(CASE WHEN {} THEN 0 ELSE {l} END)",
        rare.join(" OR ")
    ))];
    let join = b.d.ordered_join();
    for (i, m) in drivers.iter().enumerate() {
        // this condition is rare and no earlier one is
        let gate: Vec<String> = rare
            .iter()
            .take(i)
            .map(|r| format!("NOT {r}"))
            .chain(rare.get(i).cloned())
            .collect();
        branches.push(format!(
            "SELECT r.rid, s.{col} FROM resources r {join} idx_sort_date s ON s.rid = r.rid \
             AND s.pkey IN ({keys}) WHERE r.rid IN (SELECT rowid FROM ae_fts WHERE ae_fts \
             MATCH {m}){after}{bounds} AND {w} {order} LIMIT (CASE WHEN {} THEN {l} ELSE 0 END)",
            gate.join(" AND ")
        ));
    }
    let all: Vec<String> = branches
        .iter()
        .map(|x| format!("SELECT * FROM ({x})"))
        .collect();
    format!("{} ORDER BY 2 {dir}, 1 {dir}", all.join(" UNION ALL "))
}

/// Below this many matches, a full-text condition that does not fill a page within the
/// walk's first window drives a date-sort page instead of filtering its walk (counting stops
/// here: ~0.07 µs a match; sorting this many matches takes tens of milliseconds, walking past
/// the non-matches before them can take seconds).
const RARE: i64 = 65_536;

/// Bounds on the walked sort rows (`S.lo < a`, `S.hi > b`) implied by the query's own filters
/// on the sort parameter ([`sort_row_bounds`]). On the walk's column they end it (or start
/// it) at the range's edge instead of at the end of the index; on the other column they
/// reject a row from the sort index itself, before its resource and its date rows are read.
/// A filter's values are alternatives (the loosest bound of all, none if one has none);
/// the filters all hold (the tightest).
fn walk_bounds(q: &SearchQuery, k: &SortKey) -> (Option<i64>, Option<i64>) {
    let (mut lo_lt, mut hi_gt): (Option<i64>, Option<i64>) = (None, None);
    for f in &q.filters {
        let Filter::Param(p) = f else { continue };
        if p.kind != K::Date
            || p.code != k.code
            || p.pkeys != k.pkeys
            || p.modifier != Modifier::None
            || p.values.is_empty()
        {
            continue;
        }
        let each: Vec<(Option<i64>, Option<i64>)> = p
            .values
            .iter()
            .map(|v| match v {
                Value::Date { prefix, lo, hi } => sort_row_bounds(*prefix, *lo, *hi, q.now_us),
                _ => (None, None),
            })
            .collect();
        let a = each
            .iter()
            .map(|e| e.0)
            .collect::<Option<Vec<i64>>>()
            .and_then(|v| v.into_iter().max());
        let z = each
            .iter()
            .map(|e| e.1)
            .collect::<Option<Vec<i64>>>()
            .and_then(|v| v.into_iter().min());
        if let Some(a) = a {
            lo_lt = Some(lo_lt.map_or(a, |x| x.min(a)));
        }
        if let Some(z) = z {
            hi_gt = Some(hi_gt.map_or(z, |x| x.max(z)));
        }
    }
    (lo_lt, hi_gt)
}

/// A correlated expression for one sort key of resource `r` (NULL when it has no value).
fn key_expr(b: &mut B<'_>, k: &SortKey, types: &[String]) -> String {
    match k.code.as_str() {
        "_id" => return "r.id".into(),
        "_lastUpdated" => return "r.last_updated".into(),
        _ => {}
    }
    match super::fts::involved(b, k.kind, types) {
        Some(true) => return super::fts::key_expr(b, k),
        Some(false) => {
            let rows = rows_key_expr(b, k);
            let fts = super::fts::key_expr(b, k);
            return format!("coalesce({rows}, {fts})");
        }
        None => {}
    }
    rows_key_expr(b, k)
}

/// [`key_expr`] from the index tables.
fn rows_key_expr(b: &mut B<'_>, k: &SortKey) -> String {
    let agg = if k.descending { "max" } else { "min" };
    let keys = b.ints(&k.pkeys);
    let (t, col, extra) = match k.kind {
        K::Date => ("idx_sort_date", if k.descending { "hi" } else { "lo" }, ""),
        K::String => ("idx_string", "norm", " AND s.grp IS NULL"),
        K::Token => ("idx_token", "code", " AND s.grp IS NULL"),
        K::Reference => ("idx_ref", "tid", " AND s.grp IS NULL"),
        K::Number => ("idx_number", "value", " AND s.grp IS NULL"),
        K::Quantity => ("idx_quantity", "value", " AND s.grp IS NULL"),
        _ => ("idx_uri", "uri", " AND s.grp IS NULL"),
    };
    let from = b.d.by_rid(t, "s");
    format!("(SELECT {agg}(s.{col}) FROM {from} WHERE s.rid = r.rid AND s.pkey IN ({keys}){extra})")
}

pub(super) fn keyed(b: &mut B<'_>, q: &SearchQuery, snapshot: i64, lim: i64) -> String {
    let w = where_clause(b, q, snapshot, true);
    let exprs: Vec<String> = q.sort.iter().map(|k| key_expr(b, k, &q.types)).collect();
    let cols: Vec<String> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{e} AS k{i}"))
        .collect();
    let order: Vec<String> = q
        .sort
        .iter()
        .enumerate()
        .map(|(i, k)| {
            format!(
                "k{i} IS NULL, k{i}{}",
                if k.descending { " DESC" } else { "" }
            )
        })
        .collect();
    let after = match &q.page {
        Some(p) => format!(" WHERE {}", keyset(b, &q.sort, p)),
        None => String::new(),
    };
    let l = b.int(lim);
    format!(
        "SELECT rid, {} FROM (SELECT r.rid AS rid, {} FROM resources r WHERE {w}) q{after} \
         ORDER BY {}, rid LIMIT {l}",
        (0..q.sort.len())
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        cols.join(", "),
        order.join(", ")
    )
}

fn key_bind(b: &mut B<'_>, v: &KeyValue) -> Option<String> {
    match v {
        KeyValue::Null => None,
        KeyValue::Int(i) => Some(b.int(*i)),
        KeyValue::Real(r) => Some(b.real(*r)),
        KeyValue::Text(t) => Some(b.text(t)),
    }
}

/// Rows strictly after the page token in `ORDER BY k IS NULL, k [DESC]…, rid` order.
fn keyset(b: &mut B<'_>, sort: &[SortKey], p: &PageToken) -> String {
    let mut alts = Vec::new();
    for j in 0..=sort.len() {
        let mut parts = Vec::new();
        for (i, v) in p.keys.iter().enumerate().take(j) {
            parts.push(match key_bind(b, v) {
                Some(x) => format!("k{i} = {x}"),
                None => format!("k{i} IS NULL"),
            });
        }
        match sort.get(j) {
            Some(k) => match p.keys.get(j).and_then(|v| key_bind(b, v)) {
                Some(x) => {
                    let cmp = if k.descending { "<" } else { ">" };
                    parts.push(format!("(k{j} {cmp} {x} OR k{j} IS NULL)"));
                }
                None => continue,
            },
            None => parts.push(format!("rid > {}", b.int(p.rid))),
        }
        alts.push(format!("({})", parts.join(" AND ")));
    }
    or(alts)
}

/// Targets of `inc` from the resources `rids`: `(rid)` rows.
pub fn include_sql(rids: &[i64], inc: &Include, d: &dyn Dialect) -> Sql {
    let mut b = B::new(d);
    let r = b.ints(rids);
    let k = b.ints(&inc.pkeys);
    let t = match &inc.target {
        Some(t) => format!(" AND f.ttype = {}", b.text(t)),
        None => String::new(),
    };
    let from = d.by_rid("idx_ref", "f");
    Sql {
        text: format!(
            "SELECT DISTINCT t.rid FROM {from} JOIN resources t ON t.rtype = f.ttype \
             AND t.id = f.tid WHERE f.rid IN ({r}) AND f.pkey IN ({k}){t} AND t.deleted = 0"
        ),
        binds: b.binds,
    }
}

/// Resources that reference any of `ids` through `inc`: `(rid, ttype, tid)` rows, to be
/// matched against the wanted `(type, id)` pairs by the caller.
pub fn revinclude_sql(ids: &[String], inc: &Include, d: &dyn Dialect) -> Sql {
    let mut b = B::new(d);
    let k = b.ints(&inc.pkeys);
    let i = b.texts(ids);
    Sql {
        text: format!(
            "SELECT f.rid, f.ttype, f.tid FROM idx_ref f WHERE f.pkey IN ({k}) AND f.tid IN ({i})"
        ),
        binds: b.binds,
    }
}
