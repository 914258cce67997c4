//! The service under test: a FhirService over a fresh SQLCipher store (or, with
//! `WARD_TEST_BACKEND=postgres`, a fresh schema in `WARD_TEST_POSTGRES_URL`), loaded with the
//! generated data set through one transaction, and helpers that walk every search page.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use ward_auth::{Principal, PrincipalKind, ScopeSet};
use ward_core::{
    Clock, CoreConfig, CursorKey, FhirRequest, FhirService, Interaction, RequestContext,
    ResourceType, UuidIds,
};
use ward_crypto::{MasterKey, SecretBytes};
use ward_store::{KeyRing, Store, Timestamp};
use ward_store_postgres::testing::TestSchema;
use ward_store_sqlite::{SqliteOptions, SqliteStore};

use super::*;

/// 2026-11-25T00:00:00Z
pub const NOW: i64 = 1_795_564_800_000_000;

pub struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        Timestamp(NOW)
    }
}

pub struct Env {
    pub svc: FhirService,
    pub ctx: RequestContext,
    pub data: Data,
    _dir: tempfile::TempDir,
    _schema: Option<TestSchema>,
}

async fn open_store(dir: &std::path::Path, ring: KeyRing) -> (Arc<dyn Store>, Option<TestSchema>) {
    if std::env::var("WARD_TEST_BACKEND").as_deref() == Ok("postgres") {
        let url = std::env::var(ward_store_postgres::testing::ENV)
            .expect("WARD_TEST_BACKEND=postgres needs WARD_TEST_POSTGRES_URL");
        let schema = TestSchema::create(&url).await.unwrap();
        let store = schema.open(ring).await.unwrap();
        return (Arc::new(store), Some(schema));
    }
    let store = SqliteStore::open(SqliteOptions::new(dir.join("w.db")), ring)
        .await
        .unwrap();
    (Arc::new(store), None)
}

pub async fn env_with(patients: usize, observations: usize) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_hex("11".repeat(32).as_bytes()).unwrap();
    let (store, schema) = open_store(dir.path(), KeyRing::new(key)).await;
    let mut config = CoreConfig::new(BASE);
    config.default_count = 7;
    let svc = FhirService::new(
        store,
        Arc::new(Fixed),
        Arc::new(UuidIds),
        config,
        CursorKey::new(&SecretBytes::new(vec![3; 32])),
    )
    // The oracle compares search results with the generated data only: the audit trail's own
    // AuditEvents (which reference what was read) would show up in `_revinclude=*`.
    .with_audit(ward_core::AuditSettings {
        enabled: false,
        ..Default::default()
    });
    let ctx = RequestContext {
        principal: Principal::new(
            "oracle",
            PrincipalKind::Operator,
            ScopeSet::parse("system/*.cruds").unwrap(),
            i64::MAX,
        ),
        request_id: "r".into(),
        client_ip: None,
        user_agent: None,
    };
    let data = generate(patients, observations);
    let bundle = transaction(&all_resources(&data));
    let mut req = FhirRequest::new(Interaction::BatchOrTransaction);
    req.body = Some(Bytes::from(bundle.to_string()));
    let resp = svc.handle(&ctx, req).await.unwrap();
    assert_eq!(resp.status, 200);
    Env {
        svc,
        ctx,
        data,
        _dir: dir,
        _schema: schema,
    }
}

pub async fn env() -> Env {
    env_with(60, 240).await
}

pub fn ty(t: &str) -> ResourceType {
    ResourceType::parse(t).unwrap()
}

pub fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
}

impl Env {
    pub async fn call(&self, i: Interaction, params: Vec<(String, String)>) -> Result<Value, u16> {
        let mut req = FhirRequest::new(i);
        req.params = params;
        match self.svc.handle(&self.ctx, req).await {
            Ok(r) => Ok(r.body.unwrap().into_value().unwrap()),
            Err(e) => Err(e.status()),
        }
    }

    /// Every page of a search: (match ids in order, include ids, bundles).
    pub async fn walk(
        &self,
        i: Interaction,
        params: &[(&str, &str)],
    ) -> (Vec<String>, Vec<String>, Vec<Value>) {
        let mut params = pairs(params);
        let (mut m, mut inc, mut bundles) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            let b = self
                .call(i.clone(), params)
                .await
                .unwrap_or_else(|s| panic!("status {s}"));
            for e in b["entry"].as_array().cloned().unwrap_or_default() {
                let id = e["resource"]["id"].as_str().unwrap_or_default().to_owned();
                match e["search"]["mode"].as_str() {
                    Some("match") => m.push(id),
                    Some("include") => inc.push(id),
                    _ => {}
                }
            }
            let next = b["link"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["relation"] == "next")
                .map(|l| l["url"].as_str().unwrap().to_owned());
            bundles.push(b);
            match next {
                Some(url) => {
                    let token = url.split("_page=").nth(1).unwrap().to_owned();
                    params = vec![("_page".into(), token)];
                }
                None => break,
            }
        }
        (m, inc, bundles)
    }

    pub async fn ids(&self, t: &str, params: &[(&str, &str)]) -> BTreeSet<String> {
        let (m, _, _) = self.walk(Interaction::SearchType(ty(t)), params).await;
        let set: BTreeSet<String> = m.iter().cloned().collect();
        assert_eq!(set.len(), m.len(), "a match appeared twice: {t}?{params:?}");
        set
    }

    pub async fn check(&self, t: &str, params: &[(&str, &str)], expected: BTreeSet<String>) {
        let got = self.ids(t, params).await;
        println!("CHECK {} {t}?{params:?}", expected.len());
        assert_eq!(got, expected, "{t}?{params:?}");
    }

    pub fn pats(&self, f: impl Fn(&Pat) -> bool) -> BTreeSet<String> {
        self.data
            .patients
            .iter()
            .filter(|p| f(p))
            .map(|p| p.id.clone())
            .collect()
    }

    pub fn obs(&self, f: impl Fn(&Obs) -> bool) -> BTreeSet<String> {
        self.data
            .observations
            .iter()
            .filter(|o| f(o))
            .map(|o| o.id.clone())
            .collect()
    }

    pub fn pat(&self, id: &str) -> &Pat {
        self.data.patients.iter().find(|p| p.id == id).unwrap()
    }
}

pub fn name_parts(p: &Pat) -> Vec<String> {
    let mut v = vec![p.family.clone()];
    v.extend(p.given.iter().cloned());
    v
}
