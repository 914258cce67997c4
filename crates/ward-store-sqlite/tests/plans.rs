//! search.html performance contract (DESIGN.md "Query plans of the common searches are pinned"):
//! the common searches use the index tables, never a full scan of a table that has an index
//! for the predicate (SQLite `EXPLAIN QUERY PLAN`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use ward_crypto::MasterKey;
use ward_store::search::{ParseOptions, SearchQuery, parse};
use ward_store::{KeyRing, Store};
use ward_store_sqlite::{SqliteOptions, SqliteStore};

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

async fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_hex("22".repeat(32).as_bytes()).unwrap();
    let s = SqliteStore::open(
        SqliteOptions::new(dir.path().join("p.db")),
        KeyRing::new(key),
    )
    .await
    .unwrap();
    (dir, s)
}

/// A full scan: `SCAN x` without an index. Scans of the resource table by rowid through an
/// `IN` list are `SEARCH`es and pass.
fn full_scans(plan: &[String]) -> Vec<String> {
    plan.iter()
        .filter(|l| {
            (l.starts_with("SCAN") && !l.contains("INDEX"))
                || l.contains("sqlite_autoindex_resources_1 (rtype=?)")
        })
        .cloned()
        .collect()
}

async fn pinned(s: &SqliteStore, t: &str, params: &[(&str, &str)], must_use: &[&str]) {
    let q = query(t, params);
    let plan = s.explain(&q).await.unwrap();
    println!("{t}?{params:?}\n  {}", plan.join("\n  "));
    assert!(full_scans(&plan).is_empty(), "{t}?{params:?}: {plan:#?}");
    for idx in must_use {
        assert!(
            plan.iter().any(|l| l.contains(idx)),
            "{t}?{params:?} should use {idx}: {plan:#?}"
        );
    }
    // and the query runs
    s.search(&q).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn common_searches_use_indexes() {
    let (_d, s) = store().await;
    pinned(
        &s,
        "Observation",
        &[("patient", "X"), ("code", "http://loinc.org|Y")],
        &["idx_ref_val", "idx_token_rid"],
    )
    .await;
    pinned(
        &s,
        "Observation",
        &[("patient", "Patient/X"), ("code", "Y")],
        &["idx_ref_val"],
    )
    .await;
    pinned(&s, "Patient", &[("name", "smi")], &["idx_string_val"]).await;
    pinned(&s, "Patient", &[("identifier", "s|v")], &["idx_token_val"]).await;
    pinned(
        &s,
        "Observation",
        &[("date", "ge2020-01-01"), ("_sort", "-date")],
        &["idx_sort_date_hi", "idx_date_rid"],
    )
    .await;
    // A closed range, newest first: the walk stops at the range's start (`hi>?`) and the
    // range's end is checked in the index entry itself (covering: no table lookup per row
    // above the range). Oldest first, the mirror image.
    for (sort, walk) in [
        ("-date", "COVERING INDEX idx_sort_date_hi (pkey=? AND hi>?)"),
        ("date", "COVERING INDEX idx_sort_date_lo (pkey=? AND lo<?)"),
    ] {
        let year = [
            ("date", "ge2017-01-01"),
            ("date", "lt2018-01-01"),
            ("_sort", sort),
        ];
        pinned(&s, "Observation", &year, &[walk]).await;
    }
    pinned(
        &s,
        "Observation",
        &[("subject:Patient.name", "smi")],
        &[
            "idx_string_val",
            "idx_ref_val (pkey=? AND tid=? AND ttype=?)",
        ],
    )
    .await;
    pinned(
        &s,
        "Patient",
        &[("_has:Observation:patient:code", "1234-5")],
        &["idx_token_val", "idx_ref_rid (rid=? AND pkey=?)"],
    )
    .await;
    pinned(&s, "Patient", &[("_id", "a,b")], &[]).await;
}

/// The searches an auditor runs on the trail use indexes too: a reference or the date-sort
/// walk drives, and a string, token or uri condition is one full-text query over AuditEvent's
/// terms, read once as a set (docs/design/012-audit-lean-index.md "FTS5 as the value path"). A
/// rare value (a failure, one user's `altid`) is found by value, never by walking the trail.
/// (A trail stored without value indexes walked 123,000 AuditEvents for `outcome=8` in
/// 0.24 s against 0.008 s: 012 "Step one, measured and taken back".)
#[tokio::test(flavor = "multi_thread")]
async fn audit_event_searches_use_indexes() {
    const FTS: &str = "SCAN ae_fts VIRTUAL TABLE INDEX 0:M";
    let (_d, s) = store().await;
    pinned(
        &s,
        "AuditEvent",
        &[
            ("patient", "Patient/X"),
            ("action", "R"),
            ("address", "10.0"),
        ],
        &["idx_ref_val", FTS],
    )
    .await;
    pinned(
        &s,
        "AuditEvent",
        &[
            ("_sort", "-date"),
            ("outcome", "4"),
            ("date", "ge2026-01-01"),
        ],
        &["idx_sort_date_hi", FTS],
    )
    .await;
    pinned(&s, "AuditEvent", &[("outcome", "8")], &[FTS]).await;
    pinned(
        &s,
        "AuditEvent",
        &[("altid", "someone"), ("date", "ge2026-01-01")],
        &[FTS, "idx_date_rid"],
    )
    .await;
    pinned(
        &s,
        "AuditEvent",
        &[("address:contains", ".0.")],
        &[FTS, "SCAN ae_vocab VIRTUAL TABLE"],
    )
    .await;
}
