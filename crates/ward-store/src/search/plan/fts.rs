//! AuditEvent's string, token and uri conditions on a backend that keeps them in a full-text
//! index (`ae_fts`, with `ae_vocab` over its terms and `ae_keys` for sort keys; see
//! [`crate::index::fts`]). Each condition becomes a set of AuditEvent rids: the documents
//! that match full-text queries built from the values exactly as [`super::cond`] builds its
//! conditions on index rows; under a walk in date order, over windows of the newest (or
//! oldest) rids first ([`member`]).

use ward_spec::SearchParamType as K;

use super::B;
use crate::index::fts::{self, AUDIT_TYPE, NOTHING, form, head, phrase, term};
use crate::index::text::prefix_upper;
use crate::search::model::{Modifier, ParamFilter, SortKey, TokenSystem, Value};

/// Whether the backend keeps `types`' rows of parameters of `kind` in the full-text index:
/// `Some(true)` when AuditEvent is the only type, `Some(false)` when it is one of several,
/// `None` when the index is not involved.
pub(super) fn involved(b: &B<'_>, kind: K, types: &[String]) -> Option<bool> {
    if !b.d.audit_fts() || !matches!(kind, K::String | K::Token | K::Uri) {
        return None;
    }
    types
        .iter()
        .any(|t| t == AUDIT_TYPE)
        .then_some(types.len() == 1)
}

/// The rids of the AuditEvents whose rows match `p`'s values (positively: `:not`, `:not-in`
/// and `:missing=true` are negated by the caller, as for index rows), as a `SELECT` of one
/// column; a rid may come more than once. A condition that does not drive is this set too
/// ([`member`]).
pub(super) fn rids(b: &mut B<'_>, p: &ParamFilter) -> String {
    let (one, each) = sources(b, p);
    union(one.as_deref(), each)
}

fn union(one: Option<&str>, each: Vec<String>) -> String {
    let mut all: Vec<String> = one
        .map(|m| format!("SELECT rowid FROM ae_fts WHERE ae_fts MATCH {m}"))
        .into_iter()
        .collect();
    all.extend(each);
    all.join(" UNION ALL ")
}

/// Most phrases in one full-text query; beyond this many, each phrase is its own query. On
/// SQLite 3.40, FTS5 evaluated an `OR` of `n` phrases in `O(n)` a match: 16,000 one-match
/// phrases took 1.8 s as one `OR` against 0.08 s one query a phrase. The bundled SQLite 3.54
/// did not show it: a `:contains` over 20,000 one-match terms of 20,000 AuditEvents took
/// 0.59–0.64 s as one `OR` and 0.64–0.68 s one query a term (60,000: 1.02–1.18 s and
/// 0.93–0.97 s; 78 terms: 0.039 s and 0.019–0.022 s). So it guards against the older
/// behaviour and costs nothing measured here.
const PHRASES_PER_QUERY: usize = 16;

/// Where `p`'s matches come from: one full-text query (an SQL expression of its text), when
/// the values make one, and `SELECT`s of rids: one query per phrase when there are many,
/// and for each `:contains` one query per term of the key that contains the text.
fn sources(b: &mut B<'_>, p: &ParamFilter) -> (Option<String>, Vec<String>) {
    let mut phrases: Vec<String> = Vec::new();
    let mut each: Vec<String> = Vec::new();
    if matches!(p.modifier, Modifier::Missing(_)) {
        let f = match p.kind {
            K::String => form::STRING_NORM,
            K::Token => form::TOKEN_CODE,
            _ => form::URI,
        };
        phrases.extend(p.pkeys.iter().map(|k| phrase(&head(f, *k), true)));
    } else {
        for &k in &p.pkeys {
            for v in &p.values {
                value(b, p.kind, &p.modifier, v, k, &mut phrases, &mut each);
            }
        }
    }
    if phrases.len() > PHRASES_PER_QUERY {
        let list = b.text(&serde_json::Value::from(phrases).to_string());
        each.push(format!(
            "SELECT f.rowid FROM json_each({list}) q JOIN ae_fts f ON f.ae_fts MATCH q.value"
        ));
        return (None, each);
    }
    if phrases.is_empty() && each.is_empty() {
        phrases.push(NOTHING.to_owned());
    }
    let one = (!phrases.is_empty()).then(|| b.text(&phrases.join(" OR ")));
    (one, each)
}

