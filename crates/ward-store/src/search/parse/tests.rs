#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::search::{Prefix, TokenSystem};

fn opts(strict: bool) -> ParseOptions<'static> {
    ParseOptions {
        base_url: "https://w/fhir",
        now_us: 0,
        default_count: 20,
        max_count: 100,
        strict,
        registry: None,
    }
}

fn p(t: &str, q: &[(&str, &str)]) -> Result<ParsedSearch, SearchError> {
    let params: Vec<(String, String)> = q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    parse(Some(&[t]), &params, &opts(false))
}

fn param(f: &Filter) -> &ParamFilter {
    match f {
        Filter::Param(p) => p,
        other => panic!("{other:?}"),
    }
}

#[test]
fn basic_types_and_or_and() {
    let s = p(
        "Patient",
        &[("name", "Smi,Jö"), ("name", "x"), ("birthdate", "ge1970")],
    )
    .unwrap();
    assert_eq!(s.query.filters.len(), 3);
    let f = param(&s.query.filters[0]);
    assert_eq!(
        f.values,
        vec![Value::Str("smi".into()), Value::Str("jo".into())]
    );
    assert_eq!(f.pkeys, vec![param_key("Patient", "name")]);
    let d = param(&s.query.filters[2]);
    assert!(matches!(
        d.values[0],
        Value::Date {
            prefix: Prefix::Ge,
            ..
        }
    ));
}

#[test]
fn modifiers() {
    let s = p(
        "Patient",
        &[
            ("name:exact", "Jörg"),
            ("gender:not", "male"),
            ("identifier:of-type", "s|MR|1"),
            ("organization:identifier", "urn:x|1"),
            ("general-practitioner:Practitioner", "d1"),
            ("email:missing", "true"),
            ("language:text", "Engl"),
        ],
    )
    .unwrap();
    let f: Vec<_> = s.query.filters.iter().map(param).collect();
    assert_eq!(f[0].values, vec![Value::Str("Jörg".into())]);
    assert_eq!(f[1].modifier, Modifier::Not);
    assert_eq!(f[2].pkeys, vec![param_key("Patient", "identifier:of-type")]);
    assert_eq!(
        f[2].values,
        vec![Value::Token {
            system: TokenSystem::Is("s".into()),
            code: Some("MR|1".into())
        }]
    );
    assert_eq!(f[3].kind, K::Token);
    assert_eq!(
        f[4].values,
        vec![Value::Ref {
            ttype: Some("Practitioner".into()),
            id: "d1".into()
        }]
    );
    assert_eq!(f[5].modifier, Modifier::Missing(true));
    assert_eq!(f[6].kind, K::String);
    assert!(p("Patient", &[("name:not", "x")]).is_err());
    assert!(p("Patient", &[("name:bogus", "x")]).is_err());
    assert!(p("Patient", &[("name:missing", "maybe")]).is_err());
}

#[test]
fn unknown_params_warn_or_fail() {
    let s = p("Patient", &[("nonsense", "1"), ("_text", "x")]).unwrap();
    assert_eq!(s.warnings.len(), 2);
    assert!(s.query.filters.is_empty());
    assert!(!s.warnings[0].contains('1'));
    let params = vec![("nonsense".to_owned(), "1".to_owned())];
    assert_eq!(
        parse(Some(&["Patient"]), &params, &opts(true))
            .unwrap_err()
            .code,
        "WARD-SEARCH-UNKNOWN"
    );
}

#[test]
fn malformed_values_fail_without_echo() {
    for (k, v) in [
        ("birthdate", "19x0"),
        ("birthdate", "zz1970"),
        ("_count", "-1"),
        ("_total", "some"),
    ] {
        let e = p("Patient", &[(k, v)]).unwrap_err();
        assert!(!e.message.contains(v), "{e:?}");
    }
    assert!(p("Observation", &[("value-quantity", "gt5|a")]).is_err());
}

