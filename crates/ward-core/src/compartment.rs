//! Policy checks on one resource: membership of a Patient compartment (the compartment
//! definition's linking search parameters, evaluated with FHIRPath over the resource) and the
//! granular `?param=value` restrictions of SMART v2 scopes. Used to confine `patient/` and
//! granular tokens on reads and writes of single resources; searches need the search engine's
//! index and are refused for such tokens until it lands.

use std::sync::OnceLock;

use serde_json::Value;
use ward_fhirpath::{Context, ExprCache, Item};

fn cache() -> &'static ExprCache {
    static CACHE: OnceLock<ExprCache> = OnceLock::new();
    CACHE.get_or_init(ExprCache::new)
}

/// True if some JSON value that a search parameter's expression selects in `resource`
/// satisfies `pred`.
fn any_value(rtype: &str, code: &str, resource: &Value, pred: impl Fn(&Value) -> bool) -> bool {
    let Some(expr) = ward_spec::r4()
        .search_param(rtype, code)
        .and_then(|p| p.expression.as_deref())
    else {
        return false;
    };
    let Ok(expr) = cache().get(expr) else {
        return false;
    };
    let Ok(out) = expr.evaluate(resource, &Context::new()) else {
        return false;
    };
    out.iter().any(|i| match i {
        Item::Element(e) => e.json().is_some_and(&pred),
        _ => false,
    })
}

/// True if `reference` (relative, absolute or `urn`) names `Patient/{id}`.
fn names_patient(reference: &str, id: &str) -> bool {
    let target = format!("Patient/{id}");
    let plain = reference.split("/_history/").next().unwrap_or(reference);
    plain == target || plain.ends_with(&format!("/{target}"))
}

/// True if `resource` (of type `rtype`) is in the compartment of `Patient/{pid}`.
pub(crate) fn in_patient_compartment(rtype: &str, resource: &Value, pid: &str) -> bool {
    if rtype == "Patient" {
        return resource.get("id").and_then(Value::as_str) == Some(pid);
    }
    ward_spec::r4()
        .compartment_params("Patient", rtype)
        .iter()
        .filter(|code| code.as_str() != "{def}")
        .any(|code| {
            any_value(rtype, code, resource, |v| {
                v.get("reference")
                    .and_then(Value::as_str)
                    .is_some_and(|r| names_patient(r, pid))
            })
        })
}

/// True if a token value (`code` or `system|code`) matches a Coding, CodeableConcept,
/// Identifier or primitive.
fn token_matches(v: &Value, wanted: &str) -> bool {
    let (system, code) = match wanted.split_once('|') {
        Some((s, c)) => (Some(s), c),
        None => (None, wanted),
    };
    let coding_ok = |c: &Value| {
        let code_ok = c
            .get("code")
            .or_else(|| c.get("value"))
            .and_then(Value::as_str)
            == Some(code);
        let sys_ok = system.is_none_or(|s| c.get("system").and_then(Value::as_str) == Some(s));
        code_ok && sys_ok
    };
    match v {
        Value::String(s) => system.is_none() && s == code,
        Value::Bool(b) => system.is_none() && b.to_string() == code,
        Value::Object(o) => match o.get("coding").and_then(Value::as_array) {
            Some(codings) => codings.iter().any(coding_ok),
            None => coding_ok(v),
        },
        _ => false,
    }
}

/// True if every `param=value` restriction matches `resource` (values may be comma-separated
/// alternatives).
pub(crate) fn matches_params(rtype: &str, resource: &Value, params: &[(String, String)]) -> bool {
    params.iter().all(|(code, wanted)| {
        any_value(rtype, code, resource, |v| {
            wanted.split(',').any(|w| token_matches(v, w))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patient_compartment_membership() {
        let obs = json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}});
        assert!(in_patient_compartment("Observation", &obs, "p1"));
        assert!(!in_patient_compartment("Observation", &obs, "p2"));
        let abs = json!({"resourceType": "Observation",
            "subject": {"reference": "https://ward.test/fhir/Patient/p1/_history/2"}});
        assert!(in_patient_compartment("Observation", &abs, "p1"));
        let pat = json!({"resourceType": "Patient", "id": "p1"});
        assert!(in_patient_compartment("Patient", &pat, "p1"));
        assert!(!in_patient_compartment("Patient", &pat, "p10"));
        let org = json!({"resourceType": "Organization", "id": "o"});
        assert!(!in_patient_compartment("Organization", &org, "p1"));
        let tricky =
            json!({"resourceType": "Observation", "subject": {"reference": "Patient/p10"}});
        assert!(!in_patient_compartment("Observation", &tricky, "p1"));
    }

    #[test]
    fn granular_params() {
        let obs = json!({"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"text": "x"}});
        let p = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert!(matches_params(
            "Observation",
            &obs,
            &p("category", "laboratory")
        ));
        assert!(matches_params(
            "Observation",
            &obs,
            &p(
                "category",
                "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
            )
        ));
        assert!(!matches_params(
            "Observation",
            &obs,
            &p("category", "vital-signs")
        ));
        assert!(matches_params(
            "Observation",
            &obs,
            &p("category", "vital-signs,laboratory")
        ));
        assert!(matches_params("Observation", &obs, &p("status", "final")));
        assert!(!matches_params(
            "Observation",
            &obs,
            &p("status", "amended")
        ));
    }
}
