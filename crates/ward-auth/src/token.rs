//! Ward access tokens: ES256 JWTs with a `kid`, bound to the FHIR base URL as audience.
//!
//! Signature, algorithm, issuer and audience are checked by `jsonwebtoken`; expiry and
//! not-before are checked here against the caller's clock (time is a parameter), with a small
//! leeway for clock skew.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::{AuthError, Principal, PrincipalKind, ScopeSet, SigningKeys};

/// Allowed clock skew, in seconds.
pub(crate) const LEEWAY: i64 = 30;

/// The claims of a Ward access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `operator`, `user` or `client`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    #[serde(default, rename = "fhirUser", skip_serializing_if = "Option::is_none")]
    pub fhir_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The grant (code or refresh family) the token was issued from; revoking it revokes the
    /// token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// `BTG` under break-glass emergency access.
    #[serde(
        default,
        rename = "purposeOfUse",
        skip_serializing_if = "Option::is_none"
    )]
    pub purpose_of_use: Option<String>,
}

/// What a token is issued for, beyond subject and scopes.
#[derive(Debug, Clone, Default)]
pub struct TokenContext {
    pub client_id: Option<String>,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub fhir_user: Option<String>,
    pub role: Option<String>,
    pub grant: Option<String>,
    pub break_glass: bool,
}

/// The claims of an OpenID Connect id_token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, rename = "fhirUser", skip_serializing_if = "Option::is_none")]
    pub fhir_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
}

/// Signs access tokens with the current key.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    kid: String,
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl TokenIssuer {
    /// An issuer signing with `keys`' current key.
    pub fn new(keys: &SigningKeys, issuer: &str, audience: &str) -> Result<Self, AuthError> {
        let current = keys
            .current()
            .ok_or_else(|| AuthError::Keys("no signing key".into()))?;
        Ok(Self {
            kid: current.public().kid.clone(),
            key: EncodingKey::from_ec_der(current.pkcs8().expose()),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Mints a token for `subject` with `scope`, valid for `ttl` seconds from `now`.
    pub fn issue(
        &self,
        subject: &str,
        kind: PrincipalKind,
        scope: &ScopeSet,
        now: i64,
        ttl: i64,
    ) -> Result<String, AuthError> {
        self.issue_with(subject, kind, scope, &TokenContext::default(), now, ttl)
            .map(|(t, _)| t)
    }

    /// Mints a token carrying a launch context; returns the token and its `jti`.
    pub fn issue_with(
        &self,
        subject: &str,
        kind: PrincipalKind,
        scope: &ScopeSet,
        ctx: &TokenContext,
        now: i64,
        ttl: i64,
    ) -> Result<(String, String), AuthError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: subject.to_owned(),
            aud: self.audience.clone(),
            exp: now + ttl,
            iat: now,
            nbf: now,
            jti: uuid::Uuid::new_v4().to_string(),
            scope: scope.to_scope_string(),
            client_id: ctx.client_id.clone(),
            kind: kind_name(kind).to_owned(),
            patient: ctx.patient.clone(),
            encounter: ctx.encounter.clone(),
            fhir_user: ctx.fhir_user.clone(),
            role: ctx.role.clone(),
            grant: ctx.grant.clone(),
            purpose_of_use: ctx.break_glass.then(|| "BTG".to_owned()),
        };
        let jti = claims.jti.clone();
        let token = self.sign("at+jwt", &claims)?;
        Ok((token, jti))
    }

    /// Signs an OpenID Connect id_token (`typ: JWT`).
    pub fn id_token(&self, claims: &IdClaims) -> Result<String, AuthError> {
        self.sign("JWT", claims)
    }

    /// The issuer URL (`{public}/auth`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, AuthError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|_| AuthError::Keys("sign".into()))
    }
}

/// The public keys as a JWKS document (current and previous key).
pub fn jwks_json(keys: &SigningKeys) -> serde_json::Value {
    let keys: Vec<serde_json::Value> = keys
        .all()
        .iter()
        .map(|k| {
            let p = k.public();
            serde_json::json!({
                "kty": "EC", "crv": "P-256", "x": p.x, "y": p.y,
                "kid": p.kid, "use": "sig", "alg": "ES256"
            })
        })
        .collect();
    serde_json::json!({ "keys": keys })
}

fn kind_name(k: PrincipalKind) -> &'static str {
    match k {
        PrincipalKind::Operator => "operator",
        PrincipalKind::User => "user",
        PrincipalKind::Client => "client",
        PrincipalKind::External => "external",
    }
}

/// Verifies access tokens against the retained signing keys.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("kids", &self.keys.keys())
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier for tokens from `issuer` meant for `audience`.
    pub fn new(keys: &SigningKeys, issuer: &str, audience: &str) -> Result<Self, AuthError> {
        let mut map = HashMap::new();
        for k in keys.all() {
            let p = k.public();
            let dk = DecodingKey::from_ec_components(&p.x, &p.y)
                .map_err(|_| AuthError::Keys("public key".into()))?;
            map.insert(p.kid.clone(), dk);
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[issuer]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub", "nbf"]);
        Ok(Self {
            keys: map,
            validation,
        })
    }

    /// Verifies `token` at time `now` (seconds since the epoch) and returns its principal.
    pub fn verify(&self, token: &str, now: i64) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some("at+jwt") {
            return Err(AuthError::InvalidToken);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|k| self.keys.get(k))
            .ok_or(AuthError::InvalidToken)?;
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidAudience | ErrorKind::InvalidIssuer => {
                        AuthError::WrongAudience
                    }
                    _ => AuthError::InvalidToken,
                }
            })?;
        let c = data.claims;
        if now > c.exp + LEEWAY {
            return Err(AuthError::Expired);
        }
        if now + LEEWAY < c.nbf {
            return Err(AuthError::NotYetValid);
        }
        let kind = match c.kind.as_str() {
            "operator" => PrincipalKind::Operator,
            "user" => PrincipalKind::User,
            "client" => PrincipalKind::Client,
            "external" => PrincipalKind::External,
            _ => return Err(AuthError::InvalidToken),
        };
        let scopes = ScopeSet::parse(&c.scope).map_err(|_| AuthError::InvalidToken)?;
        Ok(Principal {
            subject: c.sub,
            kind,
            client_id: c.client_id,
            scopes,
            token_id: c.jti,
            expires_at: c.exp,
            patient: c.patient,
            encounter: c.encounter,
            fhir_user: c.fhir_user,
            role: c.role,
            grant_id: c.grant,
            purpose_of_use: c.purpose_of_use,
        })
    }
}