/// The full-text query of `p` (an SQL expression of its text) when its matches come from one.
/// Otherwise nothing of `p` is bound: the statement must not carry values it never names.
pub(super) fn single(b: &mut B<'_>, p: &ParamFilter) -> Option<String> {
    let bound = b.binds.len();
    match sources(b, p) {
        (Some(m), each) if each.is_empty() => Some(m),
        _ => {
            b.binds.truncate(bound);
            None
        }
    }
}

/// AuditEvent rids a walk's first window spans per row the walk asks for ([`member`]).
const WINDOW_PER_ROW: i64 = 64;
/// Each window of a walk spans this many times the one before; after the last, the set.
const WINDOW_GROWTH: i64 = 4;
const WINDOWS: u32 = 8;

/// A condition that AuditEvent `r` matches `p`: membership of the set of [`rids`], read
/// once a query (SQLite builds an `IN` set on first use).
///
/// Under a walk in date order that stops after `L` rows (`B::walk`), and when the matches
/// come from one full-text query, the set is read over windows of the newest rids (oldest,
/// for an ascending walk) first: `WINDOW_PER_ROW · L` rids from the highest an AuditEvent
/// has, then 4, 16, … 4⁷ times that, then all. An AuditEvent's `date` is its record's time
/// and its rid follows the chain, so a walk's candidates come in about rid order, and the
/// walk reads only the windows it reaches, each once: a common value costs about the
/// matches among the rids it walked, not all of them (a value too rare to fill a page soon
/// drives the page instead, `page::date_sort`). Checking candidates one by one
/// (`MATCH … AND rowid = r.rid`) was measured and is no way out: FTS5 steps through each
/// segment's document list up to the rowid, ~1–3 ms a check at the newest rowids on 107,000
/// AuditEvents, ~0.2 ms at the oldest (012 "FTS5 as the value path").
pub(super) fn member(b: &mut B<'_>, p: &ParamFilter, r: &str) -> String {
    let walk = b.walk;
    let (one, each) = sources(b, p);
    let (Some((limit, descending)), Some(m), true) = (walk, &one, each.is_empty()) else {
        return format!("{r}.rid IN ({})", union(one.as_deref(), each));
    };
    let mut span = WINDOW_PER_ROW.saturating_mul(limit.max(1));
    let mut arms = String::new();
    for _ in 0..WINDOWS {
        let inside = window(span, descending);
        arms.push_str(&format!(
            " WHEN {r}.rid {inside} THEN {r}.rid IN (SELECT rowid FROM ae_fts \
             WHERE ae_fts MATCH {m} AND rowid {inside})"
        ));
        span = span.saturating_mul(WINDOW_GROWTH);
    }
    format!("(CASE{arms} ELSE {r}.rid IN (SELECT rowid FROM ae_fts WHERE ae_fts MATCH {m}) END)")
}

/// The test that a rid is within `span` of the newest AuditEvent's (oldest, ascending), as
/// the right side of a comparison: `>= (SELECT max(rid) FROM ae_keys) - span`.
fn window(span: i64, descending: bool) -> String {
    if descending {
        format!(">= (SELECT max(rid) FROM ae_keys) - {span}")
    } else {
        format!("<= (SELECT min(rid) FROM ae_keys) + {span}")
    }
}

/// [`window`] for the first window of a walk that stops after `limit` rows.
pub(super) fn first_window(limit: i64, descending: bool) -> String {
    window(WINDOW_PER_ROW.saturating_mul(limit.max(1)), descending)
}

