//! Helpers shared by the audit trail and backup tests: the real `ward` binary, a short real
//! server run, and direct (tampering) access to a data directory's encrypted database.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use rusqlite::Connection;
use ward_crypto::{KeyId, MasterKey};
use ward_store::KeyRing;

pub const BIN: &str = env!("CARGO_BIN_EXE_ward");

pub fn ward(args: &[&str]) -> (bool, String) {
    ward_with(args, &[])
}

/// [`ward`] with extra environment variables (the master key is never inherited).
pub fn ward_with(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("WARD_MASTER_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs some traffic through a real server, then stops it gracefully.
/// A real `ward serve` (plain HTTP on loopback), stopped gracefully by [`Server::stop`].
pub struct Server {
    child: Option<Child>,
    pub base: String,
}

impl Server {
    pub fn start(data: &Path, config: &Path) -> Self {
        Self::spawn(data, &["--config", config.to_str().unwrap()])
    }

    fn spawn(data: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(extra)
            .args([
                "--data-dir",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--insecure-http",
            ])
            .env_remove("WARD_MASTER_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = lines
            .find_map(|l| {
                l.unwrap()
                    .strip_prefix("FHIR base URL: ")
                    .map(str::to_owned)
            })
            .unwrap();
        std::thread::spawn(move || for _ in lines {});
        Self {
            child: Some(child),
            base,
        }
    }

    /// SIGTERM, and the process must exit cleanly.
    pub fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(child.wait().unwrap().success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A real server on `data` with no configuration file.
pub fn serve(data: &Path) -> Server {
    Server::spawn(data, &[])
}

/// Runs `ward ARGS --data-dir DATA`, which must succeed; returns its output.
pub fn ok(data: &Path, args: &[&str]) -> String {
    let (ok, text) = ward(&[args, &["--data-dir", data.to_str().unwrap()]].concat());
    assert!(ok, "ward {args:?} failed: {text}");
    text
}

/// Runs `ward ARGS --data-dir DATA` with `env`, which must fail; returns its output.
pub fn fails(data: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let (ok, text) = ward_with(
        &[args, &["--data-dir", data.to_str().unwrap()]].concat(),
        env,
    );
    assert!(!ok, "ward {args:?} should fail: {text}");
    text
}

/// An operator token from `ward token issue`.
pub fn operator_token(data: &Path, scope: &str) -> String {
    let (ok, token) = ward(&[
        "token",
        "issue",
        "--data-dir",
        data.to_str().unwrap(),
        "--scope",
        scope,
    ]);
    assert!(ok, "{token}");
    token.trim().to_owned()
}

/// Runs some traffic through a real server, then stops it gracefully.
pub fn make_trail(data: &Path, config: &Path) {
    let server = Server::start(data, config);
    let base = server.base.clone();
    let token = operator_token(data, "system/*.cruds");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for i in 0..4 {
            let r = http
                .post(format!("{base}/Patient"))
                .bearer_auth(&token)
                .header("content-type", "application/fhir+json")
                .body(format!(
                    r#"{{"resourceType":"Patient","identifier":[{{"value":"t{i}"}}]}}"#
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let id = r.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            get_ok(&http, &format!("{base}/Patient/{id}"), &token).await;
        }
        get_ok(&http, &format!("{base}/Patient?identifier=t1"), &token).await;
        // an AuditEvent search: the projection catches up with everything before it
        get_ok(&http, &format!("{base}/AuditEvent?_count=1"), &token).await;
    });
    server.stop();
}

/// GETs `url` and expects 200.
pub async fn get_ok(http: &reqwest::Client, url: &str, token: &str) {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
}

pub fn open_db(data: &Path) -> (Connection, KeyRing) {
    open_db_file(data, &data.join("ward.db"))
}

/// [`open_db`] for any database file keyed by `data`'s master key (e.g. a kept or restored copy).
pub fn open_db_file(data: &Path, db: &Path) -> (Connection, KeyRing) {
    let master =
        MasterKey::from_hex(&std::fs::read(data.join("keys/master.key")).unwrap()).unwrap();
    let page = master.derive("ward/sqlcipher-page-key/v1").unwrap();
    let c = Connection::open(db).unwrap();
    c.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\";",
        hex::encode(page.expose())
    ))
    .unwrap();
    let ring = KeyRing::new(master);
    let keys: Vec<(u32, Vec<u8>, bool)> = c
        .prepare("SELECT id, wrapped, active FROM data_keys")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, wrapped, active) in keys {
        ring.install(KeyId(id), &wrapped, active).unwrap();
    }
    (c, ring)
}

pub fn copy_dir(from: &Path, to: &Path) {
    assert!(
        Command::new("cp")
            .args(["-a", from.to_str().unwrap(), to.to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    );
}

/// The audit trail file (`ward-audit.db`) of `data`, opened with its own page key, and the key
/// ring of the data file (the trail's bodies are sealed with it).
pub fn open_trail(data: &Path) -> (Connection, KeyRing) {
    let (_, ring) = open_db(data);
    let master =
        MasterKey::from_hex(&std::fs::read(data.join("keys/master.key")).unwrap()).unwrap();
    let page = master
        .derive(ward_store_sqlite::TRAIL_PAGE_KEY_LABEL)
        .unwrap();
    let c = Connection::open(data.join("ward-audit.db")).unwrap();
    c.execute_batch(&format!(
        "PRAGMA key = \"x'{}'\";",
        hex::encode(page.expose())
    ))
    .unwrap();
    (c, ring)
}

/// The id and text of the trail's record at `seq`.
pub fn trail_event(c: &Connection, ring: &KeyRing, seq: i64) -> (String, String) {
    let (id, env): (String, Vec<u8>) = c
        .query_row("SELECT id, body FROM trail WHERE seq = ?1", [seq], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let body = ring
        .open(&ward_store::body_aad("AuditEvent", &id, 1), &env)
        .unwrap();
    let text = ward_store_sqlite::unpack_audit_text(body).unwrap();
    (id, String::from_utf8(text).unwrap())
}
