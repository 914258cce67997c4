//! Query-string and form parsing (`application/x-www-form-urlencoded` rules: `+` is a space,
//! `%XX` escapes), shared by the HTTP layer and bundle entry URLs.

use percent_encoding::percent_decode_str;

use crate::{CoreError, CoreResult};

/// Splits `a=1&b=2&a=3` into decoded pairs, keeping order and repeats. A pair without `=` gets
/// an empty value. Invalid UTF-8 after decoding is a 400.
pub fn parse_query(query: &str) -> CoreResult<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> CoreResult<String> {
    let plus = s.replace('+', " ");
    percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| CoreError::bad_request("WARD-QUERY", "the query string is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_pairs() {
        let q = parse_query("name=J%C3%B6rg+Smith&_count=2&name=x&flag&&a=b%3Dc").unwrap();
        assert_eq!(
            q,
            vec![
                ("name".into(), "Jörg Smith".into()),
                ("_count".into(), "2".into()),
                ("name".into(), "x".into()),
                ("flag".into(), String::new()),
                ("a".into(), "b=c".into()),
            ]
        );
        assert!(parse_query("a=%FF").is_err());
    }
}
