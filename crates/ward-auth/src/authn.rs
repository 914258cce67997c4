//! Authentication of bearer tokens on every FHIR request: Ward's own ES256 access tokens
//! (signature, `typ`, issuer, audience, expiry, not-before) plus the revocation list, which
//! lives in the database and is read on every request (a point lookup; no cache, so a revoked
//! token stops working at once on every node). Tokens from a configured external OpenID
//! Connect provider are verified by [`crate::ExternalIdp`].
//!
//! The signature and claims check of a Ward token (an ES256 verification, ~13% of the CPU of a
//! read) is remembered per token text, until the token's own expiry, in a bounded in-process
//! map keyed by the token's SHA-256. Only the verdict "this exact token text is a validly
//! signed Ward token with these claims" is cached; the revocation list is still read on every
//! request, so a revocation takes effect at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ward_store::AuthStore;

use crate::{AuthError, ExternalIdp, Principal, TokenVerifier};

/// Most verified tokens remembered; the map is emptied when it is full.
const VERIFIED_MAX: usize = 4096;

/// Verified Ward tokens by the SHA-256 of their text.
type Verified = Mutex<HashMap<[u8; 32], Principal>>;

/// Verifies bearer tokens.
#[derive(Clone)]
pub struct Authenticator {
    verifier: Arc<TokenVerifier>,
    store: Option<Arc<dyn AuthStore>>,
    external: Option<Arc<ExternalIdp>>,
    verified: Arc<Verified>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("revocation", &self.store.is_some())
            .field("external", &self.external.is_some())
            .finish()
    }
}

impl Authenticator {
    /// Ward tokens checked against the revocation list in `store`.
    pub fn new(verifier: TokenVerifier, store: Arc<dyn AuthStore>) -> Self {
        Self {
            verifier: Arc::new(verifier),
            store: Some(store),
            external: None,
            verified: Arc::default(),
        }
    }

    /// Ward tokens only, without a revocation list (tests of the FHIR layer alone).
    pub fn without_revocation(verifier: TokenVerifier) -> Self {
        Self {
            verifier: Arc::new(verifier),
            store: None,
            external: None,
            verified: Arc::default(),
        }
    }

    /// Also accepts tokens from an external OpenID Connect provider.
    pub fn with_external(mut self, idp: ExternalIdp) -> Self {
        self.external = Some(Arc::new(idp));
        self
    }

    /// The Ward token verifier.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    /// Verifies `token` at `now`.
    pub async fn authenticate(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        if let Some(idp) = &self.external
            && idp.claims_issuer(token)
        {
            return idp.verify(token, now).await;
        }
        let p = self.verify_once(token, now)?;
        if let Some(store) = &self.store {
            let mut ids = vec![p.token_id.as_str()];
            if let Some(g) = &p.grant_id {
                ids.push(g);
            }
            let revoked = store
                .any_revoked(&ids, now)
                .await
                .map_err(|_| AuthError::Unavailable)?;
            if revoked {
                return Err(AuthError::Revoked);
            }
        }
        Ok(p)
    }

    /// [`TokenVerifier::verify`], remembered for the exact token text until it expires.
    fn verify_once(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        let key = ward_crypto::sha256(token.as_bytes());
        let cached = self.verified.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some(p) = cached {
            if now <= p.expires_at + crate::token::LEEWAY {
                return Ok(p);
            }
            if let Ok(mut m) = self.verified.lock() {
                m.remove(&key);
            }
            return Err(AuthError::Expired);
        }
        let p = self.verifier.verify(token, now)?;
        if let Ok(mut m) = self.verified.lock() {
            if m.len() >= VERIFIED_MAX {
                m.clear();
            }
            m.insert(key, p.clone());
        }
        Ok(p)
    }
}
