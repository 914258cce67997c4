//! Bearer-token authentication (RFC 6750): every FHIR request except `/metadata` and the
//! discovery documents must carry a valid access token. Failures are 401 with
//! `WWW-Authenticate: Bearer`.

use axum::http::{HeaderMap, header};
use ward_auth::{AuthError, Authenticator, Principal};
use ward_core::CoreError;

/// Extracts and verifies the bearer token.
pub(crate) async fn authenticate(
    headers: &HeaderMap,
    authn: &Authenticator,
    now: i64,
) -> Result<Principal, CoreError> {
    let token = bearer(headers).ok_or_else(|| unauthorized(&AuthError::MissingToken))?;
    authn
        .authenticate(token, now)
        .await
        .map_err(|e| unauthorized(&e))
}

/// The token of `Authorization: Bearer`.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(e: &AuthError) -> CoreError {
    if matches!(e, AuthError::Unavailable) {
        return CoreError::Store(ward_store::StoreError::Unavailable);
    }
    CoreError::Unauthorized {
        code: e.code(),
        message: e.to_string(),
    }
}
