//! Search benchmark (issue 3, item 10), not a test: ignored by default. Run in release mode:
//! `cargo test --release -p ward-core --test search_bench -- --ignored --nocapture`
//! Loads 10,000 Patients and 100,000 Observations through transactions (the real write
//! path), then times the common searches through `FhirService::handle` (server side: parsing,
//! SQL, body decryption, Bundle writing), and compares store write throughput with and without
//! index rows. Sizes can be lowered with `WARD_BENCH_PATIENTS` for a quick run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_precision_loss
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use ward_auth::{Principal, PrincipalKind, ScopeSet};
use ward_core::{
    AuditSettings, CoreConfig, CursorKey, FhirRequest, FhirService, Interaction, RequestContext,
    ResourceType, SystemClock, UuidIds,
};
use ward_crypto::{MasterKey, SecretBytes};
use ward_store::index::Indexer;
use ward_store::{KeyRing, NewVersion, Store, Timestamp, WriteMethod};
use ward_store_sqlite::{SqliteOptions, SqliteStore};

mod wrap;
use wrap::{Hooks, Wrap};

/// Loads `docs` through transaction Bundles of 500; resources per second.
async fn load(svc: &FhirService, docs: &[(String, Value)]) -> f64 {
    let start = Instant::now();
    for chunk in docs.chunks(500) {
        let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": chunk.iter().map(|(t, v)| json!({
            "resource": v, "request": {"method": "PUT", "url": format!("{t}/{}", v["id"].as_str().unwrap())}})).collect::<Vec<_>>()});
        let mut req = FhirRequest::new(Interaction::BatchOrTransaction);
        req.body = Some(Bytes::from(bundle.to_string()));
        assert_eq!(svc.handle(&ctx(), req).await.unwrap().status, 200);
    }
    docs.len() as f64 / start.elapsed().as_secs_f64()
}

fn service(store: Arc<dyn Store>) -> FhirService {
    FhirService::new(
        store,
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        CoreConfig::new(BASE),
        CursorKey::new(&SecretBytes::new(vec![9; 32])),
    )
}

const BASE: &str = "https://bench.local/fhir";
const FAMILIES: [&str; 8] = [
    "Smith", "Jones", "Müller", "García", "Nguyen", "Brown", "Smíth", "Taylor",
];

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn patient(i: u64, r: &mut Lcg) -> Value {
    let fam = FAMILIES[r.next(FAMILIES.len() as u64) as usize];
    json!({"resourceType": "Patient", "id": format!("p{i}"),
        "identifier": [{"system": "urn:bench:mrn", "value": format!("MRN{i}")}],
        "name": [{"family": format!("{fam}{}", r.next(1000)), "given": ["Alex"]}],
        "gender": if i.is_multiple_of(2) { "female" } else { "male" },
        "birthDate": format!("{}-{:02}-{:02}", 1930 + r.next(90), 1 + r.next(12), 1 + r.next(28))})
}

fn observation(i: u64, patients: u64, r: &mut Lcg) -> Value {
    json!({"resourceType": "Observation", "id": format!("o{i}"), "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": format!("{}-{}", 1000 + r.next(20), 5)}]},
        "subject": {"reference": format!("Patient/p{}", r.next(patients))},
        "effectiveDateTime": format!("{}-{:02}-{:02}T10:00:00Z", 2015 + r.next(11), 1 + r.next(12), 1 + r.next(28)),
        "valueQuantity": {"value": r.next(2000) as f64 / 10.0, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}})
}

fn ctx() -> RequestContext {
    RequestContext {
        principal: Principal::new(
            "bench",
            PrincipalKind::Operator,
            ScopeSet::parse("system/*.cruds").unwrap(),
            i64::MAX,
        ),
        request_id: "b".into(),
        client_ip: None,
        user_agent: None,
    }
}

