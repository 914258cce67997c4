//! Fail closed (issue "Audit controls" item 2, DESIGN.md non-negotiable 3): when the audit
//! record cannot be written, a read answers 503 with no data, and a write is not carried out
//! (its audit record shares its transaction). Once the trail is writable again, all is normal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use ward_auth::{Principal, PrincipalKind, ScopeSet};
use ward_core::{
    CoreConfig, CursorKey, FhirRequest, FhirService, Interaction, RequestContext, ResourceType,
    SystemClock, UuidIds,
};
use ward_crypto::{MasterKey, SecretBytes};
use ward_store::{Announced, Coming, KeyRing};
use ward_store_sqlite::{SqliteOptions, SqliteStore};

static BROKEN: AtomicBool = AtomicBool::new(false);

mod wrap;
use wrap::{Hooks, Wrap};

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

/// The service over an embedded store in `dir`, wrapped with `hooks`.
async fn service(dir: &tempfile::TempDir, hooks: Hooks) -> FhirService {
    let sqlite = SqliteStore::open(
        SqliteOptions::new(dir.path().join("w.db")),
        KeyRing::new(MasterKey::generate().unwrap()),
    )
    .await
    .unwrap();
    FhirService::new(
        Arc::new(Wrap(Arc::new(sqlite), hooks)),
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        CoreConfig::new("https://t/fhir"),
        CursorKey::new(&SecretBytes::new(vec![1; 32])),
    )
}

/// The id of the resource `create` created.
async fn created(svc: &FhirService, create: FhirRequest) -> String {
    let created = svc.handle(&ctx(), create).await.unwrap();
    created.body.unwrap().into_value().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_audit_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = Hooks {
        broken: Some(&BROKEN),
        ..Hooks::default()
    };
    let svc = service(&dir, hooks).await;
    let pt = ResourceType::parse("Patient").unwrap();
    let mut create = FhirRequest::new(Interaction::Create(pt));
    create.body = Some(Bytes::from_static(
        br#"{"resourceType":"Patient","gender":"male"}"#,
    ));
    let id = created(&svc, create.clone()).await;

    BROKEN.store(true, Ordering::SeqCst);
    let read = svc
        .handle(&ctx(), FhirRequest::new(Interaction::Read(pt, id.clone())))
        .await;
    let e = read.unwrap_err();
    assert_eq!(e.status(), 503, "no audit record, no data");
    assert_eq!(e.code(), "WARD-AUDIT-UNAVAILABLE");
    let before = svc
        .handle(&ctx(), FhirRequest::new(Interaction::HistoryType(pt)))
        .await;
    assert!(before.is_err());
    assert!(
        svc.handle(&ctx(), create.clone()).await.is_err(),
        "the write fails with its audit record"
    );

    BROKEN.store(false, Ordering::SeqCst);
    let hist = svc
        .handle(&ctx(), FhirRequest::new(Interaction::HistoryType(pt)))
        .await
        .unwrap();
    let entries = hist.body.unwrap().into_value().unwrap()["entry"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(entries, 1, "the failed create left nothing behind");
    assert!(
        svc.handle(&ctx(), FhirRequest::new(Interaction::Read(pt, id)))
            .await
            .is_ok()
    );
}

static BROKEN_TOO: AtomicBool = AtomicBool::new(false);
static COMING: LazyLock<Arc<Coming>> = LazyLock::new(Default::default);
static ANNOUNCED: AtomicUsize = AtomicUsize::new(0);

fn announce() -> Option<Announced> {
    ANNOUNCED.fetch_add(1, Ordering::SeqCst);
    Some(COMING.announce())
}

/// A read announces its record to the group commit while it runs (the trail's appender
/// waits for announced records) and lets go of the announcement whatever its outcome: an
/// announcement left behind would make every later commit wait its longest. Searches and
/// writes are not announced.
#[tokio::test(flavor = "multi_thread")]
async fn every_read_lets_go_of_its_announcement() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = Hooks {
        broken: Some(&BROKEN_TOO),
        announce: Some(announce),
        ..Hooks::default()
    };
    let svc = service(&dir, hooks).await;
    let pt = ResourceType::parse("Patient").unwrap();
    let announced = || ANNOUNCED.load(Ordering::SeqCst);
    let mut create = FhirRequest::new(Interaction::Create(pt));
    create.body = Some(Bytes::from_static(br#"{"resourceType":"Patient"}"#));
    let id = created(&svc, create).await;
    assert_eq!(announced(), 0, "a write commits its record with its data");

    let read = |id: &str| FhirRequest::new(Interaction::Read(pt, id.to_owned()));
    assert!(svc.handle(&ctx(), read(&id)).await.is_ok());
    assert_eq!(
        (announced(), COMING.count()),
        (1, 0),
        "read: announced, let go"
    );
    let missing = svc.handle(&ctx(), read("nope")).await.unwrap_err();
    assert_eq!(missing.status(), 404);
    assert_eq!((announced(), COMING.count()), (2, 0), "not found: let go");
    let vread = FhirRequest::new(Interaction::Vread(pt, id.clone(), 1));
    assert!(svc.handle(&ctx(), vread).await.is_ok());
    assert_eq!(
        (announced(), COMING.count()),
        (3, 0),
        "vread: announced, let go"
    );

    BROKEN_TOO.store(true, Ordering::SeqCst);
    let failed = svc.handle(&ctx(), read(&id)).await.unwrap_err();
    assert_eq!(failed.status(), 503);
    assert_eq!(
        (announced(), COMING.count()),
        (4, 0),
        "a read whose record failed: let go"
    );
    BROKEN_TOO.store(false, Ordering::SeqCst);

    let search = FhirRequest::new(Interaction::SearchType(pt));
    assert!(svc.handle(&ctx(), search).await.is_ok());
    assert_eq!(
        (announced(), COMING.count()),
        (4, 0),
        "a search is not announced"
    );

    // a read whose caller went away before its answer (polled once, then dropped while it
    // waits for its data): the announcement goes with its future
    let who = ctx();
    let gone = tokio::time::timeout(std::time::Duration::ZERO, svc.handle(&who, read(&id)));
    let _ = gone.await;
    assert_eq!((announced(), COMING.count()), (5, 0), "cancelled: let go");
}
