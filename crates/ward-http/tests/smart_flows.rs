//! SMART App Launch 2 (app-launch.html): discovery; standalone and EHR launch through the
//! login and consent pages with PKCE S256; token response context (`patient`, `encounter`,
//! `need_patient_banner`, `scope`, id_token with `fhirUser`); refresh-token rotation and
//! family revocation on reuse (RFC 6819 §5.2.2.3); a reused authorization code revokes what
//! it issued (RFC 6749 §4.1.2); `patient/` tokens confined to their compartment. Every
//! authorization request (accepted or refused), consent decision (allowed or denied), code
//! exchange, refresh and introspection leaves a security AuditEvent with its outcome, and never
//! the state, PKCE challenge, launch id or code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod oauth;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use common::app;
use oauth::*;

fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn seeded() -> common::TestApp {
    let app = app().await;
    seed(
        &app,
        &[
            json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "One"}]}),
            json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "Two"}]}),
            json!({"resourceType": "Observation", "id": "o1", "status": "final",
                "category": [{"coding": [{"code": "laboratory"}]}],
                "code": {"text": "lab"}, "subject": {"reference": "Patient/p1"}}),
            json!({"resourceType": "Observation", "id": "o1v", "status": "final",
                "category": [{"coding": [{"code": "vital-signs"}]}],
                "code": {"text": "vital"}, "subject": {"reference": "Patient/p1"}}),
            json!({"resourceType": "Observation", "id": "o2", "status": "final",
                "code": {"text": "lab"}, "subject": {"reference": "Patient/p2"}}),
        ],
    )
    .await;
    app
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_documents_are_public_and_complete() {
    let app = app().await;
    let mut b = Browser::new(&app);
    let r = b.get("/fhir/.well-known/smart-configuration").await;
    assert_eq!(r.status, 200);
    let c = r.json();
    for cap in [
        "launch-ehr",
        "launch-standalone",
        "client-public",
        "client-confidential-asymmetric",
        "client-confidential-symmetric",
        "context-ehr-patient",
        "context-standalone-patient",
        "sso-openid-connect",
        "permission-v1",
        "permission-v2",
        "permission-patient",
        "permission-user",
        "permission-offline",
        "authorize-post",
    ] {
        assert!(
            c["capabilities"].as_array().unwrap().contains(&json!(cap)),
            "{cap}"
        );
    }
    assert_eq!(c["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(c["issuer"], "https://ward.test/auth");
    assert_eq!(c["token_endpoint"], "https://ward.test/auth/token");
    assert_eq!(c["jwks_uri"], "https://ward.test/auth/jwks");
    for f in [
        "authorization_endpoint",
        "grant_types_supported",
        "scopes_supported",
        "response_types_supported",
        "introspection_endpoint",
        "revocation_endpoint",
        "token_endpoint_auth_methods_supported",
        "management_endpoint",
    ] {
        assert!(c.get(f).is_some(), "{f}");
    }
    let o = b.get("/.well-known/openid-configuration").await;
    assert_eq!(o.status, 200);
    assert_eq!(o.json()["issuer"], "https://ward.test/auth");
    let k = b.get("/auth/jwks").await.json();
    let key = &k["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["alg"], "ES256");
    assert!(key.get("d").is_none(), "no private part");
    let md = b.get("/fhir/metadata").await.json();
    let ext = &md["rest"][0]["security"]["extension"][0];
    assert_eq!(
        ext["url"],
        "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn standalone_launch_of_a_patient_user_is_confined_to_their_compartment() {
    let app = seeded().await;
    public_client(
        &app,
        "app",
        "patient/*.cruds openid fhirUser offline_access launch/patient",
    )
    .await;
    user(&app, "pat", "patient", Some("p1"), None).await;
    let t = launch(
        &app,
        "app",
        "pat",
        "launch/patient patient/*.rs openid fhirUser offline_access",
        &[],
    )
    .await;
    assert_eq!(t["patient"], "p1");
    assert_eq!(t["need_patient_banner"], true);
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 900);
    assert!(t["scope"].as_str().unwrap().contains("patient/*.rs"));
    assert!(t["refresh_token"].is_string());
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["fhirUser"], "Patient/p1");
    assert_eq!(id["aud"], "app");
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(claims(at)["patient"], "p1");

    assert_eq!(fhir_get(&app, "/fhir/Patient/p1", at).await.status, 200);
    assert_eq!(fhir_get(&app, "/fhir/Observation/o1", at).await.status, 200);
    assert_eq!(
        fhir_get(&app, "/fhir/Patient/p2", at).await.status,
        404,
        "other patient hidden"
    );
    assert_eq!(fhir_get(&app, "/fhir/Observation/o2", at).await.status, 404);
    assert_eq!(
        fhir_get(&app, "/fhir/Patient/p2/_history/1", at)
            .await
            .status,
        404
    );
    // searches are narrowed to the compartment: totals and pages count only visible resources
    let ids = |v: serde_json::Value, mode: &str| -> Vec<String> {
        v["entry"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["search"]["mode"] == mode)
                    .map(|e| {
                        format!(
                            "{}/{}",
                            e["resource"]["resourceType"].as_str().unwrap(),
                            e["resource"]["id"].as_str().unwrap()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let s = fhir_get(&app, "/fhir/Observation", at).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.json()["total"], 2);
    assert_eq!(
        ids(s.json(), "match"),
        vec!["Observation/o1", "Observation/o1v"]
    );
    let other = fhir_get(&app, "/fhir/Observation?subject=Patient/p2", at).await;
    assert_eq!(
        other.json()["total"],
        0,
        "another patient's data is not found"
    );
    assert_eq!(
        ids(fhir_get(&app, "/fhir/Patient", at).await.json(), "match"),
        vec!["Patient/p1"]
    );
    let inc = fhir_get(&app, "/fhir/Observation?_include=Observation:subject", at)
        .await
        .json();
    assert_eq!(ids(inc.clone(), "include"), vec!["Patient/p1"]);
    let rev = fhir_get(&app, "/fhir/Patient?_revinclude=Observation:subject", at)
        .await
        .json();
    assert_eq!(
        ids(rev, "include"),
        vec!["Observation/o1", "Observation/o1v"]
    );
    let hist = fhir_get(&app, "/fhir/Observation/_history", at)
        .await
        .json();
    let seen: Vec<&str> = hist["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen,
        vec!["o1v", "o1"],
        "type history shows only the compartment"
    );
    assert_eq!(
        fhir_get(&app, "/fhir/Patient/p2/Observation", at)
            .await
            .json()["total"],
        0
    );
    let w = app
        .send(
            axum::http::Request::post("/fhir/Observation")
                .header("authorization", format!("Bearer {at}"))
                .header("content-type", "application/fhir+json")
                .body(axum::body::Body::from(
                    json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                        "subject": {"reference": "Patient/p1"}})
                    .to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(w.status, 403, "read-only scopes do not write");
}

#[tokio::test(flavor = "multi_thread")]
async fn patient_writes_cannot_leave_the_compartment() {
    let app = seeded().await;
    public_client(&app, "app", "patient/*.cruds launch/patient").await;
    user(&app, "pat", "patient", Some("p1"), None).await;
    let t = launch(
        &app,
        "app",
        "pat",
        "launch/patient patient/Observation.cru",
        &[],
    )
    .await;
    let at = t["access_token"].as_str().unwrap();
    let put = |id: &str, subject: &str| {
        let body = json!({"resourceType": "Observation", "id": id, "status": "final",
            "code": {"text": "x"}, "subject": {"reference": subject}});
        axum::http::Request::put(format!("/fhir/Observation/{id}"))
            .header("authorization", format!("Bearer {at}"))
            .header("content-type", "application/fhir+json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap()
    };
    assert_eq!(app.send(put("o1", "Patient/p1")).await.status, 200);
    assert_eq!(
        app.send(put("o1", "Patient/p2")).await.status,
        403,
        "moving out is refused"
    );
    assert_eq!(
        app.send(put("o2", "Patient/p1")).await.status,
        404,
        "another patient's data"
    );
    assert_eq!(
        app.send(put("new1", "Patient/p2")).await.status,
        403,
        "creating outside"
    );
    assert_eq!(app.send(put("new2", "Patient/p1")).await.status, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn practitioner_picks_a_patient_and_ehr_launch_carries_context() {
    let app = seeded().await;
    public_client(
        &app,
        "app",
        "patient/*.rs user/*.rs launch launch/patient openid fhirUser",
    )
    .await;
    user(&app, "doc", "clinician", None, Some("Practitioner/d1")).await;
    let t = launch(
        &app,
        "app",
        "doc",
        "launch/patient patient/*.rs openid fhirUser",
        &[],
    )
    .await;
    assert_eq!(t["patient"], "p1", "picked on the picker page");
    assert_eq!(
        claims(t["id_token"].as_str().unwrap())["fhirUser"],
        "Practitioner/d1"
    );

    let l = app
        .auth
        .create_launch(Some("p2".into()), Some("e9".into()), common::now())
        .await
        .unwrap();
    let t = launch(
        &app,
        "app",
        "doc",
        "launch patient/*.rs",
        &[("launch", &l.id)],
    )
    .await;
    assert_eq!(t["patient"], "p2");
    assert_eq!(t["encounter"], "e9");
    assert_eq!(t["need_patient_banner"], false);
    let asked: Vec<Value> = audit_events(&app, "authorization-request").await;
    assert!(
        asked.iter().any(|e| e["outcome"] == "0"
            && e["outcomeDesc"] == "requested scope: launch patient/*.rs (EHR launch)"),
        "{asked:?}"
    );
    let consents = audit_events(&app, "consent-decision").await;
    assert!(
        consents
            .iter()
            .any(|e| e["outcome"] == "0" && patients_of(e) == ["Patient/p2"]),
        "the patient in the launch context: {consents:?}"
    );
    for ev in asked.iter().chain(&consents) {
        assert!(!ev.to_string().contains(&l.id), "no launch id: {ev}");
    }
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(fhir_get(&app, "/fhir/Patient/p2", at).await.status, 200);
    assert_eq!(fhir_get(&app, "/fhir/Patient/p1", at).await.status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn granular_scopes_admit_only_matching_resources() {
    let app = seeded().await;
    public_client(&app, "app", "user/Observation.rs?category=laboratory").await;
    user(&app, "doc", "clinician", None, None).await;
    let t = launch(&app, "app", "doc", "user/Observation.rs", &[]).await;
    assert_eq!(t["scope"], "user/Observation.rs?category=laboratory");
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(fhir_get(&app, "/fhir/Observation/o1", at).await.status, 200);
    assert_eq!(
        fhir_get(&app, "/fhir/Observation/o1v", at).await.status,
        404
    );
    assert_eq!(fhir_get(&app, "/fhir/Patient/p1", at).await.status, 403);
}

async fn code_for(app: &common::TestApp, b: &mut Browser<'_>, challenge: &str) -> String {
    let r = b
        .get(&authorize_url(
            "app",
            "user/*.rs online_access",
            challenge,
            &[],
        ))
        .await;
    let next = location(&r);
    if next == "/auth/login" {
        b.login("doc", PASSWORD).await;
    }
    let r = b.allow(&["user/*.rs", "online_access"]).await;
    let _ = app;
    query_param(&location(&r), "code").unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn code_grant_failures_and_reuse() {
    let app = seeded().await;
    public_client(&app, "app", "user/*.rs online_access").await;
    user(&app, "doc", "clinician", None, None).await;
    let mut b = Browser::new(&app);
    let (v, c) = pkce();
    let code = code_for(&app, &mut b, &c).await;
    let form = |code: &str, redirect: &str, verifier: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect.to_owned()),
            ("code_verifier", verifier.to_owned()),
            ("client_id", "app".to_owned()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token_request(app, &pairs, None).await
        }
    };
    let r = send(form(&code, "https://app.test/other", &v)).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error"].clone()),
        (400, json!("invalid_grant"))
    );
    let ev = event_for(&app, &r, "token-issued", "4", &[&code, &v]).await;
    assert_eq!(ev["outcomeDesc"], "invalid_grant");
    assert_eq!(agent_client(&ev), "app", "the client presented");
    // The failed attempt spent the code; a fresh one for the PKCE case.
    let code = code_for(&app, &mut b, &c).await;
    let (wrong, _) = pkce();
    let r = send(form(&code, REDIRECT, &wrong)).await;
    assert_eq!(r.json()["error"], "invalid_grant");

    let code = code_for(&app, &mut b, &c).await;
    let ok = send(form(&code, REDIRECT, &v)).await;
    assert_eq!(ok.status, 200);
    let at = ok.json()["access_token"].as_str().unwrap().to_owned();
    let rt = ok.json()["refresh_token"].as_str().unwrap().to_owned();
    let ev = event_for(&app, &ok, "token-issued", "0", &[&code, &v, &at, &rt]).await;
    assert_eq!(
        agent_subject(&ev),
        claims(&at)["sub"],
        "the token's subject"
    );
    assert_eq!(agent_client(&ev), "app");
    assert_eq!(ev["agent"][0]["role"][0]["text"], "clinician");
    assert_eq!(ev["type"]["code"], "security");
    assert_eq!(fhir_get(&app, "/fhir/Patient/p1", &at).await.status, 200);
    let again = send(form(&code, REDIRECT, &v)).await;
    assert_eq!(again.json()["error"], "invalid_grant");
    event_for(&app, &again, "token-issued", "4", &[&code, &at, &rt]).await;
    let r = fhir_get(&app, "/fhir/Patient/p1", &at).await;
    assert_eq!(
        r.status, 401,
        "tokens issued from a reused code are revoked"
    );
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    let r = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", "app"),
        ],
        None,
    )
    .await;
    assert_eq!(r.json()["error"], "invalid_grant", "and its refresh family");
}

#[tokio::test(flavor = "multi_thread")]
async fn authorize_refuses_plain_pkce_unknown_redirects_and_wrong_audience() {
    let app = seeded().await;
    public_client(&app, "app", "user/*.rs").await;
    let mut b = Browser::new(&app);
    let (_, c) = pkce();
    // Each refusal is recorded with its error code and fixed reason, and the client it named.
    let refused = |r: common::Resp, client: &'static str, desc: &'static str| {
        let (app, c) = (&app, c.clone());
        async move {
            let ev = event_for(app, &r, "authorization-request", "4", &[&c, "st-123"]).await;
            assert_eq!(ev["outcomeDesc"], desc);
            assert_eq!(agent_client(&ev), client);
            assert_eq!(agent_user_agent(&ev), USER_AGENT);
        }
    };
    let plain = authorize_url("app", "user/*.rs", &c, &[]).replace("S256", "plain");
    let r = b.get(&plain).await;
    assert_eq!(r.status, 303);
    let back = location(&r);
    assert!(back.starts_with(REDIRECT));
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    let why = "invalid_request: code_challenge_method must be S256 (plain is refused)";
    refused(r, "app", why).await;
    let no_pkce = format!(
        "/auth/authorize?response_type=code&client_id=app&redirect_uri={}&scope=user%2F*.rs&aud={}",
        REDIRECT, AUD
    );
    let r = b.get(&no_pkce).await;
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("invalid_request")
    );
    refused(r, "app", "invalid_request: PKCE code_challenge is required").await;
    let r = b
        .get(
            &authorize_url("app", "user/*.rs", &c, &[])
                .replace("app.test%2Fcallback", "evil.test%2Fcallback"),
        )
        .await;
    assert_eq!(
        r.status, 400,
        "an unregistered redirect URI is never followed"
    );
    assert!(r.header("location").is_none());
    let why = "invalid_request: redirect_uri does not match the client's registration";
    refused(r, "app", why).await;
    let r = b
        .get(
            &authorize_url("app", "user/*.rs", &c, &[])
                .replace("ward.test%2Ffhir", "other.test%2Ffhir"),
        )
        .await;
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("invalid_request")
    );
    let why = "invalid_request: aud must be this server's FHIR base URL";
    refused(r, "app", why).await;
    let r = b.get(&authorize_url("app", "profile", &c, &[])).await;
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("invalid_scope")
    );
    refused(r, "app", "invalid_scope: no usable scope was requested").await;
    let r = b.get(&authorize_url("nobody", "user/*.rs", &c, &[])).await;
    assert_eq!(r.status, 400);
    refused(r, "nobody", "invalid_request: unknown client").await;
    let long = "x".repeat(1000);
    let r = b.get(&authorize_url(&long, "user/*.rs", &c, &[])).await;
    assert_eq!(r.status, 400);
    let ev = event_for(&app, &r, "authorization-request", "4", &[&c]).await;
    assert_eq!(agent_client(&ev).len(), 256, "a caller's client id is cut");
    let r = b.post("/auth/authorize", &[("client_id", "app")]).await;
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("unsupported_response_type")
    );
    let why = "unsupported_response_type: response_type must be code";
    refused(r, "app", why).await;
    // a repeated parameter (RFC 6749 §3.1) gets Ward's page, never the framework's text
    let twice = format!(
        "{}&client_id=other",
        authorize_url("app", "user/*.rs", &c, &[])
    );
    let r = b.get(&twice).await;
    assert_eq!(r.status, 400);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        r.header("content-type")
    );
    let ev = event_for(&app, &r, "authorization-request", "4", &[&c, "st-123"]).await;
    assert_eq!(
        ev["outcomeDesc"],
        "invalid_request: the request's parameters are malformed (one repeated, or not URL-encoded)"
    );
    assert!(
        b.cookie.is_none(),
        "no refused request opened a login session"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let app = seeded().await;
    public_client(&app, "app", "user/*.rs offline_access").await;
    user(&app, "doc", "clinician", None, None).await;
    let t = launch(&app, "app", "doc", "user/*.rs offline_access", &[]).await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| {
        let app = &app;
        async move {
            token_request(
                app,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", "app"),
                ],
                None,
            )
            .await
        }
    };
    let r2 = refresh(rt1.clone()).await;
    assert_eq!(r2.status, 200, "{}", text(&r2));
    let rt2 = r2.json()["refresh_token"].as_str().unwrap().to_owned();
    let at2 = r2.json()["access_token"].as_str().unwrap().to_owned();
    let ev = event_for(&app, &r2, "token-refreshed", "0", &[&rt1, &rt2, &at2]).await;
    assert_eq!(agent_client(&ev), "app");
    assert_eq!(agent_subject(&ev), claims(&at2)["sub"]);
    assert!(events_for(&app, &r2, "token-issued").await.is_empty());
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(fhir_get(&app, "/fhir/Patient/p1", &at2).await.status, 200);
    let narrowed = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("client_id", "app"),
            ("scope", "user/*.cruds"),
        ],
        None,
    )
    .await;
    assert_eq!(
        narrowed.json()["error"],
        "invalid_scope",
        "a refresh cannot widen scopes"
    );
    let ev = event_for(&app, &narrowed, "token-refreshed", "4", &[&rt2]).await;
    assert_eq!(ev["outcomeDesc"], "invalid_scope");
    let secret = app
        .auth
        .add_client(
            ward_auth::oauth::NewClient {
                id: "rs".into(),
                kind: "confidential".into(),
                scope: "user/*.rs".into(),
                redirect_uris: vec![REDIRECT.into()],
                ..Default::default()
            },
            common::now(),
        )
        .await
        .unwrap()
        .secret
        .unwrap();
    let introspect = |tok: String| {
        let app = &app;
        let secret = secret.clone();
        async move {
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("rs:{secret}"));
            let body = serde_urlencoded::to_string([("token", tok)]).unwrap();
            app.send(
                axum::http::Request::post("/auth/introspect")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("authorization", format!("Basic {basic}"))
                    .body(axum::body::Body::from(body))
                    .unwrap(),
            )
            .await
        }
    };
    let asked = introspect(rt2.clone()).await;
    let i = asked.json();
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["token_type"], "refresh_token");
    let ev = event_for(&app, &asked, "token-introspected", "0", &[&rt2, &secret]).await;
    assert_eq!(agent_client(&ev), "rs", "the introspecting client");
    assert_eq!(
        introspect(rt1.clone()).await.json()["active"],
        false,
        "rotated away"
    );
    let reuse = refresh(rt1).await;
    assert_eq!(reuse.json()["error"], "invalid_grant");
    assert_eq!(
        fhir_get(&app, "/fhir/Patient/p1", &at2).await.status,
        401,
        "family revoked"
    );
    assert_eq!(
        introspect(rt2.clone()).await.json()["active"],
        false,
        "family revoked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn confidential_clients_authenticate_with_a_hashed_secret() {
    let app = seeded().await;
    let reg = app
        .auth
        .add_client(
            ward_auth::oauth::NewClient {
                id: "conf".into(),
                kind: "confidential".into(),
                scope: "user/*.rs".into(),
                redirect_uris: vec![REDIRECT.into()],
                ..Default::default()
            },
            common::now(),
        )
        .await
        .unwrap();
    let secret = reg.secret.unwrap();
    assert!(reg.record.secret_hash.unwrap().starts_with("$argon2id$"));
    user(&app, "doc", "clinician", None, None).await;
    let (v, c) = pkce();
    let mut b = Browser::new(&app);
    let r = b.get(&authorize_url("conf", "user/*.rs", &c, &[])).await;
    assert_eq!(location(&r), "/auth/login");
    b.login("doc", PASSWORD).await;
    let r = b.allow(&["user/*.rs"]).await;
    let code = query_param(&location(&r), "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", v.as_str()),
    ];
    let bad = token_request(&app, &form, Some(("conf", "wrong"))).await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["error"], "invalid_client");
    assert!(bad.header("www-authenticate").unwrap().starts_with("Basic"));
    let no_auth = token_request(
        &app,
        &[
            ("client_id", "conf"),
            ("grant_type", "authorization_code"),
            ("code", "x"),
        ],
        None,
    )
    .await;
    assert_eq!(
        no_auth.status, 401,
        "a confidential client must authenticate"
    );
    // The code was not spent by the failed client authentication.
    let ok = token_request(&app, &form, Some(("conf", &secret))).await;
    assert_eq!(ok.status, 200, "{}", text(&ok));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_user_may_untick_scopes_or_deny() {
    let app = seeded().await;
    public_client(&app, "app", "user/*.rs user/*.cud openid").await;
    user(&app, "doc", "clinician", None, None).await;
    let (_, c) = pkce();
    let mut b = Browser::new(&app);
    let asked = b
        .get(&authorize_url(
            "app",
            "user/*.rs user/Patient.cud openid",
            &c,
            &[],
        ))
        .await;
    let ev = event_for(&app, &asked, "authorization-request", "0", &[&c, "st-123"]).await;
    assert_eq!(
        ev["outcomeDesc"],
        "requested scope: user/*.rs user/Patient.cud openid"
    );
    assert_eq!(agent_client(&ev), "app");
    assert_eq!(agent_subject(&ev), "", "nobody signed in yet");
    b.login("doc", PASSWORD).await;
    let (page, csrf) = b.csrf("/auth/consent").await;
    let page = text(&page);
    assert!(
        page.contains("read and search all records you have access to"),
        "{page}"
    );
    assert!(
        page.contains("create, update and delete Patient records you have access to"),
        "{page}"
    );
    assert_eq!(page.matches("type=\"checkbox\"").count(), 3);
    let csp = b.get("/auth/consent").await;
    let csp = csp.header("content-security-policy").unwrap().to_owned();
    assert!(csp.contains("form-action 'self' https://app.test"), "{csp}");
    assert!(csp.contains("default-src 'none'"));
    let r = b
        .post("/auth/consent", &[("csrf", &csrf), ("decision", "deny")])
        .await;
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("access_denied")
    );
    let ev = event_for(&app, &r, "consent-decision", "4", &["st-123"]).await;
    assert_eq!(ev["outcomeDesc"], "denied by the user");
    assert_eq!((agent_subject(&ev), agent_client(&ev)), ("doc", "app"));

    // Allow with two of the three scopes unticked: the token carries only the ticked one.
    let (v, c) = pkce();
    let asked = b
        .get(&authorize_url(
            "app",
            "user/*.rs user/Patient.cud openid",
            &c,
            &[],
        ))
        .await;
    let ev = event_for(&app, &asked, "authorization-request", "0", &[&c]).await;
    assert_eq!(agent_subject(&ev), "doc", "signed in already");
    let r = b.allow(&["user/*.rs"]).await;
    let code = query_param(&location(&r), "code").unwrap();
    let ev = event_for(&app, &r, "consent-decision", "0", &[&code, "st-123", &c]).await;
    assert_eq!(ev["outcomeDesc"], "allowed scope: user/*.rs");
    assert_eq!((agent_subject(&ev), agent_client(&ev)), ("doc", "app"));
    let t = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &v),
            ("client_id", "app"),
        ],
        None,
    )
    .await
    .json();
    assert_eq!(t["scope"], "user/*.rs");
    assert!(t.get("id_token").is_none(), "openid was unticked");
    // A scope that was never offered cannot be smuggled in by the form.
    let (v, c) = pkce();
    b.get(&authorize_url("app", "user/*.rs", &c, &[])).await;
    let r = b
        .allow(&["user/*.rs", "user/*.cud", "system/*.cruds"])
        .await;
    let code = query_param(&location(&r), "code").unwrap();
    let ev = event_for(&app, &r, "consent-decision", "0", &[&code]).await;
    assert_eq!(
        ev["outcomeDesc"], "allowed scope: user/*.rs",
        "what was granted, not what the form sent"
    );
    let t = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &v),
            ("client_id", "app"),
        ],
        None,
    )
    .await
    .json();
    assert_eq!(t["scope"], "user/*.rs");
}

