//! The storage contract on PostgreSQL (the same suite as SQLite: versions, logical delete,
//! history, atomic transactions, search, security state), plus what several nodes sharing one
//! database need: concurrent migration, one first data key, serialised writers, one winner of
//! a racing redemption. Each test runs in a fresh schema of `WARD_TEST_POSTGRES_URL`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use futures_util::FutureExt;

use ward_crypto::MasterKey;
use ward_store::auth::{AuthStore, Redeemed, RefreshRecord};
use ward_store::{KeyRing, NewVersion, Store, StoreError, Timestamp, WriteMethod};
use ward_store_postgres::testing::{TestSchema, url_or_skip};
use ward_store_postgres::{PostgresStore, SCHEMA_VERSION};

fn key(byte: u8) -> MasterKey {
    MasterKey::from_hex(format!("{byte:02x}").repeat(32).as_bytes()).unwrap()
}

async fn fresh(test: &str) -> Option<(TestSchema, PostgresStore)> {
    let url = url_or_skip(test)?;
    let schema = TestSchema::create(&url).await.unwrap();
    let store = schema.open(KeyRing::new(key(1))).await.unwrap();
    Some((schema, store))
}

#[tokio::test(flavor = "multi_thread")]
async fn contract_suite() {
    let Some((_s, store)) = fresh("contract_suite").await else {
        return;
    };
    ward_store::contract::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn search_contract_suite() {
    let Some((_s, store)) = fresh("search_contract_suite").await else {
        return;
    };
    ward_store::contract::search_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_search_contract_suite() {
    let Some((_s, store)) = fresh("audit_search_contract_suite").await else {
        return;
    };
    ward_store::contract::audit_search_contract(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_state_contract_suite() {
    let Some((_s, store)) = fresh("auth_state_contract_suite").await else {
        return;
    };
    ward_store::contract_auth::run_all(&store).await;
}

fn patient(id: &str, v: u64, secret: &str) -> NewVersion {
    NewVersion {
        rtype: "Patient".into(),
        id: id.into(),
        version: v,
        last_updated: Timestamp(1),
        method: WriteMethod::Create,
        body: Some(format!(r#"{{"resourceType":"Patient","id":"{id}","x":"{secret}"}}"#).into()),
        index: Default::default(),
        patients: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_starting_at_once_migrate_once_and_share_one_data_key() {
    let Some(url) = url_or_skip("nodes_starting_at_once") else {
        return;
    };
    let schema = TestSchema::create(&url).await.unwrap();
    let opens = (0..4).map(|_| schema.open(KeyRing::new(key(7))));
    let stores: Vec<PostgresStore> = futures_util::future::try_join_all(opens).await.unwrap();
    let status = PostgresStore::status(&schema.options()).await.unwrap();
    assert_eq!(status.current, SCHEMA_VERSION);
    assert!(status.pending.is_empty() && status.initialised);
    // A body sealed by one node opens on every other: they share the data key.
    let mut tx = stores[0].begin().await.unwrap();
    tx.write(vec![patient("a", 1, "s")]).await.unwrap();
    tx.commit().await.unwrap();
    for s in &stores {
        assert!(
            s.read("Patient", "a")
                .await
                .unwrap()
                .unwrap()
                .body
                .is_some()
        );
    }
    // A node with another master key is refused.
    let err = schema.open(KeyRing::new(key(8))).await.unwrap_err();
    assert!(matches!(err, StoreError::WrongKey), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_are_sealed_in_the_database() {
    let Some((schema, store)) = fresh("bodies_are_sealed").await else {
        return;
    };
    let secret = "Quillfeather-Xanthippe-93";
    let mut tx = store.begin().await.unwrap();
    tx.write(vec![patient("p1", 1, secret)]).await.unwrap();
    tx.commit().await.unwrap();
    let (client, conn) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let q = format!(
        "SELECT count(*) FROM {}.versions WHERE position($1::bytea in body) > 0",
        schema.name
    );
    let n: i64 = client
        .query_one(&q, &[&secret.as_bytes()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the body must be stored sealed");
    let body = store
        .read("Patient", "p1")
        .await
        .unwrap()
        .unwrap()
        .body
        .unwrap();
    assert!(std::str::from_utf8(&body).unwrap().contains(secret));
}

#[tokio::test(flavor = "multi_thread")]
async fn writers_on_several_nodes_are_serialised() {
    let Some(url) = url_or_skip("writers_serialised") else {
        return;
    };
    let schema = TestSchema::create(&url).await.unwrap();
    let a = Arc::new(schema.open(KeyRing::new(key(3))).await.unwrap());
    let b = Arc::new(schema.open(KeyRing::new(key(3))).await.unwrap());
    let mut tx = a.begin().await.unwrap();
    tx.write(vec![patient("c", 1, "")]).await.unwrap();
    tx.commit().await.unwrap();
    // 20 read-modify-write updates, half on each node, none lost (no If-Match, like SQLite).
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut tx = s.begin().await.unwrap();
            let cur = tx.read("Patient", "c").await.unwrap().unwrap();
            let mut v = patient("c", cur.meta.version + 1, "");
            v.method = WriteMethod::Update;
            tx.write(vec![v]).await.unwrap();
            tx.commit().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        b.read("Patient", "c").await.unwrap().unwrap().meta.version,
        21
    );
}

/// The AuditEvent projection takes its own lock, not the write lock: a chunk of thousands of
/// records, which takes seconds here, no longer holds up the audit append of every read and
/// every write. A purge and a reindex, which rewrite what it writes, take both locks (write
/// first), and wait for it. A projection's transaction refuses any other write.
#[tokio::test(flavor = "multi_thread")]
async fn the_projection_runs_beside_writers() {
    let Some((_s, store)) = fresh("the_projection_runs_beside_writers").await else {
        return;
    };
    let store = Arc::new(store);
    let event = |id: &str| NewVersion {
        rtype: "AuditEvent".into(),
        id: id.into(),
        version: 1,
        last_updated: Timestamp(1),
        method: WriteMethod::Create,
        body: Some(format!(r#"{{"resourceType":"AuditEvent","id":"{id}"}}"#).into()),
        index: Default::default(),
        patients: Vec::new(),
    };
    store
        .append_audit_committed(vec![event("p-1"), event("p-2")])
        .await
        .unwrap();
    let (from, head) = store.audit_index_state().await.unwrap();
    let rows = store.audit_rows(from, 10).await.unwrap();
    let chunk = ward_store::contract::projected(&rows, |_| Default::default());
    let bounded = std::time::Duration::from_secs(5);

    // a writer holds the write lock; the projection commits meanwhile
    let writer = store.begin().await.unwrap();
    let mut p = tokio::time::timeout(bounded, store.begin_projection())
        .await
        .expect("the projection does not wait for the writer")
        .unwrap();
    assert!(p.index_audit(from, head, chunk).await.unwrap());
    tokio::time::timeout(bounded, p.commit())
        .await
        .expect("nor does its commit")
        .unwrap();
    assert_eq!(store.audit_index_state().await.unwrap(), (head, head));
    // and an audit append does not wait for a projection in progress
    let p = store.begin_projection().await.unwrap();
    drop(writer);
    tokio::time::timeout(bounded, store.append_audit_committed(vec![event("p-3")]))
        .await
        .expect("the append does not wait for the projection")
        .unwrap();

    // a purge waits for the projection in progress, and goes on once it ends
    let s = store.clone();
    let purge = tokio::spawn(async move { s.purge_audit(1, event("purge")).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!purge.is_finished(), "the purge waits for the projection");
    drop(p);
    tokio::time::timeout(bounded, purge)
        .await
        .expect("and goes on once it ends")
        .unwrap()
        .unwrap();

    // nothing but the projection is written in a projection's transaction
    let mut p = store.begin_projection().await.unwrap();
    assert!(p.write(vec![patient("q", 1, "")]).await.is_err());
    assert!(p.append_audit(vec![event("p-4")]).await.is_err());
    assert!(
        p.commit().await.is_err(),
        "a refused write fails the transaction"
    );
    assert!(store.read("Patient", "q").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_token_is_redeemed_once_across_nodes() {
    let Some(url) = url_or_skip("refresh_once") else {
        return;
    };
    let schema = TestSchema::create(&url).await.unwrap();
    let a = Arc::new(schema.open(KeyRing::new(key(4))).await.unwrap());
    let b = Arc::new(schema.open(KeyRing::new(key(4))).await.unwrap());
    let r = RefreshRecord {
        hash: "h1".into(),
        grant: "g1".into(),
        client_id: "c".into(),
        user_id: "u".into(),
        scope: "openid".into(),
        patient: None,
        encounter: None,
        fhir_user: None,
        break_glass: false,
        expires: 1_000,
        session_hash: None,
    };
    a.put_refresh(&r).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.redeem_refresh("h1", 10).await.unwrap()
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        match t.await.unwrap() {
            Redeemed::Fresh(_) => fresh += 1,
            Redeemed::Reused(_) => {}
            Redeemed::Unknown => panic!("unknown"),
        }
    }
    assert_eq!(fresh, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_abandoned_transaction_leaves_nothing_and_frees_the_lock() {
    let Some((_s, store)) = fresh("abandoned_tx").await else {
        return;
    };
    {
        let mut tx = store.begin().await.unwrap();
        tx.write(vec![patient("z", 1, "")]).await.unwrap();
    }
    // The next writer gets the lock (the rollback runs in the background).
    let mut tx = store.begin().await.unwrap();
    assert!(tx.read("Patient", "z").await.unwrap().is_none());
    tx.write(vec![patient("y", 1, "")]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.read("Patient", "z").await.unwrap().is_none());
    assert!(store.read("Patient", "y").await.unwrap().is_some());
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').unwrap();
    match query {
        Some(q) => format!("{server}/{db}?{q}"),
        None => format!("{server}/{db}"),
    }
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// `read_url` routing. No streaming replica runs on this machine, so the "replica" is a second
/// database holding a resource the primary lacks: a read that returns it was served by the
/// replica. A server that is not in recovery counts as caught up (docs/design/009-postgres.md).
/// Writes and the security state always go to the primary; an unreachable replica falls back
/// to the primary.
#[tokio::test(flavor = "multi_thread")]
async fn reads_go_to_the_replica_writes_to_the_primary_and_a_dead_replica_falls_back() {
    let Some(url) = url_or_skip("read_url_routing") else {
        return;
    };
    let schema = TestSchema::create(&url).await.unwrap();
    let db = format!("ward_replica_{}", &schema.name[2..]);
    let root = admin(&url).await;
    root.batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let replica_url = with_database(&url, &db);
    admin(&replica_url)
        .await
        .batch_execute(&format!("CREATE SCHEMA {}", schema.name))
        .await
        .unwrap();
    let result = std::panic::AssertUnwindSafe(async {
        // The primary's data key, copied to the "replica" as replication would, so that
        // bodies sealed on one open on the other.
        drop(schema.open(KeyRing::new(key(3))).await.unwrap());
        let mut on_replica = schema.options();
        on_replica.url = replica_url.clone();
        drop(
            PostgresStore::open(on_replica.clone(), KeyRing::new(key(3)))
                .await
                .unwrap(),
        );
        let keys = admin(&url)
            .await
            .query(
                &format!(
                    "SELECT id, wrapped, created, active FROM {}.data_keys",
                    schema.name
                ),
                &[],
            )
            .await
            .unwrap();
        let r = admin(&replica_url).await;
        r.batch_execute(&format!("DELETE FROM {}.data_keys", schema.name))
            .await
            .unwrap();
        for k in keys {
            let (id, wrapped, created, active): (i64, Vec<u8>, i64, bool) =
                (k.get(0), k.get(1), k.get(2), k.get(3));
            r.execute(
                &format!(
                    "INSERT INTO {}.data_keys VALUES ($1, $2, $3, $4)",
                    schema.name
                ),
                &[&id, &wrapped, &created, &active],
            )
            .await
            .unwrap();
        }
        // The replica's own content, written straight to it.
        let replica = PostgresStore::open(on_replica, KeyRing::new(key(3)))
            .await
            .unwrap();
        let mut tx = replica.begin().await.unwrap();
        tx.write(vec![patient("only-on-replica", 1, "r")])
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let mut o = schema.options();
        o.read_url = Some(replica_url.clone());
        let routed = PostgresStore::open(o, KeyRing::new(key(3))).await.unwrap();
        let mut tx = routed.begin().await.unwrap();
        tx.write(vec![patient("written", 1, "w")]).await.unwrap();
        tx.commit().await.unwrap();
        assert!(
            routed
                .read("Patient", "only-on-replica")
                .await
                .unwrap()
                .is_some(),
            "reads are served by the replica"
        );
        assert!(
            routed.read("Patient", "written").await.unwrap().is_none(),
            "the write went to the primary, not the replica"
        );
        let direct = schema.open(KeyRing::new(key(3))).await.unwrap();
        assert!(direct.read("Patient", "written").await.unwrap().is_some());
        assert!(
            direct
                .read("Patient", "only-on-replica")
                .await
                .unwrap()
                .is_none()
        );

        // A replica that cannot be reached: every read falls back to the primary.
        let mut dead = schema.options();
        dead.read_url = Some(with_database("postgres://postgres@127.0.0.1:1/x", "x"));
        dead.connect_timeout = std::time::Duration::from_secs(2);
        let fallback = PostgresStore::open(dead, KeyRing::new(key(3)))
            .await
            .unwrap();
        assert!(fallback.read("Patient", "written").await.unwrap().is_some());
    })
    .catch_unwind()
    .await;
    root.batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .await
        .unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// `storage.url` with `sslmode=verify-full` against the local server's own certificate (Debian
/// serves `ssl-cert-snakeoil.pem`, CN and SAN `localhost`, self-signed, so it is its own CA):
/// the connection is TLS, and a wrong CA or a host name the certificate does not name is refused.
#[tokio::test(flavor = "multi_thread")]
async fn tls_to_the_database_with_verify_full() {
    let Some(url) = url_or_skip("tls_verify_full") else {
        return;
    };
    let root = admin(&url).await;
    let ssl: String = root.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    let cert: String = root
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    let cert = std::path::PathBuf::from(cert);
    if ssl != "on" || std::fs::read(&cert).is_err() || !url.contains("@127.0.0.1:") {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "NOTICE: tls_verify_full: SKIPPED: the test server does not serve TLS with a \
             readable certificate file, or its URL is not on 127.0.0.1"
        );
        return;
    }
    let schema = TestSchema::create(&url).await.unwrap();
    let by_name = |host: &str| {
        let u = url.replace("@127.0.0.1:", &format!("@{host}:"));
        if u.contains('?') {
            format!("{u}&sslmode=verify-full")
        } else {
            format!("{u}?sslmode=verify-full")
        }
    };
    let mut o = schema.options();
    o.url = by_name("localhost");
    o.ca_file = Some(cert.clone());
    o.connect_timeout = std::time::Duration::from_secs(3);
    let store = PostgresStore::open(o.clone(), KeyRing::new(key(4)))
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.write(vec![patient("over-tls", 1, "t")]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.read("Patient", "over-tls").await.unwrap().is_some());
    let encrypted: i64 = root
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
             WHERE a.application_name = $1 AND s.ssl",
            &[&format!("ward:{}", schema.name)],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted > 0, "the store's connections use TLS");

    // A CA that did not sign the server's certificate.
    let mut wrong_ca = o.clone();
    let pem = std::env::temp_dir().join(format!("ward-other-ca-{}.pem", schema.name));
    std::fs::write(&pem, OTHER_CA).unwrap();
    wrong_ca.ca_file = Some(pem.clone());
    let refused = PostgresStore::open(wrong_ca, KeyRing::new(key(4))).await;
    let _ = std::fs::remove_file(&pem);
    assert!(refused.is_err());
    // The right CA, but a host name the certificate does not carry.
    let mut wrong_host = o.clone();
    wrong_host.url = by_name("127.0.0.1");
    assert!(
        PostgresStore::open(wrong_host, KeyRing::new(key(4)))
            .await
            .is_err()
    );
}

/// A self-signed CA certificate (public part only) that signed nothing the tests connect to.
const OTHER_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBkzCCATmgAwIBAgIUChmS2W3qSj3IYGlkzLsN54oR1j8wCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTTm90IFRoZSBEYXRhYmFzZSBDQTAgFw0yNjEyMDMxMDI1NTda
GA8yMTI2MTEwOTEwMjU1N1owHjEcMBoGA1UEAwwTTm90IFRoZSBEYXRhYmFzZSBD
QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABG89Bsq6KU3JGq79yXEQF2PgJL6b
TXlLsqeV3hvlkAP5gLaoq6hrujw3PvuAZi86bWoBLgjJE5ZA4PUx/gXDv8ujUzBR
MB0GA1UdDgQWBBTUowojdzfp6uzIjc27Q7J3nI3b0TAfBgNVHSMEGDAWgBTUowoj
dzfp6uzIjc27Q7J3nI3b0TAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA
MEUCIQD9yj63EJFMfBdclMpav2l8Wo6PpfDaEt/J+PCFYCQs8gIgBzJYLP3OvqlF
5iNbnbvyeYeHwsHDAZwxkbCYx51mm1Y=
-----END CERTIFICATE-----
";

/// The first column of every row `sql` returns, as text.
async fn texts(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A batch of new AuditEvents goes in with one statement (`audit::append_new`): each record
/// gets its chain position, hash, resource, version and chain row, versions in the batch's
/// order; an id that exists already fails the whole batch and leaves nothing of it. The
/// projection then writes a chunk's index rows for all its records at once, each record's
/// rows under its own resource.
#[tokio::test(flavor = "multi_thread")]
async fn an_audit_batch_goes_in_whole_or_not_at_all() {
    use ward_store::index::{IndexRows, SortDateRow, TokenRow};

    let Some((schema, store)) = fresh("an_audit_batch_goes_in_whole_or_not_at_all").await else {
        return;
    };
    let event = |id: &str, at: i64| NewVersion {
        rtype: "AuditEvent".into(),
        id: id.into(),
        version: 1,
        last_updated: Timestamp(at),
        method: WriteMethod::Create,
        body: Some(format!(r#"{{"resourceType":"AuditEvent","id":"{id}"}}"#).into()),
        index: Default::default(),
        patients: if at == 2 {
            vec!["pb".into(), "pc".into()]
        } else {
            Vec::new()
        },
    };
    let (_, head) = store.audit_index_state().await.unwrap();
    let ids = ["b-1", "b-2", "b-3", "b-4"];
    let linked = store
        .append_audit_committed(ids.iter().zip(1..).map(|(id, at)| event(id, at)).collect())
        .await
        .unwrap();
    assert_eq!(
        linked.iter().map(|l| l.0).collect::<Vec<_>>(),
        (head + 1..=head + 4).collect::<Vec<_>>()
    );
    let rows = store.audit_rows(head, 10).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| (r.seq, r.hash)).collect::<Vec<_>>(),
        linked
    );
    assert_eq!(
        rows.iter()
            .map(|r| r.id.clone().unwrap())
            .collect::<Vec<_>>(),
        ids
    );
    assert_eq!(rows[1].recorded, Some(Timestamp(2)));
    assert_eq!(rows[1].patients, vec!["pb".to_owned(), "pc".to_owned()]);
    assert!(rows[0].patients.is_empty());
    let mut prev = rows[0].prev_hash;
    for r in &rows {
        assert_eq!(r.prev_hash, prev, "each record links to the one before");
        let body = r.body.clone().unwrap();
        assert_eq!(r.hash, ward_audit::link_hash(r.seq, &prev, &body));
        prev = r.hash;
    }
    let read = store.read("AuditEvent", "b-3").await.unwrap().unwrap();
    assert_eq!(read.meta.version, 1);

    let (client, conn) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!("SET search_path TO {}", schema.name))
        .await
        .unwrap();
    let order = texts(
        &client,
        "SELECT v.id FROM audit_chain c JOIN versions v ON v.seq = c.vseq \
         JOIN resources r ON r.rid = v.rid AND r.seq = v.seq ORDER BY v.seq",
    )
    .await;
    assert_eq!(
        order, ids,
        "versions in the batch's order, each its resource's current one"
    );

    // an id the chain holds already: the whole batch fails, nothing of it stays, and the
    // connection goes back to the pool clean (more failures than the pool has connections:
    // one left inside its transaction would hold the write lock, and the next append wait)
    for _ in 0..6 {
        let failed = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            store.append_audit_committed(vec![event("b-5", 5), event("b-2", 6)]),
        )
        .await
        .expect("no connection is left holding the write lock");
        assert!(
            matches!(failed, Err(StoreError::VersionConflict)),
            "{failed:?}"
        );
    }
    assert_eq!(store.audit_index_state().await.unwrap().1, head + 4);
    assert!(store.read("AuditEvent", "b-5").await.unwrap().is_none());
    let next = store
        .append_audit_committed(vec![event("b-5", 5)])
        .await
        .unwrap();
    assert_eq!(next[0].0, head + 5, "the chain goes on where it was");

    // the projection: one chunk, each record's rows under its own resource
    let rows = store.audit_rows(head, 10).await.unwrap();
    let chunk = ward_store::contract::projected(&rows, |id| IndexRows {
        tokens: vec![TokenRow {
            pkey: 7,
            grp: None,
            system: None,
            code: format!("code-{id}"),
        }],
        sort_dates: vec![
            SortDateRow {
                pkey: 9,
                lo: 1,
                hi: 1,
            },
            SortDateRow {
                pkey: 9,
                lo: 2,
                hi: 3,
            },
        ],
        ..Default::default()
    });
    let mut tx = store.begin_projection().await.unwrap();
    assert!(tx.index_audit(head, head + 5, chunk).await.unwrap());
    tx.commit().await.unwrap();
    let tokens: Vec<(String, String)> = client
        .query(
            "SELECT r.id, t.code FROM idx_token t JOIN resources r ON r.rid = t.rid \
             WHERE t.pkey = 7 ORDER BY r.id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want: Vec<(String, String)> = ["b-1", "b-2", "b-3", "b-4", "b-5"]
        .iter()
        .map(|id| ((*id).to_owned(), format!("code-{id}")))
        .collect();
    assert_eq!(tokens, want);
    let sorts: Vec<(i64, i64)> = client
        .query("SELECT lo, hi FROM idx_sort_date WHERE pkey = 9", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        sorts,
        vec![(2, 3); 5],
        "one sort row a record: its last value"
    );

    // a record that carries its index rows goes in version by version, rows and all
    let mut with_rows = event("b-6", 6);
    with_rows.index.tokens.push(TokenRow {
        pkey: 11,
        grp: None,
        system: None,
        code: "kept".into(),
    });
    let linked = store.append_audit_committed(vec![with_rows]).await.unwrap();
    assert_eq!(linked[0].0, head + 6);
    let kept = texts(
        &client,
        "SELECT r.id FROM idx_token t JOIN resources r ON r.rid = t.rid WHERE t.pkey = 11",
    )
    .await;
    assert_eq!(kept, ["b-6"]);
    drop(client);
    let _ = task.await;
}
