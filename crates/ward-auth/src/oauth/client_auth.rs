//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic` (Argon2id hash at rest) and `private_key_jwt` (SMART Backend
//! Services: RS384 or ES384, JWKS inline or by URL, `aud` = the token endpoint, `exp` at most
//! five minutes ahead, `jti` remembered until it expires so a replay is refused).

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use ward_store::auth::ClientRecord;

use super::secrets::{dummy_password_hash, verify_password};
use super::{AuthServer, OAuthError};

/// The client assertion type of RFC 7523.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Algorithms accepted for client assertions.
const ASSERTION_ALGS: [Algorithm; 2] = [Algorithm::RS384, Algorithm::ES384];
/// Furthest an assertion's `exp` may lie ahead.
const MAX_ASSERTION_LIFETIME: i64 = 300;
const LEEWAY: i64 = 30;

/// What a request offers to authenticate its client.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    /// From `Authorization: Basic` (id, secret), already decoded.
    pub basic: Option<(String, String)>,
    /// The `client_id` parameter.
    pub client_id: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    exp: i64,
    #[serde(default)]
    jti: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Unverified {
    #[serde(default)]
    iss: Option<String>,
}

impl AuthServer {
    /// Authenticates a confidential or backend client; a public client is identified by its
    /// `client_id` only (`None` credentials → `Ok(None)` is never returned: public clients
    /// come back as their record).
    pub async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
        now: i64,
    ) -> Result<ClientRecord, OAuthError> {
        if let Some(assertion) = &creds.client_assertion {
            if creds.client_assertion_type.as_deref() != Some(JWT_BEARER) {
                return Err(OAuthError::invalid_client(
                    "client_assertion_type must be the JWT bearer type",
                ));
            }
            return self.verify_assertion(assertion, creds, now).await;
        }
        if let Some((id, secret)) = &creds.basic {
            let client = self.store.get_client(id).await?;
            let hash = client
                .as_ref()
                .and_then(|c| c.secret_hash.as_deref())
                .unwrap_or(dummy_password_hash());
            let ok = verify_password(hash, secret.as_bytes());
            return match client {
                Some(c) if ok && !c.disabled && c.kind == "confidential" => Ok(c),
                _ => Err(OAuthError::invalid_client("client authentication failed")),
            };
        }
        let id = creds
            .client_id
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
        match self.store.get_client(id).await? {
            Some(c) if c.kind == "public" && !c.disabled => Ok(c),
            _ => Err(OAuthError::invalid_client("client authentication failed")),
        }
    }

    async fn verify_assertion(
        &self,
        assertion: &str,
        creds: &ClientCredentials,
        now: i64,
    ) -> Result<ClientRecord, OAuthError> {
        let bad = || OAuthError::invalid_client("the client assertion is invalid");
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| bad())?;
        if !ASSERTION_ALGS.contains(&header.alg) {
            return Err(OAuthError::invalid_client(
                "client assertions must be signed with RS384 or ES384",
            ));
        }
        // The issuer only selects whose keys to try; every claim is verified below.
        let claimed = jsonwebtoken::dangerous::insecure_decode_claims::<Unverified>(assertion)
            .map_err(|_| bad())?
            .iss
            .ok_or_else(bad)?;
        if creds.client_id.as_deref().is_some_and(|id| id != claimed) {
            return Err(bad());
        }
        let client = match self.store.get_client(&claimed).await? {
            Some(c) if !c.disabled && c.kind == "backend" || c_is_asym(&c) => c,
            _ => return Err(bad()),
        };
        let keys = self
            .client_keys(&client, header.kid.as_deref(), now)
            .await?;
        let mut v = Validation::new(header.alg);
        v.set_audience(&[self.settings.token_endpoint()]);
        v.set_issuer(&[client.id.as_str()]);
        v.set_required_spec_claims(&["exp", "aud", "iss", "sub", "jti"]);
        v.validate_exp = false;
        v.validate_nbf = false;
        let claims = keys
            .iter()
            .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
            .filter_map(|k| DecodingKey::from_jwk(k).ok())
            .find_map(|k| jsonwebtoken::decode::<AssertionClaims>(assertion, &k, &v).ok())
            .ok_or_else(bad)?
            .claims;
        self.check_assertion_claims(claims, &client, now).await?;
        Ok(client)
    }

    /// `sub`, `exp` (not past, at most five minutes ahead) and the one-time `jti`.
    async fn check_assertion_claims(
        &self,
        claims: AssertionClaims,
        client: &ClientRecord,
        now: i64,
    ) -> Result<(), OAuthError> {
        let bad = || OAuthError::invalid_client("the client assertion is invalid");
        if claims.sub != client.id || claims.iss != client.id {
            return Err(bad());
        }
        if claims.exp + LEEWAY < now {
            return Err(OAuthError::invalid_client(
                "the client assertion has expired",
            ));
        }
        if claims.exp > now + MAX_ASSERTION_LIFETIME + LEEWAY {
            return Err(OAuthError::invalid_client(
                "the client assertion's exp is more than five minutes ahead",
            ));
        }
        let jti = claims.jti.filter(|j| !j.is_empty()).ok_or_else(bad)?;
        let key = format!("assertion/{}/{jti}", client.id);
        if !self
            .store
            .remember_once(&key, claims.exp + LEEWAY, now)
            .await?
        {
            return Err(OAuthError::invalid_client(
                "the client assertion was already used (replay)",
            ));
        }
        Ok(())
    }

    async fn client_keys(
        &self,
        client: &ClientRecord,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Vec<Jwk>, OAuthError> {
        if let Some(text) = &client.jwks {
            let set: JwkSet = serde_json::from_str(text)
                .map_err(|_| OAuthError::invalid_client("the client's JWKS is unusable"))?;
            return Ok(set.keys);
        }
        if let Some(url) = &client.jwks_url {
            let set = self.jwks.get(url, kid, now).await.map_err(|e| {
                tracing::warn!(reason = %e, "client JWKS fetch failed");
                OAuthError::invalid_client("the client's JWKS could not be fetched")
            })?;
            return Ok(set.keys.clone());
        }
        Err(OAuthError::invalid_client("the client has no keys"))
    }
}

/// Confidential clients registered with keys may also use `private_key_jwt`.
fn c_is_asym(c: &ClientRecord) -> bool {
    !c.disabled && c.kind == "confidential" && (c.jwks.is_some() || c.jwks_url.is_some())
}
