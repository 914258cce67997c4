//! FHIRPath N1 §5.1/§6.3 and FHIR R4 FHIRPath profile: `is`/`as`/`ofType` over FHIR and System
//! types, choice elements, primitive extensions, `resolve()` without a database, `extension()`,
//! best-effort evaluation without a model, strict-mode errors, and bounded nesting.

mod common;

use common::{err, observation, patient, run, run_plain, run_strict};
use serde_json::json;
use ward_fhirpath::{Context, Expr, MAX_DEPTH};

#[test]
fn choice_elements_are_typed() {
    let o = observation();
    let r = |e: &str| run(e, &o).unwrap();
    assert_eq!(r("Observation.value.unit"), ["lbs"]);
    assert_eq!(r("Observation.value is Quantity"), ["true"]);
    assert_eq!(r("Observation.value.is(Period).not()"), ["true"]);
    assert_eq!(r("(Observation.value as Quantity).unit"), ["lbs"]);
    assert_eq!(r("Observation.value.ofType(Quantity).code"), ["[lb_av]"]);
    assert_eq!(
        r("Observation.value.as(Period).start"),
        Vec::<String>::new()
    );
    assert_eq!(r("Observation.effective is dateTime"), ["true"]);
    assert_eq!(r("Observation.value = 185 '[lb_av]'"), ["true"]);
    assert_eq!(r("Observation.value > 80 'kg'"), ["true"]);
    assert_eq!(
        r("Observation.valueQuantity"),
        Vec::<String>::new(),
        "not an element name"
    );
    assert_eq!(
        run_strict("Observation.valueQuantity", &o)
            .unwrap_err()
            .code(),
        "FP-ELEMENT"
    );
    assert_eq!(
        run_strict("(Observation.value as Period).unit", &o)
            .unwrap_err()
            .code(),
        "FP-ELEMENT"
    );
}

#[test]
fn primitive_types_and_system_types() {
    let p = patient();
    let r = |e: &str| run(e, &p).unwrap();
    assert_eq!(r("Patient.birthDate is date"), ["true"]);
    assert_eq!(r("Patient.birthDate is FHIR.date"), ["true"]);
    assert_eq!(r("Patient.birthDate is System.Date"), ["false"]);
    assert_eq!(r("Patient.birthDate = @1974-12-25"), ["true"]);
    assert_eq!(r("Patient.birthDate < today()"), ["true"]);
    assert_eq!(r("Patient.gender.is(code)"), ["true"]);
    assert_eq!(r("Patient.gender.is(string)"), ["true"]);
    assert_eq!(r("Patient.gender.as(string)"), Vec::<String>::new());
    assert_eq!(r("Patient.gender.as(code)"), ["male"]);
    assert_eq!(r("Patient.active.type().name"), ["boolean"]);
    assert_eq!(r("Patient.active.type().namespace"), ["FHIR"]);
    assert_eq!(r("1.type().name"), ["Integer"]);
    assert_eq!(r("Patient.is(DomainResource)"), ["true"]);
    assert_eq!(r("Patient.contact.is(BackboneElement)"), ["true"]);
    assert_eq!(r("Patient.contact.name.family"), ["du Marché"]);
    assert_eq!(r("1.is(System.Integer)"), ["true"]);
    assert_eq!(r("1.0.is(Decimal)"), ["true"]);
    assert_eq!(err("Patient.gender.as(string1)", &p), "FP-TYPENAME");
    assert_eq!(r("Patient.is(System.Patient)"), ["false"]);
}

#[test]
fn primitive_extensions_and_extension_function() {
    let p = patient();
    let r = |e: &str| run(e, &p).unwrap();
    let url = "http://hl7.org/fhir/StructureDefinition/patient-birthTime";
    assert_eq!(
        r(&format!("Patient.birthDate.extension('{url}').value")),
        ["1974-12-25T14:35:45-05:00"]
    );
    assert_eq!(
        r("Patient.birthDate.extension(%`ext-patient-birthTime`).exists()"),
        ["true"]
    );
    assert_eq!(r("Patient.birthDate.extension.url"), [url]);
    assert_eq!(
        r("Patient.birthDate.extension('other').exists()"),
        ["false"]
    );
    let only_ext = json!({"resourceType": "Patient", "name": [{"given": [null, "B"], "_given": [{"id": "g1"}, null]}]});
    assert_eq!(
        run("Patient.name.given.select($this.hasValue())", &only_ext).unwrap(),
        ["false", "true"]
    );
    assert_eq!(run("Patient.name.given.id", &only_ext).unwrap(), ["g1"]);
    assert_eq!(run("Patient.name.given.count()", &only_ext).unwrap(), ["2"]);
}

#[test]
fn resolve_infers_reference_types_without_a_database() {
    let o = observation();
    let r = |e: &str| run(e, &o).unwrap();
    assert_eq!(
        r("Observation.subject.where(resolve() is Patient).reference"),
        ["Patient/123"]
    );
    assert_eq!(
        r("Observation.subject.where(resolve() is Group).exists()"),
        ["false"]
    );
    assert_eq!(
        r("Observation.performer.where(resolve() is Practitioner).count()"),
        ["1"]
    );
    assert_eq!(
        r("Observation.performer.resolve().ofType(Device).id"),
        ["dev"]
    );
    assert_eq!(r("Observation.subject.resolve().id"), Vec::<String>::new());
    let plain = run_plain(
        "Observation.subject.where(resolve() is Patient).exists()",
        &o,
    )
    .unwrap();
    assert_eq!(plain, ["true"]);
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "id": "a"}},
        {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Observation", "id": "b",
            "subject": {"reference": "urn:uuid:1"}, "performer": [{"reference": "Patient/a"}]}}
    ]});
    let e = "Bundle.entry.resource.ofType(Observation).subject.resolve().id";
    assert_eq!(run(e, &bundle).unwrap(), ["a"]);
    assert_eq!(
        run("Bundle.entry[1].resource.performer.resolve().id", &bundle).unwrap(),
        ["a"]
    );
}

