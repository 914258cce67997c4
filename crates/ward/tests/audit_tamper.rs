//! Tamper evidence (issue "Audit controls" item 3): after real traffic through `ward serve`,
//! `ward audit verify` passes; then, each on a fresh copy of the data directory, the database
//! is tampered with directly — a record edited, deleted, inserted, reordered, the tail
//! truncated past a checkpoint (also with the checkpoints deleted, caught by the external
//! checkpoint log) — and `ward audit verify` exits non-zero naming the first bad `seq`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::{copy_dir, make_trail, open_db, ward};
use rusqlite::{Connection, params};
use ward_store::{KeyRing, body_aad};

fn verify(data: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["audit", "verify", "--data-dir", data.to_str().unwrap()];
    args.extend_from_slice(extra);
    ward(&args)
}

fn vseq(c: &Connection, seq: i64) -> i64 {
    c.query_row("SELECT vseq FROM audit_chain WHERE seq = ?1", [seq], |r| {
        r.get(0)
    })
    .unwrap()
}

#[test]
fn verify_finds_every_kind_of_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cp_log = tmp.path().join("checkpoints.log");
    let config = tmp.path().join("ward.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\ncheckpoint_every = 3\ncheckpoint_file = \"{}\"\n",
            cp_log.display()
        ),
    )
    .unwrap();
    make_trail(&data, &config);
    let (ok, out) = verify(&data, &["--checkpoints", cp_log.to_str().unwrap()]);
    assert!(ok, "a clean trail verifies: {out}");
    let records: i64 = open_db(&data)
        .0
        .query_row("SELECT max(seq) FROM audit_chain", [], |r| r.get(0))
        .unwrap();
    let checkpoints: i64 = open_db(&data)
        .0
        .query_row("SELECT count(*) FROM audit_checkpoints", [], |r| r.get(0))
        .unwrap();
    assert!(
        records >= 9 && checkpoints >= 2,
        "{records} records, {checkpoints} checkpoints"
    );

    let case = |name: &str, tamper: &dyn Fn(&Connection, &KeyRing), want: &str, extra: &[&str]| {
        let copy = tmp.path().join(name);
        copy_dir(&data, &copy);
        let (c, ring) = open_db(&copy);
        tamper(&c, &ring);
        drop(c);
        let (ok, out) = verify(&copy, extra);
        assert!(!ok, "{name}: tampering must be found: {out}");
        assert!(out.contains(want), "{name}: expected {want:?} in: {out}");
    };

    // edited: re-sealed with the right keys, so only the chain can tell
    case(
        "edit",
        &|c, ring| {
            let v = vseq(c, 3);
            let (t, id, ver, env): (String, String, i64, Vec<u8>) = c
                .query_row(
                    "SELECT rtype, id, version, body FROM versions WHERE seq = ?1",
                    [v],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            let aad = body_aad(&t, &id, ver as u64);
            let text = String::from_utf8(ring.open(&aad, &env).unwrap())
                .unwrap()
                .replace("\"outcome\":\"0\"", "\"outcome\":\"4\"");
            c.execute(
                "UPDATE versions SET body = ?1 WHERE seq = ?2",
                params![ring.seal(&aad, text.as_bytes()).unwrap(), v],
            )
            .unwrap();
        },
        "seq 3",
        &[],
    );
    // deleted record
    case(
        "delete",
        &|c, _| {
            c.execute("DELETE FROM audit_chain WHERE seq = 4", [])
                .unwrap();
        },
        "seq 4",
        &[],
    );
    // deleted AuditEvent body
    case(
        "delete-body",
        &|c, _| {
            c.execute("DELETE FROM versions WHERE seq = ?1", [vseq(c, 2)])
                .unwrap();
        },
        "seq 2",
        &[],
    );
    // reordered: records 5 and 6 trade content
    case(
        "reorder",
        &|c, _| {
            let (a, b) = (vseq(c, 5), vseq(c, 6));
            c.execute("UPDATE audit_chain SET vseq = -1 WHERE seq = 5", [])
                .unwrap();
            c.execute("UPDATE audit_chain SET vseq = ?1 WHERE seq = 6", [a])
                .unwrap();
            c.execute("UPDATE audit_chain SET vseq = ?1 WHERE seq = 5", [b])
                .unwrap();
        },
        "seq 5",
        &[],
    );
    // inserted: a record slipped in at 7, later ones renumbered
    case(
        "insert",
        &|c, _| {
            c.execute("UPDATE audit_chain SET seq = seq + 1000 WHERE seq >= 7", [])
                .unwrap();
            c.execute(
                "UPDATE audit_chain SET seq = seq - 999 WHERE seq >= 1007",
                [],
            )
            .unwrap();
            let (prev, v): (Vec<u8>, i64) = c
                .query_row(
                    "SELECT hash, vseq FROM audit_chain WHERE seq = 6",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            c.execute(
                "INSERT INTO audit_chain(seq, vseq, prev_hash, hash) VALUES (7, ?1, ?2, ?3)",
                params![v + 100_000, prev, vec![0u8; 32]],
            )
            .unwrap();
        },
        "seq 7",
        &[],
    );
    // truncated past a checkpoint
    case(
        "truncate",
        &|c, _| {
            c.execute("DELETE FROM audit_chain WHERE seq > 4", [])
                .unwrap();
        },
        "truncated",
        &[],
    );
    // truncated with the database's checkpoints removed too: the external log still knows
    let log = cp_log.to_str().unwrap().to_owned();
    case(
        "truncate-and-hide",
        &|c, _| {
            c.execute("DELETE FROM audit_chain WHERE seq > 4", [])
                .unwrap();
            c.execute("DELETE FROM audit_checkpoints", []).unwrap();
        },
        "truncated",
        &["--checkpoints", &log],
    );
}
