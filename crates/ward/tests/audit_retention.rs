//! Retention (issue "Audit controls" item 7): records older than `[audit] retention` are
//! archived (encrypted, verified), and only a verified archive lets `ward audit purge` remove
//! them; the purge is recorded in the chain and `ward audit verify` accepts the shortened
//! trail — while a prefix deleted by hand, or a forged purge record, is still caught. Nothing
//! deletes AuditEvents through the API (that is `rest_audit.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::{
    Server, copy_dir, make_trail, open_db, open_trail, operator_token, trail_event, ward,
};
use rusqlite::{Connection, params};
use ward_audit::{PurgeNote, link_hash};
use ward_store::{KeyRing, body_aad};

fn run(args: &[&str], data: &Path, config: &Path) -> (bool, String) {
    let mut all = args.to_vec();
    all.extend_from_slice(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    ward(&all)
}

/// The first and last record of the trail (`c` opened by `open_trail`).
fn chain_bounds(c: &Connection) -> (i64, i64) {
    c.query_row("SELECT min(seq), max(seq) FROM trail", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .unwrap()
}

fn chain_hash(c: &Connection, seq: i64) -> Vec<u8> {
    c.query_row("SELECT hash FROM trail WHERE seq = ?1", [seq], |r| r.get(0))
        .unwrap()
}

/// A number printed after `prefix` in `text`.
fn number_after(text: &str, prefix: &str) -> i64 {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} in {text}"))
        + prefix.len();
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[test]
fn only_a_verified_archive_lets_old_records_go_and_the_purge_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cp_log = tmp.path().join("checkpoints.log");
    let config = tmp.path().join("ward.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\ncheckpoint_every = 3\nretention = \"2s\"\ncheckpoint_file = \"{}\"\n",
            cp_log.display()
        ),
    )
    .unwrap();
    let default_config = tmp.path().join("default.toml");
    std::fs::write(&default_config, "").unwrap();
    make_trail(&data, &config);
    let (c, ring) = open_trail(&data);
    let (first_id, _) = trail_event(&c, &ring, 1);
    drop(c);

    // Under the default six years nothing is due: no archive is written, nothing is purged.
    let never = tmp.path().join("never.archive");
    let (ok, out) = run(
        &["audit", "archive", "--out", never.to_str().unwrap()],
        &data,
        &default_config,
    );
    assert!(ok && out.contains("nothing to archive"), "{out}");
    assert!(!never.exists());

    // Purging needs an archive that exists.
    let missing = tmp.path().join("missing.archive");
    let (ok, out) = run(
        &["audit", "purge", "--archive", missing.to_str().unwrap()],
        &data,
        &config,
    );
    assert!(
        !ok && out.contains("nothing purged") && out.contains("there is no such file"),
        "{out}"
    );
    let (c, ring) = open_trail(&data);
    let (first, last) = chain_bounds(&c);
    assert_eq!(first, 1);
    assert!(last >= 9, "{last} records");
    let (_, refused) = trail_event(&c, &ring, last);
    assert!(
        refused.contains("\"audit-purge\"") && refused.contains("\"outcome\":\"4\""),
        "a refused purge is on record: {refused}"
    );
    drop(c);

    std::thread::sleep(std::time::Duration::from_secs(3));
    let archive = tmp.path().join("trail.archive");
    let (ok, out) = run(
        &["audit", "archive", "--out", archive.to_str().unwrap()],
        &data,
        &config,
    );
    assert!(ok, "{out}");
    let archived = number_after(&out, "archived and verified ");
    assert_eq!(archived, last, "every record made before the pause: {out}");
    assert!(out.contains(&format!("(seq 1-{last})")), "{out}");
    let text = std::fs::read_to_string(&archive).unwrap();
    assert!(
        !text.contains("AuditEvent") && !text.contains("Patient"),
        "the archive is encrypted"
    );
    // an archive file is never overwritten
    let (ok, out) = run(
        &["audit", "archive", "--out", archive.to_str().unwrap()],
        &data,
        &config,
    );
    assert!(!ok, "{out}");

    // Archives that do not verify purge nothing.
    let lines: Vec<&str> = text.lines().collect();
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    let truncated = &lines[..lines.len() - 1];
    for (name, body) in [
        ("swapped", swapped.join("\n")),
        ("truncated", truncated.join("\n")),
    ] {
        let bad = tmp.path().join(format!("{name}.archive"));
        std::fs::write(&bad, body + "\n").unwrap();
        let (ok, out) = run(
            &["audit", "purge", "--archive", bad.to_str().unwrap()],
            &data,
            &config,
        );
        assert!(!ok, "{name}: {out}");
        assert!(out.contains("does not verify"), "{name}: {out}");
        let (c, _) = open_trail(&data);
        assert_eq!(chain_bounds(&c).0, 1, "{name}: nothing purged");
    }

    // An export sink that has not received the records yet holds the purge back.
    let sink_config = tmp.path().join("sink.toml");
    std::fs::write(
        &sink_config,
        format!(
            "[audit]\nretention = \"2s\"\nexport_dir = \"{}\"\n",
            tmp.path().join("export").display()
        ),
    )
    .unwrap();
    let (ok, out) = run(
        &["audit", "purge", "--archive", archive.to_str().unwrap()],
        &data,
        &sink_config,
    );
    assert!(
        !ok && out.contains("file export sink has records up to seq 0"),
        "{out}"
    );
    assert_eq!(chain_bounds(&open_trail(&data).0).0, 1, "nothing purged");

    let (ok, out) = run(
        &["audit", "purge", "--archive", archive.to_str().unwrap()],
        &data,
        &config,
    );
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("purged {last} audit records (seq 1-{last})")),
        "{out}"
    );
    let (t, ring) = open_trail(&data);
    let (kept_first, kept_last) = chain_bounds(&t);
    assert_eq!(kept_first, last + 1);
    let (c, _) = open_db(&data);
    let gone: i64 = c
        .query_row(
            "SELECT count(*) FROM versions WHERE rtype = 'AuditEvent' AND id = ?1",
            [&first_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(gone, 0, "the purged AuditEvent's versions are gone");
    let patients: i64 = c
        .query_row(
            "SELECT count(*) FROM resources WHERE rtype = 'Patient'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(patients, 4, "clinical data is never touched");
    // the purge record is the last record, and names what went
    let (_, purge_event) = trail_event(&t, &ring, kept_last);
    assert!(purge_event.contains("\"audit-purge\""), "{purge_event}");
    drop((c, t));

    let (ok, out) = run(
        &["audit", "verify", "--checkpoints", cp_log.to_str().unwrap()],
        &data,
        &config,
    );
    assert!(ok, "the purged trail verifies: {out}");
    assert!(
        out.contains(&format!("records up to seq {last} purged")),
        "{out}"
    );

    // Through the API: the purged event is gone, the purge and the archive are on record.
    let server = Server::start(&data, &config);
    let token = operator_token(&data, "system/AuditEvent.rs");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let get = |q: String| {
            let (http, token, base) = (http.clone(), token.clone(), server.base.clone());
            async move {
                let r = http
                    .get(format!("{base}/{q}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                (
                    r.status().as_u16(),
                    r.json::<serde_json::Value>().await.unwrap(),
                )
            }
        };
        assert_eq!(get(format!("AuditEvent/{first_id}")).await.0, 404);
        let (s, b) = get(format!("AuditEvent?_id={first_id}")).await;
        assert_eq!((s, b["total"].as_i64()), (200, Some(0)));
        let (s, b) = get("AuditEvent?subtype=audit-purge&outcome=4".into()).await;
        assert_eq!(
            (s, b["total"].as_i64()),
            (200, Some(3)),
            "the three refusals after the archive (the first one was purged): {b}"
        );
        let (s, b) = get("AuditEvent?subtype=audit-purge&outcome=0".into()).await;
        assert_eq!((s, b["total"].as_i64()), (200, Some(1)), "{b}");
        let desc = b["entry"][0]["resource"]["outcomeDesc"].as_str().unwrap();
        let note = PurgeNote::parse(desc).unwrap();
        assert_eq!((note.from, note.through), (1, last as u64));
        let (_, b) = get("AuditEvent?subtype=audit-export".into()).await;
        let descs: Vec<&str> = b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["resource"]["outcomeDesc"].as_str())
            .collect();
        assert!(
            descs
                .iter()
                .any(|d| d.contains("archive trail.archive") && d.contains("verified")),
            "{descs:?}"
        );
    });
    server.stop();

    // The same archive cannot purge records it does not hold.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (ok, out) = run(
        &["audit", "purge", "--archive", archive.to_str().unwrap()],
        &data,
        &config,
    );
    assert!(!ok && out.contains("do not hold"), "{out}");

    // Tampering after a purge is still found. (The external log as it is now: each case's
    // `verify` signs a checkpoint of its own copy into the configured log.)
    let pristine = tmp.path().join("pristine.log");
    std::fs::copy(&cp_log, &pristine).unwrap();
    let case = |name: &str, tamper: &dyn Fn(&Connection, &KeyRing), want: &str| {
        let copy = tmp.path().join(name);
        copy_dir(&data, &copy);
        let (c, ring) = open_trail(&copy);
        tamper(&c, &ring);
        drop(c);
        // each case gets its own copy of the external log (verify itself signs checkpoints)
        let log = tmp.path().join(format!("{name}.log"));
        std::fs::copy(&pristine, &log).unwrap();
        let (ok, out) = run(
            &["audit", "verify", "--checkpoints", log.to_str().unwrap()],
            &copy,
            &config,
        );
        assert!(!ok, "{name}: tampering must be found: {out}");
        assert!(out.contains(want), "{name}: expected {want:?} in: {out}");
    };
    let next = last + 1;
    // one more old record deleted by hand: no purge record accounts for it
    case(
        "delete-after-purge",
        &|c, _| {
            c.execute("DELETE FROM trail WHERE seq = ?1", [next])
                .unwrap();
        },
        &format!("seq {next}"),
    );
    // records deleted by hand, with a forged purge record appended to cover them: no signed
    // checkpoint covers the forgery
    case(
        "forged-purge",
        &|c, ring| {
            let (_, genuine) = trail_event(c, ring, kept_last);
            let through = next + 1;
            let note = PurgeNote {
                from: next as u64,
                through: through as u64,
                through_hash: chain_hash(c, through).try_into().unwrap(),
                archive_sha256: [0; 32],
            };
            let old = serde_json::from_str::<serde_json::Value>(&genuine).unwrap()["outcomeDesc"]
                .as_str()
                .unwrap()
                .to_owned();
            let forged = genuine.replace(&old, &note.to_desc());
            c.execute("DELETE FROM trail WHERE seq <= ?1", [through])
                .unwrap();
            let (head, head_hash): (i64, Vec<u8>) = c
                .query_row(
                    "SELECT seq, hash FROM trail ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            let sealed = ring
                .seal(&body_aad("AuditEvent", "forged", 1), forged.as_bytes())
                .unwrap();
            let prev: [u8; 32] = head_hash.try_into().unwrap();
            let seq = head + 1;
            let hash = link_hash(seq as u64, &prev, forged.as_bytes());
            c.execute(
                "INSERT INTO trail(seq, id, recorded, prev_hash, hash, body) \
                 VALUES (?1, 'forged', 0, ?2, ?3, ?4)",
                params![seq, prev.as_slice(), hash.as_slice(), sealed],
            )
            .unwrap();
        },
        "no signed purge record accounts for them",
    );
}