#[tokio::test(flavor = "multi_thread")]
async fn bundles_are_confined_entry_by_entry() {
    let app = seeded().await;
    public_client(&app, "app", "patient/*.cruds launch/patient").await;
    user(&app, "pat", "patient", Some("p1"), None).await;
    let t = launch(&app, "app", "pat", "launch/patient patient/*.cru", &[]).await;
    let at = t["access_token"].as_str().unwrap();
    let post = |bundle: Value| {
        axum::http::Request::post("/fhir")
            .header("authorization", format!("Bearer {at}"))
            .header("content-type", "application/fhir+json")
            .body(axum::body::Body::from(bundle.to_string()))
            .unwrap()
    };
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/p1"}},
        {"request": {"method": "GET", "url": "Patient/p2"}},
        {"request": {"method": "GET", "url": "Observation/o2"}}
    ]});
    let r = app.send(post(batch)).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let statuses: Vec<String> = r.json()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap().to_owned())
        .collect();
    assert!(statuses[0].starts_with("200"), "{statuses:?}");
    assert!(statuses[1].starts_with("404"), "{statuses:?}");
    assert!(statuses[2].starts_with("404"), "{statuses:?}");

    let obs = |subject: &str| {
        json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "x"}, "subject": {"reference": subject}})
    };
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": obs("Patient/p1"), "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": "urn:uuid:2", "resource": obs("Patient/p2"), "request": {"method": "POST", "url": "Observation"}}
    ]});
    let r = app.send(post(tx)).await;
    assert_eq!(
        r.status, 403,
        "one entry outside the compartment fails the transaction"
    );
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": obs("Patient/p1"), "request": {"method": "POST", "url": "Observation"}}
    ]});
    assert_eq!(app.send(post(tx)).await.status, 200);
}

