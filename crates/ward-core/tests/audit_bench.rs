//! Audit write-cost benchmark (issue "Audit controls" item 9), not a test: ignored by default.
//! `cargo test --release -p ward-core --test audit_bench -- --ignored --nocapture`
//! Reads Patients through `FhirService::handle` (no HTTP, no TLS) from 32 concurrent tasks, with
//! the audit trail on and off over the same encrypted store, and prints reads per second of
//! each and their ratio — the in-process view of what `ward-bench read` measures end to end.
//! `WARD_BENCH_READS` sets the number of reads per run (default 20,000).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_precision_loss
)]

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::json;
use ward_auth::{Principal, PrincipalKind, ScopeSet};
use ward_core::{
    AuditSettings, CoreConfig, CursorKey, FhirRequest, FhirService, Interaction, RequestContext,
    ResourceType, SystemClock, UuidIds,
};
use ward_crypto::{MasterKey, SecretBytes};
use ward_store::{KeyRing, Store};
use ward_store_sqlite::{SqliteOptions, SqliteStore};

const PATIENTS: u64 = 1000;
const TASKS: u64 = 32;

fn service(store: Arc<dyn Store>, enabled: bool) -> FhirService {
    FhirService::new(
        store,
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        CoreConfig::new("https://bench.local/fhir"),
        CursorKey::new(&SecretBytes::new(vec![9; 32])),
    )
    .with_audit(AuditSettings {
        enabled,
        ..AuditSettings::default()
    })
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
        client_ip: Some("127.0.0.1".into()),
        user_agent: Some("audit-bench".into()),
    }
}

async fn reads(svc: &FhirService, n: u64) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let ctx = ctx();
            for i in 0..n / TASKS {
                let id = (t * 7919 + i * 104_729) % PATIENTS;
                let req = FhirRequest::new(Interaction::Read(
                    ResourceType::parse("Patient").unwrap(),
                    format!("p{id}"),
                ));
                assert_eq!(svc.handle(&ctx, req).await.unwrap().status, 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The audited run is over only when its records are projected too (the deferred
    // AuditEvent resources and index): an AuditEvent search waits for that.
    let mut req = FhirRequest::new(Interaction::SearchType(
        ResourceType::parse("AuditEvent").unwrap(),
    ));
    req.params = vec![("_count".into(), "1".into())];
    assert_eq!(svc.handle(&ctx(), req).await.unwrap().status, 200);
    (n / TASKS * TASKS) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly in release mode"]
async fn audited_reads_against_unaudited_reads() {
    let n: u64 = std::env::var("WARD_BENCH_READS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_hex("33".repeat(32).as_bytes()).unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(
            SqliteOptions::new(dir.path().join("a.db")),
            KeyRing::new(key),
        )
        .await
        .unwrap(),
    );
    let on = service(store.clone(), true);
    let off = service(store, false);
    let entries: Vec<_> = (0..PATIENTS)
        .map(|i| json!({"resource": {"resourceType": "Patient", "id": format!("p{i}"),
            "name": [{"family": format!("Family{i}"), "given": ["Alex"]}], "birthDate": "1970-01-01"},
            "request": {"method": "PUT", "url": format!("Patient/p{i}")}}))
        .collect();
    let mut req = FhirRequest::new(Interaction::BatchOrTransaction);
    req.body = Some(Bytes::from(
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}).to_string(),
    ));
    assert_eq!(off.handle(&ctx(), req).await.unwrap().status, 200);
    // warm both paths, then alternate so that neither gets the warmer cache
    reads(&off, 2000).await;
    if std::env::var("WARD_BENCH_ONLY").as_deref() != Ok("off") {
        reads(&on, 2000).await;
    }
    // `WARD_BENCH_ONLY=on|off` runs one side only (for profiling)
    let only = std::env::var("WARD_BENCH_ONLY").unwrap_or_default();
    let mut best = (0f64, 0f64);
    for round in 1..=3 {
        let a = if only == "on" {
            1.0
        } else {
            reads(&off, n).await
        };
        let b = if only == "off" {
            1.0
        } else {
            reads(&on, n).await
        };
        println!(
            "round {round}: audit off {a:.0} reads/s, audit on {b:.0} reads/s, ratio {:.2}",
            b / a
        );
        best = (best.0.max(a), best.1.max(b));
    }
    println!(
        "best: audit off {:.0} reads/s, audit on {:.0} reads/s, ratio {:.2}",
        best.0,
        best.1,
        best.1 / best.0
    );
}
