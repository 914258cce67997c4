//! The authorization-code flow up to the redirect: validating an authorization request
//! (SMART App Launch 2: `aud`, PKCE S256 only, exact redirect URIs, EHR `launch`), deciding the
//! next page (login, MFA, enrollment, patient picker, consent), and issuing the code.

use serde::{Deserialize, Serialize};
use ward_store::auth::{ClientRecord, CodeRecord, SessionRecord, UserRecord};

use super::policy::{Grantee, Role, grant};
use super::secrets::{random_token, token_hash};
use super::{AuthServer, OAuthError};
use crate::{ScopeContext, ScopeSet};

/// The raw parameters of `/auth/authorize` (query or form).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub aud: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub launch: Option<String>,
    pub nonce: Option<String>,
}

/// A validated authorization request, kept in the login session while the user goes through
/// the pages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub nonce: Option<String>,
    /// Context from an EHR launch.
    pub launch_patient: Option<String>,
    pub launch_encounter: Option<String>,
    pub ehr_launch: bool,
    /// The patient picked on the picker page.
    pub picked_patient: Option<String>,
}

/// Where the browser goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    Login,
    Mfa,
    EnrollTotp,
    PickPatient,
    Consent,
}

/// One line of the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentItem {
    pub scope: String,
    pub description: String,
}

/// `redirect_uri?error=...&state=...`.
pub fn error_redirect(req_uri: &str, e: &OAuthError, state: Option<&str>) -> String {
    let mut q = vec![
        ("error", e.error),
        ("error_description", e.description.as_str()),
    ];
    if let Some(s) = state {
        q.push(("state", s));
    }
    with_query(req_uri, &q)
}

pub(crate) fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let q = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{q}")
}

/// An authorization request that failed: before the redirect URI is trusted the error is shown
/// on a page; after, the browser is sent back to the app (`to`, with `error` in its query).
#[derive(Debug, Clone)]
pub enum AuthorizeFailure {
    Show(OAuthError),
    Redirect { to: String, error: OAuthError },
}

impl AuthorizeFailure {
    /// The error, whichever way it is answered.
    pub fn error(&self) -> &OAuthError {
        match self {
            Self::Show(e) | Self::Redirect { error: e, .. } => e,
        }
    }
}

/// An approved authorization request: where the browser goes (with the code), and what the
/// code grants.
#[derive(Debug, Clone)]
pub struct Approval {
    /// The redirect URL back to the app, carrying the code (secret; never logged).
    pub redirect: String,
    /// The scopes granted (those offered and left ticked).
    pub scope: String,
    /// The patient in context, if any.
    pub patient: Option<String>,
}

impl AuthServer {
    /// Validates an authorization request.
    pub async fn validate_authorize(
        &self,
        p: &AuthorizeParams,
        now: i64,
    ) -> Result<AuthRequest, AuthorizeFailure> {
        let show = |m: &str| AuthorizeFailure::Show(OAuthError::invalid_request(m));
        let id = p
            .client_id
            .as_deref()
            .ok_or_else(|| show("client_id is missing"))?;
        let client = match self.store.get_client(id).await {
            Ok(Some(c)) if !c.disabled && c.kind != "backend" => c,
            Ok(_) => return Err(show("unknown client")),
            Err(e) => return Err(AuthorizeFailure::Show(e.into())),
        };
        let redirect_uri = match (&p.redirect_uri, client.redirect_uris.as_slice()) {
            (Some(u), uris) if uris.contains(u) => u.clone(),
            (None, [only]) => only.clone(),
            _ => {
                return Err(show(
                    "redirect_uri does not match the client's registration",
                ));
            }
        };
        let state = p.state.clone();
        let fail = |e: OAuthError| AuthorizeFailure::Redirect {
            to: error_redirect(&redirect_uri, &e, state.as_deref()),
            error: e,
        };
        self.check_request(p, &client).map_err(fail)?;
        let (launch_patient, launch_encounter, ehr_launch) = match &p.launch {
            Some(l) => match self.store.get_launch(l, now).await {
                Ok(Some(rec)) => (rec.patient, rec.encounter, true),
                Ok(None) => {
                    return Err(fail(OAuthError::invalid_request(
                        "unknown or expired launch",
                    )));
                }
                Err(e) => return Err(fail(e.into())),
            },
            None => (None, None, false),
        };
        Ok(AuthRequest {
            client_id: client.id,
            redirect_uri: redirect_uri.clone(),
            scope: p.scope.clone().unwrap_or_default(),
            state: state.clone(),
            code_challenge: p.code_challenge.clone().unwrap_or_default(),
            nonce: p.nonce.clone(),
            launch_patient,
            launch_encounter,
            ehr_launch,
            picked_patient: None,
        })
    }

