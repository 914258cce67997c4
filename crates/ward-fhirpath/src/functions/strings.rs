//! String functions, regular expressions, and encode/decode/escape.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};

use super::arg;
use crate::ast::{Call, Func};
use crate::error::{Error, Result};
use crate::eval::{Eval, Frame, singleton};
use crate::value::{Collection, Item};

/// Longest string a function or operator may produce.
pub(crate) const MAX_STRING_BYTES: usize = 1 << 20;

/// Largest compiled regex accepted (bytes), to bound memory for hostile patterns.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a FHIRPath regex: `.` matches newlines; `full` anchors the whole string.
pub(crate) fn build_regex(pattern: &str, full: bool, pos: usize) -> Result<Regex> {
    let src = if full {
        format!("^(?:{pattern})$")
    } else {
        pattern.to_owned()
    };
    RegexBuilder::new(&src)
        .dot_matches_new_line(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|_| Error::Regex { pos })
}

fn one<'a>(i: Item<'a>) -> Result<Collection<'a>> {
    Ok(vec![i])
}

fn text<'a>(s: String, pos: usize) -> Result<Collection<'a>> {
    check_len(s.len(), pos)?;
    one(Item::string(s))
}

/// Refuses strings longer than [`MAX_STRING_BYTES`] (chained `replace` could grow exponentially).
pub(crate) fn check_len(len: usize, pos: usize) -> Result<()> {
    if len > MAX_STRING_BYTES {
        return Err(Error::Limit {
            pos,
            what: "string result too long",
        });
    }
    Ok(())
}

