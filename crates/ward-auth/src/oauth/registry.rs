//! Registering clients and users, and minting EHR launch contexts — the operations behind
//! `ward client add`, `ward user add`, `ward launch create` and the admin API.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use ward_store::StoreError;
use ward_store::auth::{ClientRecord, LaunchRecord, UserRecord};

use super::jwks::fetchable;
use super::secrets::{hash_password, random_token};
use super::{AuthServer, OAuthError, Role};
use crate::ScopeSet;

/// A client to register.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub id: String,
    /// `backend`, `public` or `confidential`.
    pub kind: String,
    pub scope: String,
    pub redirect_uris: Vec<String>,
    /// Inline JWKS (JSON text).
    pub jwks: Option<String>,
    pub jwks_url: Option<String>,
}

/// The stored client and, for a confidential client without keys, its secret — shown once.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub record: ClientRecord,
    pub secret: Option<String>,
}

/// A user to add.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub role: String,
    pub password: String,
    pub fhir_user: Option<String>,
    pub patient: Option<String>,
    pub break_glass: bool,
}

fn bad(m: &str) -> OAuthError {
    OAuthError::invalid_request(m)
}

fn plain_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// A reference of the form `Type/id`.
fn valid_reference(r: &str) -> bool {
    r.split_once('/').is_some_and(|(t, id)| {
        t.bytes().all(|b| b.is_ascii_alphabetic()) && !t.is_empty() && plain_name(id)
    })
}

/// A public key Ward can verify assertions with: a valid EC point, or RSA of 2048+ bits.
fn usable_key(k: &Jwk) -> bool {
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).ok();
    if DecodingKey::from_jwk(k).is_err() {
        return false;
    }
    match &k.algorithm {
        AlgorithmParameters::EllipticCurve(ec) => {
            let curve = match ec.curve {
                EllipticCurve::P256 => "P-256",
                EllipticCurve::P384 => "P-384",
                _ => return false,
            };
            matches!((b64(&ec.x), b64(&ec.y)), (Some(x), Some(y)) if ward_crypto::ec_public_point_valid(curve, &x, &y))
        }
        AlgorithmParameters::RSA(rsa) => {
            b64(&rsa.n).is_some_and(|n| n.len() >= 256)
                && b64(&rsa.e).is_some_and(|e| !e.is_empty())
        }
        _ => false,
    }
}

fn valid_redirect(uri: &str) -> bool {
    (uri.starts_with("https://") || fetchable(uri)) && !uri.contains('#') && uri.len() <= 2000
}

/// Checks a client registration (id, scopes, kind, redirect URIs, keys); true if it has keys.
fn validate_client(c: &NewClient) -> Result<bool, OAuthError> {
    if !plain_name(&c.id) {
        return Err(bad(
            "the client id must be 1–64 letters, digits, '.', '_', '-' or '@'",
        ));
    }
    ScopeSet::parse(&c.scope).map_err(|_| bad("the scope list holds a malformed scope"))?;
    let user_facing = match c.kind.as_str() {
        "backend" => false,
        "public" | "confidential" => true,
        _ => return Err(bad("kind must be backend, public or confidential")),
    };
    if user_facing && c.redirect_uris.is_empty() {
        return Err(bad(
            "public and confidential clients need at least one redirect URI",
        ));
    }
    if c.redirect_uris.iter().any(|u| !valid_redirect(u)) {
        return Err(bad(
            "redirect URIs must be https (or http on loopback) without a fragment",
        ));
    }
    if let Some(text) = &c.jwks {
        let set: JwkSet =
            serde_json::from_str(text).map_err(|_| bad("the JWKS is not a valid key set"))?;
        if set.keys.is_empty() || !set.keys.iter().all(usable_key) {
            return Err(bad(
                "the JWKS holds a key that is not a valid EC P-256/P-384 or RSA (2048+ bit) public key",
            ));
        }
    }
    if c.jwks_url.as_deref().is_some_and(|u| !fetchable(u)) {
        return Err(bad("the JWKS URL must be https (or http on loopback)"));
    }
    let has_keys = c.jwks.is_some() || c.jwks_url.is_some();
    if c.kind == "backend" && !has_keys {
        return Err(bad("a backend client needs --jwks or --jwks-url"));
    }
    if c.kind == "public" && has_keys {
        return Err(bad("a public client has no keys"));
    }
    Ok(has_keys)
}

