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
    pending_audit_records_commit_with_their_write(store).await;
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

/// Version 1 of an AuditEvent `id` concerning patient `p1`.
fn audit_event(id: &str, t: i64) -> NewVersion {
    let mut v = version("AuditEvent", id, 1, t, WriteMethod::Create);
    v.patients = vec!["p1".into()];
    v
}

/// The projection of each chain record in `rows`, with index rows from `index` (by id).
pub fn projected(
    rows: &[crate::AuditRow],
    index: impl Fn(&str) -> crate::index::IndexRows,
) -> Vec<crate::AuditIndexed> {
    rows.iter()
        .map(|r| crate::AuditIndexed {
            seq: r.seq,
            hash: r.hash,
            event: Some(crate::AuditProjection {
                id: r.id.clone().unwrap(),
                recorded: r.recorded.unwrap(),
                body: r.body.clone().unwrap(),
                patients: r.patients.clone(),
                index: index(r.id.as_deref().unwrap()),
            }),
        })
        .collect()
}

/// Projects the whole chain (no index rows), so that every AuditEvent is readable.
async fn project_all(store: &dyn Store) {
    let (from, _) = store.audit_index_state().await.unwrap();
    let rows = store.audit_rows(from, 10_000).await.unwrap();
    let Some(through) = rows.last().map(|r| r.seq) else {
        return;
    };
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.index_audit(from, through, projected(&rows, |_| Default::default()))
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
}

/// Records `events` in a write transaction, chaining them after the commit when the backend
/// leaves them pending; returns their positions.
async fn append_in_tx(store: &dyn Store, events: Vec<NewVersion>) -> Vec<(u64, [u8; 32])> {
    let mut tx = store.begin().await.unwrap();
    let linked = tx.append_audit(events).await.unwrap();
    tx.commit().await.unwrap();
    if linked.is_empty() {
        store.chain_pending_audit().await.unwrap()
    } else {
        linked
    }
}

async fn audit_index_is_deferred_and_written_once(store: &dyn Store) {
    let (from, head) = store.audit_index_state().await.unwrap();
    let events = vec![audit_event("idx-1", 1), audit_event("idx-2", 2)];
    let linked = store.append_audit_committed(events).await.unwrap();
    assert_eq!(linked[0].0, head + 1, "one chain: appended at the head");
    assert_eq!(
        store.audit_index_state().await.unwrap(),
        (from, head + 2),
        "appending moves the head, not the projection's position"
    );
    let rows = store.audit_rows(head, 10).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| (r.seq, r.hash)).collect::<Vec<_>>(),
        linked,
        "the trail holds the records at once"
    );
    assert_eq!(rows[0].id.as_deref(), Some("idx-1"));
    assert_eq!(rows[0].recorded, Some(Timestamp(1)));
    assert_eq!(rows[0].patients, vec!["p1".to_owned()]);
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
    let chunk = projected(&rows, |id| row(if id == "idx-1" { "Z" } else { "Y" }));
    // a stale start position writes nothing
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.index_audit(through, through + 5, chunk.clone())
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert!(audit_ids_with_action(store, "Z").await.is_empty());
    // a rolled-back chunk leaves the position
    let mut tx = store.begin().await.unwrap();
    assert!(tx.index_audit(from, through, chunk.clone()).await.unwrap());
    drop(tx);
    assert_eq!(store.audit_index_state().await.unwrap().0, from);
    // the chunk from the current position is written, once
    let mut tx = store.begin().await.unwrap();
    assert!(tx.index_audit(from, through, chunk.clone()).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(store.audit_index_state().await.unwrap(), (through, through));
    assert_eq!(audit_ids_with_action(store, "Z").await, vec!["idx-1"]);
    assert_eq!(audit_ids_with_action(store, "Y").await, vec!["idx-2"]);
    let read = store.read("AuditEvent", "idx-1").await.unwrap().unwrap();
    assert_eq!(read.body, rows[0].body, "projected as the hashed text");
    assert_eq!(read.meta.patients, vec!["p1".to_owned()]);
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.index_audit(from, through, chunk).await.unwrap(),
        "a second projector of the same chunk is refused"
    );
    drop(tx);
    // replacing: indexing a record again swaps its rows, never duplicates them
    let again = projected(&rows[..1], |_| row("X"));
    let mut tx = store.begin().await.unwrap();
    assert!(tx.index_audit(through, through, again).await.unwrap());
    tx.commit().await.unwrap();
    assert!(audit_ids_with_action(store, "Z").await.is_empty());
    assert_eq!(audit_ids_with_action(store, "X").await, vec!["idx-1"]);
    // a record that cannot be projected is passed over
    let linked = store
        .append_audit_committed(vec![audit_event("idx-3", 3)])
        .await
        .unwrap();
    let (seq, hash) = linked[0];
    let skip = vec![crate::AuditIndexed {
        seq,
        hash,
        event: None,
    }];
    let mut tx = store.begin().await.unwrap();
    assert!(tx.index_audit(through, seq, skip).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(store.audit_index_state().await.unwrap(), (seq, seq));
}

