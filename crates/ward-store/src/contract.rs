//! The storage contract suite: backend-independent checks every [`Store`] must pass.
//! Backends call [`run_all`] from their own tests (feature `contract`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;

use crate::{HistoryQuery, HistoryScope, NewVersion, Store, StoreError, Timestamp, WriteMethod};

fn body(rtype: &str, id: &str, v: u64, extra: &str) -> Option<Bytes> {
    Some(Bytes::from(format!(
        r#"{{"resourceType":"{rtype}","id":"{id}","meta":{{"versionId":"{v}"}},"x":"{extra}"}}"#
    )))
}

fn version(rtype: &str, id: &str, v: u64, t: i64, method: WriteMethod) -> NewVersion {
    let body = if method == WriteMethod::Delete {
        None
    } else {
        body(rtype, id, v, "")
    };
    NewVersion {
        rtype: rtype.into(),
        id: id.into(),
        version: v,
        last_updated: Timestamp(t),
        method,
        body,
        index: crate::index::IndexRows::default(),
        patients: Vec::new(),
    }
}

async fn put(store: &dyn Store, versions: Vec<NewVersion>) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    tx.write(versions).await?;
    tx.commit().await
}

/// Runs every contract check against a fresh, empty store.
pub async fn run_all(store: &dyn Store) {
    versions_are_kept_and_read_back(store).await;
    version_numbers_must_follow(store).await;
    uncommitted_transactions_leave_nothing(store).await;
    history_is_newest_first_and_pages(store).await;
    deletes_are_logical(store).await;
    meta_round_trips(store).await;
    audit_purge_removes_only_the_prefix(store).await;
    audit_index_is_deferred_and_written_once(store).await;
}

/// `AuditEvent?action=CODE` ids.
async fn audit_ids_with_action(store: &dyn Store, code: &str) -> Vec<String> {
    let params = vec![("action".to_owned(), code.to_owned())];
    let opts = crate::search::ParseOptions {
        base_url: "https://w/fhir",
        now_us: 0,
        default_count: 20,
        max_count: 100,
        strict: true,
        registry: None,
    };
    let q = crate::search::parse(Some(&["AuditEvent"]), &params, &opts)
        .unwrap()
        .query;
    let page = store.search(&q).await.unwrap();
    page.matches.into_iter().map(|m| m.meta.id).collect()
}

async fn audit_index_is_deferred_and_written_once(store: &dyn Store) {
    let (from, head) = store.audit_index_state().await.unwrap();
    let events = (1..=2)
        .map(|i| version("AuditEvent", &format!("idx-{i}"), 1, i, WriteMethod::Create))
        .collect();
    let linked = store.append_audit_committed(events).await.unwrap();
    assert_eq!(linked[0].0, head + 1, "one chain: appended at the head");
    assert_eq!(
        store.audit_index_state().await.unwrap(),
        (from, head + 2),
        "appending moves the head, not the index position"
    );
    assert!(
        audit_ids_with_action(store, "Z").await.is_empty(),
        "no index rows yet"
    );
    let row = |code: &str| crate::index::IndexRows {
        tokens: vec![crate::index::TokenRow {
            pkey: crate::index::param_key("AuditEvent", "action"),
            grp: None,
            system: None,
            code: code.into(),
        }],
        ..Default::default()
    };
    let through = head + 2;
    let rows = vec![(linked[0].0, row("Z")), (linked[1].0, row("Y"))];
    // a stale start position writes nothing
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.index_audit(through, through + 5, rows.clone())
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert!(audit_ids_with_action(store, "Z").await.is_empty());
    // a rolled-back chunk leaves the position
    let mut tx = store.begin().await.unwrap();
    assert!(tx.index_audit(from, through, rows.clone()).await.unwrap());
    drop(tx);
    assert_eq!(store.audit_index_state().await.unwrap().0, from);
    // the chunk from the current position is written, once
    let mut tx = store.begin().await.unwrap();
    assert!(tx.index_audit(from, through, rows.clone()).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(store.audit_index_state().await.unwrap(), (through, through));
    assert_eq!(audit_ids_with_action(store, "Z").await, vec!["idx-1"]);
    assert_eq!(audit_ids_with_action(store, "Y").await, vec!["idx-2"]);
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.index_audit(from, through, rows).await.unwrap(),
        "a second indexer of the same chunk is refused"
    );
    drop(tx);
    // replacing: indexing a record again swaps its rows, never duplicates them
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.index_audit(through, through, vec![(linked[0].0, row("X"))])
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert!(audit_ids_with_action(store, "Z").await.is_empty());
    assert_eq!(audit_ids_with_action(store, "X").await, vec!["idx-1"]);
}

