//! `/auth/authorize` and the consent page: the authorization request (validated, kept in the
//! login session) and the user's answer to it. Both are recorded — the request accepted or
//! refused (`authorization-request`), the answer allowed or denied (`consent-decision`) —
//! with the client and scopes, never the state, PKCE challenge, nonce, launch id or code.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ward_audit::SecurityEvent;
use ward_auth::oauth::{
    AuthRequest, AuthorizeFailure, AuthorizeParams, ConsentItem, OAuthError, error_redirect,
};

use super::audit::{self, Caller, Event, Reply, clip};
use super::pages::{advance, cookie_session, failure, pending, render, session, session_actor};
use super::web::{check_csrf, form, pairs, see_other, set_cookie};
use crate::AppState;

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    error: &'a str,
    csrf: &'a str,
    client: &'a str,
    patient: &'a str,
    items: &'a [ConsentItem],
    break_glass: bool,
}

/// `GET /auth/authorize`. The query is parsed here rather than by an extractor, so that a
/// repeated parameter (RFC 6749 §3.1: none may appear more than once) or a malformed one gets
/// Ward's error page and is recorded like any other refused request.
pub(crate) async fn authorize_get(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let p =
        serde_urlencoded::from_str::<AuthorizeParams>(q.as_deref().unwrap_or("")).map_err(|_| {
            OAuthError::invalid_request(
                "the request's parameters are malformed (one repeated, or not URL-encoded)",
            )
        });
    authorize(app, caller, headers, p).await
}

/// `POST /auth/authorize` (SMART `authorize-post`).
pub(crate) async fn authorize_post(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    authorize(app, caller, headers, form::<AuthorizeParams>(&body)).await
}

/// What an accepted request asked for: its scopes (as sent, cut to length) and whether it is
/// an EHR launch. Never the state, challenge, nonce or launch id.
fn asked(req: &AuthRequest) -> String {
    let launch = if req.ehr_launch { " (EHR launch)" } else { "" };
    format!("requested scope: {}{launch}", clip(&req.scope))
}

async fn authorize(
    app: AppState,
    caller: Caller,
    headers: HeaderMap,
    p: Result<AuthorizeParams, OAuthError>,
) -> Response {
    let now = (app.now)();
    let kind = SecurityEvent::AuthorizationRequest;
    let client = p.as_ref().ok().and_then(|p| p.client_id.clone());
    let checked = match p {
        Ok(p) => app.auth.validate_authorize(&p, now).await,
        Err(e) => Err(AuthorizeFailure::Show(e)),
    };
    let req = match checked {
        Ok(r) => r,
        Err(f) => {
            let actor = audit::claimed(None, client.as_deref());
            let ev = Event::failed_because(kind, actor, f.error());
            let resp = match f {
                AuthorizeFailure::Show(e) => failure(&e),
                AuthorizeFailure::Redirect { to, .. } => see_other(&to),
            };
            return audit::guard(&app, &caller, ev, Reply::Page, resp).await;
        }
    };
    let existing = match cookie_session(&app, &caller, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (mut s, new_cookie) = match existing {
        Some(s) => (s, None),
        None => match app.auth.new_session(now).await {
            Ok(v) => (v.record, Some(v.cookie)),
            Err(e) => return failure(&e),
        },
    };
    let desc = asked(&req);
    s.pending = serde_json::to_string(&req).ok();
    if let Err(e) = app.auth.save_session(&s).await {
        return failure(&e);
    }
    let (who, _) = session_actor(&app, &s).await;
    let mut r = advance(&app, &s).await;
    if let Some(c) = new_cookie {
        set_cookie(&mut r, &c, app.auth.settings().session_absolute);
    }
    let ev = Event::ok(kind, who).desc(desc);
    audit::guard(&app, &caller, ev, Reply::Page, r).await
}

/// The origin (`scheme://host:port`) of a redirect URI, for the consent page's CSP.
fn origin(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

/// `GET /auth/consent`.
pub(crate) async fn consent_get(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    let s = match session(&app, &caller, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (Some(req), Ok(Some(user))) = (pending(&s), app.auth.session_user(&s).await) else {
        return see_other("/auth/login");
    };
    if !s.mfa_done {
        return see_other("/auth/mfa");
    }
    let items = match app.auth.consent_items(&req, &user).await {
        Ok(i) => i,
        Err(e) => return failure(&e),
    };
    let patient = ward_auth::oauth::AuthServer::patient_context(&req, &user).unwrap_or_default();
    let btg = app
        .auth
        .break_glass_active(&user.id, (app.now)())
        .await
        .unwrap_or(false);
    let page = ConsentPage {
        error: "",
        csrf: &s.csrf,
        client: &req.client_id,
        patient: &patient,
        items: &items,
        break_glass: btg,
    };
    render(StatusCode::OK, &page, origin(&req.redirect_uri).as_deref())
}

/// `POST /auth/consent`: allow (with the ticked scopes) or deny; back to the app either way,
/// once the decision is recorded (otherwise 503, and the code is never handed out).
pub(crate) async fn consent_post(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = match session(&app, &caller, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let fields = match pairs(&body) {
        Ok(f) => f,
        Err(e) => return failure(&e),
    };
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Err(e) = check_csrf(&s, get("csrf")) {
        return failure(&e);
    }
    let Some(req) = pending(&s) else {
        return see_other("/auth/login");
    };
    let (who, _) = session_actor(&app, &s).await;
    s.pending = None;
    if let Err(e) = app.auth.save_session(&s).await {
        return failure(&e);
    }
    let kind = SecurityEvent::ConsentDecision;
    let state = req.state.as_deref();
    let back = |e: &OAuthError| see_other(&error_redirect(&req.redirect_uri, e, state));
    if get("decision") != Some("allow") {
        let resp = back(&OAuthError::access_denied("the user denied access"));
        let ev = Event::refused(kind, who, "denied by the user");
        return audit::guard(&app, &caller, ev, Reply::Page, resp).await;
    }
    let ticked: Vec<String> = fields
        .iter()
        .filter(|(n, _)| n == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let approved = app.auth.approve(&s, &req, &ticked, (app.now)()).await;
    let (ev, resp) = match approved {
        Ok(a) => {
            let ev = Event::ok(kind, who)
                .desc(clip(&format!("allowed scope: {}", a.scope)))
                .about(a.patient.into_iter().collect(), Vec::new());
            (ev, see_other(&a.redirect))
        }
        Err(e) => (Event::failed(kind, who, &e), back(&e)),
    };
    audit::guard(&app, &caller, ev, Reply::Page, resp).await
}
