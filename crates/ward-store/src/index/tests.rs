#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;

use super::*;

fn ix() -> Indexer {
    Indexer::new("https://ward.example/fhir")
}

#[test]
fn patient_rows() {
    let p = json!({
        "resourceType": "Patient", "id": "p1",
        "name": [{"family": "Müller", "given": ["Jörg", "K"]}],
        "identifier": [{"system": "urn:mrn", "value": "123",
            "type": {"text": "Medical record", "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}}],
        "birthDate": "1970-02-03",
        "gender": "female",
        "active": true,
        "telecom": [{"system": "phone", "value": "555-1234"}],
        "generalPractitioner": [{"reference": "https://ward.example/fhir/Practitioner/d1"}],
        "managingOrganization": {"reference": "Organization/o1", "identifier": {"system": "urn:org", "value": "X"}},
        "meta": {"tag": [{"system": "urn:t", "code": "t1"}], "profile": ["http://p/1"]}
    });
    let rows = ix().index("Patient", &p);
    let key = |c: &str| param_key("Patient", c);
    let names: Vec<_> = rows
        .strings
        .iter()
        .filter(|s| s.pkey == key("name"))
        .map(|s| s.norm.as_str())
        .collect();
    assert!(names.contains(&"muller") && names.contains(&"jorg") && names.contains(&"k"));
    let fam: Vec<_> = rows
        .strings
        .iter()
        .filter(|s| s.pkey == key("family"))
        .map(|s| s.exact.as_str())
        .collect();
    assert_eq!(fam, vec!["Müller"]);
    assert!(rows.tokens.iter().any(|t| t.pkey == key("identifier")
        && t.system.as_deref() == Some("urn:mrn")
        && t.code == "123"));
    assert!(
        rows.tokens
            .iter()
            .any(|t| t.pkey == key("identifier:of-type") && t.code == "MR|123")
    );
    assert!(
        rows.strings
            .iter()
            .any(|t| t.pkey == key("identifier:text") && t.norm == "medical record")
    );
    assert!(
        rows.tokens
            .iter()
            .any(|t| t.pkey == key("gender") && t.code == "female")
    );
    assert!(
        rows.tokens
            .iter()
            .any(|t| t.pkey == key("active") && t.code == "true")
    );
    assert!(
        rows.tokens
            .iter()
            .any(|t| t.pkey == key("phone") && t.code == "555-1234")
    );
    assert!(
        rows.tokens
            .iter()
            .any(|t| t.pkey == key("_tag") && t.code == "t1")
    );
    assert!(
        rows.uris
            .iter()
            .any(|t| t.pkey == key("_profile") && t.uri == "http://p/1")
    );
    let d = rows
        .dates
        .iter()
        .find(|d| d.pkey == key("birthdate"))
        .unwrap();
    assert_eq!(time::parse_range("1970-02-03"), Some((d.lo, d.hi)));
    let gp = rows
        .refs
        .iter()
        .find(|r| r.pkey == key("general-practitioner"))
        .unwrap();
    assert_eq!(
        (gp.ttype.as_deref(), gp.tid.as_str()),
        (Some("Practitioner"), "d1")
    );
    let org = rows
        .refs
        .iter()
        .find(|r| r.pkey == key("organization"))
        .unwrap();
    assert_eq!(
        (org.ttype.as_deref(), org.tid.as_str()),
        (Some("Organization"), "o1")
    );
    assert!(
        rows.tokens
            .iter()
            .any(|t| t.pkey == key("organization:identifier") && t.code == "X")
    );
    assert!(rows.sort_dates.iter().any(|s| s.pkey == key("birthdate")));
}

#[test]
fn observation_rows_and_composites() {
    let o = json!({
        "resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic BP"}], "text": "BP"},
        "subject": {"reference": "Patient/p1"},
        "effectivePeriod": {"start": "2020-01-01T10:00:00Z"},
        "valueQuantity": {"value": 120.5, "system": "http://unitsofmeasure.org", "code": "mm[Hg]", "unit": "mmHg"},
        "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                       "valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]
    });
    let rows = ix().index("Observation", &o);
    let key = |c: &str| param_key("Observation", c);
    assert!(
        rows.refs
            .iter()
            .any(|r| r.pkey == key("patient") && r.tid == "p1")
    );
    assert!(
        rows.refs
            .iter()
            .any(|r| r.pkey == key("subject") && r.tid == "p1")
    );
    let d = rows.dates.iter().find(|d| d.pkey == key("date")).unwrap();
    assert_eq!(d.hi, time::MAX);
    let q = rows
        .quantities
        .iter()
        .find(|q| q.pkey == key("value-quantity"))
        .unwrap();
    assert_eq!(q.value, 120.5);
    assert!((q.lo - 120.45).abs() < 1e-9 && (q.hi - 120.55).abs() < 1e-9);
    assert_eq!(q.code.as_deref(), Some("mm[Hg]"));
    assert!(
        rows.strings
            .iter()
            .any(|s| s.pkey == key("code:text") && s.norm == "systolic bp")
    );
    // code-value-quantity: component 0 = code, 1 = value, grouped
    let c0: Vec<_> = rows
        .tokens
        .iter()
        .filter(|t| t.pkey == key(&component_code("code-value-quantity", 0)))
        .collect();
    let c1: Vec<_> = rows
        .quantities
        .iter()
        .filter(|t| t.pkey == key(&component_code("code-value-quantity", 1)))
        .collect();
    assert_eq!(c0.len(), 1);
    assert_eq!(c1.len(), 1);
    assert_eq!(c0[0].grp, c1[0].grp);
    let cc: Vec<_> = rows
        .tokens
        .iter()
        .filter(|t| t.pkey == key(&component_code("component-code-value-quantity", 0)))
        .collect();
    assert_eq!(cc[0].code, "8462-4");
}

