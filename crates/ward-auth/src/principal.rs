//! The principal a request acts as, built from a verified token.

use crate::ScopeSet;

/// What kind of party holds the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// An operator token minted locally with `ward token issue`.
    Operator,
    /// A user of an app.
    User,
    /// A backend service client.
    Client,
    /// A user or client authenticated by an external OpenID Connect provider.
    External,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Unique subject (`sub`).
    pub subject: String,
    pub kind: PrincipalKind,
    pub client_id: Option<String>,
    pub scopes: ScopeSet,
    /// Token id (`jti`), for revocation and audit.
    pub token_id: String,
    /// Token expiry, seconds since the epoch.
    pub expires_at: i64,
    /// The launch context: the Patient id a `patient/` scope is confined to.
    pub patient: Option<String>,
    /// The launch context: the Encounter id.
    pub encounter: Option<String>,
    /// The user's FHIR resource (`Practitioner/123`, `Patient/9`).
    pub fhir_user: Option<String>,
    /// The user's role (`admin`, `clinician`, `patient`, `auditor`), when a user holds the token.
    pub role: Option<String>,
    /// The grant (authorization code or refresh family) the token came from.
    pub grant_id: Option<String>,
    /// `BTG` when the token was issued under break-glass emergency access.
    pub purpose_of_use: Option<String>,
}

impl Principal {
    /// A principal of `kind` with `scopes` and no launch context (operators, tests).
    pub fn new(subject: &str, kind: PrincipalKind, scopes: ScopeSet, expires_at: i64) -> Self {
        Self {
            subject: subject.to_owned(),
            kind,
            client_id: None,
            scopes,
            token_id: uuid::Uuid::new_v4().to_string(),
            expires_at,
            patient: None,
            encounter: None,
            fhir_user: None,
            role: None,
            grant_id: None,
            purpose_of_use: None,
        }
    }

    /// True when access runs under break-glass emergency access (purposeOfUse BTG).
    pub fn break_glass(&self) -> bool {
        self.purpose_of_use.as_deref() == Some("BTG")
    }
}
