//! Helpers of the authorization server's HTTP side: HTML pages with their own strict CSP,
//! session cookies, form bodies, CSRF checks, OAuth JSON errors and the caller's address.

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use ward_auth::oauth::{OAuthError, secrets::ct_eq};
use ward_store::auth::SessionRecord;

use crate::serve::ClientAddr;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "ward_session";

/// The caller's IP address, for lockout by source ("unknown" when not served over a socket).
#[derive(Debug, Clone)]
pub(crate) struct SourceAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SourceAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<ClientAddr>>()
            .map_or_else(|| "unknown".to_owned(), |c| c.0.0.ip().to_string());
        Ok(Self(ip))
    }
}

/// A page's Content-Security-Policy: nothing external, only Ward's own stylesheet, forms that
/// post to Ward (and, for the consent page, may be redirected to the app).
pub(crate) fn page_csp(form_target: Option<&str>) -> String {
    let extra = form_target.map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{extra}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// An HTML page response.
pub(crate) fn html(status: StatusCode, body: String, form_target: Option<&str>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&page_csp(form_target)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// A 303 redirect.
pub(crate) fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `Set-Cookie` for a session: Secure, HttpOnly, SameSite=Lax, scoped to `/auth`.
pub(crate) fn set_cookie(r: &mut Response, value: &str, max_age: i64) {
    let c =
        format!("{COOKIE}={value}; Path=/auth; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax");
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The session cookie's value.
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// Parses a form body into a struct.
pub(crate) fn form<T: DeserializeOwned>(body: &Bytes) -> Result<T, OAuthError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the form body is malformed"))
}

/// Parses a form body into ordered pairs (repeated names kept).
pub(crate) fn pairs(body: &Bytes) -> Result<Vec<(String, String)>, OAuthError> {
    form::<Vec<(String, String)>>(body)
}

/// Refuses a form whose CSRF token does not match the session's.
pub(crate) fn check_csrf(session: &SessionRecord, token: Option<&str>) -> Result<(), OAuthError> {
    match token {
        Some(t) if ct_eq(t, &session.csrf) => Ok(()),
        _ => Err(OAuthError::invalid_request(
            "the form expired or did not come from this site; start again",
        )),
    }
}

/// An OAuth error as JSON (RFC 6749 §5.2); `invalid_client` answers 401 with a challenge.
pub(crate) fn oauth_error(e: &OAuthError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = (status, axum::Json(e.to_json())).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if e.status == 401 {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"ward\""),
        );
    }
    r
}

/// A JSON answer that must not be cached (tokens, introspection).
pub(crate) fn json_no_store(value: &serde_json::Value) -> Response {
    let mut r = axum::Json(value).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}