/// A backend that leaves a write's records pending commits them with the write, and chains
/// each once: not when the write rolls back, and not again when it is appended again.
async fn pending_audit_records_commit_with_their_write(store: &dyn Store) {
    let (_, head) = store.audit_index_state().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let linked = tx
        .append_audit(vec![audit_event("pend-0", 1)])
        .await
        .unwrap();
    drop(tx);
    if !linked.is_empty() {
        // chained in the write's transaction: nothing is ever pending
        assert!(store.chain_pending_audit().await.unwrap().is_empty());
        return;
    }
    assert!(
        store.chain_pending_audit().await.unwrap().is_empty(),
        "a rolled-back write leaves no record"
    );
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.append_audit(vec![audit_event("pend-1", 1), audit_event("pend-2", 2)])
            .await
            .unwrap()
            .is_empty()
    );
    tx.commit().await.unwrap();
    let chained = store.chain_pending_audit().await.unwrap();
    assert_eq!(
        chained.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![head + 1, head + 2]
    );
    // the writer's copy of the same records, after the chaining: not appended again
    let again = store
        .append_audit_committed(vec![audit_event("pend-2", 2), audit_event("pend-3", 3)])
        .await
        .unwrap();
    assert_eq!(
        again[0], chained[1],
        "an id already chained keeps its position"
    );
    assert_eq!(again[1].0, head + 3);
    // chaining again finds the pending rows chained already
    let twice = store.chain_pending_audit().await.unwrap();
    assert!(twice.iter().all(|p| chained.contains(p)));
    assert_eq!(store.audit_index_state().await.unwrap().1, head + 3);
    // the projection takes them (and their pending rows) in
    project_all(store).await;
    assert!(store.read("AuditEvent", "pend-1").await.unwrap().is_some());
    assert!(store.chain_pending_audit().await.unwrap().is_empty());
}

async fn audit_purge_removes_only_the_prefix(store: &dyn Store) {
    let events: Vec<NewVersion> = (1..=6)
        .map(|i| audit_event(&format!("purge-{i}"), i))
        .collect();
    let linked = append_in_tx(store, events).await;
    assert_eq!(linked[0].0, 1, "a fresh store's chain starts at 1");
    project_all(store).await;
    let through = 3;
    put(
        store,
        vec![version("Patient", "bystander", 1, 7, WriteMethod::Create)],
    )
    .await
    .unwrap();
    assert!(store.read("AuditEvent", "purge-1").await.unwrap().is_some());

    let (n, (seq, _)) = store
        .purge_audit(through, audit_event("purge-note-1", 8))
        .await
        .unwrap();
    assert_eq!(n, through, "every chain row up to `through` goes");
    assert_eq!(seq, linked[5].0 + 1, "the purge record goes on the head");
    let kept = store.audit_rows(0, 100).await.unwrap();
    assert_eq!(kept[0].seq, through + 1);
    assert_eq!(
        kept[0].prev_hash, linked[2].1,
        "the first kept row still links to the purged"
    );
    assert_eq!(kept.last().unwrap().id.as_deref(), Some("purge-note-1"));
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
    let more = append_in_tx(store, vec![audit_event("purge-7", 9)]).await;
    assert_eq!(more[0].0, seq + 1);
    let (n, _) = store
        .purge_audit(through, audit_event("purge-note-2", 10))
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing left below");
    project_all(store).await;
    assert!(
        store
            .read("AuditEvent", "purge-note-2")
            .await
            .unwrap()
            .is_some()
    );
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
    query_types(&[rtype], params)
}

/// A search over all of `types` at once.
fn query_types(types: &[&str], params: &[(&str, &str)]) -> crate::search::SearchQuery {
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
    crate::search::parse(Some(types), &params, &opts)
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

/// The ids of every page of `q`, following each page's token.
async fn all_pages(store: &dyn Store, mut q: crate::search::SearchQuery) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let page = store.search(&q).await.unwrap();
        seen.extend(page.matches.iter().map(|m| m.meta.id.clone()));
        match page.next {
            Some(t) => q.page = Some(t),
            None => return seen,
        }
    }
}

