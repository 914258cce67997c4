//! The deferred AuditEvent search index (docs/design/007-audit.md "Deferred index"): records
//! are appended without index rows; a server's background task indexes them shortly after,
//! and a search of the trail first catches the index up, so it never misses a record that was
//! appended before it started.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ward_auth::{Principal, PrincipalKind, ScopeSet};
use ward_core::{
    AuditSettings, CoreConfig, CursorKey, FhirRequest, FhirService, Interaction, RequestContext,
    ResourceType, SystemClock, UuidIds,
};
use ward_crypto::{MasterKey, SecretBytes};
use ward_store::{KeyRing, Store};
use ward_store_sqlite::{SqliteOptions, SqliteStore};

fn ctx() -> RequestContext {
    RequestContext {
        principal: Principal::new(
            "t",
            PrincipalKind::Operator,
            ScopeSet::parse("system/*.cruds").unwrap(),
            i64::MAX,
        ),
        request_id: "r".into(),
        client_ip: None,
        user_agent: None,
    }
}

async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open(
            SqliteOptions::new(dir.path().join("w.db")),
            KeyRing::new(MasterKey::generate().unwrap()),
        )
        .await
        .unwrap(),
    )
}

fn service_on(store: Arc<dyn Store>, settings: AuditSettings) -> FhirService {
    FhirService::new(
        store,
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        CoreConfig::new("https://t/fhir"),
        CursorKey::new(&SecretBytes::new(vec![1; 32])),
    )
    .with_audit(settings)
}

async fn service(settings: AuditSettings) -> (FhirService, Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    (service_on(store.clone(), settings), store, dir)
}

/// Creates a Patient and reads it `n` times; returns its id.
async fn create_and_read(svc: &FhirService, n: usize) -> String {
    let pt = ResourceType::parse("Patient").unwrap();
    let mut create = FhirRequest::new(Interaction::Create(pt));
    create.body = Some(Bytes::from_static(br#"{"resourceType":"Patient"}"#));
    let created = svc.handle(&ctx(), create).await.unwrap();
    let id = created.body.unwrap().into_value().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..n {
        svc.handle(&ctx(), FhirRequest::new(Interaction::Read(pt, id.clone())))
            .await
            .unwrap();
    }
    id
}

/// `AuditEvent?patient=ID&subtype=read`: how many.
async fn reads_of(svc: &FhirService, id: &str) -> usize {
    let mut req = FhirRequest::new(Interaction::SearchType(
        ResourceType::parse("AuditEvent").unwrap(),
    ));
    req.params = vec![
        ("patient".into(), format!("Patient/{id}")),
        ("subtype".into(), "read".into()),
        ("_count".into(), "100".into()),
    ];
    let b = svc
        .handle(&ctx(), req)
        .await
        .unwrap()
        .body
        .unwrap()
        .into_value()
        .unwrap();
    b["entry"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_indexes_the_trail_in_the_background() {
    let (svc, store, _dir) = service(AuditSettings::default()).await;
    create_and_read(&svc, 5).await;
    let (_, head) = store.audit_index_state().await.unwrap();
    assert!(head >= 6, "a create and five reads: {head}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (indexed, now) = store.audit_index_state().await.unwrap();
        if indexed >= now {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the background indexer did not catch up ({indexed} of {now})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_search_catches_the_index_up_first() {
    // a command-line process (synchronous checkpoints) runs no background indexer
    let settings = AuditSettings {
        sync_checkpoints: true,
        ..AuditSettings::default()
    };
    let (svc, store, _dir) = service(settings).await;
    let id = create_and_read(&svc, 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (indexed, head) = store.audit_index_state().await.unwrap();
    assert!(
        indexed < head,
        "nothing indexed them yet ({indexed} of {head})"
    );
    assert_eq!(
        reads_of(&svc, &id).await,
        3,
        "the search sees every read appended before it"
    );
    let (indexed, head) = store.audit_index_state().await.unwrap();
    assert!(
        indexed + 1 >= head,
        "the search indexed the trail up to its own start ({indexed} of {head}; its own record \
         came after)"
    );
    // and again, with more records and the index partly caught up
    let pt = ResourceType::parse("Patient").unwrap();
    svc.handle(&ctx(), FhirRequest::new(Interaction::Read(pt, id.clone())))
        .await
        .unwrap();
    assert_eq!(reads_of(&svc, &id).await, 4);
}

static APPENDS_BROKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

mod wrap;

#[tokio::test(flavor = "multi_thread")]
async fn a_write_whose_record_could_not_be_chained_at_once_is_chained_by_the_server() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite(&dir).await;
    let store: Arc<dyn Store> = Arc::new(wrap::Wrap(
        sqlite.clone(),
        wrap::Hooks {
            appends_broken: Some(&APPENDS_BROKEN),
            ..wrap::Hooks::default()
        },
    ));
    let svc = service_on(store, AuditSettings::default());
    APPENDS_BROKEN.store(true, Ordering::SeqCst);
    let pt = ResourceType::parse("Patient").unwrap();
    let mut create = FhirRequest::new(Interaction::Create(pt));
    create.body = Some(Bytes::from_static(br#"{"resourceType":"Patient"}"#));
    assert_eq!(
        svc.handle(&ctx(), create).await.unwrap().status,
        201,
        "the write and its record commit together"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        sqlite.audit_rows(0, 10).await.unwrap().is_empty(),
        "the record could not be chained yet"
    );
    APPENDS_BROKEN.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = sqlite.audit_rows(0, 10).await.unwrap();
        if let Some(r) = rows.first() {
            let text = String::from_utf8(r.body.clone().unwrap().to_vec()).unwrap();
            assert!(text.contains("\"code\":\"create\""), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pending record was not chained"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
