//! The machine endpoints: `/auth/token`, `/auth/introspect`, `/auth/revoke`, `/auth/userinfo`,
//! `/auth/jwks` and the discovery documents. Each extracts, calls the authorization server
//! once and maps the answer.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ward_auth::oauth::{
    ClientCredentials, OAuthError, TokenRequest, openid_configuration, smart_configuration,
    userinfo,
};

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

/// `POST /auth/token`.
pub(crate) async fn token(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed =
        credentials(&headers, &body).and_then(|c| form::<TokenRequest>(&body).map(|r| (c, r)));
    let (creds, req) = match parsed {
        Ok(p) => p,
        Err(e) => return oauth_error(&e),
    };
    match app.auth.token(&req, &creds, (app.now)()).await {
        Ok(resp) => json_no_store(&serde_json::to_value(resp).unwrap_or_default()),
        Err(e) => oauth_error(&e),
    }
}

fn token_param(body: &Bytes) -> Result<String, OAuthError> {
    pairs(body)?
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))
}

/// `POST /auth/introspect` (RFC 7662).
pub(crate) async fn introspect(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = credentials(&headers, &body).and_then(|c| token_param(&body).map(|t| (c, t)));
    let (creds, tok) = match parsed {
        Ok(p) => p,
        Err(e) => return oauth_error(&e),
    };
    match app
        .auth
        .introspect(&app.authn, &creds, &tok, (app.now)())
        .await
    {
        Ok(v) => json_no_store(&v),
        Err(e) => oauth_error(&e),
    }
}

/// `POST /auth/revoke` (RFC 7009).
pub(crate) async fn revoke(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = credentials(&headers, &body).and_then(|c| token_param(&body).map(|t| (c, t)));
    let (creds, tok) = match parsed {
        Ok(p) => p,
        Err(e) => return oauth_error(&e),
    };
    match app
        .auth
        .revoke_token(&app.authn, &creds, &tok, (app.now)())
        .await
    {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(&e),
    }
}

/// `GET|POST /auth/userinfo` (bearer token with `openid`).
pub(crate) async fn userinfo_handler(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let challenge = |error: &str| {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        if let Ok(v) = format!("Bearer realm=\"ward\", error=\"{error}\"").parse() {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    };
    let Some(token) = crate::auth::bearer(&headers) else {
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
