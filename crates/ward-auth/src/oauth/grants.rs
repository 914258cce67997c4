//! The token endpoint's grants: `authorization_code` (PKCE S256, exact redirect URI, one use —
//! a second use revokes everything issued from the code), `refresh_token` (opaque, stored
//! hashed, rotated on every use; reuse revokes the family), and `client_credentials` for SMART
//! Backend Services.

use serde::{Deserialize, Serialize};
use ward_store::auth::{ClientRecord, CodeRecord, Redeemed, RefreshRecord};

use super::client_auth::ClientCredentials;
use super::policy::{Grantee, grant};
use super::secrets::{pkce_matches, random_token, token_hash};
use super::{AuthServer, OAuthError};
use crate::{IdClaims, PrincipalKind, ScopeSet, TokenContext};

/// The form parameters of `/auth/token`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

/// A successful token response (SMART App Launch 2 §"Response").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encounter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need_patient_banner: Option<bool>,
}

/// What a user grant (code or refresh) carries into new tokens.
struct UserGrant<'a> {
    grant: &'a str,
    client: &'a ClientRecord,
    user_id: &'a str,
    scope: &'a str,
    patient: Option<&'a String>,
    encounter: Option<&'a String>,
    fhir_user: Option<&'a String>,
    break_glass: bool,
}

impl AuthServer {
    /// Handles a token request.
    pub async fn token(
        &self,
        req: &TokenRequest,
        creds: &ClientCredentials,
        now: i64,
    ) -> Result<TokenResponse, OAuthError> {
        match req.grant_type.as_deref() {
            Some("authorization_code") => self.code_grant(req, creds, now).await,
            Some("refresh_token") => self.refresh_grant(req, creds, now).await,
            Some("client_credentials") => self.client_credentials(req, creds, now).await,
            Some(_) => Err(OAuthError::unsupported_grant_type()),
            None => Err(OAuthError::invalid_request("grant_type is missing")),
        }
    }

    /// Revokes a grant: its refresh family and every access token that carries it.
    pub async fn revoke_grant(&self, grant: &str, now: i64) -> Result<(), OAuthError> {
        let until = now
            + self
                .settings
                .offline_ttl
                .max(self.settings.session_absolute);
        Ok(self.store.revoke(grant, until).await?)
    }

