//! The machine endpoints: `/auth/token`, `/auth/introspect`, `/auth/revoke`, `/auth/userinfo`,
//! `/auth/jwks` and the discovery documents. Each extracts, calls the authorization server
//! once and maps the answer.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ward_audit::SecurityEvent;
use ward_auth::Principal;
use ward_auth::oauth::{
    ClientCredentials, OAuthError, TokenRequest, openid_configuration, smart_configuration,
    userinfo,
};

use super::audit::{self, Caller, Event, Reply};
use super::web::{form, json_no_store, oauth_error, pairs};
use crate::AppState;

/// Decodes `Authorization: Basic` (RFC 6749 §2.3.1: id and secret are form-encoded).
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}

/// Client credentials from the header and the form; repeated parameters are refused.
fn credentials(headers: &HeaderMap, body: &Bytes) -> Result<ClientCredentials, OAuthError> {
    let fields = pairs(body)?;
    for (i, (k, _)) in fields.iter().enumerate() {
        if fields.iter().skip(i + 1).any(|(k2, _)| k2 == k) {
            return Err(OAuthError::invalid_request("a parameter is repeated"));
        }
    }
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Ok(ClientCredentials {
        basic: basic(headers),
        client_id: get("client_id"),
        client_assertion_type: get("client_assertion_type"),
        client_assertion: get("client_assertion"),
    })
}

/// The client a request names: its Basic id, `client_id`, or the (unverified) issuer of its
/// assertion — for the audit record; authentication decides whether it is true.
fn presented_client(c: &ClientCredentials) -> Option<String> {
    let issuer = |jwt: &str| {
        let claims = URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1)?).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&claims).ok()?;
        v.get("iss")?.as_str().map(str::to_owned)
    };
    c.basic
        .as_ref()
        .map(|(id, _)| id.clone())
        .or_else(|| c.client_id.clone())
        .or_else(|| c.client_assertion.as_deref().and_then(issuer))
}

/// Records a machine endpoint's outcome and answers with it, or 503 when it cannot be recorded.
/// On success the actor is `holder` (the principal of an issued token) or else the client.
async fn answer(
    app: &AppState,
    caller: &Caller,
    kind: SecurityEvent,
    client: Option<String>,
    result: Result<(Response, Option<Principal>), OAuthError>,
) -> Response {
    let actor = audit::claimed(client.as_deref(), client.as_deref());
    let (ev, resp) = match result {
        Ok((r, Some(p))) => (Event::by(kind, &p), r),
        Ok((r, None)) => (Event::ok(kind, actor), r),
        Err(e) => (Event::failed(kind, actor, &e), oauth_error(&e)),
    };
    audit::guard(app, caller, ev, Reply::Json, resp).await
}

/// `POST /auth/token`.
pub(crate) async fn token(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = (app.now)();
    let parsed =
        credentials(&headers, &body).and_then(|c| form::<TokenRequest>(&body).map(|r| (c, r)));
    let (kind, client) = match &parsed {
        Ok((c, r)) if r.grant_type.as_deref() == Some("refresh_token") => {
            (SecurityEvent::TokenRefreshed, presented_client(c))
        }
        Ok((c, _)) => (SecurityEvent::TokenIssued, presented_client(c)),
        Err(_) => (SecurityEvent::TokenIssued, None),
    };
    let result = match parsed {
        Ok((creds, req)) => app.auth.token(&req, &creds, now).await.map(|t| {
            let holder = app.authn.verifier().verify(&t.access_token, now).ok();
            let json = serde_json::to_value(t).unwrap_or_default();
            (json_no_store(&json), holder)
        }),
        Err(e) => Err(e),
    };
    answer(&app, &caller, kind, client, result).await
}

fn token_param(body: &Bytes) -> Result<String, OAuthError> {
    pairs(body)?
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))
}

/// The credentials and `token` of an introspection or revocation, and the client they name.
fn token_form(
    headers: &HeaderMap,
    body: &Bytes,
) -> (
    Result<(ClientCredentials, String), OAuthError>,
    Option<String>,
) {
    let parsed = credentials(headers, body).and_then(|c| token_param(body).map(|t| (c, t)));
    let client = parsed.as_ref().ok().and_then(|(c, _)| presented_client(c));
    (parsed, client)
}

/// `POST /auth/introspect` (RFC 7662).
pub(crate) async fn introspect(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (parsed, client) = token_form(&headers, &body);
    let result = match parsed {
        Ok((creds, tok)) => app
            .auth
            .introspect(&app.authn, &creds, &tok, (app.now)())
            .await
            .map(|v| (json_no_store(&v), None)),
        Err(e) => Err(e),
    };
    let kind = SecurityEvent::TokenIntrospected;
    answer(&app, &caller, kind, client, result).await
}

/// `POST /auth/revoke` (RFC 7009).
pub(crate) async fn revoke(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (parsed, client) = token_form(&headers, &body);
    let result = match parsed {
        Ok((creds, tok)) => app
            .auth
            .revoke_token(&app.authn, &creds, &tok, (app.now)())
            .await
            .map(|()| (StatusCode::OK.into_response(), None)),
        Err(e) => Err(e),
    };
    answer(&app, &caller, SecurityEvent::TokenRevoked, client, result).await
}

/// `GET|POST /auth/userinfo` (bearer token with `openid`); a refusal is recorded as a
/// rejected request.
pub(crate) async fn userinfo_handler(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    let resp = userinfo_answer(&app, &headers).await;
    let desc = match resp.status() {
        StatusCode::UNAUTHORIZED => "invalid_token",
        StatusCode::FORBIDDEN => "insufficient_scope",
        _ => return resp,
    };
    let ev = Event::refused(SecurityEvent::RequestRejected, Default::default(), desc);
    audit::guard(&app, &caller, ev, Reply::Json, resp).await
}

async fn userinfo_answer(app: &AppState, headers: &HeaderMap) -> Response {
    let challenge = |error: &str| {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        if let Ok(v) = format!("Bearer realm=\"ward\", error=\"{error}\"").parse() {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    };
    let Some(token) = crate::auth::bearer(headers) else {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer realm=\"ward\""),
        );
        return r;
    };
    match app.authn.authenticate(token, (app.now)()).await {
        Ok(p) => match userinfo(&p) {
            Some(v) => json_no_store(&v),
            None => {
                let mut r = StatusCode::FORBIDDEN.into_response();
                if let Ok(v) =
                    "Bearer realm=\"ward\", error=\"insufficient_scope\", scope=\"openid\"".parse()
                {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                r
            }
        },
        Err(_) => challenge("invalid_token"),
    }
}

/// `GET /auth/jwks`.
pub(crate) async fn jwks(State(app): State<AppState>) -> Response {
    axum::Json(app.auth.jwks()).into_response()
}

/// `GET /fhir/.well-known/smart-configuration`.
pub(crate) async fn smart_config(State(app): State<AppState>) -> Response {
    axum::Json(smart_configuration(app.auth.settings())).into_response()
}

/// `GET /.well-known/openid-configuration`.
pub(crate) async fn openid_config(State(app): State<AppState>) -> Response {
    axum::Json(openid_configuration(app.auth.settings())).into_response()
}

/// `GET /auth/static/ward.css`.
pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../templates/ward.css"),
    )
        .into_response()
}
