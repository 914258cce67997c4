//! searchparameter.html / issue 3 item 8: a stored SearchParameter is live for new writes and
//! queries at once; `$reindex` (admin only) backfills resources written before; both show in
//! the CapabilityStatement.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use ward_auth::{Principal, PrincipalKind, ScopeSet};
use ward_core::{
    CoreConfig, CursorKey, FhirRequest, FhirService, Interaction, OpTarget, RequestContext,
    ResourceType, SystemClock, UuidIds,
};
use ward_crypto::{MasterKey, SecretBytes};
use ward_store::KeyRing;
use ward_store_sqlite::{SqliteOptions, SqliteStore};

fn ctx(scopes: &str) -> RequestContext {
    RequestContext {
        principal: Principal::new(
            "t",
            PrincipalKind::Operator,
            ScopeSet::parse(scopes).unwrap(),
            i64::MAX,
        ),
        request_id: "r".into(),
        client_ip: None,
        user_agent: None,
    }
}

async fn service(dir: &std::path::Path) -> FhirService {
    let key = MasterKey::from_hex("44".repeat(32).as_bytes()).unwrap();
    let store = SqliteStore::open(SqliteOptions::new(dir.join("c.db")), KeyRing::new(key))
        .await
        .unwrap();
    FhirService::new(
        Arc::new(store),
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        CoreConfig::new("https://c.test/fhir"),
        CursorKey::new(&SecretBytes::new(vec![1; 32])),
    )
}

fn ty(t: &str) -> ResourceType {
    ResourceType::parse(t).unwrap()
}

async fn put(svc: &FhirService, r: Value) {
    let t = r["resourceType"].as_str().unwrap();
    let id = r["id"].as_str().unwrap().to_owned();
    let mut req = FhirRequest::new(Interaction::Update(ty(t), id));
    req.body = Some(Bytes::from(r.to_string()));
    svc.handle(&ctx("system/*.cruds"), req).await.unwrap();
}

async fn ids(svc: &FhirService, q: &[(&str, &str)]) -> Vec<String> {
    let mut req = FhirRequest::new(Interaction::SearchType(ty("Patient")));
    req.params = q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    let b = svc
        .handle(&ctx("system/*.cruds"), req)
        .await
        .unwrap()
        .body
        .unwrap()
        .into_value()
        .unwrap();
    b["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect()
}

fn patient(id: &str, colour: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "extension": [{"url": "http://example.org/eye", "valueCode": colour}]})
}

const SP: &str = r#"{"resourceType": "SearchParameter", "id": "eye", "url": "http://example.org/sp/eye",
  "name": "EyeColour", "status": "active", "description": "eye colour", "code": "eye-colour",
  "base": ["Patient"], "type": "token", "expression": "Patient.extension('http://example.org/eye').value"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn custom_parameters_live_reindex_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    put(&svc, patient("before", "blue")).await;
    // unknown before the SearchParameter exists: a warning, the filter is ignored
    assert_eq!(ids(&svc, &[("eye-colour", "blue")]).await, vec!["before"]);
    put(&svc, serde_json::from_str(SP).unwrap()).await;
    put(&svc, patient("after", "blue")).await;
    put(&svc, patient("green", "green")).await;
    assert_eq!(
        ids(&svc, &[("eye-colour", "blue")]).await,
        vec!["after"],
        "live for new writes"
    );
    // $reindex: admin only, then backfills
    let op = Interaction::Operation("reindex".into(), OpTarget::Type(ty("Patient")));
    let denied = svc
        .handle(&ctx("system/Patient.rs"), FhirRequest::new(op.clone()))
        .await;
    assert_eq!(denied.unwrap_err().status(), 403);
    let r = svc
        .handle(&ctx("system/*.cruds"), FhirRequest::new(op))
        .await
        .unwrap();
    assert_eq!(
        r.body.unwrap().into_value().unwrap()["parameter"][0]["valueInteger"],
        3
    );
    assert_eq!(
        ids(&svc, &[("eye-colour", "blue")]).await,
        vec!["before", "after"]
    );
    // /metadata lists it
    let cap = svc.capabilities().body.unwrap().into_value().unwrap();
    let pat = cap["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap();
    assert!(
        pat["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "eye-colour" && p["type"] == "token")
    );
    assert!(
        pat["searchParam"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "name" && p["type"] == "string")
    );
    assert!(
        cap["rest"][0]["operation"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == "reindex")
    );
    // a restarted service loads it from the store
    drop(svc);
    let svc = service(dir.path()).await;
    assert_eq!(svc.load_search_parameters().await.unwrap(), 1);
    assert_eq!(ids(&svc, &[("eye-colour", "green")]).await, vec!["green"]);
    // retiring it withdraws it
    let mut retired: Value = serde_json::from_str(SP).unwrap();
    retired["status"] = json!("retired");
    put(&svc, retired).await;
    assert_eq!(
        ids(&svc, &[("eye-colour", "green")]).await.len(),
        3,
        "ignored again"
    );
}
