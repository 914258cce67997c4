//! Issue #7 items 5–7: real `ward serve` processes on one PostgreSQL database.
//! - two nodes started at once migrate once and agree on one signing key; a token issued by
//!   `ward token issue` works on both; a create on A is read, searched and in the history on B;
//! - racing `If-None-Exist` creates across both nodes yield exactly one resource;
//! - killing the database connections during a write load gives 503s (never a hang or a 500),
//!   the node recovers by itself, and every acknowledged write is there afterwards;
//! - a node killed with SIGKILL while it holds the write lock inside a transaction bundle leaves
//!   nothing of it;
//! - a login, consent and code on node A give a token that works on node B; a refresh token
//!   rotated on A and replayed on B is refused, and its family is revoked on both.
//!
//! Each test uses a fresh schema of `WARD_TEST_POSTGRES_URL` (skipped when it is not set).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use ward_store_postgres::testing::{TestSchema, url_or_skip};

const BIN: &str = env!("CARGO_BIN_EXE_ward");
const KEY: &str = "7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b";
const PUBLIC: &str = "http://ward.cluster.test";

struct Node {
    child: Child,
    /// `http://127.0.0.1:PORT/fhir`
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(dir: &Path, schema: &TestSchema) -> std::path::PathBuf {
    let path = dir.join("ward.toml");
    std::fs::write(
        &path,
        format!(
            "[storage]\nkind = \"postgres\"\nurl = \"{}\"\nschema = \"{}\"\npool_size = 8\n\
             statement_timeout_ms = 2000\nconnect_timeout_ms = 1000\n",
            schema.url, schema.name
        ),
    )
    .unwrap();
    path
}

fn ward(dir: &Path, schema: &TestSchema) -> Command {
    let mut c = Command::new(BIN);
    c.env("WARD_MASTER_KEY", KEY)
        .env("WARD_CONFIG", config(dir, schema))
        .env("WARD_DATA_DIR", dir.join("data"));
    c
}

fn spawn(dir: &Path, schema: &TestSchema) -> Child {
    ward(dir, schema)
        .args(["serve", "--listen", "127.0.0.1:0", "--insecure-http"])
        .args(["--public-url", PUBLIC])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn ready(mut child: Child) -> Node {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("Ward is listening on ") {
            addr = Some(a.to_owned());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let addr = addr.expect("node did not start");
    Node {
        child,
        base: format!("http://{addr}/fhir"),
    }
}

/// Runs a `ward` CLI command (with `stdin` as its input, if any), asserts that it succeeded,
/// and returns its trimmed standard output.
fn succeed(mut command: Command, stdin: Option<&str>) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn token(dir: &Path, schema: &TestSchema) -> String {
    let mut c = ward(dir, schema);
    c.args(["token", "issue", "--scope", "system/*.cruds"]);
    succeed(c, None)
}

struct Client {
    http: reqwest::Client,
    token: String,
}

impl Client {
    fn new(token: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self { http, token }
    }
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .header("content-type", "application/fhir+json");
        for (k, v) in extra {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        match r.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let json = resp.json().await.unwrap_or(Value::Null);
                (status, json)
            }
            Err(e) if e.is_timeout() => (0, Value::Null),
            Err(_) => (1, Value::Null),
        }
    }
    async fn get(&self, url: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, url, None, &[]).await
    }
    async fn post(&self, url: &str, body: &Value, extra: &[(&str, &str)]) -> (u16, Value) {
        self.send(reqwest::Method::POST, url, Some(body), extra)
            .await
    }
}

fn patient(system: &str, value: &str) -> Value {
    json!({"resourceType": "Patient", "identifier": [{"system": system, "value": value}],
           "name": [{"family": "Cluster"}]})
}

