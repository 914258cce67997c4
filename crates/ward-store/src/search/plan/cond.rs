//! The condition one search value puts on an index row, per parameter type and prefix
//! (search.html#prefix, #string, #token, #reference, #quantity, #uri).

use ward_spec::SearchParamType as K;

use super::{B, or};
use crate::index::text::prefix_upper;
use crate::search::model::{Modifier, Prefix, TokenSystem, Value};

/// The condition one value puts on a row of alias `a` of the parameter's table.
pub(super) fn cond(b: &mut B<'_>, kind: K, m: &Modifier, v: &Value, a: &str, now: i64) -> String {
    match (kind, v) {
        (K::String, Value::Str(s)) => string_cond(b, m, s, a),
        (K::Token, Value::Token { system, code }) => token_cond(b, a, system, code.as_deref()),
        (K::Token, Value::Codes(codes)) => or(codes
            .iter()
            .map(|(s, c)| {
                let sys = s.clone().map_or(TokenSystem::Any, TokenSystem::Is);
                token_cond(b, a, &sys, Some(c))
            })
            .collect()),
        (K::Reference, Value::Ref { ttype, id }) => match ttype {
            Some(t) => format!("({a}.tid = {} AND {a}.ttype = {})", b.text(id), b.text(t)),
            None => format!("{a}.tid = {}", b.text(id)),
        },
        (K::Reference, Value::Url { url, ver }) => {
            let u = b.text(url);
            match ver {
                Some(v) => format!(
                    "({a}.tid = {u} AND {a}.ttype IS NULL AND {a}.ver = {})",
                    b.text(v)
                ),
                None => format!("({a}.tid = {u} AND {a}.ttype IS NULL)"),
            }
        }
        (K::Date, Value::Date { prefix, lo, hi }) => {
            let (tlo, thi) = (format!("{a}.lo"), format!("{a}.hi"));
            date_cond(b, &tlo, &thi, *prefix, *lo, *hi, now)
        }
        (
            K::Number,
            Value::Number {
                prefix,
                value,
                lo,
                hi,
            },
        ) => number_cond(b, &format!("{a}.value"), *prefix, *value, *lo, *hi),
        (K::Quantity, Value::Quantity { .. }) => quantity_cond(b, v, a),
        (K::Uri, Value::Uri(u)) => uri_cond(b, m, u, a),
        _ => "0 = 1".into(),
    }
}

fn string_cond(b: &mut B<'_>, m: &Modifier, s: &str, a: &str) -> String {
    match m {
        Modifier::Exact => format!("{a}.exact = {}", b.text(s)),
        Modifier::Contains => {
            let p = b.text(s);
            b.d.contains(&format!("{a}.norm"), &p)
        }
        _ => {
            let (lo, hi) = (b.text(s), b.text(&prefix_upper(s)));
            format!("({a}.norm >= {lo} AND {a}.norm < {hi})")
        }
    }
}

fn quantity_cond(b: &mut B<'_>, v: &Value, a: &str) -> String {
    let Value::Quantity {
        prefix,
        value,
        lo,
        hi,
        system,
        code,
    } = v
    else {
        return "0 = 1".into();
    };
    let mut parts = vec![number_cond(
        b,
        &format!("{a}.value"),
        *prefix,
        *value,
        *lo,
        *hi,
    )];
    if let Some(s) = system {
        parts.push(format!("{a}.system = {}", b.text(s)));
    }
    if let Some(c) = code {
        let p = b.text(c);
        parts.push(if system.is_some() {
            format!("{a}.code = {p}")
        } else {
            format!("({a}.code = {p} OR {a}.unit = {p})")
        });
    }
    format!("({})", parts.join(" AND "))
}

fn uri_cond(b: &mut B<'_>, m: &Modifier, u: &str, a: &str) -> String {
    match m {
        Modifier::Below => {
            let (lo, hi) = (b.text(u), b.text(&prefix_upper(u)));
            format!("({a}.uri >= {lo} AND {a}.uri < {hi})")
        }
        Modifier::Above => {
            let prefixes: Vec<String> = uri_prefixes(u);
            format!("{a}.uri IN ({})", b.texts(&prefixes))
        }
        Modifier::Contains => {
            let p = b.text(u);
            b.d.contains(&format!("{a}.uri"), &p)
        }
        _ => format!("{a}.uri = {}", b.text(u)),
    }
}

/// Every prefix of `u` at a `/` boundary, and `u` itself (`:above`).
pub(super) fn uri_prefixes(u: &str) -> Vec<String> {
    let mut out: Vec<String> = u
        .match_indices('/')
        .map(|(i, _)| u.get(..i).unwrap_or_default().to_owned())
        .filter(|p| !p.is_empty() && !p.ends_with(':') && !p.ends_with('/'))
        .collect();
    out.push(u.to_owned());
    out
}

