//! SMART Backend Services (backend-services.html) with keys Ward has never seen before
//! registration: `private_key_jwt` with ES384 and RS384, `aud` = token endpoint, `exp` at most
//! five minutes ahead, `jti` replay refused. Bad bearer tokens (RFC 6750 §3.1): malformed,
//! expired, wrong audience, foreign issuer, `alg: none`, HS256 signed with the public key →
//! 401 `invalid_token`; too small a scope → 403 OperationOutcome. Introspection (RFC 7662),
//! revocation (RFC 7009) and the admin API. Each token issue, introspection, revocation and
//! admin change leaves a security AuditEvent; when none can be written, the token endpoint
//! answers 503 and hands out no token.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod oauth;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use ward_auth::oauth::NewClient;

use common::{app, now};
use oauth::*;

const TOKEN_URL: &str = "https://ward.test/auth/token";

/// A fresh key pair: (signing key, public JWKS, alg).
fn es384() -> (EncodingKey, Value) {
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &SystemRandom::new())
        .unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, doc.as_ref()).unwrap();
    let point = pair.public_key().as_ref();
    let (x, y) = point[1..].split_at(48);
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-384", "kid": "es-1", "alg": "ES384",
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)}]});
    (EncodingKey::from_ec_der(doc.as_ref()), jwks)
}

fn rs384() -> (EncodingKey, Value) {
    let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).unwrap();
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&pair).unwrap();
    let b64 = STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let comps: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "rs-1", "alg": "RS384",
        "n": URL_SAFE_NO_PAD.encode(&comps.n), "e": URL_SAFE_NO_PAD.encode(&comps.e)}]});
    (EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(), jwks)
}

fn assertion(
    key: &EncodingKey,
    alg: Algorithm,
    kid: &str,
    client: &str,
    aud: &str,
    exp_in: i64,
    jti: &str,
) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(kid.into());
    let n = now();
    let claims =
        json!({"iss": client, "sub": client, "aud": aud, "exp": n + exp_in, "iat": n, "jti": jti});
    jsonwebtoken::encode(&h, &claims, key).unwrap()
}

async fn backend(app: &common::TestApp, id: &str, jwks: &Value) {
    app.auth
        .add_client(
            NewClient {
                id: id.into(),
                kind: "backend".into(),
                scope: "system/Patient.rs system/Observation.rs".into(),
                jwks: Some(jwks.to_string()),
                ..NewClient::default()
            },
            now(),
        )
        .await
        .unwrap();
}