    async fn code_grant(
        &self,
        req: &TokenRequest,
        creds: &ClientCredentials,
        now: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate_client(creds, now).await?;
        let code = req
            .code
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
        let rec: CodeRecord = match self.store.redeem_code(&token_hash(code), now).await? {
            Redeemed::Fresh(r) => r,
            Redeemed::Reused(r) => {
                self.revoke_grant(&r.grant, now).await?;
                tracing::warn!(client = %r.client_id, "authorization code reused; grant revoked");
                return Err(OAuthError::invalid_grant(
                    "the code was already used; tokens issued from it are revoked",
                ));
            }
            Redeemed::Unknown => {
                return Err(OAuthError::invalid_grant("the code is invalid or expired"));
            }
        };
        if rec.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        if req.redirect_uri.as_deref() != Some(rec.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant("redirect_uri does not match"));
        }
        let verifier = req.code_verifier.as_deref().unwrap_or("");
        if !pkce_matches(verifier, &rec.code_challenge) {
            return Err(OAuthError::invalid_grant(
                "the PKCE code_verifier does not match",
            ));
        }
        if self.store.any_revoked(&[&rec.grant], now).await? {
            return Err(OAuthError::invalid_grant("the grant was revoked"));
        }
        let g = UserGrant {
            grant: &rec.grant,
            client: &client,
            user_id: &rec.user_id,
            scope: &rec.scope,
            patient: rec.patient.as_ref(),
            encounter: rec.encounter.as_ref(),
            fhir_user: rec.fhir_user.as_ref(),
            break_glass: rec.break_glass,
        };
        let mut resp = self.user_tokens(&g, now).await?;
        let scopes = ScopeSet::parse(&rec.scope).unwrap_or_default();
        resp.refresh_token = self.new_refresh(&g, &rec, &scopes, now).await?;
        if scopes.has("openid") {
            resp.id_token = Some(self.id_token(&rec, &scopes, now).await?);
        }
        resp.need_patient_banner = rec.patient.as_ref().map(|_| rec.need_patient_banner);
        Ok(resp)
    }

    async fn new_refresh(
        &self,
        g: &UserGrant<'_>,
        rec: &CodeRecord,
        scopes: &ScopeSet,
        now: i64,
    ) -> Result<Option<String>, OAuthError> {
        let (expires, session_hash) = if scopes.has("offline_access") {
            (now + self.settings.offline_ttl, None)
        } else if scopes.has("online_access") {
            (
                now + self.settings.session_absolute,
                rec.session_hash.clone(),
            )
        } else {
            return Ok(None);
        };
        let token = random_token()?;
        let record = RefreshRecord {
            hash: token_hash(&token),
            grant: g.grant.to_owned(),
            client_id: g.client.id.clone(),
            user_id: g.user_id.to_owned(),
            scope: g.scope.to_owned(),
            patient: g.patient.cloned(),
            encounter: g.encounter.cloned(),
            fhir_user: g.fhir_user.cloned(),
            break_glass: g.break_glass,
            expires,
            session_hash,
        };
        self.store.put_refresh(&record).await?;
        Ok(Some(token))
    }

    async fn id_token(
        &self,
        rec: &CodeRecord,
        scopes: &ScopeSet,
        now: i64,
    ) -> Result<String, OAuthError> {
        let user = self.store.get_user(&rec.user_id).await?;
        let claims = IdClaims {
            iss: self.settings.issuer(),
            sub: rec.user_id.clone(),
            aud: rec.client_id.clone(),
            exp: now + self.settings.user_token_ttl,
            iat: now,
            auth_time: now,
            fhir_user: rec.fhir_user.clone().filter(|_| scopes.has("fhirUser")),
            nonce: rec.nonce.clone(),
            preferred_username: user.map(|u| u.username).filter(|_| scopes.has("profile")),
        };
        Ok(self.issuer.id_token(&claims)?)
    }

    async fn user_tokens(&self, g: &UserGrant<'_>, now: i64) -> Result<TokenResponse, OAuthError> {
        let user = self
            .store
            .get_user(g.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| OAuthError::invalid_grant("the user is no longer active"))?;
        let scopes = ScopeSet::parse(g.scope).unwrap_or_default();
        let ctx = TokenContext {
            client_id: Some(g.client.id.clone()),
            patient: g.patient.cloned(),
            encounter: g.encounter.cloned(),
            fhir_user: g.fhir_user.cloned(),
            role: Some(user.role.clone()),
            grant: Some(g.grant.to_owned()),
            break_glass: g.break_glass,
        };
        let ttl = self.settings.user_token_ttl;
        let (access_token, _) =
            self.issuer
                .issue_with(&user.id, PrincipalKind::User, &scopes, &ctx, now, ttl)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ttl,
            scope: scopes.to_scope_string(),
            refresh_token: None,
            id_token: None,
            patient: g.patient.cloned(),
            encounter: g.encounter.cloned(),
            need_patient_banner: None,
        })
    }

    async fn refresh_grant(
        &self,
        req: &TokenRequest,
        creds: &ClientCredentials,
        now: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate_client(creds, now).await?;
        let token = req
            .refresh_token
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
        let rec = self
            .use_refresh(&token_hash(token), &client, req, now)
            .await?;
        if let Some(h) = &rec.session_hash {
            self.touch_online_session(h, now).await?;
        }
        let scope = narrow_scope(&rec.scope, req.scope.as_deref())?;
        let g = UserGrant {
            grant: &rec.grant,
            client: &client,
            user_id: &rec.user_id,
            scope: &scope,
            patient: rec.patient.as_ref(),
            encounter: rec.encounter.as_ref(),
            fhir_user: rec.fhir_user.as_ref(),
            break_glass: rec.break_glass,
        };
        let mut resp = self.user_tokens(&g, now).await?;
        let next = random_token()?;
        let record = RefreshRecord {
            hash: token_hash(&next),
            scope: scope.clone(),
            ..rec.clone()
        };
        self.store.put_refresh(&record).await?;
        resp.refresh_token = Some(next);
        Ok(resp)
    }

    /// An `online_access` refresh lives only as long as the login session behind it: the
    /// session must exist (no logout), be within its absolute lifetime, and have been touched
    /// — by the login pages or by a refresh — within the idle timeout plus one access-token
    /// lifetime (an app refreshes when its token runs out). A successful refresh touches it.
    async fn touch_online_session(&self, hash: &str, now: i64) -> Result<(), OAuthError> {
        let ended =
            || OAuthError::invalid_grant("the login session of this online_access grant has ended");
        let Some(mut s) = self.store.get_session(hash).await? else {
            return Err(ended());
        };
        let st = &self.settings;
        if now - s.created > st.session_absolute
            || now - s.last_seen > st.session_idle + st.user_token_ttl
        {
            self.store.delete_session(hash).await?;
            return Err(ended());
        }
        s.last_seen = now;
        self.store.put_session(&s).await?;
        Ok(())
    }

    /// Spends a refresh token of `client`: refuses requests that cannot succeed before the
    /// token is spent; a used token revokes its family.
    async fn use_refresh(
        &self,
        hash: &str,
        client: &ClientRecord,
        req: &TokenRequest,
        now: i64,
    ) -> Result<RefreshRecord, OAuthError> {
        let invalid = || OAuthError::invalid_grant("the refresh token is invalid or expired");
        if let Some(p) = self.store.peek_refresh(hash, now).await? {
            if p.client_id != client.id {
                return Err(invalid());
            }
            narrow_scope(&p.scope, req.scope.as_deref())?;
        }
        let rec = match self.store.redeem_refresh(hash, now).await? {
            Redeemed::Fresh(r) => r,
            Redeemed::Reused(r) => {
                self.revoke_grant(&r.grant, now).await?;
                tracing::warn!(client = %r.client_id, "refresh token reused; family revoked");
                return Err(OAuthError::invalid_grant(
                    "the refresh token was already used; its family is revoked",
                ));
            }
            Redeemed::Unknown => return Err(invalid()),
        };
        if rec.client_id != client.id || self.store.any_revoked(&[&rec.grant], now).await? {
            return Err(invalid());
        }
        Ok(rec)
    }

    async fn client_credentials(
        &self,
        req: &TokenRequest,
        creds: &ClientCredentials,
        now: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate_client(creds, now).await?;
        if client.kind != "backend" {
            return Err(OAuthError::unauthorized_client(
                "only backend clients may use client_credentials",
            ));
        }
        let requested = ScopeSet::parse(req.scope.as_deref().unwrap_or(""))
            .map_err(|_| OAuthError::invalid_scope("a scope is malformed"))?;
        let registered = ScopeSet::parse(&client.scope).unwrap_or_default();
        let scopes = grant(&requested, &registered, Grantee::Backend);
        if scopes.resource_scopes().is_empty() {
            return Err(OAuthError::invalid_scope(
                "none of the requested scopes is allowed for this client",
            ));
        }
        let ctx = TokenContext {
            client_id: Some(client.id.clone()),
            ..TokenContext::default()
        };
        let ttl = self.settings.backend_token_ttl;
        let (access_token, _) =
            self.issuer
                .issue_with(&client.id, PrincipalKind::Client, &scopes, &ctx, now, ttl)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in: ttl,
            scope: scopes.to_scope_string(),
            refresh_token: None,
            id_token: None,
            patient: None,
            encounter: None,
            need_patient_banner: None,
        })
    }
}

/// A refresh may ask for a subset of the original scopes.
fn narrow_scope(original: &str, asked: Option<&str>) -> Result<String, OAuthError> {
    let Some(asked) = asked else {
        return Ok(original.to_owned());
    };
    let have: Vec<&str> = original.split_ascii_whitespace().collect();
    if asked.split_ascii_whitespace().all(|w| have.contains(&w)) {
        Ok(asked.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
    } else {
        Err(OAuthError::invalid_scope(
            "a refresh cannot widen the scopes",
        ))
    }
}
