//! Fail closed (issue "Audit controls" item 2, DESIGN.md non-negotiable 3): when the audit
//! record cannot be written, a read answers 503 with no data, and a write is not carried out
//! (its audit record shares its transaction). Once the trail is writable again, all is normal.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use ward_auth::{Principal, PrincipalKind, ScopeSet};
use ward_core::{
    CoreConfig, CursorKey, FhirRequest, FhirService, Interaction, RequestContext, ResourceType,
    SystemClock, UuidIds,
};
use ward_crypto::{MasterKey, SecretBytes};
use ward_store::KeyRing;
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

#[tokio::test(flavor = "multi_thread")]
async fn no_audit_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(
        SqliteOptions::new(dir.path().join("w.db")),
        KeyRing::new(MasterKey::generate().unwrap()),
    )
    .await
    .unwrap();
    let svc = FhirService::new(
        Arc::new(Wrap(
            Arc::new(sqlite),
            Hooks {
                broken: Some(&BROKEN),
                no_index: false,
                appends_broken: None,
            },
        )),
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        CoreConfig::new("https://t/fhir"),
        CursorKey::new(&SecretBytes::new(vec![1; 32])),
    );
    let pt = ResourceType::parse("Patient").unwrap();
    let mut create = FhirRequest::new(Interaction::Create(pt));
    create.body = Some(Bytes::from_static(
        br#"{"resourceType":"Patient","gender":"male"}"#,
    ));
    let created = svc.handle(&ctx(), create.clone()).await.unwrap();
    let id = created.body.unwrap().into_value().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

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
