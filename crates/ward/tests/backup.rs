//! Backups of the embedded store through the real binary (DESIGN.md "CLI contract"
//! `ward backup create|verify|restore`, docs/design/010-backup.md; HIPAA §164.308(a)(7)(ii)(A)
//! data backup, §164.312(b) audit controls): a backup taken while the server runs is encrypted
//! (never "SQLite format 3"), mode 0600, never overwrites; verify passes on it and fails, naming
//! why, on a flipped byte, an altered manifest, a missing manifest and a wrong master key;
//! restore is refused while a server runs and over a database without --force; with --force it
//! brings back the data as of the backup, keeps the previous database, and the restored trail
//! records the restore and passes `ward audit verify`. Backup and verification are AuditEvents
//! (subtype `backup`), the restore too (subtype `restore`), and so are the refusals before
//! anything is read (an existing --out, a running server, no --force: outcome 4) where the data
//! directory has a database to record them in; without one nothing is recorded or created.
//! A trail purged under retention backs up and restores with its first record in the manifest.
//! PostgreSQL is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{fails, ok, open_db_file, operator_token, serve};
use serde_json::Value;

const OTHER_KEY: &str = "abababababababababababababababababababababababababababababababab";

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn create_patient(&self, marker: &str) {
        let r = self
            .http
            .post(format!("{}/Patient", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/fhir+json")
            .body(format!(
                r#"{{"resourceType":"Patient","identifier":[{{"system":"urn:test","value":"{marker}"}}]}}"#
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    async fn search(&self, query: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/{query}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{query}");
        r.json().await.unwrap()
    }

    async fn patients(&self, marker: &str) -> usize {
        let b = self
            .search(&format!("Patient?identifier=urn:test|{marker}"))
            .await;
        b["entry"].as_array().map_or(0, Vec::len)
    }

    /// The `outcomeDesc` of every AuditEvent of `subtype`.
    async fn audit_descs(&self, subtype: &str) -> Vec<String> {
        self.audit_rows(subtype)
            .await
            .into_iter()
            .map(|(_, d)| d)
            .collect()
    }

    /// The `outcome` and `outcomeDesc` of every AuditEvent of `subtype`.
    async fn audit_rows(&self, subtype: &str) -> Vec<(String, String)> {
        let b = self
            .search(&format!("AuditEvent?subtype={subtype}&_count=100"))
            .await;
        let field = |e: &Value, k: &str| e["resource"][k].as_str().unwrap_or("").to_owned();
        b["entry"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| (field(e, "outcome"), field(e, "outcomeDesc")))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn api(data: &Path, base: &str) -> Api {
    Api {
        http: reqwest::Client::new(),
        base: base.to_owned(),
        token: operator_token(data, "system/*.cruds"),
    }
}

fn manifest_of(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.manifest.json", file.display()))
}

/// A backup's files: the database copy and its audit trail file.
fn trail_of(backup: &Path) -> std::path::PathBuf {
    ward_store_sqlite::trail_path(backup)
}

fn copy_backup(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    std::fs::copy(trail_of(from), trail_of(to)).unwrap();
    std::fs::copy(manifest_of(from), manifest_of(to)).unwrap();
}

/// Patients in the database file `db`, opened directly with the data directory's page key.
fn patients_in(data: &Path, db: &Path) -> i64 {
    let (c, _) = open_db_file(data, db);
    c.query_row(
        "SELECT count(*) FROM resources WHERE rtype = 'Patient'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Creates the backup while the server runs and checks the file itself.
fn create_backup(data: &Path, out: &Path) {
    let text = ok(data, &["backup", "create", "--out", s(out)]);
    assert!(text.contains("backup written"), "{text}");
    assert!(text.contains("master key is NOT in the backup"), "{text}");
    let bytes = std::fs::read(out).unwrap();
    assert!(bytes.len() > 4096);
    assert!(
        !bytes.starts_with(b"SQLite format 3"),
        "the backup is not a plaintext database"
    );
    assert!(
        !bytes.windows(13).any(|w| w == b"before-backup"),
        "no resource text in clear in the backup"
    );
    for p in [out.to_path_buf(), manifest_of(out)] {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
    let m: Value = serde_json::from_slice(&std::fs::read(manifest_of(out)).unwrap()).unwrap();
    assert_eq!(m["manifest"]["format"], "ward-backup");
    assert!(m["manifest"]["audit_seq"].as_u64().unwrap() > 0, "{m}");
    assert_eq!(m["manifest"]["resources"], 1, "{m}");
    let left: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "no temporary files left: {left:?}");
    let again = fails(data, &["backup", "create", "--out", s(out)], &[]);
    assert!(again.contains("refusing to overwrite"), "{again}");
}

/// Verification passes on the backup and fails, naming why, on damaged copies.
fn verify_good_and_bad(data: &Path, dir: &Path, good: &Path) {
    let text = ok(data, &["backup", "verify", "--file", s(good)]);
    assert!(text.contains("backup OK: ward-1.db"), "{text}");
    assert!(text.contains("1 resource,"), "{text}");

    let tampered = dir.join("tampered.db");
    copy_backup(good, &tampered);
    let mut bytes = std::fs::read(&tampered).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&tampered, bytes).unwrap();
    let text = fails(data, &["backup", "verify", "--file", s(&tampered)], &[]);
    assert!(text.contains("FAILED"), "{text}");
    assert!(text.contains("SHA-256 differs"), "{text}");

    // the audit trail file beside the copy is checked the same way
    let trail_tampered = dir.join("trail-tampered.db");
    copy_backup(good, &trail_tampered);
    let trail = trail_of(&trail_tampered);
    let mut bytes = std::fs::read(&trail).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&trail, bytes).unwrap();
    let text = fails(
        data,
        &["backup", "verify", "--file", s(&trail_tampered)],
        &[],
    );
    assert!(text.contains("audit trail SHA-256 differs"), "{text}");
    let trail_missing = dir.join("trail-missing.db");
    copy_backup(good, &trail_missing);
    std::fs::remove_file(trail_of(&trail_missing)).unwrap();
    let text = fails(
        data,
        &["backup", "verify", "--file", s(&trail_missing)],
        &[],
    );
    assert!(
        text.contains("cannot read the backup file") && text.contains("trail-missing-audit.db"),
        "{text}"
    );

    let forged = dir.join("forged.db");
    copy_backup(good, &forged);
    let mpath = manifest_of(&forged);
    let mut m: Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    m["manifest"]["created"] = "2020-01-01T00:00:00Z".into();
    std::fs::write(&mpath, serde_json::to_vec(&m).unwrap()).unwrap();
    let text = fails(data, &["backup", "verify", "--file", s(&forged)], &[]);
    assert!(text.contains("signature does not verify"), "{text}");

    let bare = dir.join("bare.db");
    std::fs::copy(good, &bare).unwrap();
    let text = fails(data, &["backup", "verify", "--file", s(&bare)], &[]);
    assert!(text.contains("no manifest"), "{text}");
}

/// A fresh data directory whose master key is not the backup's cannot restore it.
fn wrong_key_is_refused(dir: &Path, good: &Path) {
    let fresh = dir.join("fresh");
    let text = fails(
        &fresh,
        &["backup", "restore", "--file", s(good)],
        &[("WARD_MASTER_KEY", OTHER_KEY)],
    );
    assert!(text.contains("wrong key"), "{text}");
    assert!(!fresh.join("ward.db").exists(), "nothing was put in place");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_verify_restore_with_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let dir = tmp.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    let good = dir.join("ward-1.db");

    let server = serve(&data);
    let a = api(&data, &server.base);
    a.create_patient("before-backup").await;
    create_backup(&data, &good);
    verify_good_and_bad(&data, &dir, &good);
    let rows = a.audit_rows("backup").await;
    let refused = (
        "4".to_owned(),
        "create ward-1.db: refused (ward-1.db exists)".to_owned(),
    );
    assert!(rows.contains(&refused), "the refused overwrite: {rows:?}");
    let descs = a.audit_descs("backup").await;
    for want in [
        "create ward-1.db: audit seq 1..",
        "verify ward-1.db: ok",
        "verify tampered.db: failed (sha256-mismatch)",
        "verify forged.db: failed (bad-signature)",
        "verify bare.db: failed (manifest)",
    ] {
        assert!(
            descs.iter().any(|d| d.starts_with(want)),
            "{want}: {descs:?}"
        );
    }
    a.create_patient("after-backup").await;
    assert_eq!(a.patients("after-backup").await, 1);

    let text = fails(
        &data,
        &["backup", "restore", "--file", s(&good), "--force"],
        &[],
    );
    assert!(text.contains("server is running"), "{text}");
    server.stop();
    let text = fails(&data, &["backup", "restore", "--file", s(&good)], &[]);
    assert!(text.contains("pass --force"), "{text}");
    wrong_key_is_refused(tmp.path(), &good);
    let server = serve(&data);
    let rows = api(&data, &server.base).audit_rows("restore").await;
    for why in ["server running", "database present, no --force"] {
        let want = (
            "4".to_owned(),
            format!("restore from ward-1.db: refused ({why})"),
        );
        assert!(rows.contains(&want), "{want:?} in {rows:?}");
    }
    server.stop();

    let text = ok(&data, &["backup", "restore", "--file", s(&good), "--force"]);
    assert!(text.contains("restored ward-1.db"), "{text}");
    assert!(text.contains("the restore is audit seq"), "{text}");
    let names: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.contains(".restore-") || n.starts_with(".backup-check-")),
        "no staging copies are left: {names:?}"
    );
    let kept: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ward.db.before-restore-") && !n.ends_with("-shm"))
        .filter(|n| !n.ends_with("-wal"))
        .filter(|n| !n.ends_with("-audit"))
        .collect();
    assert_eq!(kept.len(), 1, "the previous database is kept: {kept:?}");
    assert!(
        trail_of(&data.join(&kept[0])).exists(),
        "with its audit trail file: {kept:?}"
    );
    assert_eq!(
        patients_in(&data, &data.join(&kept[0])),
        2,
        "the kept database (with its WAL) still holds the later write"
    );
    let text = ok(&data, &["audit", "verify"]);
    assert!(text.contains("audit trail OK"), "{text}");

    let server = serve(&data);
    let a = api(&data, &server.base);
    assert_eq!(
        a.patients("before-backup").await,
        1,
        "the backed-up data is back"
    );
    assert_eq!(a.patients("after-backup").await, 0, "later writes are gone");
    let restores = a.audit_descs("restore").await;
    assert!(
        restores
            .iter()
            .any(|d| d.starts_with("restored from ward-1.db (created ")
                && d.contains("audit head seq")),
        "{restores:?}"
    );
    let backups = a.audit_descs("backup").await;
    assert!(
        !backups.iter().any(|d| d.starts_with("verify ward-1.db")),
        "the trail is the backup's, from before its verification: {backups:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_under_writes_restores_into_an_empty_directory_with_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let good = tmp.path().join("b.db");
    let server = serve(&data);
    let a = Arc::new(api(&data, &server.base));
    a.create_patient("before-backup").await;
    // Writes keep coming while the copy is taken: the copy is one consistent snapshot.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (a, stop) = (a.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                a.create_patient(&format!("during-{n}")).await;
                n += 1;
            }
            n
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (d, g) = (data.clone(), good.clone());
    let text = tokio::task::spawn_blocking(move || ok(&d, &["backup", "create", "--out", s(&g)]))
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written > 0, "writes ran during the backup: {text}");
    let m: Value = serde_json::from_slice(&std::fs::read(manifest_of(&good)).unwrap()).unwrap();
    let in_copy = m["manifest"]["resources"].as_u64().unwrap();
    assert!(
        (1..=1 + written).contains(&in_copy),
        "{in_copy} of {written}"
    );
    server.stop();

    // Disaster recovery: a new directory, the master key restored from where it is kept apart.
    let fresh = tmp.path().join("fresh");
    std::fs::create_dir_all(fresh.join("keys")).unwrap();
    for d in [&fresh, &fresh.join("keys")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::fs::copy(data.join("keys/master.key"), fresh.join("keys/master.key")).unwrap();
    let text = fails(&fresh, &["backup", "verify", "--file", s(&good)], &[]);
    assert!(text.contains("run `ward backup restore`"), "{text}");
    let text = fails(&fresh, &["backup", "create", "--out", s(&good)], &[]);
    assert!(text.contains("refusing to overwrite"), "{text}");
    assert!(
        !text.contains("could not be recorded") && !fresh.join("ward.db").exists(),
        "no trail to record in, and none is made for it: {text}"
    );
    let text = ok(&fresh, &["backup", "restore", "--file", s(&good)]);
    assert!(text.contains("restored b.db"), "{text}");
    assert!(ok(&fresh, &["audit", "verify"]).contains("audit trail OK"));
    let text = ok(&fresh, &["backup", "verify", "--file", s(&good)]);
    assert!(text.contains(&format!(" {in_copy} resource")), "{text}");
    let in_db = patients_in(&fresh, &fresh.join("ward.db"));
    assert_eq!(u64::try_from(in_db).unwrap(), in_copy);
}

#[test]
fn postgres_is_refused_with_its_own_tools_named() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b.db");
    for args in [
        vec!["backup", "create", "--out", s(&out)],
        vec!["backup", "verify", "--file", s(&out)],
        vec!["backup", "restore", "--file", s(&out)],
    ] {
        let text = fails(
            tmp.path(),
            &args,
            &[
                ("WARD_STORAGE_KIND", "postgres"),
                ("WARD_STORAGE_URL", "postgres://ward@127.0.0.1:1/ward"),
            ],
        );
        assert!(
            text.contains("pg_basebackup") && text.contains("pg_dump"),
            "{text}"
        );
    }
    assert!(!out.exists());
}

/// A trail whose oldest records were archived and purged under retention backs up with its
/// first record in the manifest, verifies, and restores to a trail `ward audit verify` accepts.
#[test]
fn a_trail_purged_under_retention_backs_up_verifies_and_restores() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("ward.toml");
    std::fs::write(&config, "[audit]\nretention = \"2s\"\n").unwrap();
    let cfg = s(&config);
    common::make_trail(&data, &config);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let archive = tmp.path().join("trail.archive");
    ok(
        &data,
        &["audit", "archive", "--config", cfg, "--out", s(&archive)],
    );
    ok(
        &data,
        &["audit", "purge", "--config", cfg, "--archive", s(&archive)],
    );

    let good = tmp.path().join("purged.db");
    let text = ok(
        &data,
        &["backup", "create", "--config", cfg, "--out", s(&good)],
    );
    let m: Value = serde_json::from_slice(&std::fs::read(manifest_of(&good)).unwrap()).unwrap();
    let (first, last) = (
        m["manifest"]["audit_first"].as_u64().unwrap(),
        m["manifest"]["audit_seq"].as_u64().unwrap(),
    );
    assert!(1 < first && first <= last, "{m}");
    assert!(
        text.contains(&format!("audit seq {first}..{last}")),
        "{text}"
    );
    let text = ok(
        &data,
        &["backup", "verify", "--config", cfg, "--file", s(&good)],
    );
    assert!(text.contains(&format!("last audit seq {last}")), "{text}");
    let text = ok(
        &data,
        &[
            "backup",
            "restore",
            "--config",
            cfg,
            "--file",
            s(&good),
            "--force",
        ],
    );
    assert!(
        text.contains(&format!("audit seq {first}..{last}")),
        "{text}"
    );
    let text = ok(&data, &["audit", "verify", "--config", cfg]);
    assert!(text.contains("purged under retention"), "{text}");
}
