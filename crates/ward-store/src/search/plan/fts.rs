//! AuditEvent's string, token and uri conditions on a backend that keeps them in a full-text
//! index (`ae_fts`, with `ae_vocab` over its terms and `ae_keys` for sort keys; see
//! [`crate::index::fts`]). Each condition becomes a set of AuditEvent rids: the documents
//! that match one full-text query, built from the values exactly as [`super::cond`] builds
//! its conditions on index rows.

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
/// and `:missing=true` are negated by the caller, as for index rows). A condition that does
/// not drive is this set too, read once a query: checked document by document (`MATCH …
/// AND rowid = r.rid`), FTS5 opens every term's document lists again for each candidate,
/// ~117 µs a check (`action=R&outcome=0&_summary=count`: 13.6 s against 0.1 s as a set, on
/// 120,000 AuditEvents). A set costs ~0.25 µs a match to read, which a date-sort walk pays
/// in full before its first page (`_sort=-date&outcome=0&_count=10`: 0.030 s against 0.012 s
/// checked one by one): 012 "FTS5 as the value path", what is weak.
pub(super) fn rids(b: &mut B<'_>, p: &ParamFilter) -> String {
    let m = query(b, p);
    format!("SELECT rowid FROM ae_fts WHERE ae_fts MATCH {m}")
}

/// An SQL expression whose value is the full-text query for `p`.
fn query(b: &mut B<'_>, p: &ParamFilter) -> String {
    let mut phrases: Vec<String> = Vec::new();
    let mut scans: Vec<String> = Vec::new();
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
                value(b, p.kind, &p.modifier, v, k, &mut phrases, &mut scans);
            }
        }
    }
    let mut parts = Vec::new();
    if !phrases.is_empty() {
        parts.push(b.text(&phrases.join(" OR ")));
    }
    parts.extend(scans);
    if parts.is_empty() {
        return b.text(NOTHING);
    }
    parts.join(" || ' OR ' || ")
}

/// The phrases (or, for `:contains`, the scans of the terms) one value asks for under key `k`.
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

/// The terms of key `k` in form `f` whose value contains `needle`, as a full-text query (a
/// scan of the index's terms of that key, never of its documents).
fn contains(b: &mut B<'_>, f: (char, char), k: i64, needle: &str) -> String {
    let lo = head(f, k);
    let hi = prefix_upper(&lo);
    let (lo, hi, n) = (b.text(&lo), b.text(&hi), b.text(needle));
    let start = fts::HEAD_LEN + 1;
    let cond =
        b.d.contains(&format!("CAST(unhex(substr(term, {start})) AS TEXT)"), &n);
    format!(
        "(SELECT coalesce(group_concat('\"' || term || '\"', ' OR '), '{NOTHING}') \
         FROM ae_vocab WHERE term >= {lo} AND term < {hi} AND {cond})"
    )
}

/// A correlated sort key of AuditEvent `r` for `k` (NULL when it has no value).
pub(super) fn key_expr(b: &mut B<'_>, k: &SortKey) -> String {
    let pkey = crate::index::param_key(AUDIT_TYPE, &k.code);
    let i = usize::from(k.descending);
    let path = b.text(&format!("$.\"{pkey}\"[{i}]"));
    format!("(SELECT json_extract(ak.keys, {path}) FROM ae_keys ak WHERE ak.rid = r.rid)")
}
