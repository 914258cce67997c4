//! The SMART on FHIR authorization server, independent of HTTP: client and user registry,
//! authorization requests and login (password, TOTP, lockout, sessions), the token endpoint's
//! grants, introspection, revocation, discovery documents and break-glass access. All state
//! lives in an [`AuthStore`]; time is a parameter of every call.

mod breakglass;
mod client_auth;
mod discovery;
mod error;
mod flow;
mod grants;
mod introspect;
mod jwks;
mod login;
pub mod policy;
mod registry;
pub mod secrets;
mod totp;

use std::sync::Arc;

use ward_store::{AuthStore, KeyRing};

use crate::{SigningKeys, TokenIssuer};

pub use client_auth::{ClientCredentials, JWT_BEARER};
pub use discovery::{openid_configuration, smart_configuration};
pub use error::OAuthError;
pub use flow::{Approval, AuthRequest, AuthorizeParams, ConsentItem, NextStep};
pub use flow::{AuthorizeFailure, error_redirect};
pub use grants::{TokenRequest, TokenResponse};
pub use introspect::{introspection, userinfo};
pub use jwks::{JwksCache, fetch_json};
pub use login::{LoginOutcome, SessionCheck, SessionTimeout, SessionView};
pub use policy::{Grantee, Role};
pub use registry::{NewClient, NewUser, RegisteredClient};
pub use totp::Enrollment;

/// Lifetimes, limits and switches of the authorization server.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `scheme://host:port` — the issuer is `{public_url}/auth`, the audience `{public_url}/fhir`.
    pub public_url: String,
    /// Access-token lifetime for user apps (default 15 min).
    pub user_token_ttl: i64,
    /// Access-token lifetime for backend services (default 5 min).
    pub backend_token_ttl: i64,
    /// Authorization-code lifetime (default 60 s).
    pub code_ttl: i64,
    /// Refresh-token lifetime with `offline_access` (default 30 days).
    pub offline_ttl: i64,
    /// Login-session idle timeout: automatic logoff (default 15 min).
    pub session_idle: i64,
    /// Login-session absolute timeout (default 8 h); also bounds `online_access` refresh.
    pub session_absolute: i64,
    /// Failures that lock an account or a source address (default 5) …
    pub lockout_threshold: u32,
    /// … within this window, in seconds (default 15 min).
    pub lockout_window: i64,
    /// Require TOTP for every role (admin and auditor always need it).
    pub mfa_all_roles: bool,
    /// Default and largest break-glass duration, in seconds (60 min, 4 h).
    pub break_glass_default: i64,
    pub break_glass_max: i64,
    /// Lifetime of an EHR launch context (default 1 h).
    pub launch_ttl: i64,
}

impl AuthSettings {
    /// Defaults for `public_url`.
    pub fn new(public_url: &str) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            user_token_ttl: 900,
            backend_token_ttl: 300,
            code_ttl: 60,
            offline_ttl: 30 * 86_400,
            session_idle: 900,
            session_absolute: 8 * 3600,
            lockout_threshold: 5,
            lockout_window: 900,
            mfa_all_roles: false,
            break_glass_default: 3600,
            break_glass_max: 4 * 3600,
            launch_ttl: 3600,
        }
    }

    /// `{public}/auth`.
    pub fn issuer(&self) -> String {
        format!("{}/auth", self.public_url)
    }

    /// `{public}/fhir`.
    pub fn fhir_base(&self) -> String {
        format!("{}/fhir", self.public_url)
    }

    /// `{public}/auth/token` — the audience of client assertions.
    pub fn token_endpoint(&self) -> String {
        format!("{}/auth/token", self.public_url)
    }
}

/// The authorization server.
#[derive(Clone)]
pub struct AuthServer {
    store: Arc<dyn AuthStore>,
    ring: Arc<dyn KeyRingSource>,
    keys: SigningKeys,
    issuer: TokenIssuer,
    settings: Arc<AuthSettings>,
    jwks: JwksCache,
}

/// Where the key ring that seals TOTP secrets comes from (the data store).
pub trait KeyRingSource: Send + Sync {
    fn keyring(&self) -> &KeyRing;
}

impl<T: ward_store::Store> KeyRingSource for T {
    fn keyring(&self) -> &KeyRing {
        ward_store::Store::keyring(self)
    }
}

impl std::fmt::Debug for AuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServer")
            .field("issuer", &self.settings.issuer())
            .finish()
    }
}

impl AuthServer {
    /// Builds the server over its state, the signing keys and settings.
    pub fn new(
        store: Arc<dyn AuthStore>,
        ring: Arc<dyn KeyRingSource>,
        keys: &SigningKeys,
        settings: AuthSettings,
        jwks: JwksCache,
    ) -> Result<Self, crate::AuthError> {
        let issuer = TokenIssuer::new(keys, &settings.issuer(), &settings.fhir_base())?;
        Ok(Self {
            store,
            ring,
            keys: keys.clone(),
            issuer,
            settings: Arc::new(settings),
            jwks,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The state store.
    pub fn store(&self) -> &Arc<dyn AuthStore> {
        &self.store
    }

    /// The public signing keys as a JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        crate::token::jwks_json(&self.keys)
    }
}