#[test]
fn chains_and_has() {
    let s = p(
        "Observation",
        &[
            ("subject:Patient.name", "smi"),
            ("patient.general-practitioner.name", "x"),
        ],
    )
    .unwrap();
    let Filter::Chain { targets, inner, .. } = &s.query.filters[0] else {
        panic!()
    };
    assert_eq!(targets, &vec!["Patient".to_owned()]);
    assert_eq!(param(inner).pkeys, vec![param_key("Patient", "name")]);
    let Filter::Chain { inner, .. } = &s.query.filters[1] else {
        panic!()
    };
    let Filter::Chain { targets, .. } = &**inner else {
        panic!()
    };
    assert!(targets.contains(&"Practitioner".to_owned()));
    let s = p(
        "Patient",
        &[
            ("_has:Observation:patient:_has:AuditEvent:entity:agent", "x"),
            ("_has:Observation:patient:code", "1234-5"),
        ],
    )
    .unwrap();
    let Filter::Has { rtype, inner, .. } = &s.query.filters[0] else {
        panic!()
    };
    assert_eq!(rtype, "Observation");
    assert!(matches!(&**inner, Filter::Has { .. }));
    assert!(matches!(&s.query.filters[1], Filter::Has { .. }));
}

#[test]
fn result_params() {
    let s = p(
        "Observation",
        &[
            ("_sort", "-date,code,_lastUpdated"),
            ("_count", "1000"),
            ("_total", "accurate"),
            ("_include", "Observation:subject:Patient"),
            ("_revinclude:iterate", "Provenance:target"),
            ("_include", "*"),
        ],
    )
    .unwrap();
    assert_eq!(s.query.sort.len(), 3);
    assert!(s.query.sort[0].descending);
    assert_eq!(s.query.count, 100);
    assert_eq!(s.query.total, TotalMode::Accurate);
    assert_eq!(s.query.includes.len(), 2);
    assert_eq!(s.query.includes[0].target.as_deref(), Some("Patient"));
    assert!(s.query.includes[1].pkeys.len() > 5);
    assert!(s.query.revincludes[0].iterate);
    let s = p("Observation", &[("_summary", "count")]).unwrap();
    assert!(s.summary_count);
    assert_eq!(s.query.count, 0);
}

#[test]
fn system_search_types() {
    let params = vec![
        ("_type".to_owned(), "Patient,Observation".to_owned()),
        ("_id".to_owned(), "a".to_owned()),
    ];
    let s = parse(None, &params, &opts(false)).unwrap();
    assert_eq!(s.query.types, vec!["Patient", "Observation"]);
    assert_eq!(param(&s.query.filters[0]).pkeys.len(), 2);
    let bad = vec![("_type".to_owned(), "Nope".to_owned())];
    assert!(parse(None, &bad, &opts(false)).is_err());
}

#[test]
fn composites() {
    let s = p(
        "Observation",
        &[("code-value-quantity", "http://loinc.org|8480-6$gt100")],
    )
    .unwrap();
    let f = param(&s.query.filters[0]);
    assert_eq!(f.components.len(), 2);
    assert!(matches!(&f.values[0], Value::Composite(v) if v.len() == 2));
}

#[test]
fn mentions_type_names_every_index_a_query_reads() {
    let q = |t: &str, params: &[(&str, &str)]| p(t, params).unwrap().query;
    assert!(q("AuditEvent", &[("action", "R")]).mentions_type("AuditEvent"));
    assert!(!q("Patient", &[("name", "x")]).mentions_type("AuditEvent"));
    assert!(q("Patient", &[("_has:AuditEvent:patient:action", "R")]).mentions_type("AuditEvent"));
    assert!(q("AuditEvent", &[("patient.name", "x")]).mentions_type("Patient"));
    assert!(q("Patient", &[("_revinclude", "AuditEvent:patient")]).mentions_type("AuditEvent"));
    assert!(q("Patient", &[("_revinclude", "*")]).mentions_type("AuditEvent"));
    assert!(!q("Observation", &[("_include", "Observation:subject")]).mentions_type("AuditEvent"));
}
