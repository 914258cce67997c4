//! The planner: compiles a [`SearchQuery`] into SQL over the index tables. The SQL is plain
//! and shared; a [`Dialect`] supplies the few backend differences (placeholders, substring
//! test). See `docs/design/search.md` for the schema and the SQL of each parameter type.

mod cond;
mod fts;
mod page;

pub use cond::{approx_number, approx_range};
use cond::{cond, date_cond};
use page::{date_sort, keyed};
pub use page::{include_sql, revinclude_sql};

use ward_spec::SearchParamType as K;

use super::model::{Filter, Modifier, ParamFilter, SearchQuery, TokenSystem, Value};
use crate::index::fts::AUDIT_TYPE;

/// A bound SQL parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Int(i64),
    Real(f64),
    Text(String),
}

/// SQL text with its numbered parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

/// What differs between SQL backends.
pub trait Dialect {
    /// The placeholder of the `n`th (1-based) parameter: `?n` (SQLite), `$n` (PostgreSQL).
    fn placeholder(&self, n: usize) -> String;
    /// A test that `haystack` contains `needle` (both SQL expressions).
    fn contains(&self, haystack: &str, needle: &str) -> String;
    /// `table alias` for a lookup correlated on `alias.rid`: the backend should read it
    /// through its `(rid, pkey)` index (SQLite: `INDEXED BY`), not a value index.
    fn by_rid(&self, table: &str, alias: &str) -> String {
        format!("{table} {alias}")
    }
    /// `alias` as a prefix whose columns the planner should not use an index for (SQLite:
    /// unary `+`, i.e. `+x.norm`). Standard SQL has no such hint: PostgreSQL keeps `alias`.
    fn hidden(&self, alias: &str) -> String {
        alias.to_owned()
    }
    /// The join keyword that also fixes the join order (SQLite: `CROSS JOIN … ON`, which
    /// PostgreSQL does not accept; it orders joins by cost instead).
    fn ordered_join(&self) -> &'static str {
        "JOIN"
    }
    /// Whether AuditEvent's string, token and uri rows live in the full-text index
    /// `ae_fts` instead of the index tables ([`crate::index::fts`]).
    fn audit_fts(&self) -> bool {
        false
    }
}

/// SQLite's dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sqlite;

impl Dialect for Sqlite {
    fn placeholder(&self, n: usize) -> String {
        format!("?{n}")
    }
    fn contains(&self, haystack: &str, needle: &str) -> String {
        format!("instr({haystack}, {needle}) > 0")
    }
    fn by_rid(&self, table: &str, alias: &str) -> String {
        if table == "idx_sort_date" {
            format!("{table} {alias}")
        } else {
            format!("{table} {alias} INDEXED BY {table}_rid")
        }
    }
    fn hidden(&self, alias: &str) -> String {
        format!("+{alias}")
    }
    fn ordered_join(&self) -> &'static str {
        "CROSS JOIN"
    }
    fn audit_fts(&self) -> bool {
        true
    }
}

/// Index table of each parameter type.
pub fn table(kind: K) -> &'static str {
    match kind {
        K::String => "idx_string",
        K::Token => "idx_token",
        K::Reference => "idx_ref",
        K::Date => "idx_date",
        K::Number => "idx_number",
        K::Quantity => "idx_quantity",
        K::Uri | K::Composite | K::Special => "idx_uri",
    }
}

pub(super) struct B<'d> {
    binds: Vec<Bind>,
    alias: usize,
    d: &'d dyn Dialect,
    /// Set while building the conditions of a page query that walks candidates in date
    /// order until it has this many rows, and whether the walk is descending (the
    /// date-sort walk): a full-text condition then reads its set over windows first
    /// ([`fts::member`]).
    walk: Option<(i64, bool)>,
    /// Hide the type test from the planner (a page that drives from a set).
    hide_type: bool,
}

