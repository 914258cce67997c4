//! Login pages (issue #5 items 8–10): TOTP (RFC 6238) enrollment with QR code and recovery
//! codes, mandatory for admin and auditor; codes never accepted twice; lockout after five
//! failures in fifteen minutes per account and per source address, with one message that never
//! reveals whether a user exists; automatic logoff after the idle timeout; CSRF tokens; cookie
//! attributes; break-glass emergency access marked purposeOfUse BTG and queued for review.
//! Each login (and a right password whose second factor is still due), MFA failure, TOTP
//! enrollment start and completion, lockout, logout, automatic logoff and break-glass step
//! leaves a security AuditEvent (issue "Audit controls" item 1) with its agent, outcome and
//! request id, and no secret.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod oauth;

use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use totp_rs::{Builder, Secret};

use common::app;
use oauth::*;

fn totp_code(secret_b32: &str, at: i64) -> String {
    let secret = Secret::try_from_base32(secret_b32).unwrap();
    Builder::new()
        .with_secret(secret)
        .build()
        .unwrap()
        .generate(at as u64)
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_must_enroll_totp_and_then_pass_it() {
    let app = app().await;
    public_client(&app, "app", "user/*.rs").await;
    user(&app, "root", "admin", None, None).await;
    let clock = app.now.clone();
    let (_, c) = pkce();
    let mut b = Browser::new(&app);
    b.get(&authorize_url("app", "user/*.rs", &c, &[])).await;
    let r = b.login("root", PASSWORD).await;
    assert_eq!(
        location(&r),
        "/auth/totp",
        "enrollment is mandatory for admins"
    );
    assert!(
        events_for(&app, &r, "110122").await.is_empty(),
        "not signed in before the second factor"
    );
    let ev = event_for(&app, &r, "login-pending-mfa", "0", &[PASSWORD]).await;
    assert_eq!(agent_subject(&ev), "root");
    assert_eq!(
        ev["outcomeDesc"],
        "password accepted; second factor pending"
    );
    assert_eq!(ev["type"]["code"], "110114");
    let consent = b.get("/auth/consent").await;
    assert_eq!(
        location(&consent),
        "/auth/mfa",
        "no consent before the second factor"
    );
    let (enroll, csrf) = b.csrf("/auth/totp").await;
    let page = text(&enroll);
    assert!(page.contains("<svg"), "QR code inline");
    assert_eq!(page.matches("<li><code>").count(), 10, "ten recovery codes");
    let secret = scrape(&page, "<code id=\"totp-secret\">").unwrap();
    let recovery = scrape(&page, "<li><code>").unwrap();
    let codes: Vec<String> = page
        .split("<li><code>")
        .skip(1)
        .map(|c| c[..c.find('<').unwrap()].to_owned())
        .collect();
    let mut secrets: Vec<&str> = codes.iter().map(String::as_str).collect();
    secrets.push(&secret);
    let ev = event_for(&app, &enroll, "totp-enrollment-started", "0", &secrets).await;
    assert_eq!(agent_subject(&ev), "root");
    assert_eq!(agent_client(&ev), "app");
    let t0 = clock.load(Ordering::SeqCst);
    let r = b
        .post("/auth/totp", &[("csrf", &csrf), ("code", "000000")])
        .await;
    assert_eq!(r.status, 401);
    assert!(events_for(&app, &r, "totp-enrolled").await.is_empty());
    let ev = event_for(&app, &r, "mfa-failed", "4", &[&secret]).await;
    assert_eq!(agent_subject(&ev), "root");
    assert_eq!(agent_client(&ev), "app");
    assert_eq!(ev["agent"][0]["role"][0]["text"], "admin");
    assert_eq!(agent_user_agent(&ev), USER_AGENT);
    let r = b
        .post(
            "/auth/totp",
            &[("csrf", &csrf), ("code", &totp_code(&secret, t0))],
        )
        .await;
    assert_eq!(location(&r), "/auth/consent", "{}", text(&r));
    let ev = event_for(&app, &r, "110122", "0", &[&secret, PASSWORD]).await;
    assert_eq!(
        agent_subject(&ev),
        "root",
        "signed in once the second factor passed"
    );
    let ev = event_for(&app, &r, "totp-enrolled", "0", &secrets).await;
    assert_eq!(agent_subject(&ev), "root");
    assert_eq!(ev["outcomeDesc"], "TOTP confirmed with its first code");

    // Second login: the MFA page, the same code is refused (same time step), the next works.
    let mut b2 = Browser::new(&app);
    b2.get(&authorize_url("app", "user/*.rs", &c, &[])).await;
    let r = b2.login("root", PASSWORD).await;
    assert_eq!(location(&r), "/auth/mfa");
    event_for(&app, &r, "login-pending-mfa", "0", &[PASSWORD]).await;
    let again = b2.get("/auth/totp").await;
    assert_eq!(again.status, 400, "enrolled once: {}", text(&again));
    let ev = event_for(&app, &again, "totp-enrollment-started", "4", &[]).await;
    assert_eq!(ev["outcomeDesc"], "invalid_request");
    let (_, csrf) = b2.csrf("/auth/mfa").await;
    let r = b2
        .post(
            "/auth/mfa",
            &[("csrf", &csrf), ("code", &totp_code(&secret, t0))],
        )
        .await;
    assert_eq!(r.status, 401, "a code is accepted once");
    clock.fetch_add(30, Ordering::SeqCst);
    let r = b2
        .post(
            "/auth/mfa",
            &[("csrf", &csrf), ("code", &totp_code(&secret, t0 + 30))],
        )
        .await;
    assert_eq!(location(&r), "/auth/consent");
    event_for(&app, &r, "110122", "0", &[&secret]).await;
    assert!(
        events_for(&app, &r, "totp-enrolled").await.is_empty(),
        "a second factor of an enrolled user is no enrollment"
    );

    // A recovery code works once.
    let mut b3 = Browser::new(&app);
    b3.get(&authorize_url("app", "user/*.rs", &c, &[])).await;
    b3.login("root", PASSWORD).await;
    let (_, csrf) = b3.csrf("/auth/mfa").await;
    let r = b3
        .post("/auth/mfa", &[("csrf", &csrf), ("code", &recovery)])
        .await;
    assert_eq!(location(&r), "/auth/consent");
    let mut b4 = Browser::new(&app);
    b4.get(&authorize_url("app", "user/*.rs", &c, &[])).await;
    b4.login("root", PASSWORD).await;
    let (_, csrf) = b4.csrf("/auth/mfa").await;
    assert_eq!(
        b4.post("/auth/mfa", &[("csrf", &csrf), ("code", &recovery)])
            .await
            .status,
        401
    );
}

/// Fail closed on the second factor: a passing TOTP code whose record cannot be written
/// answers 503 and ends the session, so nobody is left signed in without the record.
#[tokio::test(flavor = "multi_thread")]
async fn an_unrecorded_second_factor_signs_nobody_in() {
    let Some((app, trail)) = common::app_with_lockable_trail().await else {
        eprintln!("skipped: needs the SQLite backend");
        return;
    };
    public_client(&app, "app", "user/*.rs").await;
    user(&app, "root", "admin", None, None).await;
    let (_, c) = pkce();
    let mut b = Browser::new(&app);
    b.get(&authorize_url("app", "user/*.rs", &c, &[])).await;
    let r = b.login("root", PASSWORD).await;
    assert_eq!(location(&r), "/auth/totp");
    let (page, csrf) = b.csrf("/auth/totp").await;
    let secret = scrape(&text(&page), "<code id=\"totp-secret\">").unwrap();
    let code = totp_code(&secret, app.now.load(Ordering::SeqCst));
    let held = trail.hold_trail_lock().await.unwrap();
    let r = b
        .post("/auth/totp", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!(r.status, 503, "{}", text(&r));
    assert!(r.header("location").is_none(), "not sent on to consent");
    drop(held);
    let r = b.get("/auth/consent").await;
    assert_eq!(r.status, 401, "the session was ended: {}", text(&r));
}

#[tokio::test(flavor = "multi_thread")]
async fn lockout_per_account_and_address_without_revealing_users() {
    let app = app().await;
    user(&app, "doc", "clinician", None, None).await;
    let mut b = Browser::new(&app);
    let unknown = b.login("nobody", "whatever password").await;
    let wrong = b.login("doc", "wrong password!!").await;
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.status, 401);
    let secrets = ["whatever password", "wrong password!!", PASSWORD];
    let ev = event_for(&app, &unknown, "login-failed", "4", &secrets).await;
    assert_eq!(agent_subject(&ev), "nobody", "the name tried is recorded");
    assert_eq!(ev["type"]["code"], "110114");
    assert_eq!(agent_user_agent(&ev), USER_AGENT);
    let ev = event_for(&app, &wrong, "login-failed", "4", &secrets).await;
    assert_eq!(agent_subject(&ev), "doc");
    assert!(
        events_for(&app, &wrong, "lockout").await.is_empty(),
        "not locked yet"
    );
    let msg = |r: &common::Resp| scrape(&text(r), "id=\"error\">").unwrap();
    assert_eq!(
        msg(&unknown),
        msg(&wrong),
        "same message for unknown users and wrong passwords"
    );
    for _ in 0..2 {
        b.login("doc", "wrong password!!").await;
    }
    let fifth = b.login("doc", "wrong password!!").await;
    event_for(&app, &fifth, "login-failed", "4", &secrets).await;
    let ev = event_for(&app, &fifth, "lockout", "4", &secrets).await;
    assert_eq!(
        agent_subject(&ev),
        "doc",
        "the failure that engaged the lock"
    );
    assert_eq!(ev["type"]["code"], "110113", "a security alert");
    let r = b.login("doc", PASSWORD).await;
    assert_eq!(
        r.status, 429,
        "locked after five failures, even with the right password"
    );
    assert!(msg(&r).contains("Too many"));
    let ev = event_for(&app, &r, "lockout", "4", &secrets).await;
    assert_eq!(ev["outcomeDesc"], "attempt refused while locked");
    assert!(events_for(&app, &r, "110122").await.is_empty());
    let r = b.login("nobody", "x").await;
    assert_eq!(r.status, 429, "an unknown name locks the same way");
    app.now.fetch_add(16 * 60, Ordering::SeqCst);
    let r = b.login("doc", PASSWORD).await;
    assert_eq!(r.status, 200, "the window passed: {}", text(&r));
    let ev = event_for(&app, &r, "110122", "0", &secrets).await;
    assert_eq!(agent_subject(&ev), "doc");
    assert_eq!(ev["agent"][0]["role"][0]["text"], "clinician");

    // Backoff: five more failures after the first lock double the window for the address.
    for _ in 0..5 {
        b.login("someone", "wrong password!!").await;
    }
    app.now.fetch_add(16 * 60, Ordering::SeqCst);
    let r = b.login("doc", PASSWORD).await;
    assert_eq!(r.status, 429, "the second lock lasts 30 minutes");
    app.now.fetch_add(15 * 60, Ordering::SeqCst);
    let r = b.login("doc", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", text(&r));
}

/// Per-account lockout is not reset by the right password alone: with a second factor still
/// due, the failures stay, and a wrong code adds to them. Every attempt comes from another
/// address, so only the account counter can lock.
#[tokio::test(flavor = "multi_thread")]
async fn the_password_alone_does_not_reset_the_account_lockout() {
    let app = app().await;
    user(&app, "root", "admin", None, None).await;
    for i in 0..4 {
        let mut b = Browser::from_ip(&app, &format!("192.0.2.{}", i + 1));
        assert_eq!(b.login("root", "wrong password!!").await.status, 401);
    }
    let mut b = Browser::from_ip(&app, "192.0.2.10");
    let r = b.login("root", PASSWORD).await;
    assert_eq!(location(&r), "/auth/totp", "password right, TOTP still due");
    let (_, csrf) = b.csrf("/auth/totp").await;
    let r = b
        .post("/auth/totp", &[("csrf", &csrf), ("code", "000000")])
        .await;
    assert_eq!(r.status, 401, "the fifth failure of the account");
    let mut b = Browser::from_ip(&app, "192.0.2.20");
    let r = b.login("root", PASSWORD).await;
    assert_eq!(r.status, 429, "locked: {}", text(&r));
    // other accounts from a fresh address are not affected
    user(&app, "doc", "clinician", None, None).await;
    let mut b = Browser::from_ip(&app, "192.0.2.30");
    assert_eq!(b.login("doc", PASSWORD).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_time_out_and_forms_need_csrf() {
    let app = app().await;
    public_client(&app, "app", "user/*.rs").await;
    user(&app, "doc", "clinician", None, None).await;
    let (_, c) = pkce();
    let mut b = Browser::new(&app);
    let r = b.get(&authorize_url("app", "user/*.rs", &c, &[])).await;
    let cookie = r.header("set-cookie").unwrap().to_owned();
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/auth"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let (page, csrf) = b.csrf("/auth/login").await;
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    assert!(
        !text(&page).contains("http://") && !text(&page).contains("https://"),
        "no external assets"
    );
    let r = b
        .post(
            "/auth/login",
            &[
                ("csrf", "forged"),
                ("username", "doc"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "CSRF token checked");
    let r = b
        .post(
            "/auth/login",
            &[("csrf", &csrf), ("username", "doc"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(location(&r), "/auth/consent");
    assert_ne!(
        r.header("set-cookie").unwrap(),
        cookie,
        "session re-keyed at login"
    );
    app.now.fetch_add(14 * 60, Ordering::SeqCst);
    assert_eq!(
        b.get("/auth/consent").await.status,
        200,
        "activity within the idle timeout"
    );
    app.now.fetch_add(16 * 60, Ordering::SeqCst);
    let r = b.get("/auth/consent").await;
    assert_eq!(r.status, 401, "automatic logoff after 15 idle minutes");
    assert!(text(&r).contains("session has ended"));
    let ev = event_for(&app, &r, "session-expired", "0", &[]).await;
    assert_eq!(ev["outcomeDesc"], "automatic logoff: idle timeout");
    assert_eq!(
        (agent_subject(&ev), agent_client(&ev)),
        ("doc", "app"),
        "the user and the app of the pending request"
    );
    assert_eq!(ev["type"]["code"], "110114");
    let r = b.get("/auth/consent").await;
    assert_eq!(r.status, 401);
    assert!(
        events_for(&app, &r, "session-expired").await.is_empty(),
        "recorded once"
    );

    // Absolute timeout: an always-active session still ends after 8 hours.
    let mut b = Browser::new(&app);
    b.get(&authorize_url("app", "user/*.rs", &c, &[])).await;
    b.login("doc", PASSWORD).await;
    let mut anonymous = Browser::new(&app);
    anonymous.get("/auth/login").await;
    for _ in 0..47 {
        app.now.fetch_add(10 * 60, Ordering::SeqCst);
        assert_eq!(b.get("/auth/consent").await.status, 200);
    }
    app.now.fetch_add(11 * 60, Ordering::SeqCst);
    let r = b.get("/auth/consent").await;
    assert_eq!(r.status, 401, "absolute timeout");
    let ev = event_for(&app, &r, "session-expired", "0", &[]).await;
    assert_eq!(ev["outcomeDesc"], "automatic logoff: absolute timeout");
    assert_eq!(agent_subject(&ev), "doc");
    let r = anonymous.get("/auth/login").await;
    assert_eq!(r.status, 200);
    assert!(
        events_for(&app, &r, "session-expired").await.is_empty(),
        "nobody had signed in to that session: no logoff to record"
    );
}

/// Signs "doc" in through the pages and redeems an `online_access` grant: the browser (with
/// its CSRF token), the refresh token, and the token response.
async fn online_access_grant(app: &common::TestApp) -> (Browser<'_>, String, String, common::Resp) {
    seed(app, &[json!({"resourceType": "Patient", "id": "p1"})]).await;
    public_client(app, "app", "user/*.rs online_access").await;
    user(app, "doc", "clinician", None, None).await;
    let (v, c) = pkce();
    let mut b = Browser::new(app);
    b.get(&authorize_url("app", "user/*.rs online_access", &c, &[]))
        .await;
    b.login("doc", PASSWORD).await;
    // (the consent page's CSRF token is the session's, which the caller needs later)
    let (_, csrf) = b.csrf("/auth/consent").await;
    let r = b
        .post(
            "/auth/consent",
            &[
                ("csrf", &csrf),
                ("decision", "allow"),
                ("scope", "user/*.rs"),
                ("scope", "online_access"),
            ],
        )
        .await;
    let code = query_param(&location(&r), "code").unwrap();
    let issued = token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &v),
            ("client_id", "app"),
        ],
        None,
    )
    .await;
    let t = issued.json();
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let at = t["access_token"].as_str().unwrap();
    let ev = event_for(app, &issued, "token-issued", "0", &[&code, &rt, at]).await;
    assert_eq!(agent_client(&ev), "app");
    (b, csrf, rt, issued)
}

async fn refresh(app: &common::TestApp, rt: &str) -> common::Resp {
    token_request(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "app"),
        ],
        None,
    )
    .await
}

/// Automatic logoff reaches `online_access`: refreshes keep the session alive, but once
/// neither the pages nor a refresh touched it for the idle timeout plus one access-token
/// lifetime, the refresh is refused; the absolute timeout ends it regardless.
#[tokio::test(flavor = "multi_thread")]
async fn online_access_ends_with_the_idle_and_absolute_timeouts() {
    let app = app().await;
    let (_b, _csrf, rt, _) = online_access_grant(&app).await;
    // refreshing every 14 minutes keeps it going past the 15-minute idle timeout
    let mut rt = rt;
    for _ in 0..3 {
        app.now.fetch_add(14 * 60, Ordering::SeqCst);
        let r = refresh(&app, &rt).await;
        assert_eq!(r.status, 200, "{}", text(&r));
        rt = r.json()["refresh_token"].as_str().unwrap().to_owned();
    }
    // idle for 15 + 15 minutes and a second: ended
    app.now.fetch_add(30 * 60 + 1, Ordering::SeqCst);
    let r = refresh(&app, &rt).await;
    assert_eq!(r.json()["error"], "invalid_grant", "{}", text(&r));

    let app = crate::app().await;
    let (_b, _csrf, mut rt, _) = online_access_grant(&app).await;
    for i in 1..=40 {
        app.now.fetch_add(14 * 60, Ordering::SeqCst);
        let r = refresh(&app, &rt).await;
        if r.status != 200 {
            assert_eq!(r.json()["error"], "invalid_grant");
            assert_eq!(
                i, 35,
                "refused first past 8 hours (34 × 14 min = 7 h 56 min)"
            );
            return;
        }
        rt = r.json()["refresh_token"].as_str().unwrap().to_owned();
    }
    panic!("the 8-hour absolute timeout never ended the online_access grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_the_session_and_online_access() {
    let app = app().await;
    let (mut b, csrf, rt, _) = online_access_grant(&app).await;
    let r = b.post("/auth/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let ev = event_for(&app, &r, "110123", "0", &[]).await;
    assert_eq!(agent_subject(&ev), "doc");
    let r = refresh(&app, &rt).await;
    assert_eq!(
        r.json()["error"],
        "invalid_grant",
        "online_access ends with the login session"
    );
    let ev = event_for(&app, &r, "token-refreshed", "4", &[&rt]).await;
    assert_eq!(ev["outcomeDesc"], "invalid_grant");
    assert_eq!(agent_client(&ev), "app", "the client presented");
}

#[tokio::test(flavor = "multi_thread")]
async fn break_glass_marks_tokens_and_waits_for_review() {
    let app = app().await;
    seed(&app, &[json!({"resourceType": "Patient", "id": "p1"})]).await;
    public_client(&app, "app", "user/*.rs").await;
    app.auth
        .add_user(
            ward_auth::oauth::NewUser {
                username: "er".into(),
                role: "clinician".into(),
                password: PASSWORD.into(),
                break_glass: true,
                ..Default::default()
            },
            common::now(),
        )
        .await
        .unwrap();
    user(&app, "plain", "clinician", None, None).await;
    let mut p = Browser::new(&app);
    p.login("plain", PASSWORD).await;
    let (_, csrf) = p.csrf("/auth/break-glass").await;
    let r = p
        .post(
            "/auth/break-glass",
            &[
                ("csrf", &csrf),
                ("reason", "patient unconscious in ER"),
                ("minutes", "30"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "needs the permission");
    let reason = "patient unconscious in ER";
    let ev = event_for(&app, &r, "break-glass-opened", "4", &[reason]).await;
    assert_eq!(agent_subject(&ev), "plain");
    assert_eq!(ev["outcomeDesc"], "access_denied");
    assert_eq!(purposes(&ev), ["BTG"]);

    let mut b = Browser::new(&app);
    b.login("er", PASSWORD).await;
    let (_, csrf) = b.csrf("/auth/break-glass").await;
    let r = b
        .post(
            "/auth/break-glass",
            &[("csrf", &csrf), ("reason", "short"), ("minutes", "30")],
        )
        .await;
    assert_eq!(r.status, 400, "a real reason is required");
    let r = b
        .post(
            "/auth/break-glass",
            &[
                ("csrf", &csrf),
                ("reason", "patient unconscious in ER"),
                ("minutes", "9999"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(text(&r).contains("240 minutes"), "capped: {}", text(&r));
    let ev = event_for(&app, &r, "break-glass-opened", "0", &[reason]).await;
    assert_eq!(agent_subject(&ev), "er");
    assert_eq!(purposes(&ev), ["BTG"]);
    assert_eq!(
        ev["agent"][0]["purposeOfUse"][0]["coding"][0]["code"],
        "BTG"
    );
    let (v, c) = pkce();
    let r = b.get(&authorize_url("app", "user/*.rs", &c, &[])).await;
    assert_eq!(
        location(&r),
        "/auth/consent",
        "single sign-on within the session"
    );
    let (page, csrf) = b.csrf("/auth/consent").await;
    assert!(text(&page).contains("Emergency access is open"));
    let r = b
        .post(
            "/auth/consent",
            &[
                ("csrf", &csrf),
                ("decision", "allow"),
                ("scope", "user/*.rs"),
            ],
        )
        .await;
    let code = query_param(&location(&r), "code").unwrap();
    let issued = token_request(
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
    .await;
    let t = issued.json();
    let at = t["access_token"].as_str().unwrap();
    let ev = event_for(&app, &issued, "token-issued", "0", &[at, &code]).await;
    assert_eq!(purposes(&ev), ["BTG"], "a break-glass token");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(at.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["purposeOfUse"], "BTG");
    assert_eq!(fhir_get(&app, "/fhir/Patient/p1", at).await.status, 200);

    let admin = |method: &str, path: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", app.token))
            .body(Body::empty())
            .unwrap()
    };
    let queue = app
        .send(admin("GET", "/auth/admin/break-glass"))
        .await
        .json();
    assert_eq!(queue.as_array().unwrap().len(), 1);
    assert_eq!(queue[0]["user"], "er");
    assert_eq!(queue[0]["reason"], "patient unconscious in ER");
    let id = queue[0]["id"].as_str().unwrap();
    let r = app
        .send(admin(
            "POST",
            &format!("/auth/admin/break-glass/{id}/review"),
        ))
        .await;
    assert_eq!(r.status, 200);
    let ev = event_for(&app, &r, "break-glass-reviewed", "0", &[reason]).await;
    assert_eq!(agent_subject(&ev), "tester", "the operator reviewed it");
    assert_eq!(purposes(&ev), ["BTG"]);
    assert!(ev["outcomeDesc"].as_str().unwrap().contains(id));
    assert_eq!(
        app.send(admin("GET", "/auth/admin/break-glass"))
            .await
            .json(),
        json!([])
    );
    assert_eq!(
        app.send(admin("GET", "/auth/admin/break-glass?all=true"))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn direct_sign_in_of_an_auditor_goes_to_enrollment_first() {
    let app = app().await;
    user(&app, "aud", "auditor", None, None).await;
    let mut b = Browser::new(&app);
    let r = b.login("aud", PASSWORD).await;
    assert_eq!(location(&r), "/auth/totp", "MFA is mandatory for auditors");
    let r = b.get("/auth/break-glass").await;
    assert_eq!(
        location(&r),
        "/auth/login",
        "nothing else before the second factor"
    );
}
