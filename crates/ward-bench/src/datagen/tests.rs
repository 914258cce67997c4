//! Generator determinism and validity: the same seed gives byte-identical Bundles, and every
//! generated resource passes Ward's structural validation (`ward_model::validate`).

use super::*;

fn opts(seed: u64, patients: u64) -> GenOptions {
    GenOptions {
        seed,
        patients,
        per_bundle: 3,
        pretty: false,
    }
}

fn ndjson(o: &GenOptions) -> Vec<u8> {
    let mut out = Vec::new();
    write_ndjson(o, &mut out).unwrap();
    out
}

#[test]
fn same_seed_gives_identical_bytes() {
    let a = ndjson(&opts(42, 7));
    let b = ndjson(&opts(42, 7));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_ne!(a, ndjson(&opts(43, 7)));
    assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), 3);
}

#[test]
fn patients_are_independent_of_batching() {
    let one = transaction_bundle(&[patient(5, 4)]);
    let again = transaction_bundle(&[patient(5, 4)]);
    assert_eq!(one, again);
    let dir = tempfile::tempdir().unwrap();
    let o = GenOptions {
        per_bundle: 1,
        ..opts(5, 5)
    };
    assert_eq!(write_dir(&o, dir.path()).unwrap(), 5);
    let text = std::fs::read(dir.path().join("bundle-000004.json")).unwrap();
    let parsed: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(parsed, one);
}

#[test]
fn every_generated_resource_is_valid() {
    let mut types = std::collections::BTreeSet::new();
    for i in 0..60 {
        let p = patient(9, i);
        for e in &p.entries {
            types.insert(e.resource_type);
            let issues = ward_model::validate(&e.resource, Some(e.resource_type));
            assert!(
                issues.is_empty(),
                "patient {i} {}: {issues:?}",
                e.resource_type
            );
        }
        let bundle = transaction_bundle(&[p]);
        let issues = ward_model::validate(&bundle, Some("Bundle"));
        assert!(issues.is_empty(), "bundle {i}: {issues:?}");
    }
    let expected = [
        "AllergyIntolerance",
        "Condition",
        "Encounter",
        "MedicationRequest",
        "Observation",
        "Patient",
    ];
    assert_eq!(types.into_iter().collect::<Vec<_>>(), expected);
}

#[test]
fn references_point_inside_the_bundle() {
    let p = patient(1, 0);
    let urls: std::collections::HashSet<&str> =
        p.entries.iter().map(|e| e.full_url.as_str()).collect();
    assert_eq!(urls.len(), p.entries.len());
    let text = serde_json::to_string(&transaction_bundle(std::slice::from_ref(&p))).unwrap();
    for piece in text.split("\"reference\":\"").skip(1) {
        let target = piece.split('"').next().unwrap();
        assert!(urls.contains(target), "dangling reference {target}");
    }
    assert_eq!(p.entries[0].resource_type, "Patient");
}

#[test]
fn summary_matches_the_resources() {
    let p = patient(3, 11);
    let obs = p
        .entries
        .iter()
        .filter(|e| e.resource_type == "Observation")
        .count();
    let cond = p
        .entries
        .iter()
        .filter(|e| e.resource_type == "Condition")
        .count();
    assert_eq!(p.summary.observations.len(), obs);
    assert_eq!(p.summary.conditions, cond);
    assert_eq!(p.summary.mrn, mrn(3, 11));
    let patient = &p.entries[0].resource;
    assert_eq!(patient["birthDate"], p.summary.birth_date.as_str());
    assert_eq!(patient["name"][0]["family"], p.summary.family.as_str());
    for f in &p.summary.observations {
        assert!((FIRST_ENCOUNTER_YEAR..=LAST_DAY.0).contains(&f.year));
    }
}

#[test]
fn data_is_varied() {
    let ps: Vec<GeneratedPatient> = (0..200).map(|i| patient(2, i)).collect();
    let families: std::collections::HashSet<&str> =
        ps.iter().map(|p| p.summary.family.as_str()).collect();
    assert!(families.len() > 20);
    assert!(
        families.iter().any(|f| !f.is_ascii()),
        "some names carry accents"
    );
    let years: std::collections::HashSet<i64> = ps
        .iter()
        .flat_map(|p| p.summary.observations.iter().map(|o| o.year))
        .collect();
    assert!(
        years.len() >= 10,
        "observations spread over years: {years:?}"
    );
}
