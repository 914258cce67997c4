//! The login, MFA, TOTP enrollment, patient picker, logout and break-glass pages,
//! server-rendered with askama (auto-escaped), CSRF-protected, with a page-specific CSP, and
//! the session helpers the pages share (a timed-out session is recorded as an automatic
//! logoff). Each handler loads the session, calls the authorization server once and renders
//! or redirects.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use ward_audit::{Actor, SecurityEvent};
use ward_auth::oauth::{
    AuthRequest, LoginOutcome, NextStep, OAuthError, SessionCheck, SessionTimeout,
};
use ward_store::auth::SessionRecord;

use super::audit::{self, Attempt, Caller, Event, Reply};
use super::web::{check_csrf, cookie, form, html, see_other, set_cookie};
use crate::AppState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    error: &'a str,
    csrf: &'a str,
    client: &'a str,
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage<'a> {
    error: &'a str,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollPage<'a> {
    error: &'a str,
    csrf: &'a str,
    qr_svg: &'a str,
    secret: &'a str,
    recovery_codes: &'a [String],
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage<'a> {
    error: &'a str,
    csrf: &'a str,
    client: &'a str,
    /// The name searched for, and what it found (id, display name, birth date).
    query: &'a str,
    found: &'a [PickRow],
    searched: bool,
}

/// One row of the patient picker's results.
pub(crate) struct PickRow {
    pub id: String,
    pub name: String,
    pub birth_date: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    pub error: &'a str,
    pub heading: &'a str,
    pub message: &'a str,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "break_glass.html")]
struct BreakGlassPage<'a> {
    error: &'a str,
    csrf: &'a str,
    max_minutes: i64,
}

pub(super) fn render(status: StatusCode, t: &impl Template, form_target: Option<&str>) -> Response {
    match t.render() {
        Ok(body) => html(status, body, form_target),
        Err(_) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            "<!doctype html><title>Error</title><p>An internal error occurred.</p>".into(),
            None,
        ),
    }
}

/// A page that only states a message (errors, "signed out").
pub(crate) fn message(status: StatusCode, heading: &str, text: &str, csrf: &str) -> Response {
    let page = MessagePage {
        error: "",
        heading,
        message: text,
        csrf,
    };
    render(status, &page, None)
}

pub(super) fn failure(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    message(status, "The request cannot continue", &e.description, "")
}

/// The live session named by the request's cookie, if any. A session found timed out has just
/// been ended (automatic logoff); if somebody had signed in to it, that is recorded first
/// (`session-expired`), and when it cannot be, the answer is the 503 page.
pub(super) async fn cookie_session(
    app: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<Option<SessionRecord>, Response> {
    let Some(c) = cookie(headers) else {
        return Ok(None);
    };
    match app.auth.load_session(&c, (app.now)()).await {
        Ok(SessionCheck::Live(s)) => Ok(Some(s)),
        Ok(SessionCheck::Expired(s, t)) if s.user_id.is_some() => {
            let desc = match t {
                SessionTimeout::Idle => "automatic logoff: idle timeout",
                SessionTimeout::Absolute => "automatic logoff: absolute timeout",
            };
            let (who, _) = session_actor(app, &s).await;
            let ev = Event::ok(SecurityEvent::SessionExpired, who).desc(desc.into());
            audit::record(app, caller, ev).await.map_err(|u| u.page())?;
            Ok(None)
        }
        Ok(SessionCheck::Expired(..) | SessionCheck::Unknown) => Ok(None),
        Err(e) => Err(failure(&e)),
    }
}

/// The live session named by the request's cookie, or the "session has ended" page.
pub(super) async fn session(
    app: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
) -> Result<SessionRecord, Response> {
    cookie_session(app, caller, headers).await?.ok_or_else(|| {
        message(
            StatusCode::UNAUTHORIZED,
            "Your session has ended",
            "You were signed out after a period of inactivity, or the session expired. Go back to the app and start again.",
            "",
        )
    })
}

pub(super) fn pending(s: &SessionRecord) -> Option<AuthRequest> {
    s.pending
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
}

/// The session's user as an audit actor (with the app of the pending request), and the user
/// name; the default actor when nobody is signed in.
pub(super) async fn session_actor(app: &AppState, s: &SessionRecord) -> (Actor, String) {
    let client = pending(s).map(|r| r.client_id);
    match app.auth.session_user(s).await {
        Ok(Some(u)) => (audit::of_user(&u, client.as_deref()), u.username),
        _ => (audit::claimed(None, client.as_deref()), String::new()),
    }
}

fn step_url(step: &NextStep) -> &'static str {
    match step {
        NextStep::Login => "/auth/login",
        NextStep::Mfa => "/auth/mfa",
        NextStep::EnrollTotp => "/auth/totp",
        NextStep::PickPatient => "/auth/patient",
        NextStep::Consent => "/auth/consent",
    }
}

