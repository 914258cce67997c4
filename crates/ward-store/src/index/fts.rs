//! AuditEvent's value index as terms of a full-text index (docs/design/012-audit-lean-index.md
//! "FTS5 as the value path"). A backend that sets [`crate::search::plan::Dialect::audit_fts`]
//! keeps an AuditEvent's string, token and uri rows (those outside a composite) not as
//! index-table rows but as one document of terms, one term per value, and their sort keys as
//! one small JSON object. Every other kind of row (references, dates, sort dates, numbers,
//! quantities, composite components) stays in the index tables.
//!
//! A term is `{kind}{pkey as 16 hex digits}{form}{value as lower-case hex}`: only ASCII
//! letters and digits, so the index's `ascii` tokenizer keeps it whole, and hex keeps byte
//! order, so a value's prefix is a term's prefix (string search, `:below`, `system|`).

use std::fmt::Write as _;

use super::IndexRows;

/// The resource type whose rows go to the full-text index.
pub const AUDIT_TYPE: &str = "AuditEvent";

/// Kind and form letters of a term.
pub mod form {
    /// A string's normalised value (default search, `:contains`).
    pub const STRING_NORM: (char, char) = ('s', 'n');
    /// A string's exact value (`:exact`).
    pub const STRING_EXACT: (char, char) = ('s', 'e');
    /// A token's code, whatever its system (`code`); every token row has one.
    pub const TOKEN_CODE: (char, char) = ('t', 'c');
    /// A token's `system|code` (`system|code`, `system|`).
    pub const TOKEN_SYSTEM: (char, char) = ('t', 's');
    /// A token's code when it has no system (`|code`).
    pub const TOKEN_NO_SYSTEM: (char, char) = ('t', 'z');
    /// A uri.
    pub const URI: (char, char) = ('u', 'u');
}

/// Length of a term's head (kind, key, form) before the value's hex.
pub const HEAD_LEN: usize = 18;

/// The head of every term of parameter key `pkey` in `form`.
pub fn head(f: (char, char), pkey: i64) -> String {
    let mut t = String::with_capacity(HEAD_LEN);
    push_head(&mut t, f, pkey);
    t
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_head(out: &mut String, (kind, form): (char, char), pkey: i64) {
    out.push(kind);
    let k = pkey.cast_unsigned();
    for i in (0..16).rev() {
        out.push(hex_digit(k >> (i * 4)));
    }
    out.push(form);
}

fn hex_digit(v: u64) -> char {
    char::from(
        *HEX.get(usize::try_from(v & 0xf).unwrap_or(0))
            .unwrap_or(&b'0'),
    )
}

fn push_hex(out: &mut String, v: &str) {
    out.reserve(v.len() * 2);
    for b in v.bytes() {
        out.push(hex_digit(u64::from(b >> 4)));
        out.push(hex_digit(u64::from(b)));
    }
}

/// The term of `value` for parameter key `pkey` in `form`.
pub fn term(f: (char, char), pkey: i64, value: &str) -> String {
    let mut t = head(f, pkey);
    push_hex(&mut t, value);
    t
}

fn push_term(out: &mut String, f: (char, char), pkey: i64, value: &str) {
    if !out.is_empty() {
        out.push(' ');
    }
    push_head(out, f, pkey);
    push_hex(out, value);
}

/// Whether a row of `grp` goes to the full-text index (every string, token and uri row
/// outside a composite); the index tables keep the others.
pub fn moved(grp: Option<i64>) -> bool {
    grp.is_none()
}

/// An AuditEvent's full-text document (space-separated terms, one per value and form) and its
/// sort keys (`{"<pkey>": [min, max], …}`: the least and greatest normalised string, token
/// code or uri of each parameter, as a sort reads them from the index tables), from the rows
/// that [`moved`] sends to the full-text index. The other rows are left to the index tables.
pub fn document(rows: &IndexRows) -> (String, String) {
    let mut terms = String::with_capacity(1024);
    let mut keys: Vec<(i64, &str, &str)> = Vec::new();
    for s in rows.strings.iter().filter(|s| moved(s.grp)) {
        push_term(&mut terms, form::STRING_NORM, s.pkey, &s.norm);
        push_term(&mut terms, form::STRING_EXACT, s.pkey, &s.exact);
        widen(&mut keys, s.pkey, &s.norm);
    }
    for t in rows.tokens.iter().filter(|t| moved(t.grp)) {
        push_term(&mut terms, form::TOKEN_CODE, t.pkey, &t.code);
        match &t.system {
            Some(sys) => {
                push_term(&mut terms, form::TOKEN_SYSTEM, t.pkey, sys);
                push_hex(&mut terms, "|");
                push_hex(&mut terms, &t.code);
            }
            None => push_term(&mut terms, form::TOKEN_NO_SYSTEM, t.pkey, &t.code),
        }
        widen(&mut keys, t.pkey, &t.code);
    }
    for u in rows.uris.iter().filter(|u| moved(u.grp)) {
        push_term(&mut terms, form::URI, u.pkey, &u.uri);
        widen(&mut keys, u.pkey, &u.uri);
    }
    keys.sort_unstable_by_key(|k| k.0);
    let mut json = String::with_capacity(64 * keys.len() + 2);
    json.push('{');
    for (i, (k, lo, hi)) in keys.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let _ = write!(json, "\"{k}\":[");
        push_json_string(&mut json, lo);
        json.push(',');
        push_json_string(&mut json, hi);
        json.push(']');
    }
    json.push('}');
    (terms, json)
}