impl<'d> B<'d> {
    fn new(d: &'d dyn Dialect) -> Self {
        Self {
            binds: Vec::new(),
            alias: 0,
            d,
            walk: None,
            hide_type: false,
        }
    }
    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        self.d.placeholder(self.binds.len())
    }
    fn int(&mut self, v: i64) -> String {
        self.bind(Bind::Int(v))
    }
    fn real(&mut self, v: f64) -> String {
        self.bind(Bind::Real(v))
    }
    fn text(&mut self, v: &str) -> String {
        self.bind(Bind::Text(v.to_owned()))
    }
    fn fresh(&mut self, stem: &str) -> String {
        self.alias += 1;
        format!("{stem}{}", self.alias)
    }
    fn ints(&mut self, v: &[i64]) -> String {
        let parts: Vec<String> = v.iter().map(|x| self.int(*x)).collect();
        if parts.is_empty() {
            "NULL".into()
        } else {
            parts.join(", ")
        }
    }
    fn texts(&mut self, v: &[String]) -> String {
        let parts: Vec<String> = v.iter().map(|x| self.text(x)).collect();
        if parts.is_empty() {
            "NULL".into()
        } else {
            parts.join(", ")
        }
    }
}

pub(super) fn or(parts: Vec<String>) -> String {
    if parts.is_empty() {
        "0 = 1".into()
    } else {
        format!("({})", parts.join(" OR "))
    }
}
fn negated(p: &ParamFilter) -> bool {
    matches!(
        p.modifier,
        Modifier::Not | Modifier::NotIn | Modifier::Missing(true)
    )
}

/// The parameter's rows for alias `a`: `pkey IN (…) AND (value OR value …)`. With
/// `correlated`, the value columns are hidden from the planner (unary `+`) so that a lookup by
/// `rid` uses the `(rid, pkey)` index instead of scanning a value range for every candidate.
fn param_rows(b: &mut B<'_>, p: &ParamFilter, a: &str, now: i64, correlated: bool) -> String {
    let keys = b.ints(&p.pkeys);
    if matches!(p.modifier, Modifier::Missing(_)) {
        return format!("{a}.pkey IN ({keys})");
    }
    let va = if correlated {
        b.d.hidden(a)
    } else {
        a.to_owned()
    };
    let conds: Vec<String> = p
        .values
        .iter()
        .map(|v| cond(b, p.kind, &p.modifier, v, &va, now))
        .collect();
    format!("{a}.pkey IN ({keys}) AND {}", or(conds))
}

/// `_id` and `_lastUpdated` on resource alias `r`.
fn table_param(b: &mut B<'_>, p: &ParamFilter, r: &str, now: i64) -> String {
    let c = if p.code == "_id" {
        let ids: Vec<String> = p
            .values
            .iter()
            .filter_map(|v| match v {
                Value::Token { code: Some(c), .. } => Some(c.clone()),
                _ => None,
            })
            .collect();
        format!("{r}.id IN ({})", b.texts(&ids))
    } else {
        let lu = format!("{r}.last_updated");
        let conds: Vec<String> = p
            .values
            .iter()
            .filter_map(|v| match v {
                Value::Date { prefix, lo, hi } => Some(date_cond(
                    b,
                    &lu,
                    &format!("({lu} + 1)"),
                    *prefix,
                    *lo,
                    *hi,
                    now,
                )),
                _ => None,
            })
            .collect();
        or(conds)
    };
    match p.modifier {
        Modifier::Not => format!("NOT ({c})"),
        Modifier::Missing(true) => "0 = 1".into(),
        Modifier::Missing(false) => "1 = 1".into(),
        _ => c,
    }
}

fn composite(b: &mut B<'_>, p: &ParamFilter, r: &str, now: i64) -> String {
    let mut alts = Vec::new();
    for v in &p.values {
        let Value::Composite(parts) = v else { continue };
        let mut from = Vec::new();
        let mut wh = Vec::new();
        let mut first: Option<String> = None;
        for ((kind, keys), part) in p.components.iter().zip(parts) {
            let a = b.fresh("c");
            let k = b.ints(keys);
            match &first {
                None => {
                    from.push(b.d.by_rid(table(*kind), &a));
                    wh.push(format!("{a}.rid = {r}.rid"));
                    first = Some(a.clone());
                }
                Some(f) => from.push(format!(
                    "JOIN {} {a} ON {a}.rid = {f}.rid AND {a}.grp = {f}.grp",
                    table(*kind)
                )),
            }
            wh.push(format!("{a}.pkey IN ({k})"));
            let hid = b.d.hidden(&a);
            wh.push(cond(b, *kind, &Modifier::None, part, &hid, now));
        }
        alts.push(format!(
            "EXISTS (SELECT 1 FROM {} WHERE {})",
            from.join(" "),
            wh.join(" AND ")
        ));
    }
    if p.modifier == Modifier::Missing(true) || p.modifier == Modifier::Missing(false) {
        let Some((kind, keys)) = p.components.first() else {
            return "0 = 1".into();
        };
        let a = b.fresh("c");
        let k = b.ints(keys);
        let from = b.d.by_rid(table(*kind), &a);
        let e =
            format!("EXISTS (SELECT 1 FROM {from} WHERE {a}.rid = {r}.rid AND {a}.pkey IN ({k}))");
        return if p.modifier == Modifier::Missing(true) {
            format!("NOT {e}")
        } else {
            e
        };
    }
    or(alts)
}

