//! OAuth 2.0 error responses (RFC 6749 §5.2): a registered `error` code, a short description
//! that never carries secrets or whether a user exists, and the HTTP status.

use ward_store::StoreError;

/// An OAuth error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `access_denied`, `server_error`,
    /// `temporarily_unavailable`, `login_required`.
    pub error: &'static str,
    pub description: String,
    pub status: u16,
}

impl OAuthError {
    fn new(error: &'static str, status: u16, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            status,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", 400, d)
    }

    /// Client authentication failed (401; the HTTP layer adds `WWW-Authenticate`).
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", 401, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", 400, d)
    }

    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", 400, d)
    }

    pub fn unsupported_grant_type() -> Self {
        Self::new(
            "unsupported_grant_type",
            400,
            "grant_type must be authorization_code, refresh_token or client_credentials",
        )
    }

    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", 400, d)
    }

    pub fn access_denied(d: impl Into<String>) -> Self {
        Self::new("access_denied", 403, d)
    }

    /// Too many failed attempts.
    pub fn slow_down() -> Self {
        Self::new(
            "temporarily_unavailable",
            429,
            "too many failed attempts; try again later",
        )
    }

    pub fn server_error() -> Self {
        Self::new("server_error", 500, "the authorization server failed")
    }

    /// The JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": self.error, "error_description": self.description})
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        tracing::error!(code = e.code(), "auth state store failure");
        match e {
            StoreError::Unavailable => Self::new(
                "temporarily_unavailable",
                503,
                "the authorization server is busy; retry",
            ),
            _ => Self::server_error(),
        }
    }
}

impl From<crate::AuthError> for OAuthError {
    fn from(e: crate::AuthError) -> Self {
        tracing::error!(code = e.code(), "token signing failure");
        Self::server_error()
    }
}
