//! Search value syntax per parameter type (search.html#ptypes): escaping, prefixes, tokens,
//! references, dates, numbers, quantities and composites. Errors never echo the value.

use ward_spec::SearchParamType as K;

use super::model::{Modifier, Prefix, TokenSystem, Value};
use crate::index::text::normalize;
use crate::index::time::parse_range;
use crate::index::{decimal, number_range};

/// Why a value is malformed (a stable code and a message without the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadValue(pub &'static str, pub &'static str);

type R<T> = Result<T, BadValue>;

/// Splits at unescaped `sep`, then unescapes `\,` `\|` `\$` `\\` in each part.
pub(crate) fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) if n == sep => cur.push(n),
                Some(n) => {
                    cur.push('\\');
                    cur.push(n);
                }
                None => cur.push('\\'),
            },
            c if c == sep => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

/// Removes the remaining escapes of the reserved characters.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ (',' | '|' | '$' | '\\')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn prefix(s: &str) -> R<(Prefix, &str)> {
    let p = match s.get(..2) {
        Some("eq") => Prefix::Eq,
        Some("ne") => Prefix::Ne,
        Some("gt") => Prefix::Gt,
        Some("lt") => Prefix::Lt,
        Some("ge") => Prefix::Ge,
        Some("le") => Prefix::Le,
        Some("sa") => Prefix::Sa,
        Some("eb") => Prefix::Eb,
        Some("ap") => Prefix::Ap,
        Some(x) if x.bytes().all(|b| b.is_ascii_alphabetic()) => {
            return Err(BadValue("WARD-SEARCH-PREFIX", "unknown comparison prefix"));
        }
        _ => return Ok((Prefix::Eq, s)),
    };
    Ok((p, s.get(2..).unwrap_or_default()))
}

/// Context a value is parsed in.
pub(crate) struct ValueCtx<'a> {
    pub base_url: &'a str,
}

/// Parses one (already comma-split, still escaped) value of a parameter of `kind`.
pub(crate) fn parse_value(kind: K, m: &Modifier, raw: &str, cx: &ValueCtx<'_>) -> R<Value> {
    match kind {
        K::String => Ok(Value::Str(match m {
            Modifier::Exact => unescape(raw),
            _ => normalize(&unescape(raw)),
        })),
        K::Token => token(m, raw),
        K::Reference => reference(m, raw, cx),
        K::Date => date(raw),
        K::Number => number(raw),
        K::Quantity => quantity(raw),
        K::Uri => Ok(Value::Uri(unescape(raw))),
        K::Composite | K::Special => Err(BadValue(
            "WARD-SEARCH-VALUE",
            "composite values are parsed by component",
        )),
    }
}

fn token(m: &Modifier, raw: &str) -> R<Value> {
    match m {
        Modifier::Text => return Ok(Value::Str(normalize(&unescape(raw)))),
        Modifier::In | Modifier::NotIn => return Ok(Value::ValueSet(unescape(raw))),
        _ => {}
    }
    let parts = split_escaped(raw, '|');
    let non_empty = |s: &String| (!s.is_empty()).then(|| s.clone());
    match (m, parts.as_slice()) {
        (Modifier::OfType, [sys, code, value]) => Ok(Value::Token {
            system: non_empty(sys).map_or(TokenSystem::Absent, TokenSystem::Is),
            code: Some(format!("{code}|{value}")),
        }),
        (Modifier::OfType, _) => Err(BadValue(
            "WARD-SEARCH-VALUE",
            ":of-type needs system|code|value",
        )),
        (_, [code]) if !code.is_empty() => Ok(Value::Token {
            system: TokenSystem::Any,
            code: Some(code.clone()),
        }),
        (_, [sys, code]) => {
            let system = if sys.is_empty() {
                TokenSystem::Absent
            } else {
                TokenSystem::Is(sys.clone())
            };
            if system == TokenSystem::Absent && code.is_empty() {
                return Err(BadValue(
                    "WARD-SEARCH-VALUE",
                    "a token needs a code or system",
                ));
            }
            Ok(Value::Token {
                system,
                code: non_empty(code),
            })
        }
        _ => Err(BadValue(
            "WARD-SEARCH-VALUE",
            "a token is code, system|code, |code or system|",
        )),
    }
}

/// Reference values: `id`, `Type/id`, an absolute url (local base → `Type/id`), a canonical
/// `url|version`; `:identifier` takes a token.
fn reference(m: &Modifier, raw: &str, cx: &ValueCtx<'_>) -> R<Value> {
    if *m == Modifier::Identifier {
        return token(&Modifier::None, raw);
    }
    let v = unescape(raw);
    if v.is_empty() {
        return Err(BadValue("WARD-SEARCH-VALUE", "an empty reference"));
    }
    let forced = match m {
        Modifier::Type(t) => Some(t.clone()),
        _ => None,
    };
    let local = v
        .strip_prefix(cx.base_url)
        .and_then(|t| t.strip_prefix('/'))
        .filter(|_| !cx.base_url.is_empty())
        .unwrap_or(&v);
    if local.contains("://") || local.starts_with("urn:") {
        let (url, ver) = match local.split_once('|') {
            Some((u, ver)) => (u.to_owned(), Some(ver.to_owned())),
            None => (local.to_owned(), None),
        };
        return Ok(Value::Url { url, ver });
    }
    let mut parts = local.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(id), None, ..) => Ok(Value::Ref {
            ttype: forced,
            id: id.to_owned(),
        }),
        (Some(t), Some(id), None, _) | (Some(t), Some(id), Some("_history"), Some(_)) => {
            if forced.as_deref().is_some_and(|f| f != t) {
                return Err(BadValue(
                    "WARD-SEARCH-VALUE",
                    "the reference type contradicts the modifier",
                ));
            }
            Ok(Value::Ref {
                ttype: Some(t.to_owned()),
                id: id.to_owned(),
            })
        }
        _ => Err(BadValue("WARD-SEARCH-VALUE", "a malformed reference")),
    }
}