/// Whether resource alias `r` has index rows matching `p`'s values (positively).
fn rows_exist(b: &mut B<'_>, p: &ParamFilter, r: &str, now: i64) -> String {
    let a = b.fresh("x");
    let rows = param_rows(b, p, &a, now, true);
    let from = b.d.by_rid(table(p.kind), &a);
    format!("EXISTS (SELECT 1 FROM {from} WHERE {a}.rid = {r}.rid AND {rows})")
}

/// A boolean condition on resource alias `r`, one of `types`.
fn pred(b: &mut B<'_>, f: &Filter, r: &str, types: &[String], now: i64) -> String {
    match f {
        Filter::Param(p) if p.code == "_id" || p.code == "_lastUpdated" => {
            table_param(b, p, r, now)
        }
        Filter::Param(p) if p.kind == K::Composite => composite(b, p, r, now),
        Filter::Param(p) => {
            let e = match fts::involved(b, p.kind, types) {
                None => rows_exist(b, p, r, now),
                Some(true) => fts::member(b, p, r),
                Some(false) => {
                    let in_fts = fts::member(b, p, r);
                    let rows = rows_exist(b, p, r, now);
                    format!("(CASE WHEN {r}.rtype = '{AUDIT_TYPE}' THEN {in_fts} ELSE {rows} END)")
                }
            };
            if negated(p) { format!("NOT {e}") } else { e }
        }
        Filter::Chain {
            pkeys,
            targets,
            inner,
        } => {
            let (c, t) = (b.fresh("f"), b.fresh("t"));
            let keys = b.ints(pkeys);
            let types = b.texts(targets);
            let inner = pred(b, inner, &t, targets, now);
            let from = b.d.by_rid("idx_ref", &c);
            format!(
                "EXISTS (SELECT 1 FROM {from} JOIN resources {t} ON {t}.rtype = {c}.ttype \
                 AND {t}.id = {c}.tid WHERE {c}.rid = {r}.rid AND {c}.pkey IN ({keys}) \
                 AND {c}.ttype IN ({types}) AND {t}.deleted = 0 AND {inner})"
            )
        }
        Filter::Has {
            rtype,
            pkeys,
            inner,
        } => {
            let (h, s) = (b.fresh("h"), b.fresh("s"));
            let keys = b.ints(pkeys);
            let inner = pred(b, inner, &s, std::slice::from_ref(rtype), now);
            format!(
                "EXISTS (SELECT 1 FROM idx_ref {h} JOIN resources {s} ON {s}.rid = {h}.rid \
                 WHERE {h}.pkey IN ({keys}) AND {h}.ttype = {r}.rtype AND {h}.tid = {r}.id \
                 AND {inner})"
            )
        }
        Filter::Any(groups) => {
            let alts: Vec<String> = groups
                .iter()
                .map(|g| {
                    let all: Vec<String> = g.iter().map(|f| pred(b, f, r, types, now)).collect();
                    if all.is_empty() {
                        "1 = 1".to_owned()
                    } else {
                        format!("({})", all.join(" AND "))
                    }
                })
                .collect();
            if alts.is_empty() {
                "1 = 0".to_owned()
            } else {
                format!("({})", alts.join(" OR "))
            }
        }
    }
}

/// `q`'s positive top-level conditions that the full-text index alone answers (AuditEvent
/// is the only type): each can drive a page.
fn full_text_filters<'q>(b: &B<'_>, q: &'q SearchQuery) -> Vec<&'q ParamFilter> {
    q.filters
        .iter()
        .filter_map(|f| match f {
            Filter::Param(p) if !negated(p) && fts::involved(b, p.kind, &q.types) == Some(true) => {
                Some(p)
            }
            _ => None,
        })
        .collect()
}

