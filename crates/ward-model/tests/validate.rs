//! R4 validation rules (json.html, datatypes.html, elementdefinition.html#cardinality,
//! terminologies.html#required, references.html, extensibility.html, resource.html#dom-*): each
//! violation class is reported with its location and OperationOutcome issue type, and messages
//! never echo input values.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::print_stderr)] // test helpers

use serde_json::{Value, json};
use ward_model::{Issue, IssueCode, parse, validate};

fn check(v: &Value) -> Vec<(String, IssueCode)> {
    validate(v, None)
        .into_iter()
        .map(|i| (i.expression, i.code))
        .collect()
}

fn one(v: Value, expr: &str, code: IssueCode) {
    assert_eq!(check(&v), vec![(expr.to_owned(), code)], "{v}");
}

fn patient(extra: Value) -> Value {
    let mut p = json!({"resourceType": "Patient", "id": "p1"});
    for (k, val) in extra.as_object().unwrap() {
        p[k] = val.clone();
    }
    p
}

fn observation(extra: Value) -> Value {
    let mut o = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
    for (k, val) in extra.as_object().unwrap() {
        o[k] = val.clone();
    }
    o
}

#[test]
fn valid_resources_have_no_issues() {
    let p = patient(json!({
        "meta": {"lastUpdated": "2024-01-02T03:04:05.678Z", "tag": [{"system": "http://x", "code": "t"}]},
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
        "identifier": [{"system": "urn:oid:1.2.3", "value": "123"}],
        "active": true,
        "name": [{"use": "official", "family": "Doe", "given": ["J", "K"], "_given": [null, {"extension": [{"url": "http://x", "valueString": "y"}]}]}],
        "gender": "female", "_gender": {"id": "g"},
        "birthDate": "1970-02-28",
        "deceasedBoolean": false,
        "managingOrganization": {"reference": "Organization/o-1"},
        "contact": [{"relationship": [{"text": "friend"}], "name": {"text": "Z"}}]
    }));
    assert_eq!(check(&p), vec![]);
    let o = observation(json!({
        "subject": {"reference": "urn:uuid:6b2f2d8c-6c8e-4f39-9a7e-2b1d0c3a4e5f"},
        "effectiveDateTime": "2020-01-01T10:00:00+01:00",
        "valueQuantity": {"value": 1.50, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
        "referenceRange": [{"low": {"value": 1}}],
        "component": [{"code": {"text": "c"}, "valueInteger": 3}]
    }));
    assert_eq!(check(&o), vec![]);
}

#[test]
fn broken_json_is_a_parse_error_not_an_issue_list() {
    assert_eq!(
        parse(b"{\"resourceType\":").unwrap_err().code(),
        "model.invalid-json"
    );
    assert_eq!(parse(b"[1]").unwrap_err().code(), "model.not-an-object");
}

#[test]
fn resource_type_known_and_matching() {
    let issues = validate(
        &json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
        Some("Patient"),
    );
    assert_eq!(issues.len(), 1);
    assert_eq!(
        (issues[0].expression.as_str(), issues[0].code),
        ("Observation.resourceType", IssueCode::Invalid)
    );
    one(
        json!({"resourceType": "Foo"}),
        "Resource.resourceType",
        IssueCode::Invalid,
    );
    one(
        json!({"resourceType": "DomainResource"}),
        "Resource.resourceType",
        IssueCode::Invalid,
    );
    one(
        json!({"name": []}),
        "Resource.resourceType",
        IssueCode::Required,
    );
    one(json!("Patient"), "Resource", IssueCode::Structure);
}

#[test]
fn bad_dates_and_times() {
    one(
        patient(json!({"birthDate": "2020-13-01"})),
        "Patient.birthDate",
        IssueCode::Value,
    );
    one(
        patient(json!({"birthDate": "2020-02-30"})),
        "Patient.birthDate",
        IssueCode::Value,
    );
    one(
        patient(json!({"birthDate": "2020-02-29T10:00:00Z"})),
        "Patient.birthDate",
        IssueCode::Value,
    );
    one(
        observation(json!({"effectiveDateTime": "2020-01-01T10:00:00"})),
        "Observation.effectiveDateTime",
        IssueCode::Value,
    );
    one(
        observation(json!({"issued": "2020-01-01"})),
        "Observation.issued",
        IssueCode::Value,
    );
    one(
        observation(json!({"valueTime": "10:00"})),
        "Observation.valueTime",
        IssueCode::Value,
    );
    one(
        patient(json!({"meta": {"lastUpdated": "2020-01-01T10:00Z"}})),
        "Patient.meta.lastUpdated",
        IssueCode::Value,
    );
}

#[test]
fn unknown_elements_everywhere() {
    one(
        patient(json!({"foo": 1})),
        "Patient.foo",
        IssueCode::Structure,
    );
    one(
        patient(json!({"name": [{"family": "D", "foo": "x"}]})),
        "Patient.name[0].foo",
        IssueCode::Structure,
    );
    one(
        patient(json!({"contact": [{"gender": "male", "foo": "x"}]})),
        "Patient.contact[0].foo",
        IssueCode::Structure,
    );
    one(
        patient(json!({"extension": [{"url": "http://x", "valueString": "v", "foo": 1}]})),
        "Patient.extension[0].foo",
        IssueCode::Structure,
    );
    one(
        patient(
            json!({"contained": [{"resourceType": "Organization", "id": "o", "foo": 1}], "managingOrganization": {"reference": "#o"}}),
        ),
        "Patient.contained[0].foo",
        IssueCode::Structure,
    );
    one(
        patient(json!({"_foo": {"id": "x"}})),
        "Patient._foo",
        IssueCode::Structure,
    );
    one(
        patient(json!({"value[x]": 1})),
        "Patient.*",
        IssueCode::Structure,
    );
    one(
        observation(json!({"value[x]": 1})),
        "Observation.*",
        IssueCode::Structure,
    );
    one(
        observation(json!({"valueFoo": 1})),
        "Observation.valueFoo",
        IssueCode::Structure,
    );
}

#[test]
fn array_versus_single_shape() {
    one(
        patient(json!({"name": {"family": "D"}})),
        "Patient.name",
        IssueCode::Structure,
    );
    one(
        patient(json!({"gender": ["male"]})),
        "Patient.gender",
        IssueCode::Structure,
    );
    one(
        patient(json!({"name": []})),
        "Patient.name",
        IssueCode::Structure,
    );
    one(
        patient(json!({"name": [{}]})),
        "Patient.name[0]",
        IssueCode::Structure,
    );
    one(
        patient(json!({"name": ["Doe"]})),
        "Patient.name[0]",
        IssueCode::Structure,
    );
    one(
        patient(json!({"gender": null})),
        "Patient.gender",
        IssueCode::Structure,
    );
    one(
        patient(json!({"name": [null]})),
        "Patient.name[0]",
        IssueCode::Structure,
    );
    one(
        patient(json!({"name": [{"given": [""]}]})),
        "Patient.name[0].given[0]",
        IssueCode::Value,
    );
    one(
        patient(json!({"active": "true"})),
        "Patient.active",
        IssueCode::Value,
    );
}

#[test]
fn primitive_extensions_and_alignment() {
    assert_eq!(
        check(&patient(
            json!({"_birthDate": {"extension": [{"url": "http://x", "valueCode": "unknown"}]}})
        )),
        vec![]
    );
    let ext = json!({"extension": [{"url": "http://x", "valueString": "y"}]});
    assert_eq!(
        check(&patient(
            json!({"name": [{"given": [null, "B"], "_given": [ext.clone(), null]}]})
        )),
        vec![]
    );
    one(
        patient(json!({"_birthDate": [ext.clone()]})),
        "Patient._birthDate",
        IssueCode::Structure,
    );
    one(
        patient(json!({"name": [{"given": ["A", "B"], "_given": [ext.clone()]}]})),
        "Patient.name[0]._given",
        IssueCode::Structure,
    );
    one(
        patient(json!({"name": [{"given": ["A", null], "_given": [ext.clone(), null]}]})),
        "Patient.name[0].given[1]",
        IssueCode::Structure,
    );
    one(
        patient(json!({"name": [{"given": [null], "_given": [null]}]})),
        "Patient.name[0].given[0]",
        IssueCode::Structure,
    );
    one(
        patient(json!({"name": [{"_given": [ext.clone(), null]}]})),
        "Patient.name[0]._given[1]",
        IssueCode::Structure,
    );
    one(
        patient(json!({"_birthDate": {"id": "x"}})),
        "Patient._birthDate",
        IssueCode::Structure,
    );
    one(
        patient(json!({"_name": {"id": "x"}})),
        "Patient._name",
        IssueCode::Structure,
    );
    one(
        patient(json!({"_id": {"id": "x"}})),
        "Patient._id",
        IssueCode::Structure,
    );
    one(
        patient(json!({"birthDate": "2000", "_birthDate": {"foo": 1}})),
        "Patient._birthDate.foo",
        IssueCode::Structure,
    );
}

#[test]
fn cardinality_minimums() {
    let issues = check(&json!({"resourceType": "Observation"}));
    assert_eq!(
        issues,
        vec![
            ("Observation.status".into(), IssueCode::Required),
            ("Observation.code".into(), IssueCode::Required)
        ]
    );
    one(
        patient(json!({"link": [{"type": "seealso"}]})),
        "Patient.link[0].other",
        IssueCode::Required,
    );
    one(
        patient(json!({"extension": [{"valueString": "v"}]})),
        "Patient.extension[0].url",
        IssueCode::Required,
    );
    // a primitive present only through its extension satisfies the minimum
    let o = json!({"resourceType": "Observation", "_status": {"extension": [{"url": "http://x", "valueString": "y"}]}, "code": {"text": "x"}});
    assert_eq!(check(&o), vec![]);
}

#[test]
fn choice_types() {
    one(
        observation(json!({"valueString": "a", "valueBoolean": true})),
        "Observation.valueBoolean",
        IssueCode::Structure,
    );
    assert_eq!(
        check(&observation(
            json!({"valueString": "a", "_valueString": {"id": "x"}})
        )),
        vec![]
    );
    one(
        observation(json!({"valueQuantity": {"value": "1.5"}})),
        "Observation.valueQuantity.value",
        IssueCode::Value,
    );
    one(
        observation(json!({"valueInteger": 1.5})),
        "Observation.valueInteger",
        IssueCode::Value,
    );
}

#[test]
fn required_bindings() {
    one(
        patient(json!({"gender": "x"})),
        "Patient.gender",
        IssueCode::CodeInvalid,
    );
    one(
        observation(json!({"status": "done"})),
        "Observation.status",
        IssueCode::CodeInvalid,
    );
    let bad_cc = json!({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/1"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "nope"}]}});
    one(
        bad_cc,
        "AllergyIntolerance.clinicalStatus.coding",
        IssueCode::CodeInvalid,
    );
    let good_cc = json!({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/1"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]}});
    assert_eq!(check(&good_cc), vec![]);
    // not enumerable (BCP-13 mime types): not judged
    assert_eq!(
        check(&patient(
            json!({"photo": [{"contentType": "application/x-anything"}]})
        )),
        vec![]
    );
}

#[test]
fn references() {
    one(
        observation(json!({"subject": {"reference": "Patient/"}})),
        "Observation.subject.reference",
        IssueCode::Value,
    );
    one(
        observation(json!({"subject": {"reference": "Foo/1"}})),
        "Observation.subject.reference",
        IssueCode::Value,
    );
    one(
        observation(json!({"subject": {"reference": "Patient/a b"}})),
        "Observation.subject.reference",
        IssueCode::Value,
    );
    one(
        observation(json!({"subject": {"reference": "urn:uuid:XYZ"}})),
        "Observation.subject.reference",
        IssueCode::Value,
    );
    for ok in [
        "Patient/1/_history/2",
        "http://example.org/fhir/Patient/1",
        "#p",
        "urn:oid:1.2.3",
    ] {
        assert_eq!(
            check(&observation(json!({"subject": {"reference": ok}}))),
            vec![],
            "{ok}"
        );
    }
}

#[test]
fn extensions() {
    one(
        patient(json!({"extension": [{"url": "http://x"}]})),
        "Patient.extension[0]",
        IssueCode::Invariant,
    );
    let both = json!({"url": "http://x", "valueString": "v", "extension": [{"url": "a", "valueString": "b"}]});
    one(
        patient(json!({"extension": [both]})),
        "Patient.extension[0]",
        IssueCode::Invariant,
    );
    let nested =
        json!({"url": "http://x", "extension": [{"url": "a", "valueCoding": {"code": "c"}}]});
    assert_eq!(
        check(&patient(json!({"modifierExtension": [nested]}))),
        vec![]
    );
}

#[test]
fn contained_resources() {
    let inner = json!({"resourceType": "Organization", "id": "o", "contained": [{"resourceType": "Basic", "code": {"text": "b"}}],
        "meta": {"versionId": "1", "lastUpdated": "2020-01-01T00:00:00Z", "security": [{"code": "R"}]}});
    let issues = check(&patient(json!({"contained": [inner]})));
    assert_eq!(
        issues,
        vec![
            (
                "Patient.contained[0].contained".into(),
                IssueCode::Invariant
            ),
            (
                "Patient.contained[0].meta.versionId".into(),
                IssueCode::Invariant
            ),
            (
                "Patient.contained[0].meta.lastUpdated".into(),
                IssueCode::Invariant
            ),
            (
                "Patient.contained[0].meta.security".into(),
                IssueCode::Invariant
            ),
        ]
    );
    one(
        patient(json!({"contained": [{"resourceType": "Nope"}]})),
        "Patient.contained[0].resourceType",
        IssueCode::Invalid,
    );
    one(
        patient(json!({"contained": [{"resourceType": "Observation", "status": "final"}]})),
        "Patient.contained[0].code",
        IssueCode::Required,
    );
}

#[test]
fn nested_resources_in_bundles() {
    let b = json!({"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Patient", "gender": "x"}}]});
    one(b, "Bundle.entry[0].resource.gender", IssueCode::CodeInvalid);
}

#[test]
fn ids_and_profiles() {
    one(
        patient(json!({"id": "a b"})),
        "Patient.id",
        IssueCode::Value,
    );
    one(patient(json!({"id": 7})), "Patient.id", IssueCode::Value);
    let ranged = observation(json!({"referenceRange": [{"low": {"value": 1, "comparator": "<"}}]}));
    one(
        ranged,
        "Observation.referenceRange[0].low.comparator",
        IssueCode::Structure,
    );
}

#[test]
fn deep_values_do_not_crash() {
    let mut v = json!({"url": "http://x", "valueString": "leaf"});
    for _ in 0..300 {
        v = json!({"url": "http://x", "extension": [v]});
    }
    let issues = validate(&patient(json!({"extension": [v]})), None);
    assert_eq!(
        issues
            .iter()
            .filter(|i| i.message.contains("nests too deeply"))
            .count(),
        1
    );
}

#[test]
fn messages_never_echo_values() {
    let secret = "Secret Smith 1970";
    let v = json!({"resourceType": "Patient", "id": secret, "gender": secret, "birthDate": secret,
        "name": [{"given": [secret, null]}], "managingOrganization": {"reference": secret},
        "telecom": [{"system": secret}], "active": secret});
    let issues: Vec<Issue> = validate(&v, Some("Patient"));
    assert!(issues.len() >= 7, "{issues:#?}");
    for i in &issues {
        assert!(
            !i.message.contains(secret) && !i.expression.contains(secret),
            "{i:?}"
        );
    }
    let key = json!({"resourceType": "Patient", "John Smith 1970-01-01": 1});
    assert_eq!(
        check(&key),
        vec![("Patient.*".into(), IssueCode::Structure)]
    );
}