impl<'a> Eval<'a, '_> {
    /// The input string of a string function: `None` for an empty input.
    fn input_str<'i>(
        &self,
        input: &'i [Item<'a>],
        pos: usize,
        what: &'static str,
    ) -> Result<Option<&'i str>> {
        match singleton(input, pos, what)? {
            None => Ok(None),
            Some(i) => i
                .as_str()
                .map(Some)
                .ok_or(Error::ty(pos, "input must be a String")),
        }
    }

    pub(crate) fn call_strings(
        &self,
        call: &'a Call,
        input: Collection<'a>,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let func = call.func;
        match func {
            Func::IndexOf
            | Func::LastIndexOf
            | Func::Substring
            | Func::StartsWith
            | Func::EndsWith
            | Func::ContainsFn
            | Func::Upper
            | Func::Lower
            | Func::Replace
            | Func::Length
            | Func::ToChars
            | Func::Trim
            | Func::Split
            | Func::Matches
            | Func::MatchesFull
            | Func::ReplaceMatches
            | Func::Encode
            | Func::Decode
            | Func::Escape
            | Func::Unescape => {}
            Func::Join => return self.join(call, &input, f, pos),
            _ => return self.call_math(call, input, f, pos),
        }
        let Some(s) = self.input_str(&input, pos, func.name())? else {
            return Ok(Vec::new());
        };
        match func {
            Func::Upper => text(s.to_uppercase(), pos),
            Func::Lower => text(s.to_lowercase(), pos),
            Func::Trim => text(s.trim().to_owned(), pos),
            Func::Length => one(Item::Integer(
                i64::try_from(s.chars().count()).unwrap_or(i64::MAX),
            )),
            Func::ToChars => Ok(s.chars().map(|c| Item::string(c.to_string())).collect()),
            Func::Substring => self.substring(call, s, f, pos),
            Func::Matches | Func::MatchesFull | Func::ReplaceMatches => {
                self.regex_fn(call, s, f, pos)
            }
            _ => {
                let Some(a) = self.string_arg(call, 0, f, pos)? else {
                    return Ok(Vec::new());
                };
                self.string_binary(call, s, &a, f, pos)
            }
        }
    }

    fn string_binary(
        &self,
        call: &'a Call,
        s: &str,
        a: &str,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let index = |byte: Option<usize>| -> Result<Collection<'a>> {
            let i = byte.map_or(-1, |b| {
                i64::try_from(s.get(..b).unwrap_or_default().chars().count()).unwrap_or(-1)
            });
            one(Item::Integer(i))
        };
        match call.func {
            Func::IndexOf => index(s.find(a)),
            Func::LastIndexOf => index(s.rfind(a)),
            Func::StartsWith => one(Item::Boolean(s.starts_with(a))),
            Func::EndsWith => one(Item::Boolean(s.ends_with(a))),
            Func::ContainsFn => one(Item::Boolean(s.contains(a))),
            Func::Split => Ok(s.split(a).map(|p| Item::string(p.to_owned())).collect()),
            Func::Replace => match self.string_arg(call, 1, f, pos)? {
                Some(with) => {
                    let hits = if a.is_empty() {
                        s.chars().count() + 1
                    } else {
                        s.matches(a).count()
                    };
                    check_len(s.len().saturating_add(hits.saturating_mul(with.len())), pos)?;
                    text(s.replace(a, &with), pos)
                }
                None => Ok(Vec::new()),
            },
            Func::Encode => Ok(encode(s, a).map(Item::string).into_iter().collect()),
            Func::Decode => Ok(decode(s, a).map(Item::string).into_iter().collect()),
            Func::Escape => Ok(escape(s, a).map(Item::string).into_iter().collect()),
            Func::Unescape => Ok(unescape(s, a).map(Item::string).into_iter().collect()),
            _ => Err(Error::Unsupported {
                pos,
                what: "string function",
            }),
        }
    }

    fn substring(
        &self,
        call: &'a Call,
        s: &str,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let Some(start) = self.integer_arg(call, 0, f, pos)? else {
            return Ok(Vec::new());
        };
        let len = match call.args.get(1) {
            Some(_) => self.integer_arg(call, 1, f, pos)?,
            None => None,
        };
        let count = i64::try_from(s.chars().count()).unwrap_or(i64::MAX);
        if start < 0 || start >= count {
            return Ok(Vec::new());
        }
        let take = len.map_or(usize::MAX, |l| usize::try_from(l.max(0)).unwrap_or(0));
        let skip = usize::try_from(start).unwrap_or(0);
        text(s.chars().skip(skip).take(take).collect(), pos)
    }

    fn regex_fn(
        &self,
        call: &'a Call,
        s: &str,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let full = call.func == Func::MatchesFull;
        let owned;
        let re = match &call.regex {
            Some(r) => r,
            None => {
                let Some(p) = self.string_arg(call, 0, f, pos)? else {
                    return Ok(Vec::new());
                };
                if call.func == Func::ReplaceMatches && p.is_empty() {
                    return self.replace_matches_empty(call, s, f, pos);
                }
                owned = build_regex(&p, full, pos)?;
                &owned
            }
        };
        if call.func != Func::ReplaceMatches {
            return one(Item::Boolean(re.is_match(s)));
        }
        if re.as_str().is_empty() {
            return self.replace_matches_empty(call, s, f, pos);
        }
        let _ = arg(call, 1, pos)?;
        match self.string_arg(call, 1, f, pos)? {
            Some(with) => {
                // Each match becomes `with`, whose `$n` groups can each expand to the input.
                let per = with
                    .len()
                    .saturating_add(if with.contains('$') { s.len() } else { 0 });
                check_len(
                    s.len()
                        .saturating_add(re.find_iter(s).count().saturating_mul(per)),
                    pos,
                )?;
                text(re.replace_all(s, with.as_str()).into_owned(), pos)
            }
            None => Ok(Vec::new()),
        }
    }

    /// `replaceMatches('', x)` returns the input unchanged (an empty pattern matches nothing useful).
    fn replace_matches_empty(
        &self,
        call: &'a Call,
        s: &str,
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        match self.string_arg(call, 1, f, pos)? {
            Some(_) => text(s.to_owned(), pos),
            None => Ok(Vec::new()),
        }
    }

    fn join(
        &self,
        call: &'a Call,
        input: &[Item<'a>],
        f: &Frame<'a, '_>,
        pos: usize,
    ) -> Result<Collection<'a>> {
        let sep = match call.args.first() {
            Some(_) => self.string_arg(call, 0, f, pos)?.unwrap_or_default(),
            None => String::new(),
        };
        let mut parts = Vec::with_capacity(input.len());
        let mut total = 0usize;
        for i in input {
            let part = i.as_str().ok_or(Error::ty(pos, "join() needs Strings"))?;
            total = total.saturating_add(part.len()).saturating_add(sep.len());
            check_len(total, pos)?;
            parts.push(part.to_owned());
        }
        one(Item::String(Cow::Owned(parts.join(&sep))))
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(bytes: &[u8], url: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                let idx = usize::try_from((n >> (18 - 6 * k)) & 63).unwrap_or(0);
                let c = char::from(B64.get(idx).copied().unwrap_or(b'A'));
                out.push(match (url, c) {
                    (true, '+') => '-',
                    (true, '/') => '_',
                    _ => c,
                });
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'-' => 62,
            b'_' => 63,
            _ => u32::try_from(B64.iter().position(|x| *x == c)?).ok()?,
        };
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push(u8::try_from((bits >> nbits) & 0xff).ok()?);
        }
    }
    Some(out)
}

