//! Authentication errors. None carries token contents.

/// Why a request could not be authenticated or authorised.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token was presented")]
    MissingToken,
    #[error("the access token is malformed or its signature is invalid")]
    InvalidToken,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not yet valid")]
    NotYetValid,
    #[error("the access token was issued for another audience or issuer")]
    WrongAudience,
    #[error("a scope is malformed")]
    BadScope,
    #[error("the access token has been revoked")]
    Revoked,
    #[error("the token issuer is not trusted")]
    UntrustedIssuer,
    #[error("the token could not be checked right now")]
    Unavailable,
    #[error("key management failed: {0}")]
    Keys(String),
}

impl AuthError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "WARD-AUTH-NOTOKEN",
            Self::InvalidToken => "WARD-AUTH-INVALID",
            Self::Expired => "WARD-AUTH-EXPIRED",
            Self::NotYetValid => "WARD-AUTH-NBF",
            Self::WrongAudience => "WARD-AUTH-AUDIENCE",
            Self::BadScope => "WARD-AUTH-SCOPE",
            Self::Revoked => "WARD-AUTH-REVOKED",
            Self::UntrustedIssuer => "WARD-AUTH-ISSUER",
            Self::Unavailable => "WARD-AUTH-UNAVAILABLE",
            Self::Keys(_) => "WARD-AUTH-KEYS",
        }
    }
}
