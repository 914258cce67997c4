//! search.html#summary and #elements: `_summary` (true/text/data/false) and `_elements` keep the
//! right elements, always keep resourceType/id/meta, and tag the result SUBSETTED.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::print_stderr)] // test helpers

use serde_json::{Value, json};
use ward_model::{SUBSETTED_CODE, SUBSETTED_SYSTEM, SummaryMode, select_elements, summarize};

fn sample() -> Value {
    json!({
        "resourceType": "Patient", "id": "p1",
        "meta": {"versionId": "2"},
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
        "name": [{"family": "Doe"}],
        "birthDate": "1970", "_birthDate": {"id": "b"},
        "photo": [{"contentType": "image/png"}],
        "contact": [{"name": {"text": "Z"}}],
        "link": [{"other": {"reference": "Patient/2"}, "type": "seealso"}],
        "deceasedBoolean": false
    })
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn subsetted(v: &Value) -> bool {
    v["meta"]["tag"].as_array().is_some_and(|t| {
        t.iter()
            .filter(|x| x["system"] == SUBSETTED_SYSTEM && x["code"] == SUBSETTED_CODE)
            .count()
            == 1
    })
}

#[test]
fn summary_true_keeps_summary_elements() {
    let s = summarize(&sample(), SummaryMode::True);
    assert_eq!(
        keys(&s),
        [
            "resourceType",
            "id",
            "meta",
            "name",
            "birthDate",
            "_birthDate",
            "link",
            "deceasedBoolean"
        ]
    );
    assert_eq!(s["link"][0]["type"], "seealso");
    assert_eq!(s["meta"]["versionId"], "2");
    assert!(subsetted(&s));
}

#[test]
fn summary_text_keeps_text_id_meta_and_mandatory() {
    let s = summarize(&sample(), SummaryMode::Text);
    assert_eq!(keys(&s), ["resourceType", "id", "meta", "text"]);
    assert!(subsetted(&s));
    let o = json!({"resourceType": "Observation", "status": "final", "code": {"text": "c"}, "valueString": "v"});
    let s = summarize(&o, SummaryMode::Text);
    assert_eq!(keys(&s), ["resourceType", "status", "code", "meta"]);
}

#[test]
fn summary_data_drops_text_and_false_keeps_all() {
    let s = summarize(&sample(), SummaryMode::Data);
    assert!(s.get("text").is_none());
    assert_eq!(s["contact"][0]["name"]["text"], "Z");
    assert!(subsetted(&s));
    let f = summarize(&sample(), SummaryMode::False);
    assert_eq!(f, sample());
    assert_eq!(SummaryMode::parse("data"), Some(SummaryMode::Data));
    assert_eq!(SummaryMode::parse("count"), None);
}

#[test]
fn elements_selects_named_and_mandatory() {
    let e = select_elements(&sample(), &["birthDate", "deceased"]);
    assert_eq!(
        keys(&e),
        [
            "resourceType",
            "id",
            "meta",
            "birthDate",
            "_birthDate",
            "deceasedBoolean"
        ]
    );
    assert!(subsetted(&e));
    let o = json!({"resourceType": "Observation", "status": "final", "code": {"text": "c"}, "valueString": "v", "note": [{"text": "n"}]});
    let e = select_elements(&o, &["value"]);
    assert_eq!(
        keys(&e),
        ["resourceType", "status", "code", "valueString", "meta"]
    );
}

#[test]
fn subsetted_tag_is_added_once() {
    let once = summarize(&sample(), SummaryMode::Data);
    let twice = summarize(&once, SummaryMode::Data);
    assert!(subsetted(&twice));
    assert_eq!(twice["meta"]["tag"].as_array().unwrap().len(), 1);
}