async fn audit_purge_removes_only_the_prefix(store: &dyn Store) {
    let events: Vec<NewVersion> = (1..=6)
        .map(|i| {
            version(
                "AuditEvent",
                &format!("purge-{i}"),
                1,
                i,
                WriteMethod::Create,
            )
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    let linked = tx.append_audit(events).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(linked[0].0, 1, "a fresh store's chain starts at 1");
    let through = 3;
    put(
        store,
        vec![version("Patient", "bystander", 1, 7, WriteMethod::Create)],
    )
    .await
    .unwrap();
    // a purge that is rolled back leaves everything
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.purge_audit(through).await.unwrap(), 3);
    drop(tx);
    assert_eq!(store.audit_rows(0, 100).await.unwrap()[0].seq, 1);
    assert!(store.read("AuditEvent", "purge-1").await.unwrap().is_some());

    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.purge_audit(through).await.unwrap(),
        through,
        "every chain row up to `through` goes"
    );
    tx.commit().await.unwrap();
    let kept = store.audit_rows(0, 100).await.unwrap();
    assert_eq!(kept[0].seq, through + 1);
    assert_eq!(
        kept[0].prev_hash, linked[2].1,
        "the first kept row still links to the purged"
    );
    for i in 1..=3 {
        let id = format!("purge-{i}");
        assert!(store.read("AuditEvent", &id).await.unwrap().is_none());
        assert!(store.vread("AuditEvent", &id, 1).await.unwrap().is_none());
    }
    for i in 4..=6 {
        let id = format!("purge-{i}");
        assert!(store.read("AuditEvent", &id).await.unwrap().is_some());
    }
    // other resources are never touched
    assert!(store.read("Patient", "bystander").await.unwrap().is_some());
    // the chain goes on from its head
    let mut tx = store.begin().await.unwrap();
    let more = tx
        .append_audit(vec![version(
            "AuditEvent",
            "purge-7",
            1,
            7,
            WriteMethod::Create,
        )])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(more[0].0, linked[5].0 + 1);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.purge_audit(through).await.unwrap(),
        0,
        "nothing left below"
    );
    drop(tx);
}

async fn versions_are_kept_and_read_back(store: &dyn Store) {
    put(
        store,
        vec![version("Patient", "a", 1, 10, WriteMethod::Create)],
    )
    .await
    .unwrap();
    put(
        store,
        vec![version("Patient", "a", 2, 20, WriteMethod::Update)],
    )
    .await
    .unwrap();
    let cur = store.read("Patient", "a").await.unwrap().unwrap();
    assert_eq!(cur.meta.version, 2);
    assert_eq!(cur.meta.last_updated, Timestamp(20));
    assert_eq!(cur.body, body("Patient", "a", 2, ""));
    let v1 = store.vread("Patient", "a", 1).await.unwrap().unwrap();
    assert_eq!(v1.body, body("Patient", "a", 1, ""));
    assert_eq!(v1.meta.method, WriteMethod::Create);
    assert!(store.vread("Patient", "a", 3).await.unwrap().is_none());
    assert!(store.read("Patient", "zz").await.unwrap().is_none());
    assert!(store.read("Observation", "a").await.unwrap().is_none());
}

async fn version_numbers_must_follow(store: &dyn Store) {
    let err = put(
        store,
        vec![version("Patient", "b", 2, 10, WriteMethod::Create)],
    )
    .await;
    assert!(matches!(err, Err(StoreError::VersionConflict)));
    put(
        store,
        vec![version("Patient", "b", 1, 10, WriteMethod::Create)],
    )
    .await
    .unwrap();
    let err = put(
        store,
        vec![version("Patient", "b", 1, 11, WriteMethod::Update)],
    )
    .await;
    assert!(matches!(err, Err(StoreError::VersionConflict)));
    assert_eq!(
        store
            .read("Patient", "b")
            .await
            .unwrap()
            .unwrap()
            .meta
            .version,
        1
    );
}

async fn uncommitted_transactions_leave_nothing(store: &dyn Store) {
    {
        let mut tx = store.begin().await.unwrap();
        tx.write(vec![version("Patient", "c", 1, 10, WriteMethod::Create)])
            .await
            .unwrap();
        let seen = tx.read("Patient", "c").await.unwrap().unwrap();
        assert_eq!(seen.meta.version, 1, "a transaction sees its own writes");
        // dropped without commit
    }
    assert!(store.read("Patient", "c").await.unwrap().is_none());
    // a failing batch is all-or-nothing
    let err = put(
        store,
        vec![
            version("Patient", "d", 1, 10, WriteMethod::Create),
            version("Patient", "d", 3, 10, WriteMethod::Update),
        ],
    )
    .await;
    assert!(err.is_err());
    assert!(store.read("Patient", "d").await.unwrap().is_none());
    // the store is usable afterwards
    put(
        store,
        vec![version("Patient", "d", 1, 10, WriteMethod::Create)],
    )
    .await
    .unwrap();
}

