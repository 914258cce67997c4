//! Helpers for the SMART tests: a tiny browser (one cookie, forms, CSRF tokens scraped from
//! pages), PKCE pairs, and shortcuts that register clients and users through the server API.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use ward_auth::oauth::{NewClient, NewUser};

use crate::common::{PUBLIC, Resp, TestApp};

pub const REDIRECT: &str = "https://app.test/callback";
pub const AUD: &str = "https://ward.test/fhir";

/// The user agent the test browser sends.
pub const USER_AGENT: &str = "ward-test-browser/1";

/// A browser: one session cookie, follows nothing automatically.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    pub cookie: Option<String>,
    /// The source address the server sees (none: "unknown", as without a socket).
    pub addr: Option<std::net::SocketAddr>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            cookie: None,
            addr: None,
        }
    }

    /// A browser connecting from `ip`.
    pub fn from_ip(app: &'a TestApp, ip: &str) -> Self {
        Self {
            addr: Some(std::net::SocketAddr::new(ip.parse().unwrap(), 40000)),
            ..Self::new(app)
        }
    }

    fn with_addr(&self, b: axum::http::request::Builder) -> axum::http::request::Builder {
        match self.addr {
            Some(a) => b.extension(axum::extract::ConnectInfo(ward_http::serve::ClientAddr(a))),
            None => b,
        }
    }

    fn absorb(&mut self, r: &Resp) {
        for v in r.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let first = v.split(';').next().unwrap();
            let (_, val) = first.split_once('=').unwrap();
            self.cookie = if val.is_empty() {
                None
            } else {
                Some(val.to_owned())
            };
        }
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        let mut b = self.with_addr(Request::get(path).header("user-agent", USER_AGENT));
        if let Some(c) = &self.cookie {
            b = b.header("cookie", format!("ward_session={c}"));
        }
        let r = self.app.send(b.body(Body::empty()).unwrap()).await;
        self.absorb(&r);
        r
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(form).unwrap();
        let mut b = self.with_addr(
            Request::post(path)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("user-agent", USER_AGENT),
        );
        if let Some(c) = &self.cookie {
            b = b.header("cookie", format!("ward_session={c}"));
        }
        let r = self.app.send(b.body(Body::from(body)).unwrap()).await;
        self.absorb(&r);
        r
    }

    /// GETs `path` and returns the page's CSRF token.
    pub async fn csrf(&mut self, path: &str) -> (Resp, String) {
        let r = self.get(path).await;
        let csrf = scrape(&text(&r), "name=\"csrf\" value=\"").unwrap_or_default();
        (r, csrf)
    }

    /// Signs in on the login page with its CSRF token; the login's answer.
    pub async fn login(&mut self, username: &str, password: &str) -> Resp {
        let (_, csrf) = self.csrf("/auth/login").await;
        self.post(
            "/auth/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Allows the pending authorization on the consent page with exactly `scopes` ticked; the
    /// consent's answer (the redirect back to the client).
    pub async fn allow(&mut self, scopes: &[&str]) -> Resp {
        let (_, csrf) = self.csrf("/auth/consent").await;
        let mut form = vec![("csrf", csrf.as_str()), ("decision", "allow")];
        form.extend(scopes.iter().map(|s| ("scope", *s)));
        self.post("/auth/consent", &form).await
    }
}

/// Decodes the numeric entities askama writes (`&#34;`, `&#x2f;`, …) and `&amp;`.
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("&") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let ent = &tail[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            _ if ent.starts_with("#x") => u32::from_str_radix(&ent[2..], 16)
                .ok()
                .and_then(char::from_u32),
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

pub fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The text after `marker` up to the next `"` or `<`.
pub fn scrape(page: &str, marker: &str) -> Option<String> {
    let start = page.find(marker)? + marker.len();
    let rest = &page[start..];
    let end = rest.find(['"', '<']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

pub fn location(r: &Resp) -> String {
    r.header("location").unwrap_or("").to_owned()
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let v = URL_SAFE_NO_PAD.encode(ward_crypto::random_bytes::<32>().unwrap());
    let c = URL_SAFE_NO_PAD.encode(ward_crypto::sha256(v.as_bytes()));
    (v, c)
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

pub fn authorize_url(client: &str, scope: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-123"),
        ("aud", AUD),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    format!(
        "/auth/authorize?{}",
        serde_urlencoded::to_string(&q).unwrap()
    )
}

pub async fn public_client(app: &TestApp, id: &str, scope: &str) {
    app.auth
        .add_client(
            NewClient {
                id: id.into(),
                kind: "public".into(),
                scope: scope.into(),
                redirect_uris: vec![REDIRECT.into()],
                ..NewClient::default()
            },
            crate::common::now(),
        )
        .await
        .unwrap();
}

pub const PASSWORD: &str = "correct horse battery staple";

pub async fn user(
    app: &TestApp,
    name: &str,
    role: &str,
    patient: Option<&str>,
    fhir_user: Option<&str>,
) {
    app.auth
        .add_user(
            NewUser {
                username: name.into(),
                role: role.into(),
                password: PASSWORD.into(),
                patient: patient.map(str::to_owned),
                fhir_user: fhir_user.map(str::to_owned),
                break_glass: false,
            },
            crate::common::now(),
        )
        .await
        .unwrap();
}

/// POSTs a form to the token endpoint (optionally with Basic credentials).
pub async fn token_request(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Resp {
    let body = serde_urlencoded::to_string(form).unwrap();
    let mut b =
        Request::post("/auth/token").header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let v = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        b = b.header("authorization", format!("Basic {v}"));
    }
    app.send(b.body(Body::from(body)).unwrap()).await
}

/// GET on the FHIR API with a bearer token.
pub async fn fhir_get(app: &TestApp, path: &str, token: &str) -> Resp {
    app.send(
        Request::get(path)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

/// Creates resources with the operator token and fixed ids.
pub async fn seed(app: &TestApp, resources: &[Value]) {
    for r in resources {
        let t = r["resourceType"].as_str().unwrap();
        let id = r["id"].as_str().unwrap();
        let resp = app.put(&format!("/fhir/{t}/{id}"), r).await;
        assert!(resp.status.is_success(), "{}", text(&resp));
    }
}

/// Runs a full standalone launch for `username` and returns the token response.
pub async fn launch(
    app: &TestApp,
    client: &str,
    username: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> Value {
    let (code, verifier) = launch_code(app, client, username, scope, extra).await;
    let r = redeem(app, client, &code, &verifier).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

/// Exchanges an authorization code at the token endpoint of `app`.
pub async fn redeem(app: &TestApp, client: &str, code: &str, verifier: &str) -> Resp {
    token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("client_id", client),
        ],
        None,
    )
    .await
}

/// A standalone launch up to the redirect back to the app: the code and the PKCE verifier.
pub async fn launch_code(
    app: &TestApp,
    client: &str,
    username: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut b = Browser::new(app);
    let r = b
        .get(&authorize_url(client, scope, &challenge, extra))
        .await;
    assert_eq!(r.status, 303, "{}", text(&r));
    assert_eq!(location(&r), "/auth/login");
    let r = b.login(username, PASSWORD).await;
    assert_eq!(r.status, 303, "{}", text(&r));
    let mut next = location(&r);
    if next == "/auth/patient" {
        let (_, csrf) = b.csrf("/auth/patient").await;
        let r = b
            .post("/auth/patient", &[("csrf", &csrf), ("patient", "p1")])
            .await;
        next = location(&r);
    }
    assert_eq!(next, "/auth/consent");
    let (page, csrf) = b.csrf("/auth/consent").await;
    let page = text(&page);
    let mut form: Vec<(&str, String)> = vec![("csrf", csrf), ("decision", "allow".into())];
    let mut rest = page.as_str();
    while let Some(v) = scrape(rest, "name=\"scope\" value=\"") {
        let at = rest.find("name=\"scope\" value=\"").unwrap() + 20;
        rest = &rest[at..];
        form.push(("scope", unescape(&v)));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = b.post("/auth/consent", &pairs).await;
    let back = location(&r);
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    let code = query_param(&back, "code").unwrap();
    (code, verifier)
}

pub fn public_url() -> &'static str {
    PUBLIC
}

/// The AuditEvents of `subtype` (`login-failed`, `110122`, …), as the operator sees them (with
/// a token fresh at the app's clock, which tests move).
pub async fn audit_events(app: &TestApp, subtype: &str) -> Vec<Value> {
    let at = app.now.load(std::sync::atomic::Ordering::SeqCst);
    let scopes = ward_auth::ScopeSet::parse("system/AuditEvent.rs").unwrap();
    let token = app
        .issuer
        .issue(
            "auditor",
            ward_auth::PrincipalKind::Operator,
            &scopes,
            at,
            600,
        )
        .unwrap();
    let path = format!("/fhir/AuditEvent?subtype={subtype}&_count=1000");
    let r = fhir_get(app, &path, &token).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    r.json()["entry"]
        .as_array()
        .map(|es| es.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

/// The request id an AuditEvent names.
pub fn request_id(ev: &Value) -> String {
    ev["entity"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["type"]["code"] == "XrequestId")
        .and_then(|e| e["what"]["identifier"]["value"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The AuditEvents of `subtype` recorded for the request answered by `resp`.
pub async fn events_for(app: &TestApp, resp: &Resp, subtype: &str) -> Vec<Value> {
    let rid = resp
        .header("x-request-id")
        .expect("a request id")
        .to_owned();
    audit_events(app, subtype)
        .await
        .into_iter()
        .filter(|e| request_id(e) == rid)
        .collect()
}

/// The one AuditEvent of `subtype` recorded for the request answered by `resp`, checked for
/// its outcome (`0` or `4`); it must not contain any of `secrets`.
pub async fn event_for(
    app: &TestApp,
    resp: &Resp,
    subtype: &str,
    outcome: &str,
    secrets: &[&str],
) -> Value {
    let found = events_for(app, resp, subtype).await;
    assert_eq!(
        found.len(),
        1,
        "one {subtype} AuditEvent for the request: {found:?}"
    );
    let ev = found.into_iter().next().unwrap();
    assert_eq!(ev["outcome"], outcome, "{ev}");
    assert_eq!(ev["action"], "E", "{ev}");
    let body = ev.to_string();
    for s in secrets {
        assert!(!body.contains(s), "{s:?} leaked into {body}");
    }
    ev
}

/// The user agent's `altId` (token subject or user name) of an AuditEvent.
pub fn agent_subject(ev: &Value) -> &str {
    ev["agent"][0]["altId"].as_str().unwrap_or_default()
}

/// The client id an AuditEvent names.
pub fn agent_client(ev: &Value) -> &str {
    ev["agent"][1]["who"]["identifier"]["value"]
        .as_str()
        .unwrap_or_default()
}

/// The user agent string an AuditEvent records.
pub fn agent_user_agent(ev: &Value) -> &str {
    ev["entity"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|e| e["detail"][0]["valueString"].as_str())
        .unwrap_or_default()
}

/// The purposeOfUse codes of an AuditEvent.
pub fn purposes(ev: &Value) -> Vec<&str> {
    ev["purposeOfEvent"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["coding"][0]["code"].as_str())
        .collect()
}

/// The patients (`Patient/…` references) an AuditEvent names.
pub fn patients_of(ev: &Value) -> Vec<&str> {
    ev["entity"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["type"]["code"] == "1")
        .filter_map(|e| e["what"]["reference"].as_str())
        .collect()
}
