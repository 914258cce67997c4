//! Test harness: the real router over a real store, driven in-process with
//! `tower::ServiceExt::oneshot`. The store is SQLCipher in a temporary directory, or with
//! `WARD_TEST_BACKEND=postgres` a fresh schema in `WARD_TEST_POSTGRES_URL` (the same suites
//! then run against PostgreSQL).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use ward_auth::oauth::KeyRingSource;
use ward_auth::oauth::{AuthServer, AuthSettings, JwksCache};
use ward_auth::{Authenticator, PrincipalKind, ScopeSet, SigningKeys, TokenIssuer, TokenVerifier};
use ward_core::{CoreConfig, CursorKey, FhirService, SystemClock, UuidIds};
use ward_crypto::{MasterKey, SecretBytes};
use ward_http::{AppState, HttpLimits};
use ward_store::KeyRing;
use ward_store::{AuthStore, Store};
use ward_store_postgres::testing::TestSchema;
use ward_store_sqlite::{SqliteOptions, SqliteStore};

pub const BASE: &str = "https://ward.test/fhir";

pub struct TestApp {
    pub router: Router,
    pub issuer: TokenIssuer,
    pub token: String,
    pub auth: AuthServer,
    pub store: Arc<dyn Store>,
    pub now: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
    _schema: Option<TestSchema>,
}

/// The store under test, through each interface the services need.
struct Opened {
    store: Arc<dyn Store>,
    auth: Arc<dyn AuthStore>,
    ring: Arc<dyn KeyRingSource>,
    schema: Option<TestSchema>,
}

fn opened<T: Store + AuthStore>(s: T, schema: Option<TestSchema>) -> Opened {
    let s = Arc::new(s);
    Opened {
        store: s.clone(),
        auth: s.clone(),
        ring: s,
        schema,
    }
}

/// `WARD_TEST_BACKEND`: `sqlite` (default) or `postgres`.
pub fn backend() -> String {
    std::env::var("WARD_TEST_BACKEND").unwrap_or_else(|_| "sqlite".into())
}

async fn open_store(dir: &std::path::Path, master: MasterKey) -> Opened {
    if backend() == "postgres" {
        let url = std::env::var(ward_store_postgres::testing::ENV)
            .expect("WARD_TEST_BACKEND=postgres needs WARD_TEST_POSTGRES_URL");
        let schema = TestSchema::create(&url).await.unwrap();
        let store = schema.open(KeyRing::new(master)).await.unwrap();
        return opened(store, Some(schema));
    }
    let store = SqliteStore::open(SqliteOptions::new(dir.join("w.db")), KeyRing::new(master))
        .await
        .unwrap();
    opened(store, None)
}

/// The public URL of the test server.
pub const PUBLIC: &str = "https://ward.test";

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub async fn app() -> TestApp {
    app_with(HttpLimits::default(), CoreConfig::new(BASE)).await
}

pub async fn app_with(limits: HttpLimits, core: CoreConfig) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::generate().unwrap();
    let o = open_store(dir.path(), master).await;
    build(limits, core, o, dir).await
}

