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
/// `IN` list are `SEARCH`es and pass, and so do scans of a subquery's own rows (a
/// co-routine's, such as a branch of a date-sort page).
fn full_scans(plan: &[String]) -> Vec<String> {
    plan.iter()
        .filter(|l| {
            (l.starts_with("SCAN") && !l.contains("INDEX") && !l.starts_with("SCAN (subquery-"))
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
        // the walk, with the set over windows of the newest rids first (`rowid >=`), or,
        // for a rare value, its matches looked up in the sort rows by rid and sorted
        &[
            "idx_sort_date_hi",
            FTS,
            "SCAN ae_fts VIRTUAL TABLE INDEX 0:M1>",
            "SEARCH s USING PRIMARY KEY (rid=? AND pkey=?)",
        ],
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
        // the key's terms between two bounds (fts5vocab's idxNum 0x600: term >= and <=,
        // plus 1 column used), then one full-text query per term found
        &[
            "SCAN v VIRTUAL TABLE INDEX 1537:",
            "SCAN f VIRTUAL TABLE INDEX 0:M",
        ],
    )
    .await;
}

/// The ids of every page of `params` over AuditEvents, in order, following `next`.
async fn all_pages(s: &SqliteStore, params: &[(&str, &str)]) -> Vec<String> {
    let mut q = query("AuditEvent", params);
    let mut out = Vec::new();
    loop {
        let page = s.search(&q).await.unwrap();
        out.extend(page.matches.into_iter().map(|m| m.meta.id));
        match page.next {
            Some(next) => q.page = Some(next),
            None => return out,
        }
    }
}

/// A date-sort page over 6,000 AuditEvents (012 "FTS5 as the value path"): a common
/// full-text value (5,940 matches) filters a walk in date order, which reads its set over
/// windows of the newest (or oldest) rids first, each four times the one before; a rare
/// value (60 matches, under 4,096) or one that nothing matches drives instead, its matches
/// sorted. Pages inside a window, across an edge and beyond, and pages of each branch, hold
/// exactly the matches in date order, negated conditions too. (bench/audit-search.sh shows
/// the time.)
#[tokio::test(flavor = "multi_thread")]
async fn a_date_walk_pages_common_and_rare_full_text_values_alike() {
    use ward_store::{NewVersion, Timestamp, WriteMethod};
    let (_d, s) = store().await;
    let ix = ward_store::index::Indexer::new("https://w/fhir");
    let t0 = 1_796_000_000_000_000_i64;
    let docs: Vec<serde_json::Value> = (0..6000)
        .map(|i| {
            let outcome = if i % 100 == 7 { "4" } else { "0" };
            let minute = Timestamp(t0 + i64::from(i) * 60_000_000).to_fhir_instant();
            serde_json::json!({"resourceType": "AuditEvent", "id": format!("e{i}"),
                "type": {"code": "rest"}, "action": "R", "outcome": outcome,
                "recorded": minute, "agent": [{"requestor": true, "who": {"reference": "Device/d"}}],
                "source": {"observer": {"reference": "Device/d"}}})
        })
        .collect();
    let events: Vec<NewVersion> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| NewVersion {
            rtype: "AuditEvent".into(),
            id: d["id"].as_str().unwrap().into(),
            version: 1,
            last_updated: Timestamp(t0 + i64::try_from(i).unwrap() * 60_000_000),
            method: WriteMethod::Create,
            body: Some(bytes::Bytes::from(d.to_string())),
            index: Default::default(),
            patients: Vec::new(),
        })
        .collect();
    s.append_audit_committed(events).await.unwrap();
    let rows = s.audit_rows(0, 10_000).await.unwrap();
    assert_eq!(rows.len(), 6000);
    let through = rows.last().unwrap().seq;
    let by_id = |id: &str| {
        let d = docs.iter().find(|d| d["id"] == id).unwrap();
        ix.index("AuditEvent", d)
    };
    let mut tx = s.begin().await.unwrap();
    let chunk = ward_store::contract::projected(&rows, by_id);
    assert!(tx.index_audit(0, through, chunk).await.unwrap());
    tx.commit().await.unwrap();

    let newest_first = |rare: bool| -> Vec<String> {
        (0..6000)
            .rev()
            .filter(|i| (i % 100 == 7) == rare)
            .map(|i| format!("e{i}"))
            .collect()
    };
    // pages of 50: the walk stops at 51 rows; its windows span 64 · 51 = 3,264 rids, then
    // 13,056 (all)
    let common = all_pages(
        &s,
        &[("_sort", "-date"), ("outcome", "0"), ("_count", "50")],
    )
    .await;
    assert_eq!(common, newest_first(false));
    let rare = all_pages(&s, &[("_sort", "-date"), ("outcome", "4"), ("_count", "5")]).await;
    assert_eq!(rare, newest_first(true));
    let mut rare_up = newest_first(true);
    rare_up.reverse();
    let up = all_pages(&s, &[("_sort", "date"), ("outcome", "4"), ("_count", "5")]).await;
    assert_eq!(up, rare_up);
    let not_rare = all_pages(
        &s,
        &[("_sort", "-date"), ("outcome:not", "4"), ("_count", "1000")],
    )
    .await;
    assert_eq!(not_rare, newest_first(false));
    // a value nothing matches ends the walk before it starts; negated, it keeps every one
    let none = all_pages(&s, &[("_sort", "-date"), ("outcome", "9"), ("_count", "5")]).await;
    assert!(none.is_empty(), "{none:?}");
    let every = all_pages(
        &s,
        &[("_sort", "-date"), ("outcome:not", "9"), ("_count", "1000")],
    )
    .await;
    assert_eq!(every.len(), 6000);
    assert_eq!(every.first().map(String::as_str), Some("e5999"));
    let mut oldest_first = newest_first(false);
    oldest_first.reverse();
    let both = all_pages(
        &s,
        &[
            ("_sort", "date"),
            ("action", "R"),
            ("outcome", "0"),
            ("_count", "50"),
        ],
    )
    .await;
    assert_eq!(both, oldest_first);
    // a condition that cannot drive (beyond 16 values, one full-text query each) still
    // filters the walk
    let many: Vec<String> = std::iter::once("4".to_owned())
        .chain((10..26).map(|c| c.to_string()))
        .collect();
    let many = all_pages(
        &s,
        &[
            ("_sort", "-date"),
            ("outcome", &many.join(",")),
            ("_count", "5"),
        ],
    )
    .await;
    assert_eq!(many, newest_first(true));
}
