//! An external OpenID Connect provider whose access tokens Ward accepts: discovery
//! (`/.well-known/openid-configuration`), a JWKS cache that refetches on an unknown `kid`
//! (key rotation), `iss`/`aud`/`exp`/`nbf` and an algorithm allowlist enforced, and a
//! configurable mapping of the claims that carry scope, fhirUser and patient.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::oauth::{JwksCache, fetch_json};
use crate::{AuthError, Principal, PrincipalKind, ScopeSet};

const LEEWAY: i64 = 30;

/// Operator settings of the external provider.
#[derive(Debug, Clone)]
pub struct ExternalIdpConfig {
    pub issuer: String,
    /// The `aud` its tokens must carry for Ward.
    pub audience: String,
    /// Accepted algorithms (e.g. `RS256`, `ES256`); `none` and HMAC are never accepted.
    pub algorithms: Vec<String>,
    /// Claim holding the SMART scopes (string or array; default `scope`).
    pub scope_claim: String,
    /// Claim holding the fhirUser reference (default `fhirUser`).
    pub fhir_user_claim: String,
    /// Claim holding the patient id (default `patient`).
    pub patient_claim: String,
}

/// A discovered external provider.
#[derive(Debug, Clone)]
pub struct ExternalIdp {
    config: ExternalIdpConfig,
    algs: Vec<Algorithm>,
    jwks_uri: String,
    cache: JwksCache,
}

#[derive(Deserialize)]
struct Unverified {
    #[serde(default)]
    iss: Option<String>,
}

fn parse_alg(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

impl ExternalIdp {
    /// Reads the provider's discovery document and checks that it names the same issuer.
    pub async fn discover(config: ExternalIdpConfig, cache: JwksCache) -> Result<Self, String> {
        let algs = config
            .algorithms
            .iter()
            .map(|a| parse_alg(a).ok_or_else(|| format!("algorithm {a} is not allowed")))
            .collect::<Result<Vec<_>, _>>()?;
        if algs.is_empty() {
            return Err("the algorithm allowlist is empty".into());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            config.issuer.trim_end_matches('/')
        );
        let doc = fetch_json(cache.http(), &url).await?;
        if doc.get("issuer").and_then(Value::as_str) != Some(config.issuer.as_str()) {
            return Err("the discovery document names another issuer".into());
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("the discovery document has no jwks_uri")?
            .to_owned();
        Ok(Self {
            config,
            algs,
            jwks_uri,
            cache,
        })
    }

    /// True if the (unverified) token names this provider as issuer — used only to choose the
    /// verifier; [`ExternalIdp::verify`] then checks everything.
    pub fn claims_issuer(&self, token: &str) -> bool {
        jsonwebtoken::dangerous::insecure_decode_claims::<Unverified>(token)
            .ok()
            .and_then(|c| c.iss)
            .is_some_and(|i| i == self.config.issuer)
    }

    /// Verifies a token of this provider and maps its claims to a principal.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
        if !self.algs.contains(&header.alg) {
            return Err(AuthError::InvalidToken);
        }
        let set = self
            .cache
            .get(&self.jwks_uri, header.kid.as_deref(), now)
            .await
            .map_err(|_| AuthError::Unavailable)?;
        let mut v = Validation::new(header.alg);
        v.algorithms = vec![header.alg];
        v.set_audience(&[&self.config.audience]);
        v.set_issuer(&[&self.config.issuer]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_exp = false;
        v.validate_nbf = false;
        let claims = set
            .keys
            .iter()
            .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
            .filter_map(|k| DecodingKey::from_jwk(k).ok())
            .find_map(|k| jsonwebtoken::decode::<Value>(token, &k, &v).ok())
            .ok_or(AuthError::InvalidToken)?
            .claims;
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        let nbf = claims
            .get("nbf")
            .and_then(Value::as_i64)
            .unwrap_or(i64::MIN);
        if now > exp + LEEWAY {
            return Err(AuthError::Expired);
        }
        if now + LEEWAY < nbf {
            return Err(AuthError::NotYetValid);
        }
        self.principal(&claims, exp)
    }

    fn principal(&self, c: &Value, exp: i64) -> Result<Principal, AuthError> {
        let text = |name: &str| c.get(name).and_then(Value::as_str).map(str::to_owned);
        let scope = match c.get(&self.config.scope_claim) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        };
        let scopes = ScopeSet::parse(&scope).map_err(|_| AuthError::InvalidToken)?;
        Ok(Principal {
            subject: text("sub").ok_or(AuthError::InvalidToken)?,
            kind: PrincipalKind::External,
            client_id: text("client_id").or_else(|| text("azp")),
            scopes,
            token_id: text("jti").unwrap_or_default(),
            expires_at: exp,
            patient: text(&self.config.patient_claim),
            encounter: None,
            fhir_user: text(&self.config.fhir_user_claim),
            role: None,
            grant_id: None,
            purpose_of_use: None,
        })
    }
}