/// Two nodes over one PostgreSQL schema (separate pools, key rings and services; they share
/// only the database and the master key), or `None` with a skip notice when
/// `WARD_TEST_POSTGRES_URL` is not set.
pub async fn app_pair(test: &str) -> Option<(TestApp, TestApp)> {
    let url = ward_store_postgres::testing::url_or_skip(test)?;
    let schema = TestSchema::create(&url).await.unwrap();
    let hex = "5a".repeat(32);
    let key = || MasterKey::from_hex(hex.as_bytes()).unwrap();
    let a = schema.open(KeyRing::new(key())).await.unwrap();
    let b = schema.open(KeyRing::new(key())).await.unwrap();
    let node_a = build(
        HttpLimits::default(),
        CoreConfig::new(BASE),
        opened(a, Some(schema)),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let node_b = build(
        HttpLimits::default(),
        CoreConfig::new(BASE),
        opened(b, None),
        tempfile::tempdir().unwrap(),
    )
    .await;
    Some((node_a, node_b))
}

/// An app whose audit trail lives in a SQLite store of its own, and a second handle on that
/// store: its trail lock held (`SqliteStore::hold_trail_lock`) makes every audit append fail
/// (the trail file is busy), while the authorization server's state stays writable. `None`
/// under PostgreSQL.
pub async fn app_with_lockable_trail() -> Option<(TestApp, SqliteStore)> {
    if backend() != "sqlite" {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let hex = "6b".repeat(32);
    let key = || KeyRing::new(MasterKey::from_hex(hex.as_bytes()).unwrap());
    let open = |name: &str, busy_ms: u64| {
        let mut o = SqliteOptions::new(dir.path().join(name));
        o.busy_timeout_ms = busy_ms;
        SqliteStore::open(o, key())
    };
    let auth = Arc::new(open("w.db", 5_000).await.unwrap());
    let trail = open("trail.db", 100).await.unwrap();
    let handle = open("trail.db", 5_000).await.unwrap();
    let o = Opened {
        store: Arc::new(trail),
        auth: auth.clone(),
        ring: auth,
        schema: None,
    };
    let app = build(HttpLimits::default(), CoreConfig::new(BASE), o, dir).await;
    Some((app, handle))
}

async fn build(limits: HttpLimits, core: CoreConfig, o: Opened, dir: tempfile::TempDir) -> TestApp {
    let store = o.store.clone();
    let keys = SigningKeys::load_or_create(store.as_ref(), now())
        .await
        .unwrap();
    let issuer = TokenIssuer::new(&keys, "https://ward.test/auth", BASE).unwrap();
    let verifier = TokenVerifier::new(&keys, "https://ward.test/auth", BASE).unwrap();
    let auth_store: Arc<dyn AuthStore> = o.auth.clone();
    let auth = AuthServer::new(
        auth_store.clone(),
        o.ring.clone(),
        &keys,
        AuthSettings::new(PUBLIC),
        JwksCache::with_default_client().unwrap(),
    )
    .unwrap();
    let clock = Arc::new(AtomicI64::new(now()));
    let c2 = clock.clone();
    let fhir = FhirService::new(
        store.clone(),
        Arc::new(SystemClock),
        Arc::new(UuidIds),
        core,
        CursorKey::new(&SecretBytes::new(vec![3; 32])),
    );
    let state = AppState {
        fhir,
        authn: Authenticator::new(verifier, auth_store),
        auth: auth.clone(),
        limits,
        now: Arc::new(move || c2.load(Ordering::SeqCst)),
        cors_origins: Arc::new(vec!["https://app.test".into()]),
    };
    let token = token_for(&issuer, "system/*.cruds");
    TestApp {
        router: ward_http::router(state),
        issuer,
        token,
        auth,
        store,
        now: clock,
        _dir: dir,
        _schema: o.schema,
    }
}

pub fn token_for(issuer: &TokenIssuer, scope: &str) -> String {
    issuer
        .issue(
            "tester",
            PrincipalKind::Operator,
            &ScopeSet::parse(scope).unwrap(),
            now(),
            600,
        )
        .unwrap()
}

/// A response, decoded.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The `code` and `diagnostics` of the first OperationOutcome issue.
    pub fn issue(&self) -> (String, String) {
        let v = self.json();
        assert_eq!(
            v["resourceType"], "OperationOutcome",
            "expected an OperationOutcome: {v}"
        );
        (
            v["issue"][0]["code"].as_str().unwrap_or("").to_owned(),
            v["issue"][0]["diagnostics"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    }
}

impl TestApp {
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A request with the default token and FHIR JSON content type.
    pub fn req(&self, method: &str, path: &str) -> axum::http::request::Builder {
        self.bare(method, path)
            .header("content-type", "application/fhir+json")
    }

    /// A request with the default token only.
    pub fn bare(&self, method: &str, path: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token))
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_owned()));
        self.send(self.req(method, path).body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.call("POST", path, Some(&body.to_string())).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.call("PUT", path, Some(&body.to_string())).await
    }

    /// Creates a resource and returns its id.
    pub async fn create(&self, body: &Value) -> String {
        let t = body["resourceType"].as_str().unwrap();
        let r = self.post(&format!("/fhir/{t}"), body).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()["id"].as_str().unwrap().to_owned()
    }
}

/// A Bundle without the audit trail's own entries (AuditEvents written by every interaction),
/// for tests about the data.
pub fn without_audit(mut bundle: Value) -> Value {
    let keep = |e: &Value| {
        e["resource"]["resourceType"] != "AuditEvent"
            && !e["request"]["url"]
                .as_str()
                .unwrap_or("")
                .starts_with("AuditEvent")
    };
    if let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) {
        entries.retain(keep);
        if entries.is_empty() {
            bundle.as_object_mut().unwrap().remove("entry");
        }
    }
    bundle
}