    fn check_request(&self, p: &AuthorizeParams, _client: &ClientRecord) -> Result<(), OAuthError> {
        if p.response_type.as_deref() != Some("code") {
            return Err(OAuthError::new_unsupported_response_type());
        }
        match (
            p.code_challenge.as_deref(),
            p.code_challenge_method.as_deref(),
        ) {
            (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => {}
            (Some(_), Some("S256")) => {
                return Err(OAuthError::invalid_request("code_challenge is malformed"));
            }
            (Some(_), _) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256 (plain is refused)",
                ));
            }
            (None, _) => {
                return Err(OAuthError::invalid_request(
                    "PKCE code_challenge is required",
                ));
            }
        }
        if p.aud.as_deref().map(|a| a.trim_end_matches('/')) != Some(&self.settings.fhir_base()) {
            return Err(OAuthError::invalid_request(
                "aud must be this server's FHIR base URL",
            ));
        }
        let scope = p.scope.as_deref().unwrap_or("");
        let set = ScopeSet::parse(scope)
            .map_err(|_| OAuthError::invalid_scope("a scope is malformed"))?;
        if set.resource_scopes().is_empty() && !set.has("openid") {
            return Err(OAuthError::invalid_scope("no usable scope was requested"));
        }
        Ok(())
    }

    /// The scopes the user would grant (before unticking), with plain-word descriptions.
    pub async fn consent_items(
        &self,
        req: &AuthRequest,
        user: &UserRecord,
    ) -> Result<Vec<ConsentItem>, OAuthError> {
        let granted = self.grantable(req, user).await?;
        let mut items: Vec<ConsentItem> = granted
            .resource_scopes()
            .iter()
            .map(|s| ConsentItem {
                scope: s.to_text(),
                description: s.describe(),
            })
            .collect();
        items.extend(granted.other_scopes().iter().map(|w| ConsentItem {
            scope: w.clone(),
            description: describe_other(w).to_owned(),
        }));
        Ok(items)
    }

    async fn grantable(
        &self,
        req: &AuthRequest,
        user: &UserRecord,
    ) -> Result<ScopeSet, OAuthError> {
        let client = self
            .store
            .get_client(&req.client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("unknown client"))?;
        let role = Role::parse(&user.role).ok_or_else(OAuthError::server_error)?;
        let requested = ScopeSet::parse(&req.scope).unwrap_or_default();
        let registered = ScopeSet::parse(&client.scope).unwrap_or_default();
        Ok(grant(&requested, &registered, Grantee::User(role)))
    }

    /// The patient context the request will carry, if any is known yet.
    pub fn patient_context(req: &AuthRequest, user: &UserRecord) -> Option<String> {
        if user.role == "patient" {
            return user.patient.clone();
        }
        req.launch_patient
            .clone()
            .or_else(|| req.picked_patient.clone())
    }

    /// The page the session must see next.
    pub async fn next_step(
        &self,
        session: &SessionRecord,
        req: &AuthRequest,
    ) -> Result<NextStep, OAuthError> {
        let Some(user) = self.session_user(session).await? else {
            return Ok(NextStep::Login);
        };
        if !session.mfa_done {
            return Ok(if user.totp_confirmed {
                NextStep::Mfa
            } else {
                NextStep::EnrollTotp
            });
        }
        let granted = self.grantable(req, &user).await?;
        let wants_patient = granted
            .resource_scopes()
            .iter()
            .any(|s| s.context == ScopeContext::Patient)
            || granted.has("launch/patient");
        if wants_patient && Self::patient_context(req, &user).is_none() {
            return Ok(NextStep::PickPatient);
        }
        Ok(NextStep::Consent)
    }

    /// Issues the authorization code for the scopes the user left ticked; returns the redirect
    /// URL back to the app and what the code grants.
    pub async fn approve(
        &self,
        session: &SessionRecord,
        req: &AuthRequest,
        ticked: &[String],
        now: i64,
    ) -> Result<Approval, OAuthError> {
        let user = self
            .session_user(session)
            .await?
            .filter(|_| session.mfa_done)
            .ok_or_else(|| OAuthError::access_denied("the login session has ended"))?;
        let granted = self.grantable(req, &user).await?;
        let kept: Vec<_> = granted
            .resource_scopes()
            .iter()
            .filter(|s| ticked.contains(&s.to_text()))
            .cloned()
            .collect();
        let other: Vec<String> = granted
            .other_scopes()
            .iter()
            .filter(|w| ticked.contains(w))
            .cloned()
            .collect();
        let scope = ScopeSet::from_parts(kept, other).to_scope_string();
        let patient = Self::patient_context(req, &user);
        let code = random_token()?;
        let record = CodeRecord {
            hash: token_hash(&code),
            grant: uuid::Uuid::new_v4().to_string(),
            client_id: req.client_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            user_id: user.id.clone(),
            scope: scope.clone(),
            patient: patient.clone(),
            encounter: req.launch_encounter.clone(),
            fhir_user: user.fhir_user.clone(),
            nonce: req.nonce.clone(),
            need_patient_banner: patient.is_some() && !req.ehr_launch,
            break_glass: self.break_glass_active(&user.id, now).await?,
            session_hash: Some(session.id_hash.clone()),
            expires: now + self.settings.code_ttl,
        };
        self.store.put_code(&record).await?;
        let mut q = vec![("code", code.as_str())];
        if let Some(s) = &req.state {
            q.push(("state", s));
        }
        Ok(Approval {
            redirect: with_query(&req.redirect_uri, &q),
            scope,
            patient,
        })
    }
}

fn describe_other(w: &str) -> &'static str {
    match w {
        "openid" => "confirm who you are to the app (OpenID Connect)",
        "fhirUser" => "tell the app which FHIR record describes you",
        "profile" => "share your user name",
        "launch" | "launch/patient" => "open the app for one patient",
        "launch/encounter" => "open the app for one encounter",
        "offline_access" => "stay signed in after you log out (long-lived refresh token)",
        "online_access" => "stay signed in while your login session lasts",
        _ => "an additional permission",
    }
}

impl OAuthError {
    fn new_unsupported_response_type() -> Self {
        Self {
            error: "unsupported_response_type",
            description: "response_type must be code".into(),
            status: 400,
        }
    }
}
