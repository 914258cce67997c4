//! FHIRPath N1 §5 (functions): existence, filtering, subsetting, combining, conversion, string,
//! math, tree navigation, utility (clock from the context, trace to a callback).

mod common;

use std::cell::RefCell;

use common::{err, lit, patient, run, truth};
use serde_json::json;
use ward_fhirpath::{Context, Expr, Item};

#[test]
fn existence() {
    let p = patient();
    let r = |e: &str| run(e, &p).unwrap();
    assert_eq!(r("name.exists()"), ["true"]);
    assert_eq!(r("name.exists(use = 'nickname')"), ["false"]);
    assert_eq!(r("link.empty()"), ["true"]);
    assert_eq!(r("name.all(given.exists())"), ["true"]);
    assert_eq!(r("{}.all(false)"), ["true"]);
    assert_eq!(r("name.select(family.exists()).allTrue()"), ["false"]);
    assert_eq!(r("name.select(family.exists()).anyTrue()"), ["true"]);
    assert_eq!(r("name.given.count()"), ["3"]);
    assert_eq!(r("name.first().subsetOf($this.name)"), ["true"]);
    assert_eq!(r("name.supersetOf($this.name.first())"), ["true"]);
    assert_eq!(r("(1 | 2 | 3).isDistinct()"), ["true"]);
    assert_eq!(r("(1).combine(1).distinct()"), ["1"]);
    assert_eq!(err("(true | 'a').allTrue()", &p), "FP-TYPE");
}

#[test]
fn filtering_and_subsetting() {
    let p = patient();
    let r = |e: &str| run(e, &p).unwrap();
    assert_eq!(r("name.where(use = 'usual').given"), ["Jim"]);
    assert_eq!(r("name.select(given.first())"), ["Peter", "Jim"]);
    assert_eq!(r("name[1].given"), ["Jim"]);
    assert_eq!(r("name[5].given"), Vec::<String>::new());
    assert_eq!(r("name.given.tail()"), ["James", "Jim"]);
    assert_eq!(r("name.given.skip(1).take(1)"), ["James"]);
    assert_eq!(r("name.given.last()"), ["Jim"]);
    assert_eq!(r("(1 | 2 | 3).intersect(2 | 4)"), ["2"]);
    assert_eq!(r("(1 | 2 | 3).exclude(2 | 4)"), ["1", "3"]);
    assert_eq!(r("telecom.select(iif(value = '555', $index, {}))"), ["0"]);
    assert_eq!(r("(1 | 2 | 3).aggregate($this + $total, 0)"), ["6"]);
    assert_eq!(r("(3 | 1 | 2).sort()"), ["1", "2", "3"]);
    assert_eq!(r("('a' | 'c' | 'b').sort(-$this)"), ["c", "b", "a"]);
    assert_eq!(err("name.single()", &p), "FP-SINGLETON");
    assert_eq!(r("name.repeat('x')"), ["x"]);
    assert_eq!(r("iif(true, 'a', 1/0)"), ["a"]);
    assert_eq!(err("iif(1 | 2, 'a', 'b')", &p), "FP-SINGLETON");
}

#[test]
fn conversions() {
    for (e, want) in [
        ("'1'.toInteger()", vec!["1"]),
        ("'1.1'.toInteger()", vec![]),
        ("true.toInteger()", vec!["1"]),
        ("'1.50'.toDecimal()", vec!["1.50"]),
        ("'yes'.toBoolean()", vec!["true"]),
        ("2.toBoolean()", vec![]),
        ("1.0.toString()", vec!["1.0"]),
        ("1 'wk'.toString()", vec!["1 'wk'"]),
        ("'2015-02-04'.toDate()", vec!["2015-02-04"]),
        ("'2015-02-04T14:34'.toDateTime()", vec!["2015-02-04T14:34"]),
        ("'14:34:28'.toTime()", vec!["14:34:28"]),
        ("'1 day'.toQuantity()", vec!["1 day"]),
        ("'1 wk'.convertsToQuantity()", vec!["false"]),
        ("1000 'mg'.toQuantity('g')", vec!["1.000 'g'"]),
        ("'a'.convertsToInteger()", vec!["false"]),
        ("{}.toInteger()", vec![]),
    ] {
        assert_eq!(lit(e), want, "{e}");
    }
    assert_eq!(err("(1 | 2).toString()", &json!({})), "FP-SINGLETON");
}