fn push_json_string(out: &mut String, v: &str) {
    // (a str always serialises)
    if let Ok(s) = serde_json::to_string(v) {
        out.push_str(&s);
    }
}

/// Keeps the least and greatest value of each key (few keys: a list is faster than a map).
fn widen<'a>(keys: &mut Vec<(i64, &'a str, &'a str)>, pkey: i64, v: &'a str) {
    match keys.iter_mut().find(|k| k.0 == pkey) {
        Some(k) => {
            if v < k.1 {
                k.1 = v;
            }
            if v > k.2 {
                k.2 = v;
            }
        }
        None => keys.push((pkey, v, v)),
    }
}

/// A phrase of the full-text query language for `term`, as a prefix when `prefix`.
pub fn phrase(term: &str, prefix: bool) -> String {
    if prefix {
        format!("\"{term}\"*")
    } else {
        format!("\"{term}\"")
    }
}

/// A phrase that matches no document (no term is this short).
pub const NOTHING: &str = "\"zz\"";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::index::{RefRow, StringRow, TokenRow, UriRow};

    fn string(pkey: i64, grp: Option<i64>, v: &str) -> StringRow {
        StringRow {
            pkey,
            grp,
            norm: v.to_lowercase(),
            exact: v.into(),
        }
    }

    #[test]
    fn terms_keep_byte_order_and_prefixes() {
        let a = term(form::STRING_NORM, 7, "10.0.0.2");
        let p = term(form::STRING_NORM, 7, "10.0");
        assert!(a.starts_with(&p), "a value's prefix is its term's prefix");
        assert!(term(form::URI, 7, "a") < term(form::URI, 7, "b"));
        assert_eq!(head(form::URI, 7).len(), HEAD_LEN);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "one ascii token: {a}"
        );
        assert_ne!(
            term(form::TOKEN_CODE, 1, "x"),
            term(form::TOKEN_CODE, 2, "x"),
            "the key is part of the term"
        );
    }

    #[test]
    fn a_document_holds_strings_tokens_and_uris_outside_composites() {
        let rows = IndexRows {
            strings: vec![
                string(1, None, "Zed"),
                string(1, None, "Amy"),
                string(9, Some(0), "c"),
            ],
            tokens: vec![
                TokenRow {
                    pkey: 2,
                    grp: None,
                    system: Some("urn:s".into()),
                    code: "R".into(),
                },
                TokenRow {
                    pkey: 3,
                    grp: None,
                    system: None,
                    code: "0".into(),
                },
            ],
            refs: vec![RefRow {
                pkey: 4,
                grp: None,
                ttype: Some("Patient".into()),
                tid: "p".into(),
                ver: None,
            }],
            uris: vec![UriRow {
                pkey: 5,
                grp: None,
                uri: "http://p".into(),
            }],
            ..IndexRows::default()
        };
        let (terms, keys) = document(&rows);
        assert!(
            !moved(rows.strings[2].grp),
            "composites stay in the index tables"
        );
        assert!(moved(rows.uris[0].grp));
        assert!(!terms.contains(&term(form::STRING_NORM, 9, "c")));
        assert!(
            !terms.contains(&head(form::STRING_NORM, 4)),
            "no reference term"
        );
        let terms: Vec<&str> = terms.split(' ').collect();
        assert_eq!(terms.len(), 2 * 2 + 2 * 2 + 1);
        assert!(terms.contains(&term(form::STRING_EXACT, 1, "Zed").as_str()));
        assert!(terms.contains(&term(form::TOKEN_SYSTEM, 2, "urn:s|R").as_str()));
        assert!(terms.contains(&term(form::TOKEN_NO_SYSTEM, 3, "0").as_str()));
        assert!(!terms.contains(&term(form::TOKEN_NO_SYSTEM, 2, "R").as_str()));
        assert!(terms.contains(&term(form::URI, 5, "http://p").as_str()));
        let keys: serde_json::Value = serde_json::from_str(&keys).unwrap();
        assert_eq!(keys["1"], serde_json::json!(["amy", "zed"]), "min and max");
        assert_eq!(keys["3"], serde_json::json!(["0", "0"]));
        assert!(
            keys.get("9").is_none(),
            "composite rows have no sort key here"
        );
        assert!(
            keys.get("4").is_none(),
            "references sort from the index tables"
        );
        let quoted = document(&IndexRows {
            strings: vec![string(1, None, "a\"b\\c\u{1}")],
            ..IndexRows::default()
        })
        .1;
        let quoted: serde_json::Value = serde_json::from_str(&quoted).unwrap();
        assert_eq!(quoted["1"][0], "a\"b\\c\u{1}", "values are escaped");
    }
}