/// SMART standalone launch with `launch/patient`: a practitioner searches patients by name on
/// the picker page (the search is authorized and audited as theirs) and picks one; an unknown
/// id is refused; patients and other roles never get a picker search.
#[tokio::test(flavor = "multi_thread")]
async fn practitioner_picks_a_patient_by_name() {
    let app = seeded().await;
    public_client(&app, "app", "patient/*.rs launch/patient").await;
    user(&app, "doc", "clinician", None, Some("Practitioner/d1")).await;
    let mut b = Browser::new(&app);
    let (_verifier, challenge) = pkce();
    let r = b
        .get(&authorize_url(
            "app",
            "launch/patient patient/*.rs",
            &challenge,
            &[],
        ))
        .await;
    assert_eq!(location(&r), "/auth/login");
    let r = b.login("doc", PASSWORD).await;
    assert_eq!(location(&r), "/auth/patient");
    let page = text(&b.get("/auth/patient?name=tw").await);
    assert!(page.contains("value=\"p2\""), "{page}");
    assert!(page.contains("Two"));
    assert!(
        !page.contains("value=\"p1\""),
        "only matching names are listed"
    );
    let none = text(&b.get("/auth/patient?name=zzz").await);
    assert!(none.contains("No patient matches"));
    let twice = b.get("/auth/patient?name=a&name=b").await;
    assert_eq!(twice.status, 400);
    assert!(
        twice
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "Ward's page, not the framework's text"
    );
    let (_, csrf) = b.csrf("/auth/patient").await;
    let bad = b
        .post("/auth/patient", &[("csrf", &csrf), ("patient", "nobody")])
        .await;
    assert_eq!(bad.status, 400);
    let ok = b
        .post("/auth/patient", &[("csrf", &csrf), ("patient", "p2")])
        .await;
    assert_eq!(location(&ok), "/auth/consent");
    // the picker's search is in the audit trail, as the practitioner
    let audit = app
        .get("/fhir/AuditEvent?subtype=search-type&_count=50")
        .await
        .json();
    let by_doc = audit["entry"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["resource"]["agent"][0]["who"]["reference"] == "Practitioner/d1");
    assert!(by_doc, "the picker search is audited as the practitioner");
}
