//! search.html performance contract on PostgreSQL (DESIGN.md "Query plans of the common
//! searches are pinned"): on a realistically sized, analysed database (10,000 Patients,
//! 50,000 Observations of index rows), the common searches read the index tables through
//! their indexes, never a sequential scan of a table. Plain `EXPLAIN`; no planner settings.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use ward_crypto::MasterKey;
use ward_store::index::param_key;
use ward_store::search::{ParseOptions, SearchQuery, parse};
use ward_store::{KeyRing, Store};
use ward_store_postgres::testing::{TestSchema, url_or_skip};

fn query(t: &str, params: &[(&str, &str)]) -> SearchQuery {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let o = ParseOptions {
        base_url: "https://w/fhir",
        now_us: 0,
        default_count: 50,
        max_count: 1000,
        strict: true,
        registry: None,
    };
    parse(Some(&[t]), &params, &o).unwrap().query
}

/// Rows straight into the tables (the plans depend on sizes and statistics, not on bodies).
fn load_sql(s: &str) -> String {
    let k = |t, c| param_key(t, c);
    format!(
        "SET search_path = {s};
        INSERT INTO resources(rid, rtype, id, version, last_updated, deleted, seq)
          SELECT g, 'Patient', 'p' || g, 1, g, 0, g FROM generate_series(1, 10000) g;
        INSERT INTO resources(rid, rtype, id, version, last_updated, deleted, seq)
          SELECT g, 'Observation', 'o' || g, 1, g, 0, g FROM generate_series(10001, 60000) g;
        INSERT INTO idx_string(pkey, norm, exact, rid)
          SELECT {pn}, 'name' || (g % 4000), 'Name' || (g % 4000), g FROM generate_series(1, 10000) g;
        INSERT INTO idx_token(pkey, code, system, rid)
          SELECT {pi}, 'mrn' || g, 'urn:mrn', g FROM generate_series(1, 10000) g;
        INSERT INTO idx_ref(pkey, tid, ttype, rid)
          SELECT {op}, 'p' || (g % 10000 + 1), 'Patient', g FROM generate_series(10001, 60000) g;
        INSERT INTO idx_ref(pkey, tid, ttype, rid)
          SELECT {os}, 'p' || (g % 10000 + 1), 'Patient', g FROM generate_series(10001, 60000) g;
        INSERT INTO idx_token(pkey, code, system, rid)
          SELECT {oc}, 'code' || (g % 300), 'http://loinc.org', g FROM generate_series(10001, 60000) g;
        INSERT INTO idx_date(pkey, lo, hi, rid)
          SELECT {od}, 1420070400000000 + g::bigint * 6000000000, 1420070400000000 + g::bigint * 6000000000 + 1000000, g FROM generate_series(10001, 60000) g;
        INSERT INTO idx_sort_date(pkey, lo, hi, rid)
          SELECT {od}, 1420070400000000 + g::bigint * 6000000000, 1420070400000000 + g::bigint * 6000000000 + 1000000, g FROM generate_series(10001, 60000) g;
        ANALYZE;",
        pn = k("Patient", "name"),
        pi = k("Patient", "identifier"),
        op = k("Observation", "patient"),
        os = k("Observation", "subject"),
        oc = k("Observation", "code"),
        od = k("Observation", "date"),
    )
}

/// A search (type, parameters) and the indexes its plan must use.
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

/// Plan nodes that scan a whole table.
fn seq_scans(plan: &[String]) -> Vec<String> {
    plan.iter()
        .filter(|l| l.contains("Seq Scan"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn common_searches_use_indexes() {
    let Some(url) = url_or_skip("postgres plans") else {
        return;
    };
    let schema = TestSchema::create(&url).await.unwrap();
    let key = MasterKey::from_hex("22".repeat(32).as_bytes()).unwrap();
    let store = schema.open(KeyRing::new(key)).await.unwrap();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.batch_execute(&load_sql(&schema.name)).await.unwrap();
    let cases: &[Case] = &[
        (
            "Observation",
            &[("patient", "p7"), ("code", "http://loinc.org|code7")],
            &["idx_ref_val"],
        ),
        ("Patient", &[("name", "name12")], &["idx_string_val"]),
        (
            "Patient",
            &[("identifier", "urn:mrn|mrn77")],
            &["idx_token_val"],
        ),
        (
            "Observation",
            &[("date", "ge2020-01-01"), ("_sort", "-date")],
            &["idx_sort_date_hi"],
        ),
        (
            "Observation",
            &[
                ("date", "ge2017-01-01"),
                ("date", "lt2018-01-01"),
                ("_sort", "-date"),
            ],
            &["idx_sort_date_hi"],
        ),
        (
            "Observation",
            &[("subject:Patient.name", "name12")],
            &["idx_string_val", "idx_ref_val"],
        ),
        (
            "Patient",
            &[("_has:Observation:patient:code", "code5")],
            &["idx_token_val"],
        ),
        (
            "Observation",
            &[("code", "http://loinc.org|code9"), ("_sort", "-date")],
            &["idx_token_val"],
        ),
        ("Patient", &[("_id", "p1,p2")], &["resources_rtype_id_key"]),
    ];
    for (t, params, must_use) in cases {
        let q = query(t, params);
        let plan = store.explain(&q).await.unwrap();
        println!("{t}?{params:?}\n  {}", plan.join("\n  "));
        assert!(seq_scans(&plan).is_empty(), "{t}?{params:?}: {plan:#?}");
        for idx in *must_use {
            assert!(
                plan.iter().any(|l| l.contains(idx)),
                "{t}?{params:?} should use {idx}: {plan:#?}"
            );
        }
        store.search(&q).await.unwrap();
    }
}
