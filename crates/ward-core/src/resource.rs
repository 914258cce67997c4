//! Resource JSON at the core boundary: parsing request bodies, validation, server-managed
//! metadata (`id`, `meta.versionId`, `meta.lastUpdated`) and serialisation for storage.

use bytes::Bytes;
use serde_json::{Map, Value};
use ward_store::Timestamp;

use crate::{CoreError, CoreResult, Issue, ResourceType};

/// Parses a request body into a resource object (400 on anything unparseable).
pub(crate) fn parse_body(body: Option<&Bytes>) -> CoreResult<Value> {
    let body = body.filter(|b| !b.is_empty()).ok_or_else(|| {
        CoreError::bad_request("WARD-BODY", "the request needs a resource in its body")
    })?;
    ward_model::parse(body).map_err(|e| CoreError::bad_request(e.code(), e.to_string()))
}

/// The `resourceType` of a parsed resource.
pub(crate) fn type_of(resource: &Value) -> Option<&str> {
    resource.get("resourceType").and_then(Value::as_str)
}

/// Checks the body's type against the endpoint's (400 on mismatch).
pub(crate) fn check_type(resource: &Value, expected: ResourceType) -> CoreResult<()> {
    if type_of(resource) == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(CoreError::bad_request(
            "WARD-RESOURCE-TYPE",
            format!("the resourceType does not match the endpoint ({expected})"),
        ))
    }
}

/// Validates against the R4 definitions; every violation is reported at once (422).
pub(crate) fn validate(resource: &Value, expected: ResourceType) -> CoreResult<()> {
    let issues = validation_issues(resource, expected);
    if issues
        .iter()
        .any(|i| i.severity == "error" || i.severity == "fatal")
    {
        return Err(CoreError::Invalid(issues));
    }
    Ok(())
}

/// All validation issues of `resource` (errors and warnings).
pub(crate) fn validation_issues(resource: &Value, expected: ResourceType) -> Vec<Issue> {
    ward_model::validate(resource, Some(expected.as_str()))
        .into_iter()
        .map(|i| Issue {
            severity: "error",
            code: i.code.as_str(),
            diagnostics: i.message,
            expression: vec![i.expression],
        })
        .collect()
}

/// Sets the server-managed fields and returns the text to store. Field order puts
/// `resourceType`, `id` and `meta` first.
pub(crate) fn stamp(resource: Value, id: &str, version: u64, now: Timestamp) -> CoreResult<Bytes> {
    let Value::Object(mut map) = resource else {
        return Err(CoreError::Internal("stamp: not an object".into()));
    };
    let mut meta = match map.remove("meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    meta.shift_remove("versionId");
    meta.shift_remove("lastUpdated");
    let mut new_meta = Map::new();
    new_meta.insert("versionId".into(), Value::String(version.to_string()));
    new_meta.insert("lastUpdated".into(), Value::String(now.to_fhir_instant()));
    new_meta.extend(meta);
    let mut out = Map::new();
    out.insert(
        "resourceType".into(),
        map.remove("resourceType").unwrap_or(Value::Null),
    );
    map.shift_remove("id");
    out.insert("id".into(), Value::String(id.to_owned()));
    out.insert("meta".into(), Value::Object(new_meta));
    out.extend(map);
    serde_json::to_vec(&Value::Object(out))
        .map(Bytes::from)
        .map_err(|_| CoreError::Internal("serialise".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamp_manages_meta_and_keeps_the_rest() {
        let r = json!({"name":[{"family":"A"}],"meta":{"versionId":"99","tag":[{"code":"x"}],"lastUpdated":"1999-01-01T00:00:00Z"},"id":"client","resourceType":"Patient"});
        let b = stamp(r, "srv", 3, Timestamp(0)).unwrap();
        let text = std::str::from_utf8(&b).unwrap();
        assert!(text.starts_with(r#"{"resourceType":"Patient","id":"srv","meta":{"versionId":"3","lastUpdated":"1970-01-01T00:00:00.000000Z","tag":[{"code":"x"}]}"#), "{text}");
        assert!(text.contains(r#""name":[{"family":"A"}]"#));
    }

    #[test]
    fn decimals_keep_their_text() {
        let r = parse_body(Some(&Bytes::from_static(
            br#"{"resourceType":"Observation","valueQuantity":{"value":1.50}}"#,
        )))
        .unwrap();
        let b = stamp(r, "o", 1, Timestamp(0)).unwrap();
        assert!(std::str::from_utf8(&b).unwrap().contains(r#""value":1.50"#));
    }
}