fn token_cond(b: &mut B<'_>, a: &str, system: &TokenSystem, code: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(c) = code {
        parts.push(format!("{a}.code = {}", b.text(c)));
    }
    match system {
        TokenSystem::Any => {}
        TokenSystem::Absent => parts.push(format!("{a}.system IS NULL")),
        TokenSystem::Is(s) => parts.push(format!("{a}.system = {}", b.text(s))),
    }
    format!("({})", parts.join(" AND "))
}

/// Range semantics of search.html#prefix for a target range `[tlo, thi)` and a search range
/// `[lo, hi)`.
pub(super) fn date_cond(
    b: &mut B<'_>,
    tlo: &str,
    thi: &str,
    p: Prefix,
    lo: i64,
    hi: i64,
    now: i64,
) -> String {
    let (l, h) = (b.int(lo), b.int(hi));
    match p {
        Prefix::Eq => format!("({tlo} >= {l} AND {thi} <= {h})"),
        Prefix::Ne => format!("NOT ({tlo} >= {l} AND {thi} <= {h})"),
        Prefix::Gt => format!("{thi} > {h}"),
        Prefix::Lt => format!("{tlo} < {l}"),
        Prefix::Ge => format!("({thi} > {l} AND ({thi} > {h} OR {tlo} >= {l}))"),
        Prefix::Le => format!("({tlo} < {h} AND ({tlo} < {l} OR {thi} <= {h}))"),
        Prefix::Sa => format!("{tlo} >= {h}"),
        Prefix::Eb => format!("{thi} <= {l}"),
        Prefix::Ap => {
            let (wlo, whi) = approx_range(lo, hi, now);
            let (wl, wh) = (b.int(wlo), b.int(whi));
            format!("({tlo} < {wh} AND {thi} > {wl})")
        }
    }
}

/// What one date value with prefix `p` and search range `[lo, hi)` implies for a resource's
/// sort row — the lowest start `S.lo` and highest end `S.hi` of its values of the parameter —
/// when one of those values matches ([`date_cond`]): `(a, b)` for `S.lo < a` and `S.hi > b`,
/// either absent when the prefix bounds nothing on that side. They are necessary conditions
/// only; the date filter itself still decides. Eq, Sa and Eb rely on every date row having
/// `lo <= hi` (a Period's end is raised to its start when it is earlier).
pub(super) fn sort_row_bounds(p: Prefix, lo: i64, hi: i64, now: i64) -> (Option<i64>, Option<i64>) {
    match p {
        // S.lo <= tlo <= thi <= hi, and S.hi >= thi >= tlo >= lo
        Prefix::Eq => (Some(hi.saturating_add(1)), Some(lo.saturating_sub(1))),
        Prefix::Ne => (None, None),
        Prefix::Gt => (None, Some(hi)),
        Prefix::Lt => (Some(lo), None),
        Prefix::Ge => (None, Some(lo)),
        Prefix::Le => (Some(hi), None),
        // S.hi >= thi >= tlo >= hi
        Prefix::Sa => (None, Some(hi.saturating_sub(1))),
        // S.lo <= tlo <= thi <= lo
        Prefix::Eb => (Some(lo.saturating_add(1)), None),
        Prefix::Ap => {
            let (wlo, whi) = approx_range(lo, hi, now);
            (Some(whi), Some(wlo))
        }
    }
}

/// `ap` on dates: the search range widened by 10% of its distance from now (at least a day).
pub fn approx_range(lo: i64, hi: i64, now: i64) -> (i64, i64) {
    let gap = (now.saturating_sub(lo)).unsigned_abs() / 10;
    let w = i64::try_from(gap).unwrap_or(i64::MAX).max(86_400_000_000);
    (lo.saturating_sub(w), hi.saturating_add(w))
}

/// `ap` on numbers: within 10% of the value.
pub fn approx_number(value: f64) -> (f64, f64) {
    let w = value.abs() / 10.0;
    (value - w, value + w)
}

fn number_cond(b: &mut B<'_>, col: &str, p: Prefix, value: f64, lo: f64, hi: f64) -> String {
    match p {
        Prefix::Eq => format!("({col} >= {} AND {col} < {})", b.real(lo), b.real(hi)),
        Prefix::Ne => format!("NOT ({col} >= {} AND {col} < {})", b.real(lo), b.real(hi)),
        Prefix::Gt | Prefix::Sa => format!("{col} > {}", b.real(value)),
        Prefix::Lt | Prefix::Eb => format!("{col} < {}", b.real(value)),
        Prefix::Ge => format!("{col} >= {}", b.real(value)),
        Prefix::Le => format!("{col} <= {}", b.real(value)),
        Prefix::Ap => {
            let (l, h) = approx_number(value);
            format!("({col} >= {} AND {col} <= {})", b.real(l), b.real(h))
        }
    }
}
