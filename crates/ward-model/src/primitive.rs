//! Lexical rules of the FHIR R4 primitive types in JSON (datatypes.html, json.html).
//!
//! Each check returns a fixed message naming the rule, never the value (it may be PHI).

use serde_json::Value;

use crate::datetime;

/// Upper bound of `integer`, `unsignedInt`, `positiveInt` (32-bit signed).
const INT_MAX: i64 = i32::MAX as i64;
/// R4 caps strings at 1 MB.
const MAX_STRING_BYTES: usize = 1024 * 1024;

/// Checks a JSON value against primitive type `code`. `Err` carries the human message.
/// Unknown codes pass (the caller decides what is primitive).
pub(crate) fn check(code: &str, v: &Value) -> Result<(), &'static str> {
    match code {
        "boolean" => v.is_boolean().then_some(()).ok_or("must be a JSON boolean"),
        "integer" => int_in(
            v,
            i64::from(i32::MIN),
            "must be an integer (JSON number without fraction, 32-bit)",
        ),
        "unsignedInt" => int_in(v, 0, "must be a non-negative integer (JSON number, 32-bit)"),
        "positiveInt" => int_in(v, 1, "must be a positive integer (JSON number, 32-bit)"),
        "decimal" => v.is_number().then_some(()).ok_or("must be a JSON number"),
        _ => {
            let s = v.as_str().ok_or("must be a JSON string")?;
            check_str(code, s)
        }
    }
}

fn int_in(v: &Value, min: i64, msg: &'static str) -> Result<(), &'static str> {
    match v.as_number().and_then(serde_json::Number::as_i64) {
        Some(n) if (min..=INT_MAX).contains(&n) => Ok(()),
        _ => Err(msg),
    }
}

fn check_str(code: &str, s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Err("must not be an empty string");
    }
    let ok = match code {
        "string" | "markdown" => return check_string(s),
        "xhtml" => return check_xhtml(s),
        "code" => is_code(s),
        "id" => is_id(s),
        "uri" | "url" | "canonical" => !s.chars().any(char::is_whitespace),
        "oid" => is_oid(s),
        "uuid" => is_uuid(s),
        "base64Binary" => is_base64(s),
        "date" => datetime::is_date(s),
        "dateTime" => datetime::is_date_time(s),
        "instant" => datetime::is_instant(s),
        "time" => datetime::is_time(s),
        _ => true,
    };
    if ok { Ok(()) } else { Err(message(code)) }
}

fn message(code: &str) -> &'static str {
    match code {
        "code" => "not a valid code (no leading, trailing or repeated whitespace)",
        "id" => "not a valid id (1-64 of A-Z a-z 0-9 - .)",
        "uri" | "url" | "canonical" => "not a valid URI (must not contain whitespace)",
        "oid" => "not a valid OID (urn:oid:…)",
        "uuid" => "not a valid UUID (urn:uuid: + lowercase RFC 4122)",
        "base64Binary" => "not valid base64",
        "date" => "not a valid date (YYYY, YYYY-MM or YYYY-MM-DD)",
        "dateTime" => "not a valid dateTime (a date, or date and time with seconds and timezone)",
        "instant" => "not a valid instant (date and time with seconds and timezone)",
        "time" => "not a valid time (hh:mm:ss)",
        _ => "not a valid value",
    }
}

fn check_string(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_STRING_BYTES {
        return Err("string exceeds 1 MB");
    }
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return Err("string contains illegal control characters");
    }
    if s.chars().all(char::is_whitespace) {
        return Err("string must contain non-whitespace content");
    }
    Ok(())
}

fn check_xhtml(s: &str) -> Result<(), &'static str> {
    check_string(s)?;
    if s.trim_start().starts_with("<div") {
        Ok(())
    } else {
        Err("narrative must be an XHTML <div> element")
    }
}

/// `[^\s]+(\s[^\s]+)*`
pub(crate) fn is_code(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s
            .as_bytes()
            .windows(2)
            .any(|w| w.iter().all(u8::is_ascii_whitespace))
}