fn encode(s: &str, how: &str) -> Option<String> {
    match how {
        "base64" => Some(b64_encode(s.as_bytes(), false)),
        "urlbase64" => Some(b64_encode(s.as_bytes(), true)),
        "hex" => Some(s.bytes().map(|b| format!("{b:02x}")).collect()),
        _ => None,
    }
}

fn decode(s: &str, how: &str) -> Option<String> {
    let bytes = match how {
        "base64" | "urlbase64" => b64_decode(s)?,
        "hex" => {
            let raw = s.as_bytes();
            if !raw.len().is_multiple_of(2) {
                return None;
            }
            raw.chunks(2)
                .map(|p| {
                    std::str::from_utf8(p)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })
                .collect::<Option<Vec<u8>>>()?
        }
        _ => return None,
    };
    String::from_utf8(bytes).ok()
}

fn escape(s: &str, how: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match (how, c) {
            ("html", '<') => out.push_str("&lt;"),
            ("html", '>') => out.push_str("&gt;"),
            ("html", '&') => out.push_str("&amp;"),
            ("html", '"') => out.push_str("&quot;"),
            ("html", '\'') => out.push_str("&#39;"),
            ("json", '"') => out.push_str("\\\""),
            ("json", '\\') => out.push_str("\\\\"),
            ("json", '\n') => out.push_str("\\n"),
            ("json", '\r') => out.push_str("\\r"),
            ("json", '\t') => out.push_str("\\t"),
            ("html" | "json", c) => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

fn unescape(s: &str, how: &str) -> Option<String> {
    match how {
        "html" => Some(
            s.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&"),
        ),
        "json" => {
            let mut out = String::with_capacity(s.len());
            let mut chars = s.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                match chars.next()? {
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    other => out.push(other),
                }
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_round_trip() {
        assert_eq!(encode("subjects?_d", "base64").unwrap(), "c3ViamVjdHM/X2Q=");
        assert_eq!(
            encode("subjects?_d", "urlbase64").unwrap(),
            "c3ViamVjdHM_X2Q="
        );
        assert_eq!(decode("dGVzdA==", "base64").unwrap(), "test");
        assert_eq!(decode("74657374", "hex").unwrap(), "test");
        assert!(decode("7", "hex").is_none());
        assert_eq!(escape("\"1<2\"", "html").unwrap(), "&quot;1&lt;2&quot;");
        assert_eq!(unescape("\\\"1<2\\\"", "json").unwrap(), "\"1<2\"");
        assert!(encode("x", "rot13").is_none());
    }

    #[test]
    fn regex_limits() {
        assert!(build_regex("a.*b", false, 0).unwrap().is_match("a\nb"));
        assert!(
            !build_regex("Library", true, 0)
                .unwrap()
                .is_match("x/Library/y")
        );
        assert_eq!(build_regex("(", false, 4).unwrap_err().position(), 4);
        assert!(build_regex("a{1000}{1000}", false, 0).is_err());
    }
}
