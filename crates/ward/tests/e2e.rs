//! The real binary, as a user runs it (issue: "Ward core" items 6–8, 12):
//! - `ward serve` creates a private data dir, a master key (0600), a local CA, and serves HTTPS
//!   that a client trusting only `DATA/tls/ca.pem` accepts, with TLS 1.2 and 1.3;
//! - `ward token issue` mints an operator token the server accepts;
//! - the name written in a Patient occurs in no file under the data dir (db, WAL, keys, temp);
//! - startup refuses a wrong master key, a group-readable data dir, plain HTTP off loopback,
//!   and unknown config keys, each with a message that says what to fix;
//! - SIGTERM shuts down gracefully (exit 0).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_ward");

struct Server {
    child: Child,
    base: String,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env_remove("WARD_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(b) = line.strip_prefix("FHIR base URL: ") {
            base = Some(b.to_owned());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let base = base.unwrap_or_else(|| {
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        panic!("server did not start: {err}")
    });
    Server {
        child,
        base,
        data: data.to_path_buf(),
    }
}

fn token(data: &Path, scope: &str) -> String {
    let out = Command::new(BIN)
        .args([
            "token",
            "issue",
            "--data-dir",
            data.to_str().unwrap(),
            "--scope",
            scope,
            "--ttl",
            "600",
        ])
        .env_remove("WARD_MASTER_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn client(data: &Path, max_tls12: bool) -> reqwest::Client {
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(data.join("tls/ca.pem")).unwrap()).unwrap();
    let mut b = reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(10));
    if max_tls12 {
        b = b.tls_version_max(reqwest::tls::Version::TLS_1_2);
    }
    b.build().unwrap()
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            hits.push(path);
        }
    }
    hits
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_https_with_local_ca_token_and_no_plaintext_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = start(&data, &[]);
    assert!(
        server.base.starts_with("https://localhost:"),
        "{}",
        server.base
    );
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("keys/master.key")), 0o600);
    assert_eq!(mode(&data.join("tls/ca.key")), 0o600);
    for f in ["ward.db", "ward.db-wal"] {
        assert_eq!(mode(&data.join(f)) & 0o077, 0, "{f} is private");
    }

    for tls12 in [false, true] {
        let meta = client(&data, tls12)
            .get(format!("{}/metadata", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(meta.status(), 200);
        assert_eq!(
            meta.json::<Value>().await.unwrap()["resourceType"],
            "CapabilityStatement"
        );
    }
    let http = client(&data, false);
    let anon = http
        .get(format!("{}/Patient/x", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    assert!(
        anon.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    let tok = token(&server.data, "system/*.cruds");
    let name = "Vexillarius-Quimbleton-4471";
    let created = http
        .post(format!("{}/Patient", server.base))
        .bearer_auth(&tok)
        .header("content-type", "application/fhir+json")
        .body(json!({"resourceType":"Patient","name":[{"family": name,"given":["Ottoline"]}],"birthDate":"1961-07-21"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = http
        .get(format!("{}/Patient/{id}", server.base))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read.json::<Value>().await.unwrap()["name"][0]["family"],
        name
    );

    // While running (WAL live) and after a graceful stop, the name is on no disk file.
    assert_eq!(
        files_containing(&data, name.as_bytes()),
        Vec::<PathBuf>::new()
    );
    assert_eq!(files_containing(&data, b"Ottoline"), Vec::<PathBuf>::new());
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server.child.wait().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    assert_eq!(
        files_containing(&data, name.as_bytes()),
        Vec::<PathBuf>::new()
    );

    // Restart on the same data: the data and the token's key survive.
    let server = start(&data, &[]);
    let again = client(&data, false)
        .get(format!("{}/Patient/{id}", server.base))
        .bearer_auth(token(&data, "system/Patient.r"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}

fn refuse(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("WARD_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success(), "expected a refusal for {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn unsafe_startups_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    drop(start(&data, &[]));
    let d = data.to_str().unwrap();

    let wrong = "ab".repeat(32);
    let e = refuse(
        &["serve", "--data-dir", d, "--listen", "127.0.0.1:0"],
        &[("WARD_MASTER_KEY", &wrong)],
    );
    assert!(e.contains("master key does not open"), "{e}");

    std::fs::set_permissions(
        data.join("keys/master.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let e = refuse(&["serve", "--data-dir", d, "--listen", "127.0.0.1:0"], &[]);
    assert!(e.contains("chmod 600"), "{e}");
    std::fs::set_permissions(
        data.join("keys/master.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();

    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = refuse(&["serve", "--data-dir", d, "--listen", "127.0.0.1:0"], &[]);
    assert!(e.contains("chmod 700"), "{e}");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();

    let e = refuse(
        &[
            "serve",
            "--data-dir",
            d,
            "--listen",
            "0.0.0.0:0",
            "--insecure-http",
        ],
        &[],
    );
    assert!(e.contains("loopback"), "{e}");

    let cfg = tmp.path().join("ward.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nlisten_everywhere = true\n").unwrap();
    let e = refuse(
        &["serve", "--config", cfg.to_str().unwrap(), "--data-dir", d],
        &[],
    );
    assert!(e.contains("unknown field"), "{e}");

    std::fs::remove_file(data.join("keys/master.key")).unwrap();
    let e = refuse(
        &["token", "issue", "--data-dir", d, "--scope", "system/*.rs"],
        &[],
    );
    assert!(e.contains("no master key"), "{e}");
    let e = refuse(
        &[
            "token",
            "issue",
            "--data-dir",
            d,
            "--scope",
            "system/*.bogus",
        ],
        &[],
    );
    assert!(e.contains("malformed"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_certificates_and_inline_master_key() {
    let tmp = tempfile::tempdir().unwrap();
    // An operator PKI made elsewhere (here: by a first Ward in another directory).
    let other = tmp.path().join("other");
    drop(start(&other, &[]));
    let (cert, key) = (other.join("tls/server.pem"), other.join("tls/server.key"));
    let data = tmp.path().join("d");
    let master = "5a".repeat(32);
    // a private key readable by others is refused before anything starts
    {
        use std::os::unix::fs::PermissionsExt;
        let loose = tmp.path().join("loose.key");
        std::fs::copy(&key, &loose).unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = Command::new(BIN)
            .args(["serve", "--data-dir", data.to_str().unwrap()])
            .args([
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                cert.to_str().unwrap(),
            ])
            .args(["--tls-key", loose.to_str().unwrap()])
            .env("WARD_MASTER_KEY", &master)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains("tls.key") && e.contains("chmod 600"), "{e}");
        assert!(!data.exists(), "nothing was created");
    }
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ])
        .env("WARD_MASTER_KEY", &master)
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
    assert!(
        !data.join("keys/master.key").exists(),
        "an inline key is never written to disk"
    );
    assert!(
        !data.join("tls").exists(),
        "no local CA when certificates are supplied"
    );
    let r = client(&other, false)
        .get(format!("{base}/metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_on_loopback_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(&tmp.path().join("d"), &["--insecure-http"]);
    assert!(server.base.starts_with("http://localhost:"));
    let r = reqwest::get(format!("{}/metadata", server.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
