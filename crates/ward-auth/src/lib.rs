//! Authentication and authorization: SMART scopes, the principal a request acts as, Ward's
//! ES256 access tokens (issue and verify), the signing-key ring, bearer authentication with
//! revocation and external OpenID Connect providers, and the SMART authorization server
//! ([`oauth`]). This crate never touches HTTP.

mod authn;
mod error;
mod idp;
mod keys;
pub mod oauth;
mod principal;
mod scope;
mod token;

pub use authn::Authenticator;
pub use error::AuthError;
pub use idp::{ExternalIdp, ExternalIdpConfig};
pub use keys::SigningKeys;
pub use principal::{Principal, PrincipalKind};
pub use scope::{Permission, Scope, ScopeContext, ScopeSet};
pub use token::{AccessClaims, IdClaims, TokenContext, TokenIssuer, TokenVerifier, jwks_json};