#[test]
fn works_without_a_model() {
    let p = patient();
    let o = observation();
    assert_eq!(
        run_plain("Patient.name.given", &p).unwrap(),
        ["Peter", "James", "Jim"]
    );
    assert_eq!(run_plain("Observation.value.unit", &o).unwrap(), ["lbs"]);
    assert_eq!(
        run_plain("Observation.value is Quantity", &o).unwrap(),
        ["true"]
    );
    assert_eq!(
        run_plain("Observation.value > 80 'kg'", &o).unwrap(),
        ["true"]
    );
    assert_eq!(
        run_plain("Observation.effective is dateTime", &o).unwrap(),
        ["true"]
    );
    assert_eq!(
        run_plain("Patient.birthDate < @2000-01-01", &p).unwrap(),
        ["true"]
    );
    assert_eq!(
        run_plain("Encounter.status", &p).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(run_plain("contained.id", &o).unwrap(), ["dev"]);
}

#[test]
fn strict_mode_reports_semantic_errors() {
    let p = patient();
    assert_eq!(run("name.given1", &p).unwrap(), Vec::<String>::new());
    assert_eq!(
        run_strict("name.given1", &p).unwrap_err().code(),
        "FP-ELEMENT"
    );
    assert_eq!(
        run_strict("Encounter.status", &p).unwrap_err().code(),
        "FP-TYPE"
    );
    assert_eq!(
        run_strict("Patient.children().skip(1)", &p)
            .unwrap_err()
            .code(),
        "FP-TYPE"
    );
    assert_eq!(
        run_strict("iif('x', 1, 2)", &p).unwrap_err().code(),
        "FP-TYPE"
    );
    // A mixed collection only needs one type that defines the name.
    let q = json!({"resourceType": "Questionnaire", "item": [{"linkId": "1"}]});
    assert_eq!(
        run_strict("Questionnaire.descendants().linkId", &q).unwrap(),
        ["1"]
    );
}

#[test]
fn errors_never_echo_data_values() {
    let secret = json!({"resourceType": "Patient", "name": [{"family": "SECRET-NAME"}], "birthDate": "1999-01-01"});
    for e in [
        "name.family + 1",
        "name.family.toInteger() + 'x'",
        "birthDate < 'x'",
        "name.family.single().matches(name.family)",
    ] {
        if let Err(err) = run(e, &secret) {
            assert!(!err.to_string().contains("SECRET"), "{e}: {err}");
            assert!(!err.to_string().contains("1999"), "{e}: {err}");
        }
    }
    let e = run(
        "name.family.matches(name.family.select('(' + $this))",
        &secret,
    )
    .unwrap_err();
    assert_eq!(e.code(), "FP-REGEX");
    assert!(!e.to_string().contains("SECRET"));
}

#[test]
fn nesting_is_bounded_and_evaluation_fits_a_small_stack() {
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(Expr::parse(&deep).unwrap_err().code(), "FP-DEPTH");
    assert_eq!(
        Expr::parse(&"-".repeat(10_000)).unwrap_err().code(),
        "FP-DEPTH"
    );
    // The deepest accepted expression evaluates on a 512 KiB stack.
    let chain = format!(
        "{}1{}",
        "(".repeat(MAX_DEPTH / 2),
        " + 1)".repeat(MAX_DEPTH / 2)
    );
    let expr = Expr::parse(&chain).unwrap();
    let h = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let v = json!({});
            expr.evaluate(&v, &Context::new()).map(|r| r.len())
        })
        .unwrap();
    assert_eq!(h.join().unwrap().unwrap(), 1);
}

#[test]
fn parse_errors_have_positions() {
    let e = Expr::parse("Patient.name.where(use = )").unwrap_err();
    assert_eq!((e.code(), e.position()), ("FP-SYNTAX", 25));
    let e = Expr::parse("Patient.name.frobnicate()").unwrap_err();
    assert_eq!((e.code(), e.position()), ("FP-FUNCTION", 13));
    assert_eq!(Expr::parse("'unterminated").unwrap_err().position(), 0);
}

#[test]
fn hostile_expressions_hit_limits_not_memory() {
    let v = json!({});
    let ctx = Context::new();
    let grow = format!("'ab'{}", ".select($this + $this)".repeat(40));
    assert_eq!(
        Expr::parse(&grow)
            .unwrap()
            .evaluate(&v, &ctx)
            .unwrap_err()
            .code(),
        "FP-LIMIT"
    );
    let replace = format!("'abcdefgh'{}", ".replace('', 'abcdefgh')".repeat(12));
    assert_eq!(
        Expr::parse(&replace)
            .unwrap()
            .evaluate(&v, &ctx)
            .unwrap_err()
            .code(),
        "FP-LIMIT"
    );
    let fan = format!("(1 | 2){}", ".select($this.combine($this))".repeat(40));
    assert_eq!(
        Expr::parse(&fan)
            .unwrap()
            .evaluate(&v, &ctx)
            .unwrap_err()
            .code(),
        "FP-LIMIT"
    );
    let rep = "(1).repeat($this + 1)";
    assert_eq!(
        Expr::parse(rep)
            .unwrap()
            .evaluate(&v, &ctx)
            .unwrap_err()
            .code(),
        "FP-LIMIT"
    );
}