#[test]
fn every_type_indexes_without_panic() {
    let ix = ix();
    for t in r4().resource_types() {
        let r = json!({"resourceType": t, "id": "x", "meta": {"tag": [{"code": "a"}]}});
        let rows = ix.index(t, &r);
        assert!(
            rows.tokens.iter().any(|r| r.pkey == param_key(t, "_tag")),
            "{t}"
        );
    }
}

#[test]
fn narrows_unions() {
    let src = "AllergyIntolerance.code | Condition.code | (Observation.value as CodeableConcept)";
    assert_eq!(
        narrow_expression("Condition", src).unwrap(),
        "Condition.code"
    );
    assert_eq!(
        narrow_expression("Observation", src).unwrap(),
        "(Observation.value as CodeableConcept)"
    );
    assert!(narrow_expression("Patient", src).is_none());
    assert_eq!(
        narrow_expression("Patient", "Patient.name").unwrap(),
        "Patient.name"
    );
}

/// Indexes every official R4 example when the shared test cases are present.
#[test]
fn official_examples_index() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fhir-test-cases/examples-r4");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let ix = ix();
    let mut n = 0;
    for e in entries {
        let text = std::fs::read(e.unwrap().path()).unwrap();
        let Ok(v) = serde_json::from_slice::<Value>(&text) else {
            continue;
        };
        let Some(t) = v.get("resourceType").and_then(Value::as_str) else {
            continue;
        };
        let _ = ix.index(t, &v);
        n += 1;
    }
    assert!(n > 50);
}

#[test]
#[ignore = "diagnostic: prints expressions that fail on the official examples"]
fn probe_failures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fhir-test-cases/examples-r4");
    let ix = ix();
    let ctx = Context::new().with_model(&*MODEL);
    let mut failed = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let v: Value = serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        let t = v["resourceType"].as_str().unwrap().to_owned();
        for p in &ix.plan(&t).params {
            if let Err(err) = p.expr.evaluate(&v, &ctx) {
                failed.insert(format!("{t}.{} {} {}", p.code, err.code(), p.expr.source()));
            }
        }
    }
    for sp in r4().resource_types() {
        for p in r4().search_params(sp) {
            if let Some(src) = &p.expression
                && let Err(e) = Expr::parse(src)
            {
                failed.insert(format!("PARSE {sp}.{} {}", p.code, e.code()));
            }
        }
    }
    for f in &failed {
        println!("{f}");
    }
    println!("{} failures", failed.len());
}

#[test]
fn a_value_reached_twice_is_one_row() {
    // the same patient named in two entities of an AuditEvent, and twice in a Group
    let ev = json!({"resourceType": "AuditEvent", "recorded": "2026-12-03T10:00:00Z",
        "entity": [{"what": {"reference": "Patient/p1"}}, {"what": {"reference": "Patient/p1"}},
                   {"what": {"reference": "Patient/p2"}}]});
    let rows = ix().index("AuditEvent", &ev);
    let key = param_key("AuditEvent", "entity");
    let refs: Vec<_> = rows
        .refs
        .iter()
        .filter(|r| r.pkey == key)
        .map(|r| r.tid.as_str())
        .collect();
    assert_eq!(refs, vec!["p1", "p2"]);
    let mut dup = IndexRows {
        refs: vec![rows.refs[0].clone(), rows.refs[0].clone()],
        ..IndexRows::default()
    };
    dup.dedup();
    assert_eq!(dup.refs.len(), 1);
}
