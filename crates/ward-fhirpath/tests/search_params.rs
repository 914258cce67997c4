//! FHIR R4 §3.1.1.4 (SearchParameter.expression): every published R4 search expression parses
//! and evaluates without error, because Ward evaluates all of them on every write.

use serde_json::json;
use ward_fhirpath::{Context, ExprCache, SpecModel};

#[test]
fn every_r4_search_expression_parses_and_evaluates() {
    let spec = ward_spec::r4();
    let model = SpecModel::r4();
    let cache = ExprCache::new();
    let mut evaluated = 0;
    for rt in spec.resource_types() {
        let resource = json!({
            "resourceType": rt,
            "id": "x",
            "meta": {"tag": [{"system": "s", "code": "c"}]},
            "subject": {"reference": "Patient/1"},
            "patient": {"reference": "Patient/1"},
            "identifier": [{"system": "s", "value": "v"}],
        });
        let ctx = Context::new().with_model(&model);
        for sp in spec.search_params(rt) {
            let Some(src) = sp.expression.as_deref() else {
                continue;
            };
            let expr = cache
                .get(src)
                .unwrap_or_else(|e| panic!("{rt}.{}: {e}", sp.code));
            if let Err(e) = expr.evaluate(&resource, &ctx) {
                panic!("{rt}.{} ({src}): {e}", sp.code);
            }
            evaluated += 1;
            for c in &sp.component {
                assert!(
                    cache.get(&c.expression).is_ok(),
                    "{}: component {}",
                    sp.code,
                    c.expression
                );
            }
        }
    }
    assert!(evaluated > 2000, "evaluated {evaluated}");
    assert!(
        cache.len() > 1000 && cache.len() < evaluated,
        "cache holds distinct texts only"
    );
}

#[test]
fn subject_reference_type_checks_work_at_index_time() {
    let spec = ward_spec::r4();
    let model = SpecModel::r4();
    let cache = ExprCache::new();
    let obs = json!({"resourceType": "Observation", "subject": {"reference": "http://x/fhir/Patient/123"}});
    let sp = spec
        .search_param("Observation", "patient")
        .expect("Observation.patient");
    let expr = cache
        .get(sp.expression.as_deref().expect("expression"))
        .expect("parses");
    let out = expr
        .evaluate(&obs, &Context::new().with_model(&model))
        .expect("evaluates");
    assert_eq!(out.len(), 1);
    let group = json!({"resourceType": "Observation", "subject": {"reference": "Group/1"}});
    assert!(
        expr.evaluate(&group, &Context::new().with_model(&model))
            .expect("evaluates")
            .is_empty()
    );
}
