//! The SMART administration commands of the real binary (issue #5 item 7, DESIGN.md "CLI
//! contract"): `ward user add` (password from stdin, stored as Argon2id — never in clear on
//! disk), `ward client add` (public, confidential with a secret shown once, backend with a JWKS
//! file), `ward launch create`, `ward break-glass list`, and the discovery documents and login
//! page served over TLS with their CSP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ward");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data: &Path) -> (Server, String) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("WARD_MASTER_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = lines
        .by_ref()
        .map(Result::unwrap)
        .find_map(|l| l.strip_prefix("FHIR base URL: ").map(str::to_owned))
        .expect("server did not start");
    std::thread::spawn(move || for _ in lines {});
    (Server(child), base)
}

fn ward(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--data-dir", data.to_str().unwrap()])
        .env_remove("WARD_MASTER_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
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
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_commands_and_discovery_over_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (server, base) = start(&data);
    let password = "Unguessable-Passphrase-4711";

    let o = ward(
        &data,
        &[
            "user",
            "add",
            "--username",
            "jane",
            "--role",
            "patient",
            "--patient",
            "p1",
        ],
        Some(&format!("{password}\n")),
    );
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("user jane (patient) added"));
    let o = ward(
        &data,
        &["user", "add", "--username", "jane", "--role", "clinician"],
        Some(&format!("{password}\n")),
    );
    assert!(!o.status.success(), "duplicate username");
    assert!(out(&o).contains("taken"));
    let o = ward(
        &data,
        &["user", "add", "--username", "root", "--role", "admin"],
        Some("short\n"),
    );
    assert!(!o.status.success() && out(&o).contains("12"), "{}", out(&o));
    let o = ward(
        &data,
        &["user", "add", "--username", "x", "--role", "wizard"],
        Some(&format!("{password}\n")),
    );
    assert!(!o.status.success() && out(&o).contains("role"));

    let o = ward(
        &data,
        &[
            "client",
            "add",
            "--id",
            "app",
            "--kind",
            "public",
            "--scope",
            "launch/patient patient/*.rs openid fhirUser",
            "--redirect-uri",
            "https://app.example/cb",
        ],
        None,
    );
    assert!(o.status.success(), "{}", out(&o));
    let o = ward(
        &data,
        &[
            "client",
            "add",
            "--id",
            "web",
            "--kind",
            "confidential",
            "--scope",
            "user/*.rs",
            "--redirect-uri",
            "https://web.example/cb",
        ],
        None,
    );
    assert!(o.status.success(), "{}", out(&o));
    let secret = out(&o)
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: ").map(str::to_owned))
        .unwrap();
    let jwks = tmp.path().join("jwks.json");
    std::fs::write(&jwks, r#"{"keys":[{"kty":"EC","crv":"P-384","kid":"k","x":"iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7","y":"iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7"}]}"#).unwrap();
    let o = ward(
        &data,
        &[
            "client",
            "add",
            "--id",
            "bad",
            "--kind",
            "backend",
            "--scope",
            "system/*.rs",
            "--jwks",
            jwks.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        !o.status.success(),
        "a JWKS with an invalid point is refused: {}",
        out(&o)
    );
    let o = ward(
        &data,
        &[
            "client",
            "add",
            "--id",
            "svc",
            "--kind",
            "backend",
            "--scope",
            "system/*.rs",
        ],
        None,
    );
    assert!(
        !o.status.success() && out(&o).contains("--jwks"),
        "{}",
        out(&o)
    );
    let o = ward(
        &data,
        &[
            "client",
            "add",
            "--id",
            "svc",
            "--kind",
            "backend",
            "--scope",
            "system/*.rs",
            "--jwks-url",
            "https://keys.example/jwks.json",
        ],
        None,
    );
    assert!(o.status.success(), "{}", out(&o));
    let o = ward(
        &data,
        &["launch", "create", "--patient", "p1", "--encounter", "e1"],
        None,
    );
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim().len(), 43);
    let o = ward(&data, &["break-glass", "list"], None);
    assert!(o.status.success() && o.stdout.is_empty(), "{}", out(&o));

    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(data.join("tls/ca.pem")).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let conf: serde_json::Value = http
        .get(format!("{base}/.well-known/smart-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = base.trim_end_matches("/fhir");
    assert_eq!(conf["token_endpoint"], format!("{public}/auth/token"));
    let login = http
        .get(format!("{public}/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    let basic = http
        .post(format!("{public}/auth/token"))
        .basic_auth("web", Some("wrong"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&code=x")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let ok = http
        .post(format!("{public}/auth/token"))
        .basic_auth("web", Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&code=x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.status(),
        400,
        "authenticated; the code itself is invalid"
    );

    drop(server);
    assert!(
        files_containing(&data, password.as_bytes()).is_empty(),
        "no password in clear"
    );
    assert!(
        files_containing(&data, secret.as_bytes()).is_empty(),
        "no client secret in clear"
    );
}