fn date(raw: &str) -> R<Value> {
    let (p, rest) = prefix(raw)?;
    let (lo, hi) = parse_range(&unescape(rest))
        .ok_or(BadValue("WARD-SEARCH-DATE", "a date value is malformed"))?;
    Ok(Value::Date { prefix: p, lo, hi })
}

fn number(raw: &str) -> R<Value> {
    let (p, rest) = prefix(raw)?;
    let d = decimal(rest).ok_or(BadValue(
        "WARD-SEARCH-NUMBER",
        "a number value is malformed",
    ))?;
    let (value, lo, hi) = number_range(d);
    Ok(Value::Number {
        prefix: p,
        value,
        lo,
        hi,
    })
}

fn quantity(raw: &str) -> R<Value> {
    let parts = split_escaped(raw, '|');
    let (num, system, code) = match parts.as_slice() {
        [n] => (n.as_str(), None, None),
        [n, s, c] => (
            n.as_str(),
            (!s.is_empty()).then(|| s.clone()),
            (!c.is_empty()).then(|| c.clone()),
        ),
        _ => {
            return Err(BadValue(
                "WARD-SEARCH-QUANTITY",
                "a quantity is number, or number|system|code",
            ));
        }
    };
    let Value::Number {
        prefix,
        value,
        lo,
        hi,
    } = number(num)?
    else {
        return Err(BadValue(
            "WARD-SEARCH-QUANTITY",
            "a quantity value is malformed",
        ));
    };
    Ok(Value::Quantity {
        prefix,
        value,
        lo,
        hi,
        system,
        code,
    })
}

/// A composite value: components separated by unescaped `$`.
pub(crate) fn composite(kinds: &[K], raw: &str, cx: &ValueCtx<'_>) -> R<Value> {
    let parts = split_escaped_keep(raw, '$');
    if parts.len() != kinds.len() {
        return Err(BadValue(
            "WARD-SEARCH-VALUE",
            "a composite value needs one part per component",
        ));
    }
    kinds
        .iter()
        .zip(parts.iter())
        .map(|(k, p)| parse_value(*k, &Modifier::None, p, cx))
        .collect::<R<Vec<_>>>()
        .map(Value::Composite)
}

/// Splits at unescaped `sep` but keeps other escapes for the next level.
pub(crate) fn split_escaped_keep(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push('\\');
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c == sep => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(split_escaped_keep(r"a\,b,c", ','), vec![r"a\,b", "c"]);
        assert_eq!(unescape(r"a\,b\|c\$d\\e"), r"a,b|c$d\e");
        assert_eq!(split_escaped(r"s\|x|c", '|'), vec!["s|x", "c"]);
    }

    #[test]
    fn values() {
        let cx = ValueCtx {
            base_url: "https://w/fhir",
        };
        let t = |m: Modifier, s: &str| parse_value(K::Token, &m, s, &cx);
        assert_eq!(
            t(Modifier::None, "|x").unwrap(),
            Value::Token {
                system: TokenSystem::Absent,
                code: Some("x".into())
            }
        );
        assert_eq!(
            t(Modifier::None, "s|").unwrap(),
            Value::Token {
                system: TokenSystem::Is("s".into()),
                code: None
            }
        );
        assert!(t(Modifier::None, "a|b|c").is_err());
        let r = |m: Modifier, s: &str| parse_value(K::Reference, &m, s, &cx);
        assert_eq!(
            r(Modifier::None, "https://w/fhir/Patient/1").unwrap(),
            Value::Ref {
                ttype: Some("Patient".into()),
                id: "1".into()
            }
        );
        assert_eq!(
            r(Modifier::Type("Patient".into()), "1").unwrap(),
            Value::Ref {
                ttype: Some("Patient".into()),
                id: "1".into()
            }
        );
        assert_eq!(
            r(Modifier::None, "http://x/vs|2").unwrap(),
            Value::Url {
                url: "http://x/vs".into(),
                ver: Some("2".into())
            }
        );
        assert!(parse_value(K::Date, &Modifier::None, "xx2020", &cx).is_err());
        assert!(parse_value(K::Date, &Modifier::None, "ge2020-13", &cx).is_err());
        assert!(parse_value(K::Number, &Modifier::None, "gt1.5x", &cx).is_err());
        let Value::Number { lo, hi, .. } =
            parse_value(K::Number, &Modifier::None, "100", &cx).unwrap()
        else {
            panic!()
        };
        assert_eq!((lo, hi), (99.5, 100.5));
        assert!(matches!(
            parse_value(
                K::Quantity,
                &Modifier::None,
                "le5.4|http://unitsofmeasure.org|mg",
                &cx
            )
            .unwrap(),
            Value::Quantity {
                prefix: Prefix::Le,
                ..
            }
        ));
        assert!(matches!(
            composite(&[K::Token, K::Quantity], r"http://loinc.org|8480-6$gt100", &cx).unwrap(),
            Value::Composite(v) if v.len() == 2
        ));
    }
}