async fn search_pages_and_includes(store: &dyn Store) {
    // paging with _count=1 visits each once
    let q = query("Patient", &[("_sort", "birthdate"), ("_count", "1")]);
    assert_eq!(all_pages(store, q).await, vec!["s1", "s2", "s3"]);
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

/// A search's parameters and the ids it must find, in order.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

/// An AuditEvent for [`audit_search_contract`]: `recorded` on day `day` of 2026-12, with the
/// given action, outcome and subtype, one agent, and the entities and extra elements in
/// `more` (merged over the rest).
fn audit_doc(
    id: &str,
    day: u32,
    action: &str,
    outcome: &str,
    sub: &str,
    more: serde_json::Value,
) -> serde_json::Value {
    let mut ev = serde_json::json!({
        "resourceType": "AuditEvent",
        "id": id,
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": sub}],
        "action": action,
        "recorded": format!("2026-12-{day:02}T10:00:00Z"),
        "outcome": outcome,
        "source": {"observer": {"reference": "Device/ward"}},
    });
    if let (Some(ev), serde_json::Value::Object(more)) = (ev.as_object_mut(), more) {
        ev.extend(more);
    }
    ev
}

/// AuditEvent search on the projection's rows: every kind of parameter Ward indexes on
/// AuditEvent with its modifiers, date ranges, a date sort, a sort on a string with paging,
/// `_has`, a chain, `_include`, a count, and a search over AuditEvents and Patients at once.
/// Both stores must answer alike, whatever tables they keep the rows in
/// (docs/design/012-audit-lean-index.md). Runs on a fresh store.
pub async fn audit_search_contract(store: &dyn Store) {
    use serde_json::json;
    let agent = |who: &str, address: &str| json!({"who": {"reference": who}, "requestor": true, "network": {"address": address}});
    let tag = json!({"tag": [{"system": "urn:t", "code": "x"}]});
    let docs = [
        audit_doc(
            "a1",
            1,
            "R",
            "0",
            "read",
            json!({
                "meta": tag,
                "agent": [agent("Practitioner/d1", "10.0.0.9")],
                "entity": [{"what": {"reference": "Patient/p1"}, "type": {"code": "1"}}],
            }),
        ),
        audit_doc(
            "a2",
            2,
            "E",
            "4",
            "search-type",
            json!({
                "agent": [{"who": {"reference": "Practitioner/d2"}, "requestor": true,
                    "altId": "alt-2", "network": {"address": "10.0.0.2"}}],
                "entity": [{"what": {"reference": "Patient/p2"}, "type": {"code": "1"}}],
            }),
        ),
        audit_doc(
            "a3",
            3,
            "R",
            "0",
            "read",
            json!({
                "meta": {"profile": ["http://p/ae"]},
                "agent": [agent("Practitioner/d1", "10.0.1.3")],
                "entity": [{"what": {"reference": "Observation/o1"}, "type": {"code": "2"}},
                    {"what": {"reference": "Patient/p2"}, "type": {"code": "1"}}],
            }),
        ),
        audit_doc(
            "a4",
            4,
            "E",
            "8",
            "login",
            json!({
                "agent": [{"requestor": true, "network": {"address": "10.0.0.5"}}],
            }),
        ),
    ];
    let mut pats = vec![
        indexed(
            "Patient",
            "p1",
            1,
            json!({"resourceType": "Patient", "id": "p1",
            "name": [{"family": "Alpha"}], "meta": tag}),
        ),
        indexed(
            "Patient",
            "p2",
            1,
            json!({"resourceType": "Patient", "id": "p2",
            "name": [{"family": "Beta"}]}),
        ),
    ];
    pats.push(indexed(
        "Observation",
        "o1",
        1,
        json!({"resourceType": "Observation", "id": "o1",
        "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/p2"}}),
    ));
    put(store, pats).await.unwrap();
    let ix = crate::index::Indexer::new("https://contract.example/fhir");
    let events: Vec<NewVersion> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let id = d["id"].as_str().unwrap();
            let mut v = version(
                "AuditEvent",
                id,
                1,
                i64::try_from(i).unwrap() + 1,
                WriteMethod::Create,
            );
            v.body = Some(Bytes::from(d.to_string()));
            v
        })
        .collect();
    let (from, _) = store.audit_index_state().await.unwrap();
    store.append_audit_committed(events).await.unwrap();
    let rows = store.audit_rows(from, 100).await.unwrap();
    let through = rows.last().unwrap().seq;
    let by_id = |id: &str| {
        let d = docs.iter().find(|d| d["id"] == id).unwrap();
        ix.index("AuditEvent", d)
    };
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.index_audit(from, through, projected(&rows, by_id))
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    let cases: &[Case<'_>] = &[
        (&[("action", "R")], &["a1", "a3"]),
        (&[("outcome", "4,8")], &["a2", "a4"]),
        (&[("outcome:not", "0")], &["a2", "a4"]),
        (
            &[("subtype", "http://hl7.org/fhir/restful-interaction|read")],
            &["a1", "a3"],
        ),
        (&[("subtype", "urn:other|read")], &[]),
        (&[("type", "rest"), ("subtype", "login")], &["a4"]),
        (&[("address", "10.0.0")], &["a1", "a2", "a4"]),
        (&[("address:exact", "10.0.0.2")], &["a2"]),
        (&[("address:contains", ".1.")], &["a3"]),
        (&[("address:missing", "true")], &[]),
        (&[("altid:missing", "false")], &["a2"]),
        (&[("altid:missing", "true")], &["a1", "a3", "a4"]),
        (&[("_tag", "urn:t|x")], &["a1"]),
        (&[("_profile", "http://p/ae")], &["a3"]),
        (
            &[("date", "ge2026-12-02"), ("date", "lt2026-12-04")],
            &["a2", "a3"],
        ),
        (&[("date", "2026-12-01")], &["a1"]),
        (&[("patient", "Patient/p2")], &["a2", "a3"]),
        (&[("patient", "Patient/p2"), ("action", "R")], &["a3"]),
        (
            &[("agent", "Practitioner/d1"), ("date", "gt2026-12-02")],
            &["a3"],
        ),
        (&[("entity:Patient.name", "alpha")], &["a1"]),
        (&[("_sort", "-date")], &["a4", "a3", "a2", "a1"]),
        (&[("_sort", "date"), ("action", "E")], &["a2", "a4"]),
        (
            &[
                ("_sort", "-date"),
                ("date", "le2026-12-03"),
                ("outcome", "0"),
            ],
            &["a3", "a1"],
        ),
        (&[("_sort", "address")], &["a2", "a4", "a1", "a3"]),
        (&[("_sort", "-address"), ("action", "E")], &["a4", "a2"]),
        (&[("_sort", "-outcome,date")], &["a4", "a2", "a1", "a3"]),
    ];
    for (params, want) in cases {
        assert_eq!(&ids(store, "AuditEvent", params).await, want, "{params:?}");
    }
    assert_eq!(
        ids(store, "Patient", &[("_has:AuditEvent:patient:action", "E")]).await,
        vec!["p2"]
    );
    assert_eq!(
        ids(
            store,
            "Patient",
            &[("_has:AuditEvent:patient:address", "10.0.0")]
        )
        .await,
        vec!["p1", "p2"]
    );
    // paging through a sort on a string visits each once
    let q = query("AuditEvent", &[("_sort", "address"), ("_count", "1")]);
    assert_eq!(all_pages(store, q).await, vec!["a2", "a4", "a1", "a3"]);
    let mut q = query(
        "AuditEvent",
        &[("action", "R"), ("_include", "AuditEvent:patient")],
    );
    q.total = crate::search::TotalMode::Accurate;
    let page = store.search(&q).await.unwrap();
    assert_eq!(page.total, Some(2));
    let mut inc: Vec<String> = page.included.iter().map(|m| m.meta.id.clone()).collect();
    inc.sort();
    assert_eq!(inc, vec!["p1", "p2"]);
    // AuditEvents and Patients at once: each type's rows where its backend keeps them
    for (params, want) in [
        (vec![("_tag", "x")], vec!["a1", "p1"]),
        (vec![("_tag:not", "x")], vec!["a2", "a3", "a4", "p2"]),
        (
            vec![("_sort", "_id")],
            vec!["a1", "a2", "a3", "a4", "p1", "p2"],
        ),
    ] {
        let q = query_types(&["AuditEvent", "Patient"], &params);
        let page = store.search(&q).await.unwrap();
        let mut got: Vec<String> = page.matches.into_iter().map(|m| m.meta.id).collect();
        got.sort();
        assert_eq!(got, want, "{params:?}");
    }
}