/// The phrases (or, for `:contains`, the `SELECT` of its matches) one value asks for under
/// key `k`.
fn value(
    b: &mut B<'_>,
    kind: K,
    m: &Modifier,
    v: &Value,
    k: i64,
    phrases: &mut Vec<String>,
    scans: &mut Vec<String>,
) {
    match (kind, v) {
        (K::String, Value::Str(s)) => match m {
            Modifier::Exact => phrases.push(phrase(&term(form::STRING_EXACT, k, s), false)),
            Modifier::Contains => scans.push(contains(b, form::STRING_NORM, k, s)),
            _ => phrases.push(phrase(&term(form::STRING_NORM, k, s), true)),
        },
        (K::Token, Value::Token { system, code }) => {
            phrases.push(token(k, system, code.as_deref()));
        }
        (K::Token, Value::Codes(codes)) => {
            for (s, c) in codes {
                let sys = s.clone().map_or(TokenSystem::Any, TokenSystem::Is);
                phrases.push(token(k, &sys, Some(c)));
            }
        }
        (K::Uri, Value::Uri(u)) => match m {
            Modifier::Below => phrases.push(phrase(&term(form::URI, k, u), true)),
            Modifier::Above => phrases.extend(
                super::cond::uri_prefixes(u)
                    .iter()
                    .map(|p| phrase(&term(form::URI, k, p), false)),
            ),
            Modifier::Contains => scans.push(contains(b, form::URI, k, u)),
            _ => phrases.push(phrase(&term(form::URI, k, u), false)),
        },
        // (no other value fits these kinds; like `cond`, it matches nothing)
        _ => {}
    }
}

fn token(k: i64, system: &TokenSystem, code: Option<&str>) -> String {
    match (system, code) {
        (TokenSystem::Any, Some(c)) => phrase(&term(form::TOKEN_CODE, k, c), false),
        (TokenSystem::Any, None) => phrase(&head(form::TOKEN_CODE, k), true),
        (TokenSystem::Absent, Some(c)) => phrase(&term(form::TOKEN_NO_SYSTEM, k, c), false),
        (TokenSystem::Absent, None) => phrase(&head(form::TOKEN_NO_SYSTEM, k), true),
        (TokenSystem::Is(s), Some(c)) => {
            phrase(&term(form::TOKEN_SYSTEM, k, &format!("{s}|{c}")), false)
        }
        (TokenSystem::Is(s), None) => phrase(&term(form::TOKEN_SYSTEM, k, &format!("{s}|")), true),
    }
}

/// The rids of the AuditEvents with a term of key `k` in form `f` whose value contains
/// `needle`: a scan of the index's terms of that key, never of its documents, and one
/// full-text query per term found (not one `OR` of them all: see [`PHRASES_PER_QUERY`]).
fn contains(b: &mut B<'_>, f: (char, char), k: i64, needle: &str) -> String {
    let lo = head(f, k);
    let hi = prefix_upper(&lo);
    let (lo, hi, n) = (b.text(&lo), b.text(&hi), b.text(needle));
    let start = fts::HEAD_LEN + 1;
    let cond =
        b.d.contains(&format!("CAST(unhex(substr(v.term, {start})) AS TEXT)"), &n);
    format!(
        "SELECT f.rowid FROM ae_vocab v JOIN ae_fts f ON f.ae_fts MATCH ('\"' || v.term || '\"') \
         WHERE v.term >= {lo} AND v.term < {hi} AND {cond}"
    )
}

/// A correlated sort key of AuditEvent `r` for `k` (NULL when it has no value).
pub(super) fn key_expr(b: &mut B<'_>, k: &SortKey) -> String {
    let pkey = crate::index::param_key(AUDIT_TYPE, &k.code);
    let i = usize::from(k.descending);
    let path = b.text(&format!("$.\"{pkey}\"[{i}]"));
    format!("(SELECT json_extract(ak.keys, {path}) FROM ae_keys ak WHERE ak.rid = r.rid)")
}