/// Where a session goes next: the pending request's next page, or the signed-in page.
pub(super) async fn advance(app: &AppState, s: &SessionRecord) -> Response {
    let Some(req) = pending(s) else {
        return match app.auth.session_user(s).await {
            Ok(Some(u)) if !s.mfa_done && u.totp_confirmed => see_other("/auth/mfa"),
            Ok(Some(_)) if !s.mfa_done => see_other("/auth/totp"),
            Ok(Some(_)) => message(
                StatusCode::OK,
                "Signed in",
                "You are signed in to Ward.",
                &s.csrf,
            ),
            Ok(None) => see_other("/auth/login"),
            Err(e) => failure(&e),
        };
    };
    match app.auth.next_step(s, &req).await {
        Ok(NextStep::Mfa) if s.user_id.is_some() && !s.mfa_done => see_other("/auth/mfa"),
        Ok(step) => see_other(step_url(&step)),
        Err(e) => failure(&e),
    }
}

/// `GET /auth/login`.
pub(crate) async fn login_get(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    let now = (app.now)();
    let existing = match cookie_session(&app, &caller, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (s, new_cookie) = match existing {
        Some(s) => (s, None),
        None => match app.auth.new_session(now).await {
            Ok(v) => (v.record, Some(v.cookie)),
            Err(e) => return failure(&e),
        },
    };
    let client = pending(&s).map(|r| r.client_id).unwrap_or_default();
    let page = LoginPage {
        error: "",
        csrf: &s.csrf,
        client: &client,
    };
    let mut r = render(StatusCode::OK, &page, None);
    if let Some(c) = new_cookie {
        set_cookie(&mut r, &c, app.auth.settings().session_absolute);
    }
    r
}

#[derive(Deserialize)]
struct LoginForm {
    csrf: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /auth/login`.
pub(crate) async fn login_post(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match session(&app, &caller, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f: LoginForm = match form(&body) {
        Ok(f) => f,
        Err(e) => return failure(&e),
    };
    if let Err(e) = check_csrf(&s, f.csrf.as_deref()) {
        return failure(&e);
    }
    let now = (app.now)();
    let username = f.username.trim();
    let outcome = app
        .auth
        .login(&s, username, &f.password, &caller.addr, now)
        .await;
    let client = pending(&s).map(|r| r.client_id).unwrap_or_default();
    if let Ok(o) = &outcome {
        let who = match o {
            LoginOutcome::Ok(v) => session_actor(&app, &v.record).await.0,
            _ => audit::claimed(Some(username), Some(client.as_str())),
        };
        let failed = SecurityEvent::LoginFailed;
        let a = Attempt {
            failed,
            outcome: o,
            who,
            username,
        };
        if let Err(u) = audit::attempt(&app, &caller, a).await {
            return u.page();
        }
    }
    let retry = |status, error: &str| {
        let page = LoginPage {
            error,
            csrf: &s.csrf,
            client: &client,
        };
        render(status, &page, None)
    };
    match outcome {
        Ok(LoginOutcome::Ok(view)) => {
            let mut r = advance(&app, &view.record).await;
            set_cookie(&mut r, &view.cookie, app.auth.settings().session_absolute);
            r
        }
        Ok(LoginOutcome::Failed) => retry(
            StatusCode::UNAUTHORIZED,
            "The user name or password is not right.",
        ),
        Ok(LoginOutcome::Locked) => retry(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes and try again.",
        ),
        Err(e) => failure(&e),
    }
}

/// `GET /auth/mfa`.
pub(crate) async fn mfa_get(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    match session(&app, &caller, &headers).await {
        Ok(s) if s.user_id.is_some() => render(
            StatusCode::OK,
            &MfaPage {
                error: "",
                csrf: &s.csrf,
            },
            None,
        ),
        Ok(_) => see_other("/auth/login"),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: Option<String>,
    #[serde(default)]
    code: String,
}

/// `POST /auth/mfa` and `POST /auth/totp` (enrollment confirmation, recorded as
/// `totp-enrolled` when its first code passes).
pub(crate) async fn mfa_post(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = match session(&app, &caller, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f: CodeForm = match form(&body) {
        Ok(f) => f,
        Err(e) => return failure(&e),
    };
    if let Err(e) = check_csrf(&s, f.csrf.as_deref()) {
        return failure(&e);
    }
    let now = (app.now)();
    let (who, username) = session_actor(&app, &s).await;
    let enrolling = matches!(app.auth.session_user(&s).await, Ok(Some(u)) if !u.totp_confirmed);
    let outcome = app
        .auth
        .verify_mfa(&mut s, &f.code, &caller.addr, now)
        .await;
    if let Ok(o) = &outcome {
        let a = Attempt {
            failed: SecurityEvent::MfaFailed,
            outcome: o,
            who,
            username: &username,
        };
        if let Err(u) = second_factor_recorded(&app, &caller, &s, a, enrolling).await {
            return u.page();
        }
    }
    let (status, error) = match outcome {
        Ok(LoginOutcome::Ok(_)) => return advance(&app, &s).await,
        Ok(LoginOutcome::Failed) => (
            StatusCode::UNAUTHORIZED,
            "That code is not right. Try the next one your app shows.",
        ),
        Ok(LoginOutcome::Locked) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes and try again.",
        ),
        Err(e) => return failure(&e),
    };
    let page = MfaPage {
        error,
        csrf: &s.csrf,
    };
    render(status, &page, None)
}

/// Records a second-factor attempt, and the enrollment a passing one completes. A passing one
/// that cannot be recorded ends the session (its second factor was already marked done), so
/// nobody is signed in without the record.
async fn second_factor_recorded(
    app: &AppState,
    caller: &Caller,
    s: &SessionRecord,
    a: Attempt<'_>,
    enrolling: bool,
) -> Result<(), audit::Unrecorded> {
    let passed = matches!(a.outcome, LoginOutcome::Ok(_));
    let mut recorded = Ok(());
    if enrolling && passed {
        let ev = Event::ok(SecurityEvent::TotpEnrolled, a.who.clone())
            .desc("TOTP confirmed with its first code".into());
        recorded = audit::record(app, caller, ev).await;
    }
    if recorded.is_ok() {
        recorded = audit::attempt(app, caller, a).await;
    }
    if recorded.is_err()
        && passed
        && let Err(e) = app.auth.store().delete_session(&s.id_hash).await
    {
        tracing::error!(code = e.code(), "an unrecorded sign-in could not be ended");
    }
    recorded
}

/// `GET /auth/totp`: starts enrollment and shows the QR code and recovery codes once — only
/// once the start is recorded (`totp-enrollment-started`; never the secret or the codes).
pub(crate) async fn totp_get(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    let s = match session(&app, &caller, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (who, _) = session_actor(&app, &s).await;
    let started = app.auth.begin_enrollment(&s).await;
    let ev = Event::result(SecurityEvent::TotpEnrollmentStarted, who, &started, |_| {
        "TOTP secret and recovery codes issued".into()
    });
    let resp = match started {
        Ok(en) => {
            let page = EnrollPage {
                error: "",
                csrf: &s.csrf,
                qr_svg: &en.qr_svg,
                secret: &en.secret_base32,
                recovery_codes: &en.recovery_codes,
            };
            render(StatusCode::OK, &page, None)
        }
        Err(e) => failure(&e),
    };
    audit::guard(&app, &caller, ev, Reply::Page, resp).await
}

#[derive(Deserialize)]
struct PatientForm {
    csrf: Option<String>,
    #[serde(default)]
    patient: String,
}

#[derive(Deserialize)]
pub(crate) struct PickQuery {
    #[serde(default)]
    name: String,
}

/// `GET /auth/patient[?name=…]`: the picker, with a search by name run as the signed-in user
/// (so it is authorized and audited like any other search).
pub(crate) async fn patient_get(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    source: super::SourceAddr,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let s = match session(&app, &caller, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(q) = serde_urlencoded::from_str::<PickQuery>(raw.as_deref().unwrap_or("")) else {
        return failure(&OAuthError::invalid_request(
            "the search is malformed (one name, URL-encoded)",
        ));
    };
    let client = pending(&s).map(|r| r.client_id).unwrap_or_default();
    let query = q.name.trim();
    let (found, error) = if query.is_empty() {
        (Vec::new(), "")
    } else {
        match app.auth.session_user(&s).await {
            Ok(Some(user)) => match super::picker::search(&app, &user, query, &source.0).await {
                Ok(rows) => (rows, ""),
                Err(_) => (Vec::new(), "The search could not be run."),
            },
            _ => return see_other("/auth/login"),
        }
    };
    let page = PatientPage {
        error,
        csrf: &s.csrf,
        client: &client,
        query,
        found: &found,
        searched: !query.is_empty(),
    };
    render(StatusCode::OK, &page, None)
}

/// `POST /auth/patient`.
pub(crate) async fn patient_post(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    source: super::SourceAddr,
    body: Bytes,
) -> Response {
    let mut s = match session(&app, &caller, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f: PatientForm = match form(&body) {
        Ok(f) => f,
        Err(e) => return failure(&e),
    };
    if let Err(e) = check_csrf(&s, f.csrf.as_deref()) {
        return failure(&e);
    }
    let id = f.patient.trim().trim_start_matches("Patient/");
    let Some(mut req) = pending(&s) else {
        return see_other("/auth/login");
    };
    if !ward_core::valid_id(id) {
        let client = req.client_id.clone();
        let page = PatientPage {
            error: "That is not a valid patient id.",
            csrf: &s.csrf,
            client: &client,
            query: "",
            found: &[],
            searched: false,
        };
        return render(StatusCode::BAD_REQUEST, &page, None);
    }
    let known = match app.auth.session_user(&s).await {
        Ok(Some(user)) => super::picker::exists(&app, &user, id, &source.0).await,
        _ => return see_other("/auth/login"),
    };
    if !matches!(known, Ok(true)) {
        let client = req.client_id.clone();
        let page = PatientPage {
            error: "No patient with that id can be opened.",
            csrf: &s.csrf,
            client: &client,
            query: "",
            found: &[],
            searched: false,
        };
        return render(StatusCode::BAD_REQUEST, &page, None);
    }
    req.picked_patient = Some(id.to_owned());
    s.pending = serde_json::to_string(&req).ok();
    if let Err(e) = app.auth.save_session(&s).await {
        return failure(&e);
    }
    advance(&app, &s).await
}

/// `POST /auth/logout`: the session ends even when the logout cannot be recorded (the caller
/// is then told so with 503).
pub(crate) async fn logout(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match session(&app, &caller, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f: CodeForm = match form(&body) {
        Ok(f) => f,
        Err(e) => return failure(&e),
    };
    if let Err(e) = check_csrf(&s, f.csrf.as_deref()) {
        return failure(&e);
    }
    let (who, _) = session_actor(&app, &s).await;
    if let Some(c) = cookie(&headers)
        && let Err(e) = app.auth.end_session(&c).await
    {
        return failure(&e);
    }
    let mut r = message(
        StatusCode::OK,
        "Signed out",
        "You have signed out of Ward.",
        "",
    );
    set_cookie(&mut r, "", 0);
    let ev = Event::ok(SecurityEvent::Logout, who);
    audit::guard(&app, &caller, ev, Reply::Page, r).await
}

/// `GET /auth/break-glass`.
pub(crate) async fn break_glass_get(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    match session(&app, &caller, &headers).await {
        Ok(s) if s.mfa_done && s.user_id.is_some() => {
            let page = BreakGlassPage {
                error: "",
                csrf: &s.csrf,
                max_minutes: app.auth.settings().break_glass_max / 60,
            };
            render(StatusCode::OK, &page, None)
        }
        Ok(_) => see_other("/auth/login"),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct BreakGlassForm {
    csrf: Option<String>,
    #[serde(default)]
    reason: String,
    minutes: Option<i64>,
}

/// `POST /auth/break-glass`. Every attempt is recorded (purposeOfUse BTG); a grant whose
/// opening cannot be recorded is closed again and the caller gets 503.
pub(crate) async fn break_glass_post(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match session(&app, &caller, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let f: BreakGlassForm = match form(&body) {
        Ok(f) => f,
        Err(e) => return failure(&e),
    };
    if let Err(e) = check_csrf(&s, f.csrf.as_deref()) {
        return failure(&e);
    }
    let (who, _) = session_actor(&app, &s).await;
    let opened = app
        .auth
        .open_break_glass(&s, &f.reason, f.minutes, (app.now)())
        .await;
    let ev = Event::result(SecurityEvent::BreakGlassOpened, who, &opened, |g| {
        format!("grant {} for {} minutes", g.id, (g.expires - g.opened) / 60)
    });
    if let Err(u) = audit::record(&app, &caller, ev.btg()).await {
        if let Ok(mut g) = opened {
            g.expires = g.opened;
            let _ = app.auth.store().put_break_glass(&g).await;
        }
        return u.page();
    }
    match opened {
        Ok(g) => {
            let until = g.expires - g.opened;
            let text = format!(
                "Emergency access is open for {} minutes. It will be reviewed.",
                until / 60
            );
            match pending(&s) {
                Some(_) => advance(&app, &s).await,
                None => message(StatusCode::OK, "Emergency access open", &text, &s.csrf),
            }
        }
        Err(e) => failure(&e),
    }
}
