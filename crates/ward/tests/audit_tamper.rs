//! Tamper evidence (issue "Audit controls" item 3): after real traffic through `ward serve`,
//! `ward audit verify` passes; then, each on a fresh copy of the data directory, the trail of
//! record (`ward-audit.db`, docs/design/011-audit-file.md) is tampered with directly — a record edited, deleted, inserted, reordered, the tail
//! truncated past a checkpoint (also with the checkpoints deleted, caught by the external
//! checkpoint log) — and `ward audit verify` exits non-zero naming the first bad `seq`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use common::{copy_dir, make_trail, open_db, open_trail, trail_event, ward};
use rusqlite::{Connection, params};
use ward_store::{KeyRing, body_aad};

fn verify(data: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["audit", "verify", "--data-dir", data.to_str().unwrap()];
    args.extend_from_slice(extra);
    ward(&args)
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
    assert!(!out.contains("pending"), "nothing is pending: {out}");
    let records: i64 = open_trail(&data)
        .0
        .query_row("SELECT max(seq) FROM trail", [], |r| r.get(0))
        .unwrap();
    let checkpoints: i64 = open_trail(&data)
        .0
        .query_row("SELECT count(*) FROM checkpoints", [], |r| r.get(0))
        .unwrap();
    assert!(
        records >= 9 && checkpoints >= 2,
        "{records} records, {checkpoints} checkpoints"
    );

    // Each case tampers with its own copy of the data directory; verify must fail on it.
    let tampered = |name: &str, tamper: &dyn Fn(&Path), extra: &[&str]| -> (PathBuf, String) {
        let copy = tmp.path().join(name);
        copy_dir(&data, &copy);
        tamper(&copy);
        let (ok, out) = verify(&copy, extra);
        assert!(!ok, "{name}: tampering must be found: {out}");
        (copy, out)
    };
    let case = |name: &str, tamper: &dyn Fn(&Connection, &KeyRing), want: &str, extra: &[&str]| {
        let open_and_tamper = |copy: &Path| {
            let (c, ring) = open_trail(copy);
            tamper(&c, &ring);
        };
        let (_, out) = tampered(name, &open_and_tamper, extra);
        assert!(out.contains(want), "{name}: expected {want:?} in: {out}");
    };

    // edited: re-sealed with the right keys, so only the chain can tell
    case(
        "edit",
        &|c, ring| {
            let (id, text) = trail_event(c, ring, 3);
            let text = text.replace("\"outcome\":\"0\"", "\"outcome\":\"4\"");
            let sealed = ring
                .seal(&body_aad("AuditEvent", &id, 1), text.as_bytes())
                .unwrap();
            c.execute("UPDATE trail SET body = ?1 WHERE seq = 3", params![sealed])
                .unwrap();
        },
        "seq 3",
        &[],
    );
    // deleted record
    case(
        "delete",
        &|c, _| {
            c.execute("DELETE FROM trail WHERE seq = 4", []).unwrap();
        },
        "seq 4",
        &[],
    );
    // a record's body destroyed (no longer opens)
    case(
        "destroy-body",
        &|c, _| {
            c.execute("UPDATE trail SET body = x'00' WHERE seq = 2", [])
                .unwrap();
        },
        "seq 2",
        &[],
    );
    // reordered: records 5 and 6 trade content (ids and bodies)
    case(
        "reorder",
        &|c, _| {
            let row = |seq: i64| -> (String, Vec<u8>) {
                c.query_row("SELECT id, body FROM trail WHERE seq = ?1", [seq], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap()
            };
            let (a, b) = (row(5), row(6));
            c.execute("UPDATE trail SET id = 'swap' WHERE seq = 5", [])
                .unwrap();
            c.execute(
                "UPDATE trail SET id = ?1, body = ?2 WHERE seq = 6",
                params![a.0, a.1],
            )
            .unwrap();
            c.execute(
                "UPDATE trail SET id = ?1, body = ?2 WHERE seq = 5",
                params![b.0, b.1],
            )
            .unwrap();
        },
        "seq 5",
        &[],
    );
    // inserted: a record slipped in at 7, later ones renumbered
    case(
        "insert",
        &|c, ring| {
            c.execute("UPDATE trail SET seq = seq + 1000 WHERE seq >= 7", [])
                .unwrap();
            c.execute("UPDATE trail SET seq = seq - 999 WHERE seq >= 1007", [])
                .unwrap();
            let (prev, recorded): (Vec<u8>, i64) = c
                .query_row("SELECT hash, recorded FROM trail WHERE seq = 6", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            let (_, text) = trail_event(c, ring, 6);
            let sealed = ring
                .seal(&body_aad("AuditEvent", "slipped-in", 1), text.as_bytes())
                .unwrap();
            c.execute(
                "INSERT INTO trail(seq, id, recorded, prev_hash, hash, body) \
                 VALUES (7, 'slipped-in', ?1, ?2, ?3, ?4)",
                params![recorded, prev, vec![0u8; 32], sealed],
            )
            .unwrap();
        },
        "seq 7",
        &[],
    );
    // The searchable copy in the data file (the projection) is checked against the trail too.
    let projection_case = |name: &str, tamper: &dyn Fn(&Connection, &KeyRing)| {
        let open_and_tamper = |copy: &Path| {
            let (c, ring) = open_db(copy);
            tamper(&c, &ring);
        };
        let (_, out) = tampered(name, &open_and_tamper, &[]);
        assert!(
            out.contains("seq 3") && out.contains("searchable copy"),
            "{name}: expected seq 3 and the projection named in: {out}"
        );
    };
    let projected_version = |c: &Connection| -> (i64, String, Vec<u8>) {
        c.query_row(
            "SELECT v.seq, v.id, v.body FROM audit_chain a JOIN versions v ON v.seq = a.vseq \
             WHERE a.seq = 3",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    projection_case("projection-deleted", &|c, _| {
        let (v, _, _) = projected_version(c);
        c.execute("DELETE FROM versions WHERE seq = ?1", [v])
            .unwrap();
    });
    projection_case("projection-edited", &|c, ring| {
        let (v, id, env) = projected_version(c);
        let aad = body_aad("AuditEvent", &id, 1);
        let text = ward_store_sqlite::unpack_audit_text(ring.open(&aad, &env).unwrap()).unwrap();
        let text = String::from_utf8(text)
            .unwrap()
            .replace("\"outcome\":\"0\"", "\"outcome\":\"4\"");
        c.execute(
            "UPDATE versions SET body = ?1 WHERE seq = ?2",
            params![ring.seal(&aad, text.as_bytes()).unwrap(), v],
        )
        .unwrap();
    });

    // truncated past a checkpoint: named at the first record cut
    case(
        "truncate",
        &|c, _| {
            c.execute("DELETE FROM trail WHERE seq > 4", []).unwrap();
        },
        "FAILED at seq 5",
        &[],
    );
    // … also while a write's record is still pending in the data file (a crash between the
    // write's commit and its append): verify opens the trail as found, so that record is not
    // chained into the cut positions first, where it would only show as a checkpoint mismatch
    {
        let id = "0190aaaa-0000-7000-8000-00000000beef";
        let cut_and_leave_pending = |copy: &Path| {
            let (t, ring) = open_trail(copy);
            let (_, text) = trail_event(&t, &ring, 3);
            t.execute("DELETE FROM trail WHERE seq > 4", []).unwrap();
            drop(t);
            let (c, ring) = open_db(copy);
            let sealed = ring
                .seal(&body_aad("AuditEvent", id, 1), text.as_bytes())
                .unwrap();
            c.execute(
                "INSERT INTO audit_pending(id, recorded, body, patients) VALUES (?1, 1, ?2, NULL)",
                params![id, sealed],
            )
            .unwrap();
        };
        let (copy, out) = tampered("truncate-with-pending", &cut_and_leave_pending, &[]);
        assert!(
            out.contains("FAILED at seq 5") && out.contains("truncated"),
            "truncate-with-pending: expected the cut at seq 5 in: {out}"
        );
        assert!(
            out.contains("note: 1 record of a write is pending"),
            "truncate-with-pending: the pending record is reported: {out}"
        );
        // the next ordinary opening chains the pending record after the verify record
        let pending: i64 = open_trail(&copy)
            .0
            .query_row("SELECT count(*) FROM trail WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(pending, 0, "verify chained the pending record");
    }
    // truncated with the trail's checkpoints removed too: the external log still knows
    let log = cp_log.to_str().unwrap().to_owned();
    case(
        "truncate-and-hide",
        &|c, _| {
            c.execute("DELETE FROM trail WHERE seq > 4", []).unwrap();
            c.execute("DELETE FROM checkpoints", []).unwrap();
        },
        "FAILED at seq 5",
        &["--checkpoints", &log],
    );
}

/// The trail's head and the highest signed position.
fn head_and_signed(data: &Path) -> (i64, Option<i64>) {
    open_trail(data)
        .0
        .query_row(
            "SELECT (SELECT max(seq) FROM trail), (SELECT max(seq) FROM checkpoints)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

/// A real server on `data`, still running, that has answered three searches (with the
/// operator token's record, four records on the trail).
fn serve_three_searches(data: &Path) -> common::Server {
    let server = common::serve(data);
    let base = server.base.clone();
    let token = common::operator_token(data, "system/*.cruds");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..3 {
            common::get_ok(&http, &format!("{base}/Patient?_count=1"), &token).await;
        }
    });
    server
}

/// Copies `data` to `cut`, runs `delete` (its `?1` bound to `seq`) on the copy's trail, and
/// verifies the copy.
fn verify_cut(data: &Path, cut: &Path, delete: &str, seq: i64) -> (bool, String) {
    copy_dir(data, cut);
    let (c, _) = open_trail(cut);
    c.execute(delete, [seq]).unwrap();
    drop(c);
    verify(cut, &[])
}

/// A stop that is not clean leaves the records after the last checkpoint covered by no
/// signature; the next start signs over them before it serves, so that a cut of that tail
/// fails verification.
#[test]
fn the_next_start_signs_the_tail_a_crash_left_unsigned() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = serve_three_searches(&data);
    drop(server); // SIGKILL: no checkpoint at the stop
    let (crashed, signed) = head_and_signed(&data);
    assert!(
        signed.unwrap_or(0) < crashed,
        "the crash left an unsigned tail: head {crashed}, signed through {signed:?}"
    );

    let server = common::serve(&data);
    let (_, signed) = head_and_signed(&data);
    assert!(
        signed.unwrap_or(0) >= crashed,
        "the start signed the crashed run's tail: head was {crashed}, signed through {signed:?}"
    );
    drop(server);
    let (ok, out) = verify(&data, &[]);
    assert!(ok, "{out}");

    let (ok, out) = verify_cut(
        &data,
        &tmp.path().join("cut"),
        "DELETE FROM trail WHERE seq >= ?1",
        crashed,
    );
    assert!(
        !ok,
        "the crashed run's last record cut must be found: {out}"
    );
    assert!(out.contains(&format!("FAILED at seq {crashed}")), "{out}");
}

/// A clean stop signs the head: with the default checkpoint period (1,000 records or 60 s),
/// the few records of a short run are still covered, so cutting even the last one is caught;
/// so does a console command, for its own records.
#[test]
fn a_clean_stop_and_a_console_command_sign_a_checkpoint_over_the_head() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = serve_three_searches(&data);
    server.stop();
    let (head, signed) = head_and_signed(&data);
    assert!(head >= 4, "{head} records");
    assert_eq!(signed, Some(head), "the head is signed at the stop");
    // the next start finds the head signed and does not sign it again (a second checkpoint
    // at the same position would carry another time, and disagree with the first in the
    // external checkpoint file)
    let checkpoint_at = |seq: i64| -> String {
        open_trail(&data)
            .0
            .query_row("SELECT body FROM checkpoints WHERE seq = ?1", [seq], |r| {
                r.get(0)
            })
            .unwrap()
    };
    let before = checkpoint_at(head);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    drop(common::serve(&data));
    assert_eq!(
        checkpoint_at(head),
        before,
        "the signed head is not signed again"
    );
    // a console command signs its own record before it exits
    common::operator_token(&data, "system/*.rs");
    let (head, signed) = head_and_signed(&data);
    assert_eq!(signed, Some(head), "the command's record is signed");
    let (ok, out) = verify(&data, &[]);
    assert!(ok, "{out}");

    let (ok, out) = verify_cut(
        &data,
        &tmp.path().join("cut"),
        "DELETE FROM trail WHERE seq = ?1",
        head,
    );
    assert!(!ok, "the last record cut must be found: {out}");
    assert!(out.contains(&format!("FAILED at seq {head}")), "{out}");
}
