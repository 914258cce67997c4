//! search.html: every parameter type, modifier and prefix, chains, `_has`, includes, sorting
//! and paging, checked against an independent oracle over a generated data set loaded through
//! a transaction (the real write path).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use support::*;
use ward_core::{FhirRequest, Interaction};

#[tokio::test(flavor = "multi_thread")]
async fn strings_accents_case_exact_contains() {
    let e = env().await;
    for q in [
        "smi", "SMI", "Smí", "jorg", "JÖRG", "ost", "øst", "garc", "nguyen", "o'b", "zoe", "s",
    ] {
        let want = e.pats(|p| name_parts(p).iter().any(|n| fold(n).starts_with(&fold(q))));
        e.check("Patient", &[("name", q)], want).await;
    }
    assert!(!e.ids("Patient", &[("name", "smi")]).await.is_empty());
    for q in ["Smith", "SMITH", "Jörg", "smith"] {
        let want = e.pats(|p| name_parts(p).iter().any(|n| n == q));
        e.check("Patient", &[("name:exact", q)], want).await;
    }
    for q in ["ith", "LL", "ü"] {
        let want = e.pats(|p| name_parts(p).iter().any(|n| fold(n).contains(&fold(q))));
        e.check("Patient", &[("name:contains", q)], want).await;
    }
    let want = e.pats(|p| fold(&p.family).starts_with("smi") || fold(&p.family).starts_with("jon"));
    e.check("Patient", &[("family", "smi,jon")], want).await;
    let want = e.pats(|p| {
        fold(&p.family).starts_with("smi") && p.given.iter().any(|g| fold(g).starts_with("an"))
    });
    e.check("Patient", &[("family", "smi"), ("given", "an")], want)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_and_modifiers() {
    let e = env().await;
    e.check(
        "Patient",
        &[("gender", "female")],
        e.pats(|p| p.gender.as_deref() == Some("female")),
    )
    .await;
    e.check(
        "Patient",
        &[("gender:not", "female")],
        e.pats(|p| p.gender.as_deref() != Some("female")),
    )
    .await;
    e.check(
        "Patient",
        &[("gender:missing", "true")],
        e.pats(|p| p.gender.is_none()),
    )
    .await;
    e.check(
        "Patient",
        &[("gender:missing", "false")],
        e.pats(|p| p.gender.is_some()),
    )
    .await;
    e.check("Patient", &[("active", "true")], e.pats(|p| p.active))
        .await;
    let has = |p: &Pat, s: Option<&str>, v: Option<&str>| {
        p.ident.iter().any(|(sys, val, _)| {
            v.is_none_or(|v| v == val)
                && match s {
                    None => true,
                    Some("") => sys.is_none(),
                    Some(s) => sys.as_deref() == Some(s),
                }
        })
    };
    e.check(
        "Patient",
        &[("identifier", "urn:mrn|MRN3")],
        e.pats(|p| has(p, Some("urn:mrn"), Some("MRN3"))),
    )
    .await;
    e.check(
        "Patient",
        &[("identifier", "MRN3,X6")],
        e.pats(|p| has(p, None, Some("MRN3")) || has(p, None, Some("X6"))),
    )
    .await;
    e.check(
        "Patient",
        &[("identifier", "|X9")],
        e.pats(|p| has(p, Some(""), Some("X9"))),
    )
    .await;
    e.check(
        "Patient",
        &[("identifier", "|MRN9")],
        e.pats(|p| has(p, Some(""), Some("MRN9"))),
    )
    .await;
    e.check(
        "Patient",
        &[("identifier", "urn:other|")],
        e.pats(|p| has(p, Some("urn:other"), None)),
    )
    .await;
    e.check(
        "Patient",
        &[(
            "identifier:of-type",
            "http://terminology.hl7.org/CodeSystem/v2-0203|MR|MRN4",
        )],
        e.pats(|p| p.id == "p4"),
    )
    .await;
    let code = |o: &Obs, c: &str| o.code.1 == c;
    e.check(
        "Observation",
        &[("code", "http://loinc.org|8480-6")],
        e.obs(|o| code(o, "8480-6")),
    )
    .await;
    e.check(
        "Observation",
        &[("code", "8480-6,8462-4")],
        e.obs(|o| code(o, "8480-6") || code(o, "8462-4")),
    )
    .await;
    e.check(
        "Observation",
        &[("code", "http://snomed.info/sct|8480-6")],
        BTreeSet::new(),
    )
    .await;
    e.check(
        "Observation",
        &[("code:text", "systolic")],
        e.obs(|o| code(o, "8480-6")),
    )
    .await;
    e.check("Observation", &[("code:text", "blood")], BTreeSet::new())
        .await;
    e.check(
        "Observation",
        &[("code:in", VS_URL)],
        e.obs(|o| code(o, "8480-6") || code(o, "8462-4")),
    )
    .await;
    e.check(
        "Observation",
        &[("code:not-in", VS_URL)],
        e.obs(|o| !code(o, "8480-6") && !code(o, "8462-4")),
    )
    .await;
    e.check(
        "Observation",
        &[("code:in", "http://example.org/nothing")],
        BTreeSet::new(),
    )
    .await;
    e.check(
        "Patient",
        &[("_id", "p1,p2,nope")],
        e.pats(|p| p.id == "p1" || p.id == "p2"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn references() {
    let e = env().await;
    let subj = |o: &Obs, p: &str| o.subject.as_deref() == Some(p);
    for v in ["Patient/p3", "p3", &format!("{BASE}/Patient/p3")] {
        e.check("Observation", &[("subject", v)], e.obs(|o| subj(o, "p3")))
            .await;
    }
    e.check(
        "Observation",
        &[("subject:Patient", "p3")],
        e.obs(|o| subj(o, "p3")),
    )
    .await;
    e.check(
        "Observation",
        &[("patient", "p3,p4")],
        e.obs(|o| subj(o, "p3") || subj(o, "p4")),
    )
    .await;
    e.check("Observation", &[("subject", "Group/p3")], BTreeSet::new())
        .await;
    e.check(
        "Observation",
        &[("subject", "http://elsewhere.org/fhir/Patient/p3")],
        BTreeSet::new(),
    )
    .await;
    e.check(
        "Observation",
        &[("subject:missing", "true")],
        e.obs(|o| o.subject.is_none()),
    )
    .await;
    e.check(
        "Patient",
        &[("general-practitioner", "Practitioner/d1")],
        e.pats(|p| p.gp.as_deref() == Some("d1")),
    )
    .await;
    // compartment search equals the compartment's parameters
    let (m, _, _) = e
        .walk(
            Interaction::SearchCompartment(ty("Patient"), "p3".into(), ty("Observation")),
            &[],
        )
        .await;
    assert_eq!(
        m.into_iter().collect::<BTreeSet<_>>(),
        e.obs(|o| subj(o, "p3"))
    );
    let (m, _, _) = e
        .walk(
            Interaction::SearchCompartment(ty("Patient"), "p3".into(), ty("Patient")),
            &[],
        )
        .await;
    assert_eq!(m, vec!["p3"]);
}

/// `Observation?{params}&_sort=date` and `_sort=-date`, every page: the matches of `want`,
/// each once, ascending by start or descending by end. The sort walk narrows itself by the
/// query's own date filters; this checks that it never drops a match (periods open at either
/// end included).
async fn check_date_sorted(e: &Env, params: &[(&str, &str)], want: &BTreeSet<String>) {
    for sort in ["date", "-date"] {
        let mut p = params.to_vec();
        p.push(("_sort", sort));
        let (m, _, _) = e.walk(Interaction::SearchType(ty("Observation")), &p).await;
        let set: BTreeSet<String> = m.iter().cloned().collect();
        assert_eq!(set.len(), m.len(), "a match twice: {p:?}");
        assert_eq!(&set, want, "{p:?}");
        let keys: Vec<i128> = m
            .iter()
            .map(|id| {
                let o = e.data.observations.iter().find(|o| &o.id == id).unwrap();
                let (lo, hi) = when_range(&o.when).unwrap();
                if sort == "date" { lo } else { -hi }
            })
            .collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "order: {p:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dates_with_precision_and_prefixes() {
    let e = env().await;
    let values = [
        "1970",
        "1970-02",
        "1970-02-03",
        "1969-12-31",
        "1971",
        "1970-02-03T12:00:00Z",
        "2001-06",
    ];
    for prefix in ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"] {
        for v in values {
            let s = range(v);
            let want = e.pats(|p| {
                p.birth
                    .as_deref()
                    .is_some_and(|b| date_matches(prefix, range(b), s))
            });
            let q = if prefix == "eq" {
                v.to_owned()
            } else {
                format!("{prefix}{v}")
            };
            e.check("Patient", &[("birthdate", &q)], want).await;
        }
    }
    // birthdate=1970 matches 1970-02-03 (contained) but not 1969-12-31
    let y1970 = e.ids("Patient", &[("birthdate", "1970")]).await;
    assert!(y1970.contains("p2") && !y1970.contains("p3"));
    for prefix in ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"] {
        for v in [
            "2020",
            "2020-01-01",
            "2019-12-31T23:59:59Z",
            "2020-06",
            "2019",
        ] {
            let s = range(v);
            let want = e.obs(|o| when_range(&o.when).is_some_and(|t| date_matches(prefix, t, s)));
            let q = format!("{prefix}{v}");
            check_date_sorted(&e, &[("date", &q)], &want).await;
            e.check("Observation", &[("date", &q)], want).await;
        }
    }
    // ap: within 10% of the distance from now (at least a day)
    let s = range("2020-01-01");
    let w = ((i128::from(NOW) - s.0).abs() / 10).max(86_400 * US);
    let want = e.obs(|o| when_range(&o.when).is_some_and(|(lo, hi)| lo < s.1 + w && hi > s.0 - w));
    check_date_sorted(&e, &[("date", "ap2020-01-01")], &want).await;
    e.check("Observation", &[("date", "ap2020-01-01")], want)
        .await;
    // alternatives (a comma): the sort walk takes the loosest bound of the values
    let (a, b) = (range("2019-06"), range("2020-03"));
    let want = e.obs(|o| {
        when_range(&o.when).is_some_and(|t| date_matches("lt", t, a) || date_matches("gt", t, b))
    });
    check_date_sorted(&e, &[("date", "lt2019-06,gt2020-03")], &want).await;
    let want = e.obs(|o| {
        when_range(&o.when).is_some_and(|t| date_matches("lt", t, a) || date_matches("ne", t, b))
    });
    check_date_sorted(&e, &[("date", "lt2019-06,ne2020-03")], &want).await;
    // same-side alternatives far apart, each with matches of its own
    let (c, d) = (range("2020-01"), range("2020-06-15"));
    let want = e.obs(|o| {
        when_range(&o.when).is_some_and(|t| date_matches("lt", t, c) || date_matches("eq", t, d))
    });
    check_date_sorted(&e, &[("date", "lt2020-01,2020-06-15")], &want).await;
    let (f, g) = (range("2021"), range("2019-12-31"));
    let want = e.obs(|o| {
        when_range(&o.when).is_some_and(|t| date_matches("ge", t, f) || date_matches("sa", t, g))
    });
    check_date_sorted(&e, &[("date", "ge2021,sa2019-12-31")], &want).await;
    // AND of two prefixes
    let (a, b) = (range("2019-06"), range("2020-03"));
    let want = e.obs(|o| {
        when_range(&o.when).is_some_and(|t| date_matches("ge", t, a) && date_matches("lt", t, b))
    });
    check_date_sorted(&e, &[("date", "ge2019-06"), ("date", "lt2020-03")], &want).await;
    e.check(
        "Observation",
        &[("date", "ge2019-06"), ("date", "lt2020-03")],
        want,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn numbers_quantities_composites() {
    let e = env().await;
    for prefix in ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"] {
        for v in ["5.4", "100", "99.5", "5.45", "0.1", "120.0"] {
            let want = e.obs(|o| {
                o.value
                    .as_ref()
                    .is_some_and(|(t, _)| number_matches(prefix, t, v))
            });
            e.check(
                "Observation",
                &[("value-quantity", &format!("{prefix}{v}"))],
                want,
            )
            .await;
        }
        for v in ["0.5", "0.05", "1"] {
            let want: BTreeSet<String> = e
                .data
                .risks
                .iter()
                .filter(|r| number_matches(prefix, &r.probability, v))
                .map(|r| r.id.clone())
                .collect();
            e.check(
                "RiskAssessment",
                &[("probability", &format!("{prefix}{v}"))],
                want,
            )
            .await;
        }
    }
    let want = e.obs(|o| {
        o.value
            .as_ref()
            .is_some_and(|(t, u)| u == "mg" && number_matches("le", t, "99.5"))
    });
    e.check(
        "Observation",
        &[("value-quantity", "le99.5|http://unitsofmeasure.org|mg")],
        want,
    )
    .await;
    let want = e.obs(|o| {
        o.value
            .as_ref()
            .is_some_and(|(t, u)| u == "g" && number_matches("eq", t, "100"))
    });
    e.check("Observation", &[("value-quantity", "100||g")], want)
        .await;
    let want = e.obs(|o| {
        o.code.1 == "8480-6"
            && o.value
                .as_ref()
                .is_some_and(|(t, _)| number_matches("gt", t, "99"))
    });
    e.check(
        "Observation",
        &[("code-value-quantity", "http://loinc.org|8480-6$gt99")],
        want,
    )
    .await;
    let want = e.obs(|o| {
        o.components
            .iter()
            .any(|(c, v)| c == "8462-4" && number_matches("lt", v, "90"))
    });
    e.check(
        "Observation",
        &[("component-code-value-quantity", "8462-4$lt90")],
        want,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn uris() {
    let e = env().await;
    let all: BTreeSet<String> = ["vs1", "vs2"].iter().map(|s| (*s).to_owned()).collect();
    e.check("ValueSet", &[("url", VS_URL)], ["vs1".to_owned()].into())
        .await;
    e.check(
        "ValueSet",
        &[("url:below", "http://example.org/fhir/ValueSet/")],
        all,
    )
    .await;
    e.check(
        "ValueSet",
        &[("url:above", "http://example.org/fhir/ValueSet/bp/v2/extra")],
        ["vs1".to_owned(), "vs2".to_owned()].into(),
    )
    .await;
    e.check(
        "ValueSet",
        &[("url:above", "http://example.org/fhir/ValueSet/bp")],
        ["vs1".to_owned()].into(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chains_and_reverse_chains() {
    let e = env().await;
    let pname = |id: &Option<String>, q: &str| {
        id.as_ref()
            .is_some_and(|id| name_parts(e.pat(id)).iter().any(|n| fold(n).starts_with(q)))
    };
    e.check(
        "Observation",
        &[("subject:Patient.name", "smi")],
        e.obs(|o| pname(&o.subject, "smi")),
    )
    .await;
    e.check(
        "Observation",
        &[("patient.name", "jon")],
        e.obs(|o| pname(&o.subject, "jon")),
    )
    .await;
    let gp_is = |o: &Obs, d: &[&str]| {
        o.subject
            .as_ref()
            .is_some_and(|s| e.pat(s).gp.as_deref().is_some_and(|g| d.contains(&g)))
    };
    // House (d1) and Hausmann (d3) both start with "h"
    e.check(
        "Observation",
        &[("patient.general-practitioner.name", "h")],
        e.obs(|o| gp_is(o, &["d1", "d3"])),
    )
    .await;
    e.check(
        "Observation",
        &[("patient.general-practitioner:Practitioner.name", "house")],
        e.obs(|o| gp_is(o, &["d1"])),
    )
    .await;
    let subjects_with = |c: &str| -> BTreeSet<String> {
        e.data
            .observations
            .iter()
            .filter(|o| o.code.1 == c)
            .filter_map(|o| o.subject.clone())
            .collect()
    };
    e.check(
        "Patient",
        &[("_has:Observation:patient:code", "8480-6")],
        subjects_with("8480-6"),
    )
    .await;
    let both: BTreeSet<String> = subjects_with("8480-6")
        .intersection(&subjects_with("2339-0"))
        .cloned()
        .collect();
    e.check(
        "Patient",
        &[
            ("_has:Observation:patient:code", "8480-6"),
            ("_has:Observation:patient:code", "2339-0"),
        ],
        both,
    )
    .await;
    let gps: BTreeSet<String> = subjects_with("8480-6")
        .iter()
        .filter_map(|p| e.pat(p).gp.clone())
        .collect();
    e.check(
        "Practitioner",
        &[(
            "_has:Patient:general-practitioner:_has:Observation:patient:code",
            "8480-6",
        )],
        gps,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn includes_and_revincludes() {
    let e = env().await;
    let (m, inc, _) = e
        .walk(
            Interaction::SearchType(ty("Observation")),
            &[
                ("code", "8480-6"),
                ("_include", "Observation:subject"),
                ("_count", "500"),
            ],
        )
        .await;
    let want_m = e.obs(|o| o.code.1 == "8480-6");
    assert_eq!(m.iter().cloned().collect::<BTreeSet<_>>(), want_m);
    let want_inc: BTreeSet<String> = e
        .data
        .observations
        .iter()
        .filter(|o| o.code.1 == "8480-6")
        .filter_map(|o| o.subject.clone())
        .collect();
    assert_eq!(inc.iter().cloned().collect::<BTreeSet<_>>(), want_inc);
    let (m, inc, _) = e
        .walk(
            Interaction::SearchType(ty("Patient")),
            &[("_id", "p3"), ("_revinclude", "Observation:subject")],
        )
        .await;
    assert_eq!(m, vec!["p3"]);
    assert_eq!(
        inc.into_iter().collect::<BTreeSet<_>>(),
        e.obs(|o| o.subject.as_deref() == Some("p3"))
    );
    // :iterate: requests → patients → their practitioners
    let (_, inc, _) = e
        .walk(
            Interaction::SearchType(ty("MedicationRequest")),
            &[
                ("_id", "m1"),
                ("_include", "MedicationRequest:subject"),
                ("_include:iterate", "Patient:general-practitioner"),
            ],
        )
        .await;
    let med = e.data.meds.iter().find(|m| m.id == "m1").unwrap();
    let mut want: BTreeSet<String> = [med.subject.clone()].into();
    want.extend(e.pat(&med.subject).gp.clone());
    assert_eq!(inc.into_iter().collect::<BTreeSet<_>>(), want);
    // * includes every reference
    let (_, inc, _) = e
        .walk(
            Interaction::SearchType(ty("MedicationRequest")),
            &[("_id", "m1"), ("_include", "*")],
        )
        .await;
    let want: BTreeSet<String> = [med.subject.clone(), med.requester.clone()].into();
    assert_eq!(inc.into_iter().collect::<BTreeSet<_>>(), want);
    let (_, inc, _) = e
        .walk(
            Interaction::SearchType(ty("Practitioner")),
            &[("_id", "d2"), ("_revinclude", "*")],
        )
        .await;
    let mut want: BTreeSet<String> = e.pats(|p| p.gp.as_deref() == Some("d2"));
    want.extend(
        e.data
            .meds
            .iter()
            .filter(|m| m.requester == "d2")
            .map(|m| m.id.clone()),
    );
    assert_eq!(inc.into_iter().collect::<BTreeSet<_>>(), want);
}

#[tokio::test(flavor = "multi_thread")]
async fn sorting_total_summary_elements_outcomes() {
    let e = env().await;
    let (m, _, bundles) = e
        .walk(
            Interaction::SearchType(ty("Patient")),
            &[("_sort", "birthdate")],
        )
        .await;
    assert_eq!(m.len(), e.data.patients.len());
    assert!(bundles.len() > 2, "paged");
    let keys: Vec<Option<i128>> = m
        .iter()
        .map(|id| e.pat(id).birth.as_deref().map(|b| range(b).0))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by_key(|k| (k.is_none(), *k));
    assert_eq!(keys, sorted, "ascending, missing last");
    let (m, _, _) = e
        .walk(
            Interaction::SearchType(ty("Observation")),
            &[("date", "ge2020-01-01"), ("_sort", "-date")],
        )
        .await;
    let want =
        e.obs(|o| when_range(&o.when).is_some_and(|t| date_matches("ge", t, range("2020-01-01"))));
    assert_eq!(m.iter().cloned().collect::<BTreeSet<_>>(), want);
    let by_id: HashMap<&str, &Obs> = e
        .data
        .observations
        .iter()
        .map(|o| (o.id.as_str(), o))
        .collect();
    let hs: Vec<i128> = m
        .iter()
        .map(|id| when_range(&by_id[id.as_str()].when).unwrap().1)
        .collect();
    assert!(hs.windows(2).all(|w| w[0] >= w[1]), "descending by end");
    let (m, _, _) = e
        .walk(
            Interaction::SearchType(ty("Patient")),
            &[("_sort", "family,-_id")],
        )
        .await;
    let fam: Vec<(String, String)> = m
        .iter()
        .map(|id| (fold(&e.pat(id).family), id.clone()))
        .collect();
    let mut sorted = fam.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    assert_eq!(fam, sorted);
    // _total and _summary=count
    let b = e
        .call(
            Interaction::SearchType(ty("Observation")),
            pairs(&[("code", "8480-6"), ("_total", "accurate")]),
        )
        .await
        .unwrap();
    assert_eq!(
        b["total"].as_u64().unwrap() as usize,
        e.obs(|o| o.code.1 == "8480-6").len()
    );
    let b = e
        .call(
            Interaction::SearchType(ty("Patient")),
            pairs(&[("_summary", "count")]),
        )
        .await
        .unwrap();
    assert_eq!(b["total"].as_u64().unwrap() as usize, e.data.patients.len());
    assert!(b.get("entry").is_none());
    let b = e
        .call(
            Interaction::SearchType(ty("Patient")),
            pairs(&[("_id", "p1"), ("_elements", "gender")]),
        )
        .await
        .unwrap();
    let r = &b["entry"][0]["resource"];
    assert!(r.get("name").is_none() && r.get("id").is_some());
    // unknown parameters: a warning outcome, or 400 when strict; malformed values: 400
    let b = e
        .call(
            Interaction::SearchType(ty("Patient")),
            pairs(&[("bogus", "secret-value"), ("_id", "p1")]),
        )
        .await
        .unwrap();
    let last = b["entry"].as_array().unwrap().last().unwrap();
    assert_eq!(last["search"]["mode"], "outcome");
    assert!(!last.to_string().contains("secret-value"));
    let mut req = FhirRequest::new(Interaction::SearchType(ty("Patient")));
    req.params = pairs(&[("bogus", "1")]);
    req.headers.handling_strict = true;
    assert_eq!(e.svc.handle(&e.ctx, req).await.unwrap_err().status(), 400);
    assert_eq!(
        e.call(
            Interaction::SearchType(ty("Patient")),
            pairs(&[("birthdate", "19x0")])
        )
        .await
        .unwrap_err(),
        400
    );
    assert_eq!(
        e.call(
            Interaction::SearchType(ty("Patient")),
            pairs(&[("birthdate", "xx1970")])
        )
        .await
        .unwrap_err(),
        400
    );
    assert_eq!(
        e.call(
            Interaction::SearchType(ty("Patient")),
            pairs(&[("_page", "forged")])
        )
        .await
        .unwrap_err(),
        400
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn system_search_and_batch_entries() {
    let e = env().await;
    let (m, _, _) = e
        .walk(
            Interaction::SearchSystem,
            &[("_type", "Patient,Practitioner"), ("_id", "p1,d1,o1")],
        )
        .await;
    assert_eq!(
        m.into_iter().collect::<BTreeSet<_>>(),
        ["d1".to_owned(), "p1".to_owned()].into()
    );
    let (m, _, _) = e.walk(Interaction::SearchSystem, &[("_id", "p1,o1")]).await;
    assert_eq!(m.len(), 2);
    let batch = serde_json::json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient?name=smi&_count=100"}}
    ]});
    let mut req = FhirRequest::new(Interaction::BatchOrTransaction);
    req.body = Some(Bytes::from(batch.to_string()));
    let b = e
        .svc
        .handle(&e.ctx, req)
        .await
        .unwrap()
        .body
        .unwrap()
        .into_value()
        .unwrap();
    let inner = &b["entry"][0]["resource"];
    assert_eq!(inner["type"], "searchset");
    let n = inner["entry"].as_array().map_or(0, Vec::len);
    assert_eq!(
        n,
        e.pats(|p| name_parts(p).iter().any(|x| fold(x).starts_with("smi")))
            .len()
    );
}

/// Paging visits every match that existed when the first page was read exactly once, while
/// another client keeps creating matching resources.
#[tokio::test(flavor = "multi_thread")]
async fn paging_is_stable_under_concurrent_writes() {
    let e = Arc::new(env_with(60, 10).await);
    let before = e.ids("Patient", &[("_count", "500")]).await;
    let writer = {
        let e = e.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let p = serde_json::json!({"resourceType": "Patient", "id": format!("new{i}"), "name": [{"family": "Smith"}]});
                let mut req =
                    FhirRequest::new(Interaction::Update(ty("Patient"), format!("new{i}")));
                req.body = Some(Bytes::from(p.to_string()));
                e.svc.handle(&e.ctx, req).await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    for params in [
        vec![("_count", "3")],
        vec![("_count", "4"), ("_sort", "-birthdate")],
        vec![("_count", "5"), ("_sort", "family")],
    ] {
        let (m, _, _) = e
            .walk(Interaction::SearchType(ty("Patient")), &params)
            .await;
        let set: BTreeSet<String> = m.iter().cloned().collect();
        assert_eq!(set.len(), m.len(), "no duplicates");
        assert!(before.is_subset(&set), "every original match once");
        assert!(
            set.iter()
                .all(|id| before.contains(id) || id.starts_with("new"))
        );
    }
    writer.await.unwrap();
    assert_eq!(
        e.ids("Patient", &[("_count", "500")]).await.len(),
        before.len() + 40
    );
}