/// A rid set for a positive filter (used to drive the query), when it has one.
fn set(b: &mut B<'_>, f: &Filter, types: &[String], now: i64) -> Option<String> {
    match f {
        Filter::Param(p) if p.code == "_id" && p.modifier == Modifier::None => {
            let x = b.fresh("i");
            let t = b.texts(types);
            let c = table_param(b, p, &x, now);
            Some(format!(
                "SELECT {x}.rid FROM resources {x} WHERE {x}.rtype IN ({t}) AND {c}"
            ))
        }
        Filter::Param(p)
            if !negated(p)
                && p.kind != K::Composite
                && p.code != "_lastUpdated"
                && p.modifier != Modifier::Missing(false) =>
        {
            let in_fts = fts::involved(b, p.kind, types);
            if in_fts == Some(true) {
                return Some(fts::rids(b, p));
            }
            let a = b.fresh("x");
            let rows = param_rows(b, p, &a, now, false);
            let from_rows = format!("SELECT {a}.rid FROM {} {a} WHERE {rows}", table(p.kind));
            Some(match in_fts {
                Some(_) => format!("{from_rows} UNION ALL {}", fts::rids(b, p)),
                None => from_rows,
            })
        }
        Filter::Chain {
            pkeys,
            targets,
            inner,
        } => {
            let inner = set(b, inner, targets, now)?;
            let (c, t) = (b.fresh("f"), b.fresh("t"));
            let keys = b.ints(pkeys);
            let join = b.d.ordered_join();
            // Drive from the (few) matching targets to the references that point at them.
            Some(format!(
                "SELECT {c}.rid FROM resources {t} {join} idx_ref {c} ON {c}.pkey IN ({keys}) \
                 AND {c}.tid = {t}.id AND {c}.ttype = {t}.rtype WHERE {t}.rid IN ({inner})"
            ))
        }
        Filter::Has {
            rtype,
            pkeys,
            inner,
        } => {
            let inner = set(b, inner, std::slice::from_ref(rtype), now)?;
            let (h, t) = (b.fresh("h"), b.fresh("t"));
            let keys = b.ints(pkeys);
            let from = b.d.by_rid("idx_ref", &h);
            let join = b.d.ordered_join();
            // Drive from the matching referrers to the resources they point at.
            Some(format!(
                "SELECT {t}.rid FROM {from} {join} resources {t} ON {t}.rtype = {h}.ttype \
                 AND {t}.id = {h}.tid WHERE {h}.rid IN ({inner}) AND {h}.pkey IN ({keys})"
            ))
        }
        Filter::Param(_) | Filter::Any(_) => None,
    }
}

/// How selective a filter is likely to be (lower drives the query).
fn rank(f: &Filter) -> Option<u8> {
    match f {
        Filter::Param(p) if negated(p) || matches!(p.modifier, Modifier::Missing(_)) => None,
        Filter::Param(p) if p.kind == K::Composite || p.code == "_lastUpdated" => None,
        Filter::Param(p) if p.code == "_id" => Some(0),
        Filter::Param(p) => Some(match p.kind {
            K::Reference => 1,
            K::Token
                if p.values.iter().all(|v| {
                    matches!(
                        v,
                        Value::Token {
                            system: TokenSystem::Is(_),
                            code: Some(_)
                        }
                    )
                }) =>
            {
                2
            }
            K::String if p.modifier == Modifier::Exact => 2,
            K::String | K::Uri => 3,
            K::Token => 4,
            _ => 6,
        }),
        Filter::Chain { inner, .. } | Filter::Has { inner, .. } => rank(inner).map(|r| r.max(5)),
        Filter::Any(_) => None,
    }
}

fn driver(q: &SearchQuery) -> Option<usize> {
    q.filters
        .iter()
        .enumerate()
        .filter_map(|(i, f)| rank(f).map(|r| (r, i)))
        .min()
        .map(|(_, i)| i)
}

