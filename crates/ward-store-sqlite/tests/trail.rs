//! The audit trail file of the embedded store (docs/design/011-audit-file.md): it belongs to
//! its database (a missing or foreign trail file is refused, never replaced by a new empty
//! one, and so is a trail whose data file is missing), a write's pending record survives a
//! crash and is chained when the store next opens, and the projection of purged records goes
//! with them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;
use ward_crypto::MasterKey;
use ward_store::{KeyRing, NewVersion, Store, StoreError, Timestamp, WriteMethod};
use ward_store_sqlite::{SqliteOptions, SqliteStore, trail_path};

fn key() -> KeyRing {
    KeyRing::new(MasterKey::from_hex("07".repeat(32).as_bytes()).unwrap())
}

async fn open(dir: &std::path::Path) -> Result<SqliteStore, StoreError> {
    SqliteStore::open(SqliteOptions::new(dir.join("ward.db")), key()).await
}

fn event(id: &str) -> NewVersion {
    NewVersion {
        rtype: "AuditEvent".into(),
        id: id.into(),
        version: 1,
        last_updated: Timestamp(1_000),
        method: WriteMethod::Create,
        body: Some(Bytes::from(format!(
            r#"{{"resourceType":"AuditEvent","id":"{id}","action":"R"}}"#
        ))),
        index: Default::default(),
        patients: vec!["p1".into()],
    }
}

/// A data directory whose store holds one trail record (`a-1`), closed.
async fn closed_with_one_record() -> tempfile::TempDir {
    let a = tempfile::tempdir().unwrap();
    let store = open(a.path()).await.unwrap();
    store
        .append_audit_committed(vec![event("a-1")])
        .await
        .unwrap();
    assert!(store.close().await);
    a
}

#[tokio::test(flavor = "multi_thread")]
async fn the_trail_file_belongs_to_its_database() {
    let a = closed_with_one_record().await;
    let trail = trail_path(&a.path().join("ward.db"));
    assert!(trail.ends_with("ward-audit.db"));

    // deleted: refused, and no new empty trail is created in its place
    let aside = a.path().join("kept-audit.db");
    std::fs::rename(&trail, &aside).unwrap();
    let err = open(a.path()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::AuditTrail("is missing")),
        "{err:?}"
    );
    assert!(!trail.exists());
    std::fs::rename(&aside, &trail).unwrap();
    let again = open(a.path()).await.unwrap();
    assert_eq!(again.audit_rows(0, 10).await.unwrap().len(), 1);
    assert!(again.close().await);

    // swapped for another database's trail (same master key): refused
    let b = tempfile::tempdir().unwrap();
    let other = open(b.path()).await.unwrap();
    other
        .append_audit_committed(vec![event("b-1"), event("b-2")])
        .await
        .unwrap();
    assert!(other.close().await);
    std::fs::copy(trail_path(&b.path().join("ward.db")), &trail).unwrap();
    for c in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(a.path().join(format!("ward-audit.db{c}")));
    }
    let err = open(a.path()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::AuditTrail("belongs to another database")),
        "{err:?}"
    );
}

/// The reverse of a missing trail: the data file is gone and its trail is still there. Ward
/// refuses and creates nothing, instead of starting an empty data file beside the old trail;
/// the pair opens again once the data file is back.
#[tokio::test(flavor = "multi_thread")]
async fn a_trail_without_its_data_file_is_refused() {
    let a = closed_with_one_record().await;
    let data = a.path().join("ward.db");
    let aside = a.path().join("kept.db");
    std::fs::rename(&data, &aside).unwrap();
    let err = open(a.path()).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::AuditTrail("belongs to a data file that is missing")
        ),
        "{err:?}"
    );
    assert!(!data.exists(), "no new data file beside the old trail");
    std::fs::rename(&aside, &data).unwrap();
    let again = open(a.path()).await.unwrap();
    assert_eq!(again.audit_rows(0, 10).await.unwrap().len(), 1);
    assert!(again.close().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_record_is_chained_when_the_store_next_opens_unless_opened_as_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.append_audit(vec![event("w-1")])
            .await
            .unwrap()
            .is_empty(),
        "pending until after the commit"
    );
    tx.commit().await.unwrap();
    // the process stops before the record is chained
    assert!(store.audit_rows(0, 10).await.unwrap().is_empty());
    assert!(store.close().await);
    // opened as found (`ward audit verify`): the trail stays as it was, the record pending
    let mut as_found = SqliteOptions::new(dir.path().join("ward.db"));
    as_found.chain_pending = false;
    let store = SqliteStore::open(as_found, key()).await.unwrap();
    assert!(store.audit_rows(0, 10).await.unwrap().is_empty());
    assert_eq!(store.audit_head().await.unwrap().0, 0);
    assert_eq!(store.unchained_audit().await.unwrap(), 1);
    assert!(store.close().await);
    let store = open(dir.path()).await.unwrap();
    assert_eq!(
        store.unchained_audit().await.unwrap(),
        0,
        "chained on opening"
    );
    let rows = store.audit_rows(0, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id.as_deref(), Some("w-1"));
    assert_eq!(rows[0].patients, vec!["p1".to_owned()]);
    assert_eq!(
        rows[0].hash,
        ward_audit::link_hash(1, &ward_audit::GENESIS, rows[0].body.as_ref().unwrap()),
        "chained at the head with its exact text"
    );
    // and only once, however often the store opens
    assert!(store.close().await);
    let store = open(dir.path()).await.unwrap();
    assert_eq!(store.audit_rows(0, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purge_takes_the_projection_of_what_it_purged() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await.unwrap();
    let linked = store
        .append_audit_committed((1..=4).map(|i| event(&format!("p-{i}"))).collect())
        .await
        .unwrap();
    let rows = store.audit_rows(0, 10).await.unwrap();
    let projected = ward_store::contract::projected(&rows, |_| Default::default());
    let mut tx = store.begin().await.unwrap();
    assert!(tx.index_audit(0, 4, projected).await.unwrap());
    tx.commit().await.unwrap();
    assert!(store.read("AuditEvent", "p-2").await.unwrap().is_some());
    let (n, (seq, _)) = store.purge_audit(2, event("purge-1")).await.unwrap();
    assert_eq!((n, seq), (2, linked[3].0 + 1));
    assert!(store.read("AuditEvent", "p-1").await.unwrap().is_none());
    assert!(store.read("AuditEvent", "p-2").await.unwrap().is_none());
    assert!(store.read("AuditEvent", "p-3").await.unwrap().is_some());
    assert_eq!(store.audit_rows(0, 10).await.unwrap()[0].seq, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_share_commits_and_each_gets_its_own_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append_audit_committed(vec![event(&format!("c-{i}"))])
                .await
                .unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        let linked = t.await.unwrap();
        assert_eq!(linked.len(), 1);
        seqs.push(linked[0].0);
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=200).collect::<Vec<u64>>(),
        "one position each, no gap"
    );
    let rows = store.audit_rows(0, 1000).await.unwrap();
    let mut prev = ward_audit::GENESIS;
    for r in &rows {
        assert_eq!(r.prev_hash, prev);
        assert_eq!(
            r.hash,
            ward_audit::link_hash(r.seq, &prev, r.body.as_ref().unwrap())
        );
        prev = r.hash;
    }
    assert_eq!(rows.len(), 200);
}
