//! Resource body parsing: bytes → `serde_json::Value`, with a nesting guard.

use serde_json::Value;

use crate::error::ModelError;

/// Maximum nesting of JSON arrays and objects accepted (serde_json itself stops at 128).
pub const MAX_DEPTH: usize = 100;

/// Parses a resource body. Decimals keep their exact text (`1.50` stays `1.50`) and object keys
/// keep their order, so serialising gives the input's content back (exponents are normalised:
/// `1e3` is written `1e+3`).
///
/// Fails on malformed JSON, nesting deeper than [`MAX_DEPTH`], a non-object root, or a missing
/// or non-string `resourceType`. Whether the type is known is left to [`crate::validate`].
pub fn parse(bytes: &[u8]) -> Result<Value, ModelError> {
    check_depth(bytes)?;
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ModelError::InvalidJson {
        line: e.line(),
        column: e.column(),
    })?;
    resource_type(&value)?;
    Ok(value)
}

/// The `resourceType` of a parsed resource.
pub fn resource_type(value: &Value) -> Result<&str, ModelError> {
    let obj = value.as_object().ok_or(ModelError::NotAnObject)?;
    match obj.get("resourceType") {
        None => Err(ModelError::MissingResourceType),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ModelError::ResourceTypeNotString),
    }
}

/// A linear scan that rejects deep nesting before any recursive parser runs.
/// Brackets inside strings are skipped; malformed input is left for serde_json to report.
fn check_depth(bytes: &[u8]) -> Result<(), ModelError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ModelError::TooDeep { max: MAX_DEPTH });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_exactly() {
        let body = br#"{"resourceType":"Observation","valueQuantity":{"value":1.50},"x":[0.10000000000000000001,-0.0]}"#;
        let v = parse(body).unwrap();
        assert_eq!(serde_json::to_vec(&v).unwrap(), body.to_vec());
    }

    #[test]
    fn exponent_notation_is_normalised_by_serde_json() {
        // Known limit: serde_json (arbitrary_precision) writes `1e3` back as `1e+3`: same value,
        // different bytes. Plain decimals, the form FHIR examples use, are byte-exact.
        let v = parse(br#"{"resourceType":"Basic","x":1e3}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"resourceType":"Basic","x":1e+3}"#
        );
    }

    #[test]
    fn broken_json_is_rejected_with_position() {
        let err = parse(b"{\"resourceType\": \"Patient\",").unwrap_err();
        assert!(matches!(err, ModelError::InvalidJson { line: 1, .. }));
        assert_eq!(err.code(), "model.invalid-json");
        assert_eq!(parse(b"").unwrap_err().code(), "model.invalid-json");
    }

    #[test]
    fn root_and_resource_type_rules() {
        assert_eq!(parse(b"[]").unwrap_err(), ModelError::NotAnObject);
        assert_eq!(parse(b"\"Patient\"").unwrap_err(), ModelError::NotAnObject);
        assert_eq!(parse(b"{}").unwrap_err(), ModelError::MissingResourceType);
        assert_eq!(
            parse(br#"{"resourceType":7}"#).unwrap_err(),
            ModelError::ResourceTypeNotString
        );
        assert!(parse(br#"{"resourceType":"Patient"}"#).is_ok());
    }

    #[test]
    fn deep_nesting_is_rejected_without_recursion() {
        let mut body = String::from(r#"{"resourceType":"Basic","extension":"#);
        body.push_str(&"[".repeat(100_000));
        let err = parse(body.as_bytes()).unwrap_err();
        assert_eq!(err, ModelError::TooDeep { max: MAX_DEPTH });
        assert_eq!(err.code(), "model.too-deep");
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let mut body = String::from(r#"{"resourceType":"Basic","id":""#);
        body.push_str(&"[{".repeat(500));
        body.push_str(r#"\"]"}"#);
        assert!(parse(body.as_bytes()).is_ok());
    }
}
