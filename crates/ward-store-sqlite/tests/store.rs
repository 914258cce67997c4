//! The storage contract on SQLCipher, plus what only the embedded store promises: encryption on
//! disk (no plaintext in the database, WAL or temp files) and refusal of a wrong key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Read;

use ward_crypto::MasterKey;
use ward_store::{KeyRing, NewVersion, Store, StoreError, Timestamp, WriteMethod};
use ward_store_sqlite::{SqliteOptions, SqliteStore};

fn key(byte: u8) -> MasterKey {
    MasterKey::from_hex(format!("{byte:02x}").repeat(32).as_bytes()).unwrap()
}

async fn open(dir: &std::path::Path, byte: u8) -> Result<SqliteStore, StoreError> {
    SqliteStore::open(
        SqliteOptions::new(dir.join("ward.db")),
        KeyRing::new(key(byte)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn contract_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1).await.unwrap();
    ward_store::contract::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn search_contract_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1).await.unwrap();
    ward_store::contract::search_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_search_contract_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1).await.unwrap();
    ward_store::contract::audit_search_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_state_contract_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1).await.unwrap();
    ward_store::contract_auth::run_all(&store).await;
}

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_plaintext_on_disk_and_a_wrong_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1).await.unwrap();
    let secret = "Quillfeather-Xanthippe-93";
    let mut tx = store.begin().await.unwrap();
    tx.write(vec![NewVersion {
        rtype: "Patient".into(),
        id: "p1".into(),
        version: 1,
        last_updated: Timestamp(1),
        method: WriteMethod::Create,
        body: Some(
            format!(r#"{{"resourceType":"Patient","name":[{{"family":"{secret}"}}]}}"#).into(),
        ),
        index: Default::default(),
        patients: Vec::new(),
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    store.put_meta("note", secret.as_bytes()).await.unwrap();
    // an audit record naming it, in the trail file (and pending in the data file first)
    let record = |id: &str| NewVersion {
        rtype: "AuditEvent".into(),
        id: id.into(),
        version: 1,
        last_updated: Timestamp(2),
        method: WriteMethod::Create,
        body: Some(format!(r#"{{"resourceType":"AuditEvent","outcomeDesc":"{secret}"}}"#).into()),
        index: Default::default(),
        patients: vec![secret.into()],
    };
    store
        .append_audit_committed(vec![record("a1")])
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(vec![record("a2")]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(dir.path().join("ward-audit.db").exists());
    // WAL still holds the pages: check it before and after the handle is dropped.
    assert!(files_contain(dir.path(), secret.as_bytes()).is_empty());
    assert!(
        files_contain(dir.path(), b"SQLite format 3").is_empty(),
        "header must be encrypted"
    );
    drop(store);
    assert!(files_contain(dir.path(), secret.as_bytes()).is_empty());

    let err = open(dir.path(), 2).await.unwrap_err();
    assert!(matches!(err, StoreError::WrongKey), "got {err:?}");

    let again = open(dir.path(), 1).await.unwrap();
    let body = again
        .read("Patient", "p1")
        .await
        .unwrap()
        .unwrap()
        .body
        .unwrap();
    assert!(std::str::from_utf8(&body).unwrap().contains(secret));
}