async fn history_is_newest_first_and_pages(store: &dyn Store) {
    for v in 1..=5 {
        let m = if v == 1 {
            WriteMethod::Create
        } else {
            WriteMethod::Update
        };
        put(
            store,
            vec![version(
                "Encounter",
                "h",
                v,
                100 + i64::try_from(v).unwrap(),
                m,
            )],
        )
        .await
        .unwrap();
    }
    put(
        store,
        vec![version("Encounter", "other", 1, 200, WriteMethod::Create)],
    )
    .await
    .unwrap();
    let mut q = HistoryQuery {
        scope: HistoryScope::Instance("Encounter".into(), "h".into()),
        since: None,
        before_seq: None,
        count: 2,
    };
    let mut seen = Vec::new();
    loop {
        let page = store.history(&q).await.unwrap();
        assert!(page.entries.len() <= 2);
        seen.extend(page.entries.iter().map(|e| e.meta.version));
        match page.next_before_seq {
            Some(s) => q.before_seq = Some(s),
            None => break,
        }
    }
    assert_eq!(seen, vec![5, 4, 3, 2, 1]);
    q.before_seq = None;
    q.count = 10;
    q.since = Some(Timestamp(104));
    let page = store.history(&q).await.unwrap();
    assert_eq!(
        page.entries
            .iter()
            .map(|e| e.meta.version)
            .collect::<Vec<_>>(),
        vec![5, 4]
    );
    let ty = HistoryQuery {
        scope: HistoryScope::Type("Encounter".into()),
        ..q.clone()
    };
    let ids: Vec<_> = store
        .history(&ty)
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.meta.id)
        .collect();
    assert_eq!(ids, vec!["other", "h", "h"]);
    let sys = HistoryQuery {
        scope: HistoryScope::System,
        since: None,
        before_seq: None,
        count: 1,
    };
    let page = store.history(&sys).await.unwrap();
    assert_eq!(page.entries[0].meta.id, "other");
    assert!(page.next_before_seq.is_some());
}

async fn deletes_are_logical(store: &dyn Store) {
    put(
        store,
        vec![version("Observation", "del", 1, 10, WriteMethod::Create)],
    )
    .await
    .unwrap();
    put(
        store,
        vec![version("Observation", "del", 2, 20, WriteMethod::Delete)],
    )
    .await
    .unwrap();
    let cur = store.read("Observation", "del").await.unwrap().unwrap();
    assert!(cur.meta.deleted());
    assert!(cur.body.is_none());
    assert!(
        store
            .vread("Observation", "del", 1)
            .await
            .unwrap()
            .unwrap()
            .body
            .is_some()
    );
    // a new version after a delete revives the resource
    put(
        store,
        vec![version("Observation", "del", 3, 30, WriteMethod::Update)],
    )
    .await
    .unwrap();
    assert!(
        !store
            .read("Observation", "del")
            .await
            .unwrap()
            .unwrap()
            .meta
            .deleted()
    );
}

async fn meta_round_trips(store: &dyn Store) {
    assert!(store.get_meta("k").await.unwrap().is_none());
    store.put_meta("k", b"one").await.unwrap();
    store.put_meta("k", b"two").await.unwrap();
    assert_eq!(store.get_meta("k").await.unwrap().unwrap(), b"two");
    assert_eq!(store.create_meta("first", b"a").await.unwrap(), b"a");
    assert_eq!(
        store.create_meta("first", b"b").await.unwrap(),
        b"a",
        "the first value stays"
    );
    assert_eq!(store.create_meta("k", b"c").await.unwrap(), b"two");
}

fn indexed(rtype: &str, id: &str, v: u64, json: serde_json::Value) -> NewVersion {
    let ix = crate::index::Indexer::new("https://contract.example/fhir");
    let index = ix.index(rtype, &json);
    NewVersion {
        rtype: rtype.into(),
        id: id.into(),
        version: v,
        last_updated: Timestamp(1_000 + i64::try_from(v).unwrap()),
        method: if v == 1 {
            WriteMethod::Create
        } else {
            WriteMethod::Update
        },
        body: Some(Bytes::from(json.to_string())),
        index,
        patients: Vec::new(),
    }
}

fn query(rtype: &str, params: &[(&str, &str)]) -> crate::search::SearchQuery {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let opts = crate::search::ParseOptions {
        base_url: "https://contract.example/fhir",
        now_us: 0,
        default_count: 10,
        max_count: 100,
        strict: true,
        registry: None,
    };
    crate::search::parse(Some(&[rtype]), &params, &opts)
        .unwrap()
        .query
}

async fn ids(store: &dyn Store, rtype: &str, params: &[(&str, &str)]) -> Vec<String> {
    let page = store.search(&query(rtype, params)).await.unwrap();
    page.matches.into_iter().map(|m| m.meta.id).collect()
}