/// The shared WHERE clause on `r` (types, snapshot, filters), without paging.
pub(super) fn where_clause(
    b: &mut B<'_>,
    q: &SearchQuery,
    snapshot: i64,
    skip_driver: bool,
) -> String {
    let mut w = vec![
        "r.deleted = 0".to_owned(),
        format!("r.rid <= {}", b.int(snapshot)),
    ];
    let drv = if skip_driver { driver(q) } else { None };
    let mut added = None;
    if let Some(i) = drv
        && let Some(f) = q.filters.get(i)
        && let Some(s) = set(b, f, &q.types, q.now_us)
    {
        w.push(format!("r.rid IN ({s})"));
        added = Some(i);
    }
    if q.types.len() < ward_spec::r4().resource_types().len() {
        // With a driving set, the type test must not steer the planner to the type index
        // (that would visit every resource of the type): unary `+` hides the column. A
        // date-sort page reads resources by rid, or drives from a set.
        let col = if added.is_some() || b.hide_type {
            format!("{}.rtype", b.d.hidden("r"))
        } else {
            "r.rtype".to_owned()
        };
        w.push(format!("{col} IN ({})", b.texts(&q.types)));
    }
    for (i, f) in q.filters.iter().enumerate() {
        if Some(i) != added {
            let p = pred(b, f, "r", &q.types, q.now_us);
            w.push(p);
        }
    }
    w.join(" AND ")
}

/// `SELECT count(*)` of every match.
pub fn count_sql(q: &SearchQuery, snapshot: i64, d: &dyn Dialect) -> Sql {
    let mut b = B::new(d);
    let w = where_clause(&mut b, q, snapshot, true);
    Sql {
        text: format!("SELECT count(*) FROM resources r WHERE {w}"),
        binds: b.binds,
    }
}

/// The shape of a page query's result: `rid` then one column per sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageShape {
    /// Ordered by rid (no `_sort`).
    ByRid,
    /// The fast path for one date sort key: `phase` 0 walks the sort index, 1 the rest.
    DateSort { phase: u8 },
    /// Generic sort keys, computed per match.
    Keys(usize),
}

/// Which query shape a search uses.
pub fn shape(q: &SearchQuery) -> PageShape {
    match q.sort.as_slice() {
        [] => PageShape::ByRid,
        [k] if k.kind == K::Date
            && k.code != "_lastUpdated"
            && driver(q)
                .and_then(|i| q.filters.get(i))
                .and_then(rank)
                .is_none_or(|r| r > 3) =>
        {
            PageShape::DateSort {
                phase: q.page.as_ref().map_or(0, |p| p.phase),
            }
        }
        keys => PageShape::Keys(keys.len()),
    }
}