async fn setup(test: &str, nodes: usize) -> Option<(tempfile::TempDir, TestSchema, Vec<Node>)> {
    let url = url_or_skip(test)?;
    let schema = TestSchema::create(&url).await.unwrap();
    let dirs = tempfile::tempdir().unwrap();
    // Started together: migration, the first data key and the first signing key race.
    let children: Vec<Child> = (0..nodes)
        .map(|i| {
            let d = dirs.path().join(format!("n{i}"));
            std::fs::create_dir_all(&d).unwrap();
            spawn(&d, &schema)
        })
        .collect();
    let nodes = children.into_iter().map(ready).collect();
    Some((dirs, schema, nodes))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_share_data_tokens_and_conditional_creates() {
    let Some((dirs, schema, nodes)) = setup("two_nodes", 2).await else {
        return;
    };
    let (a, b) = (&nodes[0].base, &nodes[1].base);
    let c = Client::new(token(&dirs.path().join("n0"), &schema));
    let (s, p) = c
        .post(&format!("{a}/Patient"), &patient("urn:t", "one"), &[])
        .await;
    assert_eq!(s, 201, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(c.get(&format!("{b}/Patient/{id}")).await.0, 200);
    let mut v2 = p.clone();
    v2["name"][0]["family"] = json!("Changed");
    let (s, _) = c
        .send(
            reqwest::Method::PUT,
            &format!("{a}/Patient/{id}"),
            Some(&v2),
            &[],
        )
        .await;
    assert_eq!(s, 200);
    let (s, h) = c.get(&format!("{b}/Patient/{id}/_history")).await;
    assert_eq!((s, h["entry"].as_array().map(Vec::len)), (200, Some(2)));
    let (_, found) = c.get(&format!("{b}/Patient?identifier=urn:t|one")).await;
    assert_eq!(
        found["entry"][0]["resource"]["name"][0]["family"],
        "Changed"
    );

    // Racing conditional creates, alternating between the nodes.
    let c = Arc::new(c);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (c, base) = (c.clone(), nodes[i % 2].base.clone());
        tasks.push(tokio::spawn(async move {
            let body = patient("urn:race", "r1");
            let h = [("if-none-exist", "identifier=urn:race|r1")];
            c.post(&format!("{base}/Patient"), &body, &h).await.0
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 200, 200, 201],
        "{statuses:?}"
    );
    let (_, found) = c
        .get(&format!(
            "{a}/Patient?identifier=urn:race|r1&_total=accurate"
        ))
        .await;
    assert_eq!(found["total"], 1);
    // Both nodes appended audit records concurrently: still one verifiable chain.
    let out = ward(&dirs.path().join("n1"), &schema)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("ward audit verify: {text}");
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn terminate(schema: &TestSchema) -> u64 {
    let (client, conn) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let app = format!("ward:{}", schema.name);
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&app],
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_connections_give_503_and_no_acknowledged_write_is_lost() {
    let Some((dirs, schema, nodes)) = setup("fault_kill_connections", 1).await else {
        return;
    };
    let base = nodes[0].base.clone();
    let c = Arc::new(Client::new(token(&dirs.path().join("n0"), &schema)));
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut writers = Vec::new();
    for w in 0..4 {
        let (c, base) = (c.clone(), base.clone());
        writers.push(tokio::spawn(async move {
            let mut log = Vec::new();
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                let value = format!("w{w}-{n}");
                let started = Instant::now();
                let (s, body) = c
                    .post(
                        &format!("{base}/Patient"),
                        &patient("urn:load", &value),
                        &[],
                    )
                    .await;
                let id = body["id"].as_str().map(str::to_owned);
                log.push((value, s, id, started.elapsed(), body));
            }
            log
        }));
    }
    let mut killed = 0;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        killed += terminate(&schema).await;
    }
    let mut all = Vec::new();
    for w in writers {
        all.extend(w.await.unwrap());
    }
    let acked: Vec<_> = all.iter().filter(|r| r.1 == 201).collect();
    let refused = all.iter().filter(|r| r.1 == 503).count();
    let slowest = all.iter().map(|r| r.3).max().unwrap();
    eprintln!(
        "fault test: {} writes, {} acknowledged, {refused} answered 503, {killed} connections killed, slowest {slowest:?}",
        all.len(),
        acked.len()
    );
    for r in &all {
        assert!(
            matches!(r.1, 201 | 503),
            "unexpected answer {} for {}",
            r.1,
            r.0
        );
    }
    // Every 503 is a clear OperationOutcome, with nothing internal in it.
    for r in all.iter().filter(|r| r.1 == 503) {
        assert_eq!(r.4["resourceType"], "OperationOutcome", "{}", r.0);
        let text = r.4.to_string();
        assert!(
            !text.contains("postgres") && !text.contains("SQLSTATE"),
            "internal detail in a 503: {text}"
        );
    }
    assert!(
        slowest < Duration::from_secs(8),
        "a request hung: {slowest:?}"
    );
    assert!(killed > 0 && !acked.is_empty());
    assert!(
        refused > 0,
        "killing the connections under load refused no request"
    );
    // Recovered by itself, and every acknowledged write is there.
    for (value, _, id, _, _) in &acked {
        let id = id.as_ref().unwrap();
        assert_eq!(
            c.get(&format!("{base}/Patient/{id}")).await.0,
            200,
            "{value}"
        );
    }
    let (s, found) = c
        .get(&format!(
            "{base}/Patient?identifier=urn:load|&_total=accurate&_count=1"
        ))
        .await;
    assert_eq!(s, 200);
    assert!(found["total"].as_u64().unwrap() >= acked.len() as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_mid_transaction_leaves_all_or_nothing() {
    let Some((dirs, schema, mut nodes)) = setup("fault_sigkill", 2).await else {
        return;
    };
    let c = Client::new(token(&dirs.path().join("n0"), &schema));
    let entries: Vec<Value> = (0..300)
        .map(|i| {
            json!({"resource": patient("urn:bundle", &format!("b{i}")),
                   "request": {"method": "POST", "url": "Patient"}})
        })
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
    let victim = nodes[0].base.clone();
    let send = tokio::spawn(async move { c.post(&victim, &bundle, &[]).await.0 });
    // Wait until the node holds the write lock (inside the bundle's transaction), then kill it.
    let (watch, conn) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let app = format!("ward:{}", schema.name);
    let waited = Instant::now();
    loop {
        let held: i64 = watch
            .query_one(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = $1",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        if held > 0 {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "the node never took the write lock"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    nodes[0].child.kill().unwrap(); // SIGKILL, mid-transaction
    let answered = send.await.unwrap();
    assert_ne!(
        answered, 200,
        "the bundle was answered although its node was killed"
    );
    let other = &nodes[1].base;
    let c = Client::new(token(&dirs.path().join("n1"), &schema));
    let (s, found) = c
        .get(&format!(
            "{other}/Patient?identifier=urn:bundle|&_total=accurate&_count=1"
        ))
        .await;
    assert_eq!(s, 200);
    let total = found["total"].as_u64().unwrap();
    eprintln!("SIGKILL test: {total} of 300 bundle entries visible afterwards");
    assert!(total == 0 || total == 300, "partial transaction: {total}");
    // The write lock was released with the dead node's connection.
    let (s, _) = c
        .post(&format!("{other}/Patient"), &patient("urn:after", "x"), &[])
        .await;
    assert_eq!(s, 201);
}

/// A browser for the login, consent and token pages of one node: no redirects followed, the
/// session cookie carried by hand.
struct Browser {
    http: reqwest::Client,
    root: String,
    cookie: Option<String>,
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The text after `marker` up to the next `"`, with askama's entities decoded.
fn scrape(page: &str, marker: &str) -> Option<String> {
    let start = page.find(marker)? + marker.len();
    let rest = &page[start..];
    let raw = &rest[..rest.find('"').unwrap_or(rest.len())];
    let mut out = String::new();
    let mut s = raw;
    while let Some(i) = s.find("&#") {
        out.push_str(&s[..i]);
        let end = s[i..].find(';').map(|e| i + e)?;
        let ent = &s[i + 2..end];
        let c = match ent.strip_prefix('x') {
            Some(h) => u32::from_str_radix(h, 16).ok(),
            None => ent.parse().ok(),
        }
        .and_then(char::from_u32)?;
        out.push(c);
        s = &s[end + 1..];
    }
    out.push_str(s);
    Some(out.replace("&amp;", "&"))
}

impl Browser {
    fn new(node: &Node) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Self {
            http,
            root: node.base.trim_end_matches("/fhir").to_owned(),
            cookie: None,
        }
    }

    async fn go(
        &mut self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> (u16, String, String) {
        let mut r = self.http.request(method, format!("{}{path}", self.root));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", format!("ward_session={c}"));
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/x-www-form-urlencoded")
                .body(b);
        }
        let resp = r.send().await.unwrap();
        for v in resp.headers().get_all("set-cookie") {
            let first = v.to_str().unwrap().split(';').next().unwrap();
            if let Some(val) = first.strip_prefix("ward_session=") {
                self.cookie = (!val.is_empty()).then(|| val.to_owned());
            }
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (status, location, resp.text().await.unwrap_or_default())
    }

    async fn csrf(&mut self, path: &str) -> (String, String) {
        let (_, _, page) = self.go(reqwest::Method::GET, path, None).await;
        let csrf = scrape(&page, "name=\"csrf\" value=\"").unwrap_or_default();
        (csrf, page)
    }
}

/// Runs a standalone launch on `node` for the patient user `jane` and redeems the code there:
/// the token response.
async fn launch(node: &Node, verifier: &str) -> Value {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let challenge = b64.encode(ward_crypto::sha256(verifier.as_bytes()));
    let mut b = Browser::new(node);
    let authorize = format!(
        "/auth/authorize?{}",
        form(&[
            ("response_type", "code"),
            ("client_id", "cluster-app"),
            ("redirect_uri", REDIRECT),
            ("scope", "launch/patient patient/*.rs offline_access"),
            ("state", "s1"),
            ("aud", &format!("{PUBLIC}/fhir")),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
    );
    let (s, to, _) = b.go(reqwest::Method::GET, &authorize, None).await;
    assert_eq!((s, to.as_str()), (303, "/auth/login"));
    let (csrf, _) = b.csrf("/auth/login").await;
    let login = form(&[
        ("csrf", &csrf),
        ("username", "jane"),
        ("password", PASSWORD),
    ]);
    let (s, to, page) = b
        .go(reqwest::Method::POST, "/auth/login", Some(login))
        .await;
    assert_eq!((s, to.as_str()), (303, "/auth/consent"), "{page}");
    let (csrf, page) = b.csrf("/auth/consent").await;
    let mut fields = vec![
        ("csrf".to_owned(), csrf),
        ("decision".to_owned(), "allow".to_owned()),
    ];
    let mut rest = page.as_str();
    while let Some(v) = scrape(rest, "name=\"scope\" value=\"") {
        let at = rest.find("name=\"scope\" value=\"").unwrap() + 20;
        rest = &rest[at..];
        fields.push(("scope".to_owned(), v));
    }
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (s, back, _) = b
        .go(reqwest::Method::POST, "/auth/consent", Some(form(&pairs)))
        .await;
    assert!(s == 303 && back.starts_with(REDIRECT), "{s} {back}");
    let code = back
        .split_once("code=")
        .unwrap()
        .1
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let redeem = form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("client_id", "cluster-app"),
    ]);
    token_call(node, redeem).await
}

async fn token_call(node: &Node, body: String) -> Value {
    let (s, _, text) = Browser::new(node)
        .go(reqwest::Method::POST, "/auth/token", Some(body))
        .await;
    let mut v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    v["_status"] = json!(s);
    v
}

const REDIRECT: &str = "https://app.cluster.test/callback";
const PASSWORD: &str = "a long cluster patient password";

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_token_rotated_on_one_process_is_refused_on_the_other() {
    let Some((dirs, schema, nodes)) = setup("two_nodes_refresh", 2).await else {
        return;
    };
    let d0 = dirs.path().join("n0");
    let mut client = ward(&d0, &schema);
    client
        .args(["client", "add", "--id", "cluster-app", "--kind", "public"])
        .args(["--scope", "launch/patient patient/*.rs offline_access"])
        .args(["--redirect-uri", REDIRECT]);
    succeed(client, None);
    let mut user = ward(&d0, &schema);
    user.args(["user", "add", "--username", "jane", "--role", "patient"])
        .args(["--patient", "p1"]);
    succeed(user, Some(&format!("{PASSWORD}\n")));
    let op = Client::new(token(&d0, &schema));
    let (s, _) = op
        .send(
            reqwest::Method::PUT,
            &format!("{}/Patient/p1", nodes[0].base),
            Some(&json!({"resourceType": "Patient", "id": "p1"})),
            &[],
        )
        .await;
    assert!(matches!(s, 200 | 201));

    // Login and code on node A; the token from A works on B.
    let granted = launch(
        &nodes[0],
        "a-verifier-of-at-least-forty-three-characters-0001",
    )
    .await;
    assert_eq!(granted["_status"], 200, "{granted}");
    let access = granted["access_token"].as_str().unwrap();
    let refresh = granted["refresh_token"].as_str().unwrap().to_owned();
    let on_b = Client::new(access.to_owned());
    assert_eq!(
        on_b.get(&format!("{}/Patient/p1", nodes[1].base)).await.0,
        200
    );

    // Rotated on A …
    let rotate = |t: &str| {
        form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", t),
            ("client_id", "cluster-app"),
        ])
    };
    let rotated = token_call(&nodes[0], rotate(&refresh)).await;
    assert_eq!(rotated["_status"], 200, "{rotated}");
    let newer = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(newer, refresh);
    // … replayed on B: refused, and the whole family is revoked on both nodes.
    let replay = token_call(&nodes[1], rotate(&refresh)).await;
    assert_eq!(replay["_status"], 400, "{replay}");
    assert_eq!(replay["error"], "invalid_grant");
    let after = token_call(&nodes[0], rotate(&newer)).await;
    assert_eq!(after["_status"], 400, "the family is revoked: {after}");
}