async fn client_credentials(app: &common::TestApp, assertion: &str, scope: &str) -> common::Resp {
    token_request(
        app,
        &[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_services_with_new_keys_es384_and_rs384() {
    let app = app().await;
    seed(&app, &[json!({"resourceType": "Patient", "id": "p1"})]).await;
    for (name, (key, jwks), alg, kid) in [
        ("bulk-es", es384(), Algorithm::ES384, "es-1"),
        ("bulk-rs", rs384(), Algorithm::RS384, "rs-1"),
    ] {
        backend(&app, name, &jwks).await;
        let a = assertion(&key, alg, kid, name, TOKEN_URL, 240, &format!("{name}-1"));
        let r = client_credentials(&app, &a, "system/Patient.rs system/Encounter.rs").await;
        assert_eq!(r.status, 200, "{name}: {}", text(&r));
        let t = r.json();
        assert_eq!(t["scope"], "system/Patient.rs", "requested ∩ registered");
        assert_eq!(t["expires_in"], 300);
        let at = t["access_token"].as_str().unwrap();
        assert_eq!(fhir_get(&app, "/fhir/Patient/p1", at).await.status, 200);
        let r = fhir_get(&app, "/fhir/Observation/x", at).await;
        assert_eq!(r.status, 403, "scope too small");
        assert_eq!(r.issue().0, "forbidden");

        let replay = client_credentials(&app, &a, "system/Patient.rs").await;
        assert_eq!(replay.status, 401, "replayed assertion");
        assert_eq!(replay.json()["error"], "invalid_client");
        let far = assertion(&key, alg, kid, name, TOKEN_URL, 900, &format!("{name}-2"));
        assert_eq!(
            client_credentials(&app, &far, "system/Patient.rs")
                .await
                .json()["error"],
            "invalid_client"
        );
        let aud = assertion(
            &key,
            alg,
            kid,
            name,
            "https://ward.test/fhir",
            60,
            &format!("{name}-3"),
        );
        assert_eq!(
            client_credentials(&app, &aud, "system/Patient.rs")
                .await
                .status,
            401
        );
        let old = assertion(&key, alg, kid, name, TOKEN_URL, -120, &format!("{name}-4"));
        assert_eq!(
            client_credentials(&app, &old, "system/Patient.rs")
                .await
                .status,
            401
        );
    }
    // A key the client never registered.
    let (stranger, _) = es384();
    let a = assertion(
        &stranger,
        Algorithm::ES384,
        "es-1",
        "bulk-es",
        TOKEN_URL,
        60,
        "s-1",
    );
    assert_eq!(
        client_credentials(&app, &a, "system/Patient.rs")
            .await
            .status,
        401
    );
    // ES256 is not on the assertion allowlist.
    let r = client_credentials(&app, "eyJhbGciOiJFUzI1NiJ9.e30.x", "system/Patient.rs").await;
    assert_eq!(r.status, 401);
    let r = token_request(&app, &[("grant_type", "password")], None).await;
    assert_eq!(r.json()["error"], "unsupported_grant_type");
    let r = token_request(
        &app,
        &[("grant_type", "client_credentials"), ("grant_type", "x")],
        None,
    )
    .await;
    assert_eq!(r.json()["error"], "invalid_request", "repeated parameters");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_foreign_tokens_get_401_invalid_token() {
    let app = app().await;
    let jwks = app
        .send(Request::get("/auth/jwks").body(Body::empty()).unwrap())
        .await
        .json();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let payload = json!({"iss": "https://ward.test/auth", "aud": "https://ward.test/fhir", "sub": "x",
        "exp": now() + 600, "nbf": now(), "iat": now(), "jti": "j", "scope": "system/*.cruds", "kind": "operator"});
    let p64 = URL_SAFE_NO_PAD.encode(payload.to_string());
    let none = format!(
        "{}.{p64}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string())
    );
    // HS256 keyed with the public key's coordinates (the classic algorithm-confusion forgery).
    let public = format!(
        "{}{}",
        jwks["keys"][0]["x"].as_str().unwrap(),
        jwks["keys"][0]["y"].as_str().unwrap()
    );
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(kid.clone());
    h.typ = Some("at+jwt".into());
    let hs =
        jsonwebtoken::encode(&h, &payload, &EncodingKey::from_secret(public.as_bytes())).unwrap();
    let other = common::app().await; // a different server: foreign issuer keys
    let foreign = common::token_for(&other.issuer, "system/*.cruds");
    let expired = app
        .issuer
        .issue(
            "x",
            ward_auth::PrincipalKind::Operator,
            &ward_auth::ScopeSet::parse("system/*.rs").unwrap(),
            now() - 4000,
            60,
        )
        .unwrap();
    let wrong_aud = ward_auth::TokenIssuer::new(
        &ward_auth::SigningKeys::load_or_create(app.store.as_ref(), now())
            .await
            .unwrap(),
        "https://ward.test/auth",
        "https://elsewhere.test/fhir",
    )
    .unwrap()
    .issue(
        "x",
        ward_auth::PrincipalKind::Operator,
        &ward_auth::ScopeSet::parse("system/*.rs").unwrap(),
        now(),
        60,
    )
    .unwrap();
    for (what, tok) in [
        ("garbage", "abc.def"),
        ("alg none", none.as_str()),
        ("HS256", hs.as_str()),
        ("foreign issuer", foreign.as_str()),
        ("expired", expired.as_str()),
        ("wrong audience", wrong_aud.as_str()),
    ] {
        let r = fhir_get(&app, "/fhir/Patient/p1", tok).await;
        assert_eq!(r.status, 401, "{what}");
        let www = r.header("www-authenticate").unwrap();
        assert!(
            www.starts_with("Bearer") && www.contains("error=\"invalid_token\""),
            "{what}: {www}"
        );
        assert_eq!(r.issue().0, "login");
    }
    let r = app
        .send(
            Request::get("/fhir/Patient/p1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"ward\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_and_revocation() {
    let app = app().await;
    seed(&app, &[json!({"resourceType": "Patient", "id": "p1"})]).await;
    let (key, jwks) = es384();
    backend(&app, "svc", &jwks).await;
    let mut n = 0;
    let mut a = || {
        n += 1;
        assertion(
            &key,
            Algorithm::ES384,
            "es-1",
            "svc",
            TOKEN_URL,
            60,
            &format!("j{n}"),
        )
    };
    let issued = client_credentials(&app, &a(), "system/Patient.rs").await;
    let at = issued.json()["access_token"].as_str().unwrap().to_owned();
    let ev = event_for(&app, &issued, "token-issued", "0", &[&at]).await;
    assert_eq!(
        (agent_subject(&ev), agent_client(&ev)),
        ("svc", "svc"),
        "the backend client"
    );
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let body = serde_urlencoded::to_string(&form).unwrap();
            app.send(
                Request::post(path)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
        }
    };
    let jwt = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned();
    let i = post(
        "/auth/introspect",
        vec![
            ("token", at.clone()),
            ("client_assertion_type", jwt.clone()),
            ("client_assertion", a()),
        ],
    )
    .await;
    assert_eq!(i.status, 200, "{}", text(&i));
    assert_eq!(i.json()["active"], true);
    let ev = event_for(&app, &i, "token-introspected", "0", &[&at]).await;
    assert_eq!(agent_client(&ev), "svc");
    assert_eq!(i.json()["scope"], "system/Patient.rs");
    assert_eq!(i.json()["client_id"], "svc");
    let anon = post("/auth/introspect", vec![("token", at.clone())]).await;
    assert_eq!(
        anon.status, 401,
        "introspection needs an authenticated client"
    );
    let ev = event_for(&app, &anon, "token-introspected", "4", &[&at]).await;
    assert_eq!(ev["outcomeDesc"], "invalid_client");
    let r = post(
        "/auth/revoke",
        vec![
            ("token", at.clone()),
            ("client_assertion_type", jwt.clone()),
            ("client_assertion", a()),
        ],
    )
    .await;
    assert_eq!(r.status, 200);
    let ev = event_for(&app, &r, "token-revoked", "0", &[&at]).await;
    assert_eq!(agent_client(&ev), "svc");
    assert_eq!(
        fhir_get(&app, "/fhir/Patient/p1", &at).await.status,
        401,
        "revoked at once"
    );
    let i = post(
        "/auth/introspect",
        vec![
            ("token", at),
            ("client_assertion_type", jwt),
            ("client_assertion", a()),
        ],
    )
    .await;
    assert_eq!(i.json()["active"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_api_needs_an_operator_or_admin_token() {
    let app = app().await;
    let call = |method: &str, path: &str, token: &str, body: Option<Value>| {
        let b = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json");
        b.body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
            .unwrap()
    };
    let op = app.token.clone();
    let r = app
        .send(call(
            "POST",
            "/auth/admin/users",
            &op,
            Some(json!({"username": "nurse", "role": "clinician",
        "password": "a long enough password", "fhirUser": "Practitioner/n1"})),
        ))
        .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    assert!(r.json().get("password_hash").is_none());
    let password = "a long enough password";
    let ev = event_for(&app, &r, "user-changed", "0", &[password]).await;
    assert_eq!(agent_subject(&ev), "tester", "the operator");
    assert_eq!(ev["outcomeDesc"], "user nurse (clinician) added");
    let r = app
        .send(call(
            "POST",
            "/auth/admin/users",
            &op,
            Some(json!({"username": "nurse", "role": "clinician",
        "password": "a long enough password"})),
        ))
        .await;
    assert_eq!(r.status, 400, "username taken");
    let ev = event_for(&app, &r, "user-changed", "4", &[password]).await;
    assert_eq!(ev["outcomeDesc"], "invalid_request");
    let r = app
        .send(call(
            "POST",
            "/auth/admin/clients",
            &op,
            Some(json!({"client_id": "web", "kind": "confidential",
        "scope": "user/*.rs", "redirect_uris": [REDIRECT]})),
        ))
        .await;
    assert_eq!(r.status, 201);
    assert!(r.json()["client_secret"].is_string(), "shown once");
    let secret = r.json()["client_secret"].as_str().unwrap().to_owned();
    let ev = event_for(&app, &r, "client-changed", "0", &[&secret]).await;
    assert_eq!(agent_subject(&ev), "tester");
    assert_eq!(ev["outcomeDesc"], "client web (confidential) added");
    let r = app
        .send(call("GET", "/auth/admin/clients", &op, None))
        .await;
    assert!(!text(&r).contains("argon2"), "no hashes leave the server");
    let ev = event_for(&app, &r, "admin-list-read", "0", &[&secret]).await;
    assert_eq!(agent_subject(&ev), "tester");
    assert_eq!(ev["outcomeDesc"], "clients listed (1)");
    let r = app
        .send(call(
            "POST",
            "/auth/admin/users",
            &op,
            Some(json!({"username": "pat", "role": "patient",
        "password": "a long enough password", "patient": "p7"})),
        ))
        .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = app.send(call("GET", "/auth/admin/users", &op, None)).await;
    assert_eq!(r.status, 200);
    let ev = event_for(&app, &r, "admin-list-read", "0", &[password]).await;
    assert_eq!(ev["outcomeDesc"], "users listed (2)");
    assert_eq!(
        patients_of(&ev),
        ["Patient/p7"],
        "the patient a listed user is linked to"
    );
    let r = app
        .send(call(
            "POST",
            "/auth/admin/launches",
            &op,
            Some(json!({"patient": "p1", "encounter": "e1"})),
        ))
        .await;
    assert_eq!(r.status, 201);
    let launch = r.json()["launch"].as_str().unwrap().to_owned();
    let ev = event_for(&app, &r, "launch-created", "0", &[&launch]).await;
    assert_eq!(agent_subject(&ev), "tester");
    assert_eq!(ev["outcomeDesc"], "launch created, valid for 60 minutes");
    assert_eq!(patients_of(&ev), ["Patient/p1"]);
    assert!(ev.to_string().contains("\"Encounter/e1\""), "{ev}");
    for bad in [json!({"patient": "not an id!"}), json!("not an object")] {
        let r = app
            .send(call("POST", "/auth/admin/launches", &op, Some(bad)))
            .await;
        assert_eq!(r.status, 400);
        let ev = event_for(&app, &r, "launch-created", "4", &[]).await;
        assert_eq!(ev["outcomeDesc"], "invalid_request");
        assert!(patients_of(&ev).is_empty(), "{ev}");
    }
    let r = app
        .send(call("GET", "/auth/admin/break-glass", &op, None))
        .await;
    assert_eq!(r.json(), json!([]));
    let ev = event_for(&app, &r, "admin-list-read", "0", &[]).await;
    assert_eq!(
        ev["outcomeDesc"],
        "unreviewed break-glass grants listed (0)"
    );
    // a malformed query is the admin API's JSON error (after the caller is known)
    let r = app
        .send(call("GET", "/auth/admin/break-glass?all=maybe", &op, None))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"], "invalid_request");
    let r = app
        .send(
            Request::builder()
                .uri("/auth/admin/break-glass?all=maybe")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, 401, "no token: refused before the query is read");
    let backend_token = common::token_for(&app.issuer, "system/*.rs");
    let client_tok = app
        .issuer
        .issue(
            "svc",
            ward_auth::PrincipalKind::Client,
            &ward_auth::ScopeSet::parse("system/*.cruds").unwrap(),
            now(),
            60,
        )
        .unwrap();
    let _ = backend_token;
    let r = app
        .send(call("GET", "/auth/admin/users", &client_tok, None))
        .await;
    assert_eq!(r.status, 403);
    assert!(
        events_for(&app, &r, "admin-list-read").await.is_empty(),
        "a refused read is a rejected request, not a read"
    );
    let ev = event_for(&app, &r, "request-rejected", "4", &[&client_tok]).await;
    assert_eq!(
        (agent_subject(&ev), ev["outcomeDesc"].as_str()),
        ("svc", Some("access_denied"))
    );
    let r = app
        .send(call("GET", "/auth/admin/users", "nope", None))
        .await;
    assert_eq!(r.status, 401);
    let ev = event_for(&app, &r, "request-rejected", "4", &[]).await;
    assert_eq!(ev["outcomeDesc"], "invalid_token");
    let admin_user = |scope: &str| {
        let ctx = ward_auth::TokenContext {
            role: Some("admin".into()),
            ..Default::default()
        };
        let scopes = ward_auth::ScopeSet::parse(scope).unwrap();
        app.issuer
            .issue_with(
                "u1",
                ward_auth::PrincipalKind::User,
                &scopes,
                &ctx,
                now(),
                60,
            )
            .unwrap()
            .0
    };
    let r = app
        .send(call(
            "GET",
            "/auth/admin/users",
            &admin_user("user/*.rs"),
            None,
        ))
        .await;
    assert_eq!(
        r.status, 403,
        "an admin's token from an ordinary app is not enough"
    );
    let r = app
        .send(call(
            "GET",
            "/auth/admin/users",
            &admin_user("user/*.rs ward:admin"),
            None,
        ))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_audit_record_no_token_and_no_session() {
    let Some((app, trail)) = common::app_with_lockable_trail().await else {
        eprintln!("skipped: needs the SQLite backend");
        return;
    };
    let (key, jwks) = es384();
    backend(&app, "svc", &jwks).await;
    user(&app, "doc", "clinician", None, None).await;
    let mut n = 0;
    let mut a = || {
        n += 1;
        let jti = format!("f{n}");
        assertion(&key, Algorithm::ES384, "es-1", "svc", TOKEN_URL, 60, &jti)
    };
    public_client(&app, "app", "user/*.rs").await;
    let (_, challenge) = pkce();
    let asking = authorize_url("app", "user/*.rs", &challenge, &[]);
    let mut at_consent = Browser::new(&app);
    at_consent.get(&asking).await;
    let (_, csrf) = at_consent.csrf("/auth/login").await;
    let login = [
        ("csrf", csrf.as_str()),
        ("username", "doc"),
        ("password", PASSWORD),
    ];
    let r = at_consent.post("/auth/login", &login).await;
    assert_eq!(location(&r), "/auth/consent");
    let (_, consent_csrf) = at_consent.csrf("/auth/consent").await;
    let held = trail.hold_trail_lock().await.unwrap();
    let r = client_credentials(&app, &a(), "system/Patient.rs").await;
    assert_eq!(r.status, 503, "{}", text(&r));
    assert_eq!(r.json()["error"], "temporarily_unavailable");
    assert!(
        r.json().get("access_token").is_none(),
        "no token without its record"
    );
    assert!(!text(&r).contains("eyJ"), "no JWT in the answer");
    let mut b = Browser::new(&app);
    let (_, csrf) = b.csrf("/auth/login").await;
    let login = [
        ("csrf", csrf.as_str()),
        ("username", "doc"),
        ("password", PASSWORD),
    ];
    let r = b.post("/auth/login", &login).await;
    assert_eq!(r.status, 503, "{}", text(&r));
    assert!(
        r.header("set-cookie").is_none(),
        "no session without its record"
    );
    let r = Browser::new(&app).get(&asking).await;
    assert_eq!(
        r.status,
        503,
        "an unrecorded authorization request: {}",
        text(&r)
    );
    assert!(r.header("set-cookie").is_none() && r.header("location").is_none());
    let allow = [
        ("csrf", consent_csrf.as_str()),
        ("decision", "allow"),
        ("scope", "user/*.rs"),
    ];
    let r = at_consent.post("/auth/consent", &allow).await;
    assert_eq!(r.status, 503, "an unrecorded consent: {}", text(&r));
    assert!(r.header("location").is_none(), "no code without its record");
    let admin = |method: &str, path: &str, body: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", app.token))
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let r = app.send(admin("GET", "/auth/admin/users", "")).await;
    assert_eq!(r.status, 503, "an unrecorded list read");
    assert!(!text(&r).contains("doc"), "{}", text(&r));
    let r = app
        .send(admin("POST", "/auth/admin/launches", r#"{"patient":"p1"}"#))
        .await;
    assert_eq!(r.status, 503, "an unrecorded launch");
    assert!(!text(&r).contains("launch\""), "{}", text(&r));
    drop(held);
    let r = client_credentials(&app, &a(), "system/Patient.rs").await;
    assert_eq!(r.status, 200, "the trail is writable again: {}", text(&r));
    event_for(&app, &r, "token-issued", "0", &[]).await;
}
