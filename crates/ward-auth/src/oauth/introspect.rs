//! Token introspection (RFC 7662, for authenticated confidential and backend clients),
//! revocation (RFC 7009) and the OpenID Connect userinfo answer.

use serde_json::{Value, json};
use ward_store::auth::Redeemed;

use super::client_auth::ClientCredentials;
use super::secrets::token_hash;
use super::{AuthServer, OAuthError};
use crate::{Authenticator, Principal};

impl AuthServer {
    /// RFC 7662. Only clients that authenticate (not public clients) may introspect.
    pub async fn introspect(
        &self,
        authn: &Authenticator,
        creds: &ClientCredentials,
        token: &str,
        now: i64,
    ) -> Result<Value, OAuthError> {
        let client = self.authenticate_client(creds, now).await?;
        if client.kind == "public" {
            return Err(OAuthError::invalid_client(
                "public clients may not introspect",
            ));
        }
        if let Ok(p) = authn.authenticate(token, now).await {
            let (iss, aud) = (self.settings.issuer(), self.settings.fhir_base());
            return Ok(introspection(&p, &iss, &aud));
        }
        // A refresh token: active while unused, unexpired and its family not revoked.
        match self.store.peek_refresh(&token_hash(token), now).await? {
            Some(r) if !self.store.any_revoked(&[&r.grant], now).await? => Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": r.scope,
                "client_id": r.client_id,
                "sub": r.user_id,
                "exp": r.expires,
                "iss": self.settings.issuer(),
            })),
            _ => Ok(json!({"active": false})),
        }
    }

    /// RFC 7009: revokes an access token (its `jti`) or a refresh token (its whole family).
    /// Unknown tokens and tokens of other clients are ignored (200 either way).
    pub async fn revoke_token(
        &self,
        authn: &Authenticator,
        creds: &ClientCredentials,
        token: &str,
        now: i64,
    ) -> Result<(), OAuthError> {
        let client = self.authenticate_client(creds, now).await?;
        if let Ok(p) = authn.verifier().verify(token, now) {
            if p.client_id.as_deref() == Some(client.id.as_str()) {
                self.store.revoke(&p.token_id, p.expires_at + 60).await?;
            }
            return Ok(());
        }
        match self.store.redeem_refresh(&token_hash(token), now).await? {
            Redeemed::Fresh(r) | Redeemed::Reused(r) if r.client_id == client.id => {
                self.revoke_grant(&r.grant, now).await
            }
            _ => Ok(()),
        }
    }
}

/// The introspection answer for an active token.
pub fn introspection(p: &Principal, iss: &str, aud: &str) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("active".into(), json!(true));
    m.insert("scope".into(), json!(p.scopes.to_scope_string()));
    m.insert("sub".into(), json!(p.subject));
    m.insert("exp".into(), json!(p.expires_at));
    m.insert("iss".into(), json!(iss));
    m.insert("aud".into(), json!(aud));
    m.insert("token_type".into(), json!("Bearer"));
    for (k, v) in [
        ("client_id", &p.client_id),
        ("patient", &p.patient),
        ("encounter", &p.encounter),
        ("fhirUser", &p.fhir_user),
        ("purposeOfUse", &p.purpose_of_use),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    Value::Object(m)
}

/// OpenID Connect userinfo for a token that holds `openid`.
pub fn userinfo(p: &Principal) -> Option<Value> {
    if !p.scopes.has("openid") {
        return None;
    }
    let mut m = serde_json::Map::new();
    m.insert("sub".into(), json!(p.subject));
    if let Some(f) = &p.fhir_user {
        m.insert("fhirUser".into(), json!(f));
    }
    Some(Value::Object(m))
}
