//! The SMART administration commands of the real binary (issue #5 item 7, DESIGN.md "CLI
//! contract"): `ward user add` (password from stdin, stored as Argon2id — never in clear on
//! disk), `ward client add` (public, confidential with a secret shown once, backend with a JWKS
//! file), `ward launch create`, `ward break-glass list`, and the discovery documents and login
//! page served over TLS with their CSP. Each user, client, launch and token change made at the
//! console is in the audit trail (UserChanged, ClientChanged, LaunchCreated, TokenIssued),
//! failures included, and so is the break-glass list read (AdminListRead).

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
    start_on(data, "127.0.0.1:0")
}

fn start_on(data: &Path, listen: &str) -> (Server, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--data-dir", data.to_str().unwrap()])
        .args(["--listen", listen])
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
    let launch_id = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert_eq!(launch_id.len(), 43);
    let o = ward(
        &data,
        &["launch", "create", "--patient", "not an id!"],
        None,
    );
    assert!(!o.status.success(), "{}", out(&o));
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

    let o = ward(
        &data,
        &["token", "issue", "--scope", "system/AuditEvent.rs"],
        None,
    );
    assert!(o.status.success(), "{}", out(&o));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let events = |subtype: &'static str| {
        let (http, base, token, launch_id) = (&http, &base, &token, &launch_id);
        async move {
            let r = http
                .get(format!("{base}/AuditEvent?subtype={subtype}&_count=100"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let text = r.text().await.unwrap();
            assert!(!text.contains(password), "no password in the trail");
            assert!(
                !text.contains(launch_id.as_str()),
                "no launch id in the trail"
            );
            let bundle: serde_json::Value = serde_json::from_str(&text).unwrap();
            let rows: Vec<(String, String, String)> = bundle["entry"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let ev = &e["resource"];
                    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
                    (
                        s(&ev["outcome"]),
                        s(&ev["outcomeDesc"]),
                        s(&ev["agent"][0]["altId"]),
                    )
                })
                .collect();
            rows
        }
    };
    let by_operator = |rows: Vec<(String, String, String)>| {
        assert!(rows.iter().all(|r| r.2.starts_with("cli:")), "{rows:?}");
        rows.into_iter().map(|(o, d, _)| (o, d)).collect::<Vec<_>>()
    };
    let pair = |o: &str, d: &str| (o.to_owned(), d.to_owned());
    let users = by_operator(events("user-changed").await);
    assert!(
        users.contains(&pair("0", "user jane (patient) added")),
        "{users:?}"
    );
    let refused = users.iter().filter(|u| *u == &pair("4", "invalid_request"));
    assert_eq!(
        refused.count(),
        3,
        "taken, short password, bad role: {users:?}"
    );
    let clients = by_operator(events("client-changed").await);
    for added in ["app (public)", "web (confidential)", "svc (backend)"] {
        let want = pair("0", &format!("client {added} added"));
        assert!(clients.contains(&want), "{want:?} in {clients:?}");
    }
    let refused = clients.iter().filter(|c| c.0 == "4").count();
    assert_eq!(refused, 2, "bad JWKS, no keys: {clients:?}");
    let launches = by_operator(events("launch-created").await);
    assert_eq!(
        launches,
        [
            pair("0", "launch created, valid for 60 minutes"),
            pair("4", "invalid_request")
        ],
        "the launch, and the one refused for its patient id"
    );
    let lists = by_operator(events("admin-list-read").await);
    assert_eq!(
        lists,
        [pair("0", "unreviewed break-glass grants listed (0)")]
    );
    let tokens = events("token-issued").await;
    assert!(
        tokens
            .iter()
            .any(|t| t.0 == "0" && t.1.contains("system/AuditEvent.rs") && t.2.starts_with("cli:")),
        "{tokens:?}"
    );
    let refused = tokens.iter().filter(|t| t.0 == "4" && t.2 == "web").count();
    assert_eq!(refused, 2, "the wrong secret and the bad code: {tokens:?}");

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

/// SMART App Launch 2 "kid rotation" and DESIGN.md `ward keys rotate`: after a rotation the
/// JWKS serves the new and the previous key, tokens signed with the previous key keep
/// working, new tokens carry the new `kid`, and the rotation is in the audit trail.
#[tokio::test(flavor = "multi_thread")]
async fn signing_key_rotation_keeps_the_previous_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // one port for both runs: tokens are bound to the public URL (the audience)
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let (server, base) = start_on(&data, &listen);
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(data.join("tls/ca.pem")).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let origin = base.trim_end_matches("/fhir").to_owned();
    let jwks = |http: reqwest::Client, origin: String| async move {
        let v: serde_json::Value = http
            .get(format!("{origin}/auth/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let kid_of = |tok: &str| {
        use base64::Engine;
        let h = tok.split('.').next().unwrap();
        let h: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .unwrap(),
        )
        .unwrap();
        h["kid"].as_str().unwrap().to_owned()
    };
    let before = jwks(http.clone(), origin.clone()).await;
    assert_eq!(before.len(), 1);
    let scope = ["--scope", "system/*.cruds", "--ttl", "600"];
    let issue = |data: &Path| {
        let o = ward(data, &[&["token", "issue"][..], &scope].concat(), None);
        assert!(o.status.success(), "{}", out(&o));
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    let old = issue(&data);
    assert_eq!(kid_of(&old), before[0]);
    drop(server);

    let r = ward(&data, &["keys", "rotate"], None);
    assert!(r.status.success(), "{}", out(&r));
    let (_server, base) = start_on(&data, &listen);
    let after = jwks(http.clone(), origin.clone()).await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[1], before[0], "the previous key is still served");
    let new = issue(&data);
    assert_eq!(kid_of(&new), after[0], "new tokens use the new key");
    for tok in [&old, &new] {
        let r = http
            .get(format!("{base}/AuditEvent?subtype=key-rotation"))
            .bearer_auth(tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let b: serde_json::Value = r.json().await.unwrap();
        assert!(
            b.to_string().contains("token signing key"),
            "the rotation is audited: {b}"
        );
    }
}