async fn open(dir: &std::path::Path, name: &str) -> SqliteStore {
    let key = MasterKey::from_hex("33".repeat(32).as_bytes()).unwrap();
    SqliteStore::open(SqliteOptions::new(dir.join(name)), KeyRing::new(key))
        .await
        .unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn time_search(
    svc: &FhirService,
    t: &str,
    params: impl Fn(u64) -> Vec<(String, String)>,
) -> (Duration, usize) {
    let ctx = ctx();
    let mut times = Vec::new();
    let mut entries = 0;
    for i in 0..200 {
        let mut req = FhirRequest::new(Interaction::SearchType(ResourceType::parse(t).unwrap()));
        req.params = params(i);
        let start = Instant::now();
        let resp = svc.handle(&ctx, req).await.unwrap();
        times.push(start.elapsed());
        if i == 0 {
            let v = resp.body.unwrap().into_value().unwrap();
            entries = v["entry"].as_array().map_or(0, Vec::len);
        }
    }
    (median(times), entries)
}

/// Store-only write throughput (resources/s) for `docs`, with or without index rows.
async fn store_throughput(store: &SqliteStore, docs: &[(String, Value)], with_index: bool) -> f64 {
    let ix = Indexer::new(BASE);
    let start = Instant::now();
    for chunk in docs.chunks(500) {
        let mut tx = store.begin().await.unwrap();
        let versions = chunk
            .iter()
            .map(|(t, v)| NewVersion {
                rtype: t.clone(),
                id: v["id"].as_str().unwrap().to_owned(),
                version: 1,
                last_updated: Timestamp(1),
                method: WriteMethod::Create,
                body: Some(Bytes::from(serde_json::to_vec(v).unwrap())),
                index: if with_index {
                    ix.index(t, v)
                } else {
                    Default::default()
                },
                patients: Vec::new(),
            })
            .collect();
        tx.write(versions).await.unwrap();
        tx.commit().await.unwrap();
    }
    docs.len() as f64 / start.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly in release mode"]
async fn search_benchmark() {
    let n_pat: u64 = std::env::var("WARD_BENCH_PATIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let n_obs = n_pat * 10;
    let dir = tempfile::tempdir().unwrap();
    let svc_store: Arc<dyn Store> = Arc::new(open(dir.path(), "bench.db").await);
    let svc = service(svc_store.clone());
    let mut r = Lcg(7);
    let mut docs: Vec<(String, Value)> = (0..n_pat)
        .map(|i| ("Patient".to_owned(), patient(i, &mut r)))
        .collect();
    docs.extend((0..n_obs).map(|i| ("Observation".to_owned(), observation(i, n_pat, &mut r))));
    let rate = load(&svc, &docs).await;
    println!(
        "loaded {} resources through transactions of 500: {rate:.0} resources/s (indexing on)",
        docs.len()
    );

    // As shipped: each search's AuditEvent is durable (group commit, one fsync) before the
    // answer. Then the same queries with audit off, which isolates the search engine itself.
    time_queries(&svc, &docs, n_pat, "audit on ").await;
    let unaudited = service(svc_store.clone()).with_audit(AuditSettings {
        enabled: false,
        ..AuditSettings::default()
    });
    time_queries(&unaudited, &docs, n_pat, "audit off").await;

    let sample: Vec<(String, Value)> = docs.iter().step_by(10).cloned().collect();
    let plain = open(dir.path(), "plain.db").await;
    let indexed = open(dir.path(), "indexed.db").await;
    let ix = Indexer::new(BASE);
    let start = Instant::now();
    let rows: usize = sample.iter().map(|(t, v)| ix.index(t, v).len()).sum();
    let per = start.elapsed().as_secs_f64() / sample.len() as f64;
    println!(
        "indexing alone: {:.1} µs per resource, {:.1} rows per resource",
        per * 1e6,
        rows as f64 / sample.len() as f64
    );
    let without = store_throughput(&plain, &sample, false).await;
    let with = store_throughput(&indexed, &sample, true).await;
    println!(
        "store writes of {} resources: {without:.0}/s without index rows, {with:.0}/s with (incl. indexing): ratio {:.2}x",
        sample.len(),
        without / with
    );
    let svc_rows = service(Arc::new(open(dir.path(), "svc-rows.db").await));
    let svc_none = service(Arc::new(Wrap(
        Arc::new(open(dir.path(), "svc-none.db").await),
        Hooks {
            broken: None,
            no_index: true,
            appends_broken: None,
            announce: None,
        },
    )));
    let with = load(&svc_rows, &sample).await;
    let dropped = load(&svc_none, &sample).await;
    let no_index = 1.0 / (1.0 / dropped - per);
    println!(
        "service writes (transactions of 500) of {} resources: {with:.0}/s with index rows; {dropped:.0}/s with rows dropped; \
         ~{no_index:.0}/s without indexing (rows dropped, minus indexing CPU): ratio {:.2}x",
        sample.len(),
        no_index / with
    );
}

/// Times the four issue-3 queries through `svc` and prints them under `label`.
async fn time_queries(svc: &FhirService, docs: &[(String, Value)], n_pat: u64, label: &str) {
    let obs: Vec<&Value> = docs
        .iter()
        .filter(|(t, _)| t == "Observation")
        .map(|(_, v)| v)
        .collect();
    let pair = |i: u64| {
        let o = obs[((i * 7919) % obs.len() as u64) as usize];
        let subject = o["subject"]["reference"].as_str().unwrap().to_owned();
        let code = o["code"]["coding"][0]["code"].as_str().unwrap().to_owned();
        vec![
            ("patient".to_owned(), subject),
            ("code".to_owned(), format!("http://loinc.org|{code}")),
        ]
    };
    let (t, n) = time_search(svc, "Observation", pair).await;
    println!(
        "{label}: Observation?patient=X&code=Y           median {:>8.3} ms ({n} entries)",
        t.as_secs_f64() * 1e3
    );
    let (t, n) = time_search(svc, "Patient", |i| {
        vec![(
            "name".into(),
            ["smi", "jon", "mul", "gar"][(i % 4) as usize].into(),
        )]
    })
    .await;
    println!(
        "{label}: Patient?name=smi                        median {:>8.3} ms ({n} entries)",
        t.as_secs_f64() * 1e3
    );
    let (t, n) = time_search(svc, "Patient", |i| {
        vec![(
            "identifier".into(),
            format!("urn:bench:mrn|MRN{}", (i * 53) % n_pat),
        )]
    })
    .await;
    println!(
        "{label}: Patient?identifier=s|v                  median {:>8.3} ms ({n} entries)",
        t.as_secs_f64() * 1e3
    );
    let (t, n) = time_search(svc, "Observation", |_| {
        vec![
            ("date".into(), "ge2020-01-01".into()),
            ("_sort".into(), "-date".into()),
        ]
    })
    .await;
    println!(
        "{label}: Observation?date=ge2020-01-01&_sort=-date median {:>6.3} ms ({n} entries, first page)",
        t.as_secs_f64() * 1e3
    );
    // ward-bench's search workload: one calendar year (of 2015-2025), newest first.
    let (t, n) = time_search(svc, "Observation", |i| {
        let y = 2015 + i % 11;
        vec![
            ("date".into(), format!("ge{y}-01-01")),
            ("date".into(), format!("lt{}-01-01", y + 1)),
            ("_sort".into(), "-date".into()),
        ]
    })
    .await;
    println!(
        "{label}: Observation?date=geY&date=ltY+1&_sort=-date median {:>6.3} ms ({n} entries, first page)",
        t.as_secs_f64() * 1e3
    );
}
