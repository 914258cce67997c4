//! Shared helpers for the integration tests: evaluate with or without the R4 model.
#![allow(dead_code, clippy::expect_used, clippy::panic)] // test-only helpers

use serde_json::{Value, json};
use ward_fhirpath::{Context, DateTime, Error, Expr, Item, SpecModel};

pub fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "active": true,
        "gender": "male",
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
        "name": [
            {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
            {"use": "usual", "given": ["Jim"]}
        ],
        "telecom": [{"system": "phone", "value": "555", "use": "home"}],
        "contact": [{"name": {"family": "du Marché"}}],
        "managingOrganization": {"reference": "Organization/1"}
    })
}

pub fn observation() -> Value {
    json!({
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/123"},
        "performer": [{"reference": "https://example.org/fhir/Practitioner/9/_history/2"}, {"reference": "#dev"}],
        "contained": [{"resourceType": "Device", "id": "dev"}],
        "effectiveDateTime": "2016-03-28",
        "valueQuantity": {"value": 185, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}
    })
}

fn now() -> DateTime {
    DateTime::from_parts(2026, 11, 25, 10, 30, 0, 0, 0).expect("valid clock")
}

/// Evaluates with the R4 model and a fixed clock; returns `toString()` of every item.
pub fn run(expr: &str, input: &Value) -> Result<Vec<String>, Error> {
    let model = SpecModel::r4();
    let ctx = Context::new().with_model(&model).with_now(now());
    texts(expr, input, &ctx)
}

/// Evaluates with no model.
pub fn run_plain(expr: &str, input: &Value) -> Result<Vec<String>, Error> {
    texts(expr, input, &Context::new().with_now(now()))
}

/// Evaluates in strict mode with the model.
pub fn run_strict(expr: &str, input: &Value) -> Result<Vec<String>, Error> {
    let model = SpecModel::r4();
    texts(expr, input, &Context::new().with_model(&model).strict(true))
}

pub fn texts(expr: &str, input: &Value, ctx: &Context<'_>) -> Result<Vec<String>, Error> {
    let e = Expr::parse(expr)?;
    let out = e.evaluate(input, ctx)?;
    Ok(out.iter().map(show).collect())
}

fn show(i: &Item<'_>) -> String {
    i.to_text()
        .unwrap_or_else(|| format!("<{}>", i.type_of().1))
}

/// Evaluates an expression without input data.
pub fn lit(expr: &str) -> Vec<String> {
    run(expr, &json!({})).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

/// `lit` for a single Boolean result; `None` for empty.
pub fn truth(expr: &str) -> Option<bool> {
    match lit(expr).as_slice() {
        [] => None,
        [one] => Some(one == "true"),
        other => panic!("{expr}: several results {other:?}"),
    }
}

/// The error code of a failing expression.
pub fn err(expr: &str, input: &Value) -> &'static str {
    match run(expr, input) {
        Err(e) => e.code(),
        Ok(v) => panic!("{expr}: expected an error, got {v:?}"),
    }
}