/// Search over indexed rows: matching, deletes, paging, includes, transactions.
pub async fn search_contract(store: &dyn Store) {
    use serde_json::json;
    put(
        store,
        vec![
            pat("s1", "Smith", "1970-02-03"),
            pat("s2", "Smíth", "1980"),
            pat("s3", "Jones", "1990-05"),
            indexed(
                "Observation",
                "o1",
                1,
                json!({"resourceType": "Observation", "id": "o1", "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "1-1"}]},
                    "subject": {"reference": "Patient/s1"}, "effectiveDateTime": "2021-01-01T00:00:00Z"}),
            ),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        ids(store, "Patient", &[("name", "smi")]).await,
        vec!["s1", "s2"]
    );
    assert_eq!(
        ids(store, "Patient", &[("birthdate", "1970")]).await,
        vec!["s1"]
    );
    assert_eq!(
        ids(
            store,
            "Observation",
            &[("patient", "Patient/s1"), ("code", "http://loinc.org|1-1")]
        )
        .await,
        vec!["o1"]
    );
    assert_eq!(
        ids(store, "Patient", &[("_sort", "-birthdate")]).await,
        vec!["s3", "s2", "s1"]
    );
    search_pages_and_includes(store).await;
    search_follows_writes(store).await;
}

async fn search_pages_and_includes(store: &dyn Store) {
    // paging with _count=1 visits each once
    let mut q = query("Patient", &[("_sort", "birthdate"), ("_count", "1")]);
    let mut seen = Vec::new();
    loop {
        let page = store.search(&q).await.unwrap();
        seen.extend(page.matches.iter().map(|m| m.meta.id.clone()));
        match page.next {
            Some(t) => q.page = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, vec!["s1", "s2", "s3"]);
    // includes
    let page = store
        .search(&query(
            "Observation",
            &[("_include", "Observation:subject")],
        ))
        .await
        .unwrap();
    assert_eq!(page.included.len(), 1);
    let page = store
        .search(&query(
            "Patient",
            &[("_id", "s1"), ("_revinclude", "Observation:subject")],
        ))
        .await
        .unwrap();
    assert_eq!(page.included[0].meta.id, "o1");
}

fn pat(id: &str, family: &str, birth: &str) -> NewVersion {
    indexed(
        "Patient",
        id,
        1,
        serde_json::json!({"resourceType": "Patient", "id": id, "name": [{"family": family}], "birthDate": birth}),
    )
}

async fn search_follows_writes(store: &dyn Store) {
    // an update replaces rows; a delete removes them
    put(
        store,
        vec![pat("s2", "Brown", "1980")]
            .into_iter()
            .map(|mut v| {
                v.version = 2;
                v.method = WriteMethod::Update;
                v
            })
            .collect(),
    )
    .await
    .unwrap();
    assert_eq!(ids(store, "Patient", &[("name", "smi")]).await, vec!["s1"]);
    put(
        store,
        vec![version("Patient", "s1", 2, 2_000, WriteMethod::Delete)],
    )
    .await
    .unwrap();
    assert!(ids(store, "Patient", &[("name", "smi")]).await.is_empty());
    // a transaction sees its own writes
    let mut tx = store.begin().await.unwrap();
    tx.write(vec![pat("s9", "Smithers", "2000")]).await.unwrap();
    let page = tx
        .search(&query("Patient", &[("name", "smithers")]))
        .await
        .unwrap();
    assert_eq!(page.matches.len(), 1);
    drop(tx);
    assert!(
        ids(store, "Patient", &[("name", "smithers")])
            .await
            .is_empty()
    );
    reindex_backfills(store).await;
}

async fn reindex_backfills(store: &dyn Store) {
    use serde_json::json;
    let mut bare = indexed(
        "Patient",
        "r1",
        1,
        json!({"resourceType": "Patient", "id": "r1", "name": [{"family": "Reindexed"}]}),
    );
    bare.index = crate::index::IndexRows::default();
    put(store, vec![bare]).await.unwrap();
    assert!(ids(store, "Patient", &[("name", "reind")]).await.is_empty());
    let ix = std::sync::Arc::new(crate::index::Indexer::new("https://contract.example/fhir"));
    let f: std::sync::Arc<crate::ReindexFn> = std::sync::Arc::new(move |t: &str, body: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        ix.index(t, &v)
    });
    let n = store.reindex(Some("Patient"), f).await.unwrap();
    assert_eq!(n, 3, "s2, s3 and r1 are current; s1 is deleted");
    assert_eq!(
        ids(store, "Patient", &[("name", "reind")]).await,
        vec!["r1"]
    );
    assert_eq!(
        ids(store, "Patient", &[("name", "brown")]).await,
        vec!["s2"]
    );
}