/// The page query: `limit` rows of `rid[, keys…]` after the query's page position.
pub fn page_sql(
    q: &SearchQuery,
    snapshot: i64,
    shape: PageShape,
    limit: usize,
    d: &dyn Dialect,
) -> Sql {
    let mut b = B::new(d);
    let lim = i64::try_from(limit).unwrap_or(i64::MAX);
    let text = match shape {
        PageShape::ByRid => {
            let w = where_clause(&mut b, q, snapshot, true);
            let after = q.page.as_ref().map_or(0, |p| p.rid);
            let a = b.int(after);
            let l = b.int(lim);
            format!(
                "SELECT r.rid FROM resources r WHERE {w} AND r.rid > {a} ORDER BY r.rid LIMIT {l}"
            )
        }
        PageShape::DateSort { phase } => date_sort(&mut b, q, snapshot, phase, lim),
        PageShape::Keys(_) => keyed(&mut b, q, snapshot, lim),
    };
    Sql {
        text,
        binds: b.binds,
    }
}
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::search::{ParseOptions, parse};

    fn q(t: &str, params: &[(&str, &str)]) -> SearchQuery {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let o = ParseOptions {
            base_url: "https://w/fhir",
            now_us: 0,
            default_count: 10,
            max_count: 100,
            strict: true,
            registry: None,
        };
        parse(Some(&[t]), &params, &o).unwrap().query
    }

    #[test]
    fn drives_from_the_most_selective_filter() {
        let query = q(
            "Observation",
            &[("code", "http://loinc.org|1"), ("patient", "p1")],
        );
        let sql = page_sql(&query, 99, shape(&query), 11, &Sqlite);
        assert!(sql.text.contains("r.rid IN (SELECT x"), "{}", sql.text);
        assert!(sql.text.contains("FROM idx_ref"));
        assert!(sql.binds.contains(&Bind::Text("p1".into())));
        assert_eq!(
            shape(&q("Observation", &[("date", "ge2020"), ("_sort", "-date")])),
            PageShape::DateSort { phase: 0 }
        );
        assert_eq!(
            shape(&q("Observation", &[("patient", "x"), ("_sort", "-date")])),
            PageShape::Keys(1)
        );
    }

    #[test]
    fn a_date_sort_walk_is_bounded_by_its_own_date_filters() {
        let walk = |params: &[(&str, &str)]| {
            let query = q("Observation", params);
            assert_eq!(shape(&query), PageShape::DateSort { phase: 0 });
            page_sql(&query, 99, shape(&query), 11, &Sqlite).text
        };
        let both = walk(&[("date", "ge2017"), ("date", "lt2018"), ("_sort", "-date")]);
        assert!(
            both.contains("s.lo < ?") && both.contains("s.hi > ?"),
            "{both}"
        );
        // one value without a bound (ne) leaves its side open; another parameter bounds nothing
        let open = walk(&[("date", "lt2017,ne2019"), ("_sort", "date")]);
        assert!(
            !open.contains("s.lo <") && !open.contains("s.hi >"),
            "{open}"
        );
        let other = walk(&[("_lastUpdated", "ge2017"), ("_sort", "date")]);
        assert!(
            !other.contains("s.lo <") && !other.contains("s.hi >"),
            "{other}"
        );
        let eq = walk(&[("date", "2017"), ("_sort", "date")]);
        assert!(eq.contains("s.lo < ?") && eq.contains("s.hi > ?"), "{eq}");
    }

    #[test]
    fn audit_full_text_conditions_take_their_form_from_the_query() {
        let sql = |params: &[(&str, &str)]| {
            let query = q("AuditEvent", params);
            page_sql(&query, 99, shape(&query), 11, &Sqlite)
        };
        // under a date walk: windows of 64 rids a row (11 rows) below the newest, then 4,
        // 16, … 4⁷ times that, then the whole set
        let walk = sql(&[("_sort", "-date"), ("outcome", "0")]).text;
        assert!(
            walk.contains("(CASE WHEN r.rid >= (SELECT max(rid) FROM ae_keys) - 704 THEN"),
            "{walk}"
        );
        for span in [704, 2816, 11_534_336] {
            let window = format!("AND rowid >= (SELECT max(rid) FROM ae_keys) - {span})");
            assert!(walk.contains(&window), "{walk}");
        }
        assert!(walk.contains("ELSE r.rid IN (SELECT rowid FROM ae_fts WHERE ae_fts MATCH ?"));
        let up = sql(&[("_sort", "date"), ("outcome", "0")]).text;
        assert!(
            up.contains("AND rowid <= (SELECT min(rid) FROM ae_keys) + 704)"),
            "{up}"
        );
        // not walking: a set
        let set = sql(&[("outcome", "0"), ("action", "R")]).text;
        assert!(
            !set.contains("CASE WHEN") && !set.contains("rowid >="),
            "{set}"
        );
        assert!(
            set.contains("SELECT rowid FROM ae_fts WHERE ae_fts MATCH ?"),
            "{set}"
        );
        // many values: one full-text query each, from a JSON list bound once
        let codes: Vec<String> = (0..17).map(|i| i.to_string()).collect();
        let many = sql(&[("outcome", &codes.join(","))]);
        assert!(many.text.contains("json_each(?"), "{}", many.text);
        let lists = many
            .binds
            .iter()
            .filter_map(|b| match b {
                Bind::Text(t) => serde_json::from_str::<Vec<String>>(t).ok(),
                _ => None,
            })
            .collect::<Vec<_>>();
        assert_eq!(lists.iter().map(Vec::len).collect::<Vec<_>>(), [17]);
        let few = sql(&[("outcome", &codes[..16].join(","))]).text;
        assert!(!few.contains("json_each"), "{few}");
        // `:contains`: one full-text query per term of the key found in the vocabulary
        let contains = sql(&[("address:contains", "1")]).text;
        assert!(
            contains.contains("FROM ae_vocab v JOIN ae_fts f ON f.ae_fts MATCH"),
            "{contains}"
        );
        assert!(!contains.contains("group_concat"), "{contains}");
    }

    #[test]
    fn approx() {
        assert_eq!(approx_number(100.0), (90.0, 110.0));
        let (lo, hi) = approx_range(0, 10, 0);
        assert!(lo < 0 && hi > 10);
    }
}