/// `[A-Za-z0-9\-\.]{1,64}`
pub(crate) fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`
pub(crate) fn is_oid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:oid:") else {
        return false;
    };
    let mut arcs = rest.split('.');
    let first_ok = matches!(arcs.next(), Some("0" | "1" | "2"));
    let mut count = 0;
    let rest_ok = arcs.all(|a| {
        count += 1;
        !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) && (a == "0" || !a.starts_with('0'))
    });
    first_ok && rest_ok && count > 0
}

/// `urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
pub(crate) fn is_uuid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: [usize; 5] = [8, 4, 4, 4, 12];
    let mut parts = rest.split('-');
    groups.iter().all(|&n| {
        parts.next().is_some_and(|p| {
            p.len() == n
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    }) && parts.next().is_none()
}

/// `(\s*([0-9a-zA-Z\+/=]){4}\s*)+`
fn is_base64(s: &str) -> bool {
    let mut n = 0usize;
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=') {
            n += 1;
        } else if !b.is_ascii_whitespace() {
            return false;
        }
    }
    n > 0 && n.is_multiple_of(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn numbers() {
        assert!(check("integer", &num("-5")).is_ok());
        assert!(check("integer", &num("2147483647")).is_ok());
        assert!(check("integer", &num("2147483648")).is_err());
        assert!(check("integer", &num("1.0")).is_err());
        assert!(check("integer", &num("1e2")).is_err());
        assert!(check("integer", &json!("1")).is_err());
        assert!(check("unsignedInt", &num("0")).is_ok());
        assert!(check("unsignedInt", &num("-1")).is_err());
        assert!(check("positiveInt", &num("0")).is_err());
        assert!(check("positiveInt", &num("1")).is_ok());
        assert!(check("decimal", &num("1.50")).is_ok());
        assert!(check("decimal", &json!("1.5")).is_err());
        assert!(check("boolean", &json!(true)).is_ok());
        assert!(check("boolean", &json!("true")).is_err());
    }

    #[test]
    fn strings() {
        assert!(check("string", &json!("a b")).is_ok());
        assert!(check("string", &json!("")).is_err());
        assert!(check("string", &json!("   ")).is_err());
        assert!(check("string", &json!("a\u{0001}b")).is_err());
        assert!(check("string", &json!("line\nbreak\ttab")).is_ok());
        assert!(check("string", &json!(1)).is_err());
        assert!(check("code", &json!("final")).is_ok());
        assert!(check("code", &json!("a b")).is_ok());
        assert!(check("code", &json!(" final")).is_err());
        assert!(check("code", &json!("a  b")).is_err());
        assert!(check("id", &json!("abc-1.2")).is_ok());
        assert!(check("id", &json!("abc_1")).is_err());
        assert!(check("uri", &json!("http://x/y")).is_ok());
        assert!(check("uri", &json!("http://x/ y")).is_err());
        assert!(
            check(
                "xhtml",
                &json!("<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>")
            )
            .is_ok()
        );
        assert!(check("xhtml", &json!("plain text")).is_err());
    }

    #[test]
    fn identifiers_and_binary() {
        assert!(is_oid("urn:oid:2.16.840.1.113883"));
        assert!(!is_oid("urn:oid:3.1"));
        assert!(!is_oid("urn:oid:1"));
        assert!(!is_oid("urn:oid:1..2"));
        assert!(is_uuid("urn:uuid:c757873d-ec9a-4326-a141-556f43239520"));
        assert!(!is_uuid("urn:uuid:C757873D-EC9A-4326-A141-556F43239520"));
        assert!(!is_uuid("urn:uuid:c757873d-ec9a-4326-a141"));
        assert!(check("base64Binary", &json!("aGVsbG8=")).is_ok());
        assert!(check("base64Binary", &json!("aGVsbG8")).is_err());
        assert!(check("base64Binary", &json!("aGV*bG8=")).is_err());
    }

    #[test]
    fn messages_do_not_echo_values() {
        let err = check("date", &json!("1970-13-45-secret")).unwrap_err();
        assert!(!err.contains("secret") && !err.contains("1970"));
    }
}
