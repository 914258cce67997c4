//! Fuzz target: any input text must parse or fail cleanly (no panic, no stack overflow); what
//! parses is also evaluated against a small resource, which must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ward_fhirpath::{Context, Expr};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(expr) = Expr::parse(text) else { return };
    let resource = serde_json::json!({
        "resourceType": "Patient",
        "name": [{"given": ["a", "b"], "family": "c"}],
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "u", "valueString": "x"}]},
        "contained": [{"resourceType": "Device", "id": "d"}],
        "managingOrganization": {"reference": "#d"}
    });
    let _ = expr.evaluate(&resource, &Context::new());
});