#[test]
fn strings() {
    for (e, want) in [
        ("'LogicalModel-Person'.indexOf('-')", vec!["12"]),
        ("'12345'.substring(2, 1)", vec!["3"]),
        ("'12345'.substring(25)", vec![]),
        ("'12345'.startsWith('12')", vec!["true"]),
        ("'12345'.endsWith('45')", vec!["true"]),
        ("'12345'.contains('34')", vec!["true"]),
        ("'aBc'.upper()", vec!["ABC"]),
        ("'aBc'.lower()", vec!["abc"]),
        ("'abc'.replace('', 'x')", vec!["xaxbxcx"]),
        ("'abc123'.replaceMatches('[0-9]', '-')", vec!["abc---"]),
        ("'A\nB'.matches('A.*B')", vec!["true"]),
        ("'x/Library/y'.matchesFull('Library')", vec!["false"]),
        ("'ünï'.length()", vec!["3"]),
        ("'ab'.toChars()", vec!["a", "b"]),
        ("' x '.trim()", vec!["x"]),
        ("'a,,c'.split(',').count()", vec!["3"]),
        ("('a' | 'b').join('-')", vec!["a-b"]),
        ("'test'.encode('base64')", vec!["dGVzdA=="]),
        ("{}.upper()", vec![]),
    ] {
        assert_eq!(lit(e), want, "{e}");
    }
    let p = patient();
    assert_eq!(err("name.startsWith('x')", &p), "FP-SINGLETON");
    assert_eq!(err("name.first().startsWith('x')", &p), "FP-TYPE");
    assert_eq!(err("'a'.matches('(')", &p), "FP-REGEX");
    assert_eq!(err("'a'.matches('('.substring(0))", &p), "FP-REGEX");
}

#[test]
fn math() {
    for (e, want) in [
        ("(-5).abs()", vec!["5"]),
        ("1.1.ceiling()", vec!["2"]),
        ("(-2.1).floor()", vec!["-3"]),
        ("(-1.56).truncate()", vec!["-1"]),
        ("3.14159.round(3)", vec!["3.142"]),
        ("81.sqrt()", vec!["9"]),
        ("(-1).sqrt()", vec![]),
        ("0.exp()", vec!["1"]),
        ("1.ln()", vec!["0"]),
        ("16.log(2)", vec!["4"]),
        ("2.power(10)", vec!["1024"]),
        ("2.5.power(2)", vec!["6.25"]),
        ("(-1).power(0.5)", vec![]),
        ("1.587.lowBoundary()", vec!["1.58650000"]),
        ("1.587.highBoundary(2)", vec!["1.59"]),
        ("@2014.lowBoundary(6)", vec!["2014-01"]),
        ("1.58700.precision()", vec!["5"]),
        ("1 'cm'.comparable(1 '[in_i]')", vec!["true"]),
    ] {
        assert_eq!(lit(e), want, "{e}");
    }
    assert_eq!(err("'a'.abs()", &json!({})), "FP-TYPE");
}

#[test]
fn tree_navigation() {
    let q = json!({"resourceType": "Questionnaire", "item": [
        {"linkId": "1", "item": [{"linkId": "1.1"}, {"linkId": "1.2", "item": [{"linkId": "1.2.1"}]}]}
    ]});
    assert_eq!(
        run("Questionnaire.repeat(item).linkId", &q).unwrap(),
        ["1", "1.1", "1.2", "1.2.1"]
    );
    assert_eq!(run("descendants().linkId.count()", &q).unwrap(), ["4"]);
    assert_eq!(run("children().count()", &q).unwrap(), ["1"]);
}

#[test]
fn clock_comes_from_the_context() {
    let e = Expr::parse("now()").unwrap();
    let v = json!({});
    assert_eq!(
        e.evaluate(&v, &Context::new()).unwrap_err().code(),
        "FP-UNSUPPORTED"
    );
}

#[test]
fn trace_goes_to_the_callback_and_variables_resolve() {
    let seen = RefCell::new(Vec::new());
    let tracer =
        |name: &str, items: &[Item<'_>]| seen.borrow_mut().push((name.to_owned(), items.len()));
    let p = patient();
    let vars = vec![Item::string("Jim")];
    let ctx = Context::new()
        .with_tracer(&tracer)
        .with_variable("who", vars);
    let e = Expr::parse("name.trace('n', given).where(given = %who).use").unwrap();
    let out: Vec<_> = e
        .evaluate(&p, &ctx)
        .unwrap()
        .iter()
        .filter_map(Item::to_text)
        .collect();
    assert_eq!(out, ["usual"]);
    assert_eq!(*seen.borrow(), [("n".to_owned(), 3)]);
    assert_eq!(run("%ucum", &p).unwrap(), ["http://unitsofmeasure.org"]);
    assert_eq!(
        run("%`vs-administrative-gender`", &p).unwrap(),
        ["http://hl7.org/fhir/ValueSet/administrative-gender"]
    );
    assert_eq!(run("%resource.id", &p).unwrap(), ["p1"]);
    assert_eq!(run("%context.id", &p).unwrap(), ["p1"]);
    assert_eq!(err("%nope", &p), "FP-VARIABLE");
    assert_eq!(truth("%sct = 'http://snomed.info/sct'"), Some(true));
}