impl AuthServer {
    /// Registers (or replaces) a client.
    pub async fn add_client(&self, c: NewClient, now: i64) -> Result<RegisteredClient, OAuthError> {
        let has_keys = validate_client(&c)?;
        let secret = if c.kind == "confidential" && !has_keys {
            Some(random_token()?)
        } else {
            None
        };
        let record = ClientRecord {
            id: c.id,
            kind: c.kind,
            scope: c.scope,
            redirect_uris: c.redirect_uris,
            jwks: c.jwks,
            jwks_url: c.jwks_url,
            secret_hash: secret
                .as_deref()
                .map(|s| hash_password(s.as_bytes()))
                .transpose()?,
            created: now,
            disabled: false,
        };
        self.store.put_client(&record).await?;
        Ok(RegisteredClient { record, secret })
    }

    /// Adds a user; the password is hashed with Argon2id. A taken username is refused.
    pub async fn add_user(&self, u: NewUser, now: i64) -> Result<UserRecord, OAuthError> {
        if !plain_name(&u.username) {
            return Err(bad(
                "the username must be 1–64 letters, digits, '.', '_', '-' or '@'",
            ));
        }
        let role = Role::parse(&u.role)
            .ok_or_else(|| bad("role must be admin, clinician, patient or auditor"))?;
        if u.password.chars().count() < 12 || u.password.len() > 1024 {
            return Err(bad("the password must be 12 to 1024 characters long"));
        }
        if u.patient.as_deref().is_some_and(|p| !plain_name(p)) {
            return Err(bad("--patient must be a Patient id"));
        }
        let patient = u
            .patient
            .map(|p| p.trim_start_matches("Patient/").to_owned());
        if role == Role::Patient && patient.is_none() {
            return Err(bad("a patient user needs --patient"));
        }
        let fhir_user = match (u.fhir_user, role, &patient) {
            (Some(r), _, _) if valid_reference(&r) => Some(r),
            (Some(_), _, _) => {
                return Err(bad(
                    "--fhir-user must be a reference such as Practitioner/123",
                ));
            }
            (None, Role::Patient, Some(p)) => Some(format!("Patient/{p}")),
            (None, _, _) => None,
        };
        if self.store.find_user(&u.username).await?.is_some() {
            return Err(bad("that username is taken"));
        }
        let record = UserRecord {
            id: uuid::Uuid::new_v4().to_string(),
            username: u.username,
            role: role.name().to_owned(),
            password_hash: hash_password(u.password.as_bytes())?,
            fhir_user,
            patient,
            totp_sealed: None,
            totp_confirmed: false,
            totp_last_step: 0,
            recovery_hashes: Vec::new(),
            break_glass: u.break_glass,
            created: now,
            disabled: false,
        };
        match self.store.put_user(&record).await {
            Err(StoreError::VersionConflict) => Err(bad("that username is taken")),
            other => other.map(|()| record).map_err(OAuthError::from),
        }
    }

    /// Mints an EHR launch context; the id goes into the app's launch URL as `launch`.
    pub async fn create_launch(
        &self,
        patient: Option<String>,
        encounter: Option<String>,
        now: i64,
    ) -> Result<LaunchRecord, OAuthError> {
        if patient.as_deref().is_some_and(|p| !plain_name(p))
            || encounter.as_deref().is_some_and(|e| !plain_name(e))
        {
            return Err(bad("patient and encounter must be resource ids"));
        }
        let record = LaunchRecord {
            id: random_token()?,
            patient,
            encounter,
            expires: now + self.settings.launch_ttl,
        };
        self.store.put_launch(&record).await?;
        Ok(record)
    }
}
