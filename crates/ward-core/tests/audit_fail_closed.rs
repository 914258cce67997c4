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
use ward_store::search::{SearchPage, SearchQuery};
use ward_store::{
    AuditRow, HistoryPage, HistoryQuery, KeyRing, NewVersion, ReindexFn, Store, StoreError,
    StoreResult, StoreTx, StoredResource,
};
use ward_store_sqlite::{SqliteOptions, SqliteStore};

static BROKEN: AtomicBool = AtomicBool::new(false);

struct Flaky(SqliteStore);
struct FlakyTx(Box<dyn StoreTx>);

#[async_trait::async_trait]
impl StoreTx for FlakyTx {
    async fn read(&mut self, t: &str, id: &str) -> StoreResult<Option<StoredResource>> {
        self.0.read(t, id).await
    }
    async fn write(&mut self, v: Vec<NewVersion>) -> StoreResult<()> {
        self.0.write(v).await
    }
    async fn search(&mut self, q: &SearchQuery) -> StoreResult<SearchPage> {
        self.0.search(q).await
    }
    async fn append_audit(&mut self, e: Vec<NewVersion>) -> StoreResult<Vec<(u64, [u8; 32])>> {
        if BROKEN.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable);
        }
        self.0.append_audit(e).await
    }
    async fn add_audit_checkpoint(&mut self, seq: u64, body: String) -> StoreResult<()> {
        self.0.add_audit_checkpoint(seq, body).await
    }
    async fn purge_audit(&mut self, through: u64) -> StoreResult<u64> {
        self.0.purge_audit(through).await
    }
    async fn index_audit(
        &mut self,
        from: u64,
        through: u64,
        rows: Vec<(u64, ward_store::index::IndexRows)>,
    ) -> StoreResult<bool> {
        self.0.index_audit(from, through, rows).await
    }
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.0.commit().await
    }
}

#[async_trait::async_trait]
impl Store for Flaky {
    async fn read(&self, t: &str, id: &str) -> StoreResult<Option<StoredResource>> {
        self.0.read(t, id).await
    }
    async fn vread(&self, t: &str, id: &str, v: u64) -> StoreResult<Option<StoredResource>> {
        self.0.vread(t, id, v).await
    }
    async fn history(&self, q: &HistoryQuery) -> StoreResult<HistoryPage> {
        self.0.history(q).await
    }
    async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
        Ok(Box::new(FlakyTx(self.0.begin().await?)))
    }
    async fn get_meta(&self, n: &str) -> StoreResult<Option<Vec<u8>>> {
        self.0.get_meta(n).await
    }
    async fn put_meta(&self, n: &str, v: &[u8]) -> StoreResult<()> {
        self.0.put_meta(n, v).await
    }
    async fn create_meta(&self, n: &str, v: &[u8]) -> StoreResult<Vec<u8>> {
        self.0.create_meta(n, v).await
    }
    fn keyring(&self) -> &KeyRing {
        self.0.keyring()
    }
    async fn search(&self, q: &SearchQuery) -> StoreResult<SearchPage> {
        self.0.search(q).await
    }
    async fn reindex(&self, t: Option<&str>, f: Arc<ReindexFn>) -> StoreResult<u64> {
        self.0.reindex(t, f).await
    }
    async fn audit_rows(&self, a: u64, l: usize) -> StoreResult<Vec<AuditRow>> {
        self.0.audit_rows(a, l).await
    }
    async fn audit_checkpoints(&self) -> StoreResult<Vec<String>> {
        self.0.audit_checkpoints().await
    }
    async fn audit_index_state(&self) -> StoreResult<(u64, u64)> {
        self.0.audit_index_state().await
    }
}

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
        Arc::new(Flaky(sqlite)),
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
